package cases

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
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
	earliest := since
	if firstMonth.Before(earliest) {
		earliest = firstMonth
	}
	periods, err := s.st.PeriodsSince(ctx, earliest)
	if err != nil {
		return nil, fmt.Errorf("cases: dashboard: %w", err)
	}

	d := &Dashboard{At: now}
	durations := map[string][]time.Duration{}
	for _, p := range periods {
		if p.Left.IsZero() || p.Left.Before(since) {
			continue
		}
		durations[p.Stage] = append(durations[p.Stage], max(p.Left.Sub(p.Entered), 0))
	}
	stageStats := func(id string, closed bool) StageStats {
		ds := durations[id]
		slices.Sort(ds)
		return StageStats{Stage: id, Closed: closed, Cases: counts[id], Completed: len(ds),
			Median: percentile(ds, 50), P90: percentile(ds, 90)}
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
	type key struct {
		month int
		stage string
		id    string
	}
	seen := map[key]bool{}
	for _, p := range periods {
		if p.Entered.Before(firstMonth) || (p.Stage != s.wf.departure && p.Stage != s.wf.arrival) || p.Stage == "" {
			continue
		}
		e := p.Entered.UTC()
		i := (e.Year()-firstMonth.Year())*12 + int(e.Month()) - int(firstMonth.Month())
		k := key{i, p.Stage, p.CaseID}
		if i < 0 || i >= dashboardMonths || seen[k] {
			continue
		}
		seen[k] = true
		if p.Stage == s.wf.departure {
			d.Months[i].Departures++
		} else {
			d.Months[i].Arrivals++
		}
	}
	return d, nil
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted
// durations by the nearest-rank method: the smallest value with at least
// p% of the values at or below it, so always a value that occurred, never
// an interpolation. It returns 0 for none.
func percentile(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (p*n + 99) / 100 // ceil(p·n/100), in integers
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}
