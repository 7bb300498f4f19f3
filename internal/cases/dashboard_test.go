package cases_test

import (
	"slices"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

func TestDashboard(t *testing.T) {
	f := newFixture(t)
	move := func(c *store.Case, to ...string) {
		t.Helper()
		for _, s := range to {
			must(t, f.svc.Move(f.ctx, f.cw, c.ID, s, "", ""))
		}
	}
	// ready takes a case to relocation, all requirements met.
	ready := func() *store.Case {
		t.Helper()
		c := f.open(t, f.cw, nil)
		move(c, "triage")
		must(t, f.svc.SetRisk(f.ctx, f.cw, c.ID, 2, nil))
		f.verify(t, f.cw, c.ID)
		move(c, "verification", "relocation")
		return c
	}

	// More than a year ago: a stay in triage that is too old to count.
	old := f.open(t, f.cw, nil)
	move(old, "triage")
	f.clock.Advance(100 * time.Hour)
	must(t, f.svc.SetRisk(f.ctx, f.cw, old.ID, 1, nil))
	move(old, "verification")
	f.clock.Advance(400 * 24 * time.Hour) // now 2018-05-10

	// Ten cases spend 1 … 10 hours in triage.
	for i := 1; i <= 10; i++ {
		c := f.open(t, f.cw, nil)
		move(c, "triage")
		f.clock.Advance(time.Duration(i) * time.Hour)
		must(t, f.svc.SetRisk(f.ctx, f.cw, c.ID, 3, nil))
		move(c, "verification")
	}

	// Departures and arrivals: one case leaves in January 2019 and arrives
	// in February; another leaves twice in February (it went back to the
	// visa stage in between) and is counted once.
	f.clock.Advance(time.Date(2019, 1, 15, 0, 0, 0, 0, time.UTC).Sub(f.clock.Now()))
	a, b := ready(), ready()
	move(a, "safe_house", "documents", "visa", "departure")
	f.clock.Advance(31 * 24 * time.Hour) // 2019-02-15
	move(a, "arrived")
	move(b, "safe_house", "documents", "visa", "departure", "visa", "departure")
	f.clock.Advance(2 * 24 * time.Hour) // 2019-02-17
	// A closed case, and an erased one, which is not counted.
	closed := f.open(t, f.cw, nil)
	must(t, f.svc.Move(f.ctx, f.cw, closed.ID, "closed", "withdrew", ""))
	gone := f.open(t, f.cw, nil)
	must(t, f.svc.Share(f.ctx, f.admin, gone.ID, f.coord.ID))
	must(t, f.svc.Erase(f.ctx, f.coord, gone.ID, "entered by mistake"))

	d, err := f.svc.Dashboard(f.ctx)
	must(t, err)
	if !d.At.Equal(f.clock.Now()) {
		t.Errorf("at = %v", d.At)
	}
	type row struct {
		cases, completed int
		median, p90      time.Duration
	}
	got := map[string]row{}
	var order []string
	for _, s := range d.Stages {
		got[s.Stage] = row{s.Cases, s.Completed, s.Median, s.P90}
		order = append(order, s.Stage)
		if s.Closed != (s.Stage == "closed") {
			t.Errorf("%s closed = %v", s.Stage, s.Closed)
		}
	}
	if !slices.Equal(order, defaultOrder) {
		t.Errorf("stages %v", order)
	}
	// Triage: the ten timed stays (1 … 10 h) and the two quick ones of a
	// and b, [0 0 1 2 … 10] h: the median is the 6th value, the 90th
	// percentile the 11th (nearest rank). The old stay is outside the
	// window.
	want := map[string]row{
		"new":          {0, 13, 0, 0}, // 10 + a, b, closed; gone is still in new
		"triage":       {0, 12, 4 * time.Hour, 9 * time.Hour},
		"verification": {11, 2, 0, 0},
		"relocation":   {0, 2, 0, 31 * 24 * time.Hour}, // b waited a month
		"safe_house":   {0, 2, 0, 0},
		"documents":    {0, 2, 0, 0},
		"visa":         {0, 3, 0, 0},
		"departure":    {1, 2, 0, 31 * 24 * time.Hour},
		"arrived":      {1, 0, 0, 0},
		"closed":       {1, 0, 0, 0},
	}
	for stage, w := range want {
		if got[stage] != w {
			t.Errorf("%s: %+v, want %+v", stage, got[stage], w)
		}
	}
	if d.Open != 13 {
		t.Errorf("open = %d, want 13", d.Open)
	}

	if len(d.Months) != 12 || !d.Months[0].Month.Equal(time.Date(2018, 3, 1, 0, 0, 0, 0, time.UTC)) ||
		!d.Months[11].Month.Equal(time.Date(2019, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("months = %+v", d.Months)
	}
	for i, m := range d.Months {
		var w cases.MonthStats
		switch i {
		case 10: // January 2019
			w = cases.MonthStats{Departures: 1}
		case 11: // February 2019
			w = cases.MonthStats{Departures: 1, Arrivals: 1}
		}
		if m.Departures != w.Departures || m.Arrivals != w.Arrivals {
			t.Errorf("%s: %d departures, %d arrivals; want %d, %d", m.Month.Format("2006-01"), m.Departures, m.Arrivals, w.Departures, w.Arrivals)
		}
	}
}
