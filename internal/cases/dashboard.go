package cases

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// Dashboard is the state of all cases at a glance, from clear metadata
// only: counts and durations, never contents.
type Dashboard struct {
	At     time.Time
	Open   int          // cases in open stages (erased cases left out)
	Stages []StageStats // in workflow order; stages no longer in the workflow last
	Months []MonthStats // the last 12 calendar months (UTC), oldest first
}

// StageStats describes one stage.
type StageStats struct {
	Stage  string
	Closed bool
	Cases  int // cases in the stage now
	// Completed counts stays in the stage that ended within the last
	// DashboardWindow; Median and P90 are their lengths (nearest rank).
	Completed   int
	Median, P90 time.Duration
}

// MonthStats counts the cases that entered the departure and the arrival
// stage in one month (a case counts once a month, however often it
// entered).
type MonthStats struct {
	Month      time.Time // first instant of the month, UTC
	Departures int
	Arrivals   int
}

// DashboardWindow is how far back time in stage is measured.
const DashboardWindow = 365 * 24 * time.Hour

// dashboardMonths is how many calendar months departures and arrivals go
// back, the current one included.
const dashboardMonths = 12

// Dashboard computes the dashboard. It reads no contents and needs no
// unsealed vault; the caller decides who may see it.
func (s *Service) Dashboard(ctx context.Context) (*Dashboard, error) {
	now := s.clock()
	counts, err := s.st.CountByStage(ctx)
	if err != nil {
		return nil, fmt.Errorf("cases: dashboard: %w", err)
	}
	since := now.Add(-DashboardWindow)
	firstMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1-dashboardMonths, 0)
	// A completed stay counts if it ended at or after since, except, when
	// since is no earlier than firstMonth, one that began before since and
	// ended exactly at it: the dashboard has always counted the stays that
	// PeriodsSince returns from the earlier of the two, which leaves that
	// one out. Stored times are whole microseconds, so ending after one
	// nanosecond before since is ending at or after since.
	endedAfter := since
	if firstMonth.Before(since) {
		endedAfter = since.Add(-time.Nanosecond)
	}
	stays, err := s.st.StageStayStats(ctx, endedAfter)
	if err != nil {
		return nil, fmt.Errorf("cases: dashboard: %w", err)
	}
	byStage := make(map[string]store.StageStayStat, len(stays))
	for _, st := range stays {
		byStage[st.Stage] = st
	}

	d := &Dashboard{At: now}
	stageStats := func(id string, closed bool) StageStats {
		st := byStage[id]
		return StageStats{Stage: id, Closed: closed, Cases: counts[id], Completed: st.Count,
			Median: st.Median, P90: st.P90}
	}
	for _, st := range s.wf.stages {
		d.Stages = append(d.Stages, stageStats(st.ID, st.Closed))
		if !st.Closed {
			d.Open += counts[st.ID]
		}
	}
	// Cases can sit in a stage a later configuration dropped; they are
	// still cases and still shown.
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		if s.wf.stage(id) == nil {
			d.Stages = append(d.Stages, stageStats(id, false))
			d.Open += counts[id]
		}
	}

	d.Months = make([]MonthStats, dashboardMonths)
	for i := range d.Months {
		d.Months[i].Month = firstMonth.AddDate(0, i, 0)
	}
	var stages []string
	for _, st := range []string{s.wf.departure, s.wf.arrival} {
		if st != "" && !slices.Contains(stages, st) {
			stages = append(stages, st)
		}
	}
	entries, err := s.st.StageMonthlyEntries(ctx, stages, firstMonth, firstMonth.AddDate(0, dashboardMonths, 0))
	if err != nil {
		return nil, fmt.Errorf("cases: dashboard: %w", err)
	}
	for _, e := range entries {
		m := e.Month.UTC()
		i := (m.Year()-firstMonth.Year())*12 + int(m.Month()) - int(firstMonth.Month())
		if i < 0 || i >= dashboardMonths {
			continue
		}
		// A departure stage that is also the arrival stage counts as
		// departures.
		switch e.Stage {
		case s.wf.departure:
			d.Months[i].Departures += e.Cases
		case s.wf.arrival:
			d.Months[i].Arrivals += e.Cases
		}
	}
	return d, nil
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted
// durations by the nearest-rank method: the smallest value with at least
// p% of the values at or below it, so always a value that occurred, never
// an interpolation. It returns 0 for none. The store computes Median and
// P90 in SQL (store.Cases.StageStayStats); this is the definition they
// follow, kept as the reference its tests check.
func percentile(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (p*n + 99) / 100 // ceil(p·n/100), in integers
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}
