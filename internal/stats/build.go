package stats

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
)

// ViolationRecord is a violation record as a release counts it.
type ViolationRecord struct {
	CaseID      string
	Type        string
	Perpetrator string
	Region      string
	Month       time.Time
}

// OutcomeRecord is one outcome of a case as a release counts it: when it
// was reached and, for an evacuation, how many days after first contact.
type OutcomeRecord struct {
	CaseID     string
	Outcome    string
	Month      time.Time
	SafetyDays int // OutcomeEvacuated only
}

// Input is what one release counts: records no earlier release counted.
type Input struct {
	Cutoff     time.Time
	Violations []ViolationRecord
	Outcomes   []OutcomeRecord
}

// Report says, for the people preparing a release, how each table was
// protected. It is not published (though nothing in it is about anyone).
type Report struct {
	Violations, People int // units counted
	Tables             []TableReport
}

// TableReport describes one table's protection.
type TableReport struct {
	ID          string
	Level       string // period (and region) level chosen
	Cells       int    // interior cells
	Hidden      int    // interior cells hidden
	HiddenShare float64
}

// ErrNothing: there is nothing to publish.
var ErrNothing = errors.New("stats: no records to count")

// Build counts in, protects every table and returns the release (without
// version or publication time). noise is where noise is drawn from when
// the configuration asks for it; nil means crypto/rand.
func Build(cfg *Config, in Input, noise io.Reader) (*Release, *Report, error) {
	if noise == nil {
		noise = rand.Reader
	}
	if len(in.Violations) == 0 && len(in.Outcomes) == 0 {
		return nil, nil, ErrNothing
	}
	cutoff := in.Cutoff.UTC()
	first := cfg.FirstMonth
	if first.IsZero() {
		first = time.Date(cutoff.Year()-2, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	last := MonthOf(cutoff.Add(-time.Nanosecond))
	if last.Before(first) {
		last = first
	}
	r := &Release{Format: Format, Cutoff: cutoff, FirstMonth: first.Format("2006-01"), Threshold: cfg.Threshold}
	rep := &Report{Violations: len(in.Violations), People: len(in.Outcomes)}
	k := cfg.Threshold
	if cfg.EpsilonMilli > 0 {
		for n, c := range perCase(in.Violations) {
			if c > cfg.MaxRecordsPerPerson {
				return nil, nil, fmt.Errorf("stats: case %s has %d records in a noisy release, at most %d", n, c, cfg.MaxRecordsPerPerson)
			}
		}
	}
	ids := caseIndex(in)

	// Violations by type and perpetrator.
	tp := tallyUnits(violationUnits(ids, in.Violations, func(v ViolationRecord) (int, int) {
		return index(cfg.Types, v.Type), index(cfg.Perpetrators, v.Perpetrator)
	}), len(cfg.Types), len(cfg.Perpetrators))
	tpNet := net2D(tp)
	tpNet.net.protect(k)
	r.Tables = append(r.Tables, tpNet.table(TableTypePerpetrator, "violations",
		Axis{Dimension: DimType, Categories: cfg.Types}, &Axis{Dimension: DimPerpetrator, Categories: cfg.Perpetrators}))
	rep.Tables = append(rep.Tables, tpNet.report(TableTypePerpetrator, ""))

	// Violations by region and period, coarsened until few enough are
	// hidden.
	var (
		rpNet     *tableNet
		rpReport  TableReport
		rpRegions []Category
		rpPeriods *periodAxis
		rpLevel   level2
	)
	for _, lv := range regionPeriodLevels(cfg.FinestPeriod) {
		regions, regionOf := cfg.regionAxis(lv.region)
		periods := newPeriodAxis(lv.period, first, last)
		t := tallyUnits(violationUnits(ids, in.Violations, func(v ViolationRecord) (int, int) {
			return regionOf[index(cfg.Regions, v.Region)], periods.index(v.Month)
		}), len(regions), len(periods.cats))
		n := net2D(t)
		n.net.protect(k)
		rpNet, rpRegions, rpPeriods, rpLevel = n, regions, periods, lv
		rpReport = n.report(TableRegionPeriod, lv.region+"/"+lv.period)
		if rpReport.HiddenShare <= cfg.MaxHiddenShare {
			break
		}
	}
	r.Tables = append(r.Tables, rpNet.table(TableRegionPeriod, "violations",
		Axis{Dimension: DimRegion, Level: rpLevel.region, Categories: rpRegions},
		&Axis{Dimension: DimPeriod, Level: rpPeriods.level, Categories: rpPeriods.cats}))
	rep.Tables = append(rep.Tables, rpReport)

	// Outcomes by period, with time to safety, coarsened likewise.
	var (
		on       *outcomeNet
		oReport  TableReport
		oPeriods *periodAxis
	)
	for _, level := range periodLevelsFrom(cfg.FinestPeriod) {
		periods := newPeriodAxis(level, first, last)
		on = newOutcomeNet(ids, in.Outcomes, periods, cfg.SafetyBandsDays)
		on.net.protect(k)
		oPeriods = periods
		oReport = on.report(level)
		if oReport.HiddenShare <= cfg.MaxHiddenShare {
			break
		}
	}
	outcomes, safety := on.tables(oPeriods, cfg.SafetyBandsDays)
	r.Tables = append(r.Tables, outcomes, safety)
	rep.Tables = append(rep.Tables, oReport)

	if cfg.EpsilonMilli > 0 {
		n, err := newNoise(cfg)
		if err != nil {
			return nil, nil, err
		}
		r.Noise = n
		if err := addNoise(r, cfg, noise); err != nil {
			return nil, nil, err
		}
	}
	return r, rep, nil
}

func perCase(vs []ViolationRecord) map[string]int {
	m := map[string]int{}
	for _, v := range vs {
		m[v.CaseID]++
	}
	return m
}

// caseIndex numbers the cases of in, so that units sort and compare as
// integers.
func caseIndex(in Input) map[string]int32 {
	ids := map[string]int32{}
	for _, v := range in.Violations {
		if _, ok := ids[v.CaseID]; !ok {
			ids[v.CaseID] = int32(len(ids))
		}
	}
	for _, o := range in.Outcomes {
		if _, ok := ids[o.CaseID]; !ok {
			ids[o.CaseID] = int32(len(ids))
		}
	}
	return ids
}

type level2 struct{ region, period string }

func periodLevelsFrom(finest string) []string {
	all := PeriodLevels()
	return all[slices.Index(all, finest):]
}

// regionPeriodLevels is the order in which the region × period table is
// coarsened: periods first, then regions.
func regionPeriodLevels(finest string) []level2 {
	var out []level2
	for _, p := range periodLevelsFrom(finest) {
		out = append(out, level2{LevelRegion, p})
	}
	for _, r := range RegionLevels()[1:] {
		out = append(out, level2{r, LevelYear})
	}
	return out
}

// unit is one counted thing: a case, and the row and column it falls in.
// A case counts at most once in a cell.
type unit struct {
	c    int32
	r, k uint16
}

func violationUnits(ids map[string]int32, vs []ViolationRecord, at func(ViolationRecord) (int, int)) []unit {
	us := make([]unit, len(vs))
	for i, v := range vs {
		r, k := at(v)
		us[i] = unit{ids[v.CaseID], uint16(r), uint16(k)}
	}
	return us
}

// tally holds a table's counts: units and distinct people per cell, row,
// column and in all.
type tally struct {
	rows, cols    int
	cell, cellP   []int // row-major
	row, rowP     []int
	col, colP     []int
	total, totalP int
}

func tallyUnits(us []unit, rows, cols int) *tally {
	slices.SortFunc(us, func(a, b unit) int {
		return cmp.Or(cmp.Compare(a.c, b.c), cmp.Compare(a.r, b.r), cmp.Compare(a.k, b.k))
	})
	us = slices.Compact(us)
	t := &tally{rows: rows, cols: cols, cell: make([]int, rows*cols), cellP: make([]int, rows*cols),
		row: make([]int, rows), rowP: make([]int, rows), col: make([]int, cols), colP: make([]int, cols)}
	rowSeen := make([]int32, rows)
	colSeen := make([]int32, cols)
	for i := range rowSeen {
		rowSeen[i] = -1
	}
	for i := range colSeen {
		colSeen[i] = -1
	}
	for i, u := range us {
		r, k := int(u.r), int(u.k)
		t.cell[r*cols+k]++
		t.cellP[r*cols+k]++ // units are distinct per case and cell
		t.row[r]++
		t.col[k]++
		t.total++
		if rowSeen[r] != u.c {
			rowSeen[r] = u.c
			t.rowP[r]++
		}
		if colSeen[k] != u.c {
			colSeen[k] = u.c
			t.colP[k]++
		}
		if i == 0 || us[i-1].c != u.c {
			t.totalP++
		}
	}
	return t
}

// tableNet is a two-way table's network with its arcs by place.
type tableNet struct {
	net   *network
	cells []*arc // row-major
	rows  []*arc
	cols  []*arc
	total *arc
	r, c  int
}

// net2D builds the network of a two-way table with all its margins.
func net2D(t *tally) *tableNet {
	n := &network{}
	s, sink := n.node(), n.node()
	tn := &tableNet{net: n, r: t.rows, c: t.cols}
	rowNodes := make([]int, t.rows)
	colNodes := make([]int, t.cols)
	for i := range rowNodes {
		rowNodes[i] = n.node()
	}
	for j := range colNodes {
		colNodes[j] = n.node()
	}
	tn.total = n.add(sink, s, t.total, t.totalP, weightTotal)
	for i := range rowNodes {
		tn.rows = append(tn.rows, n.add(s, rowNodes[i], t.row[i], t.rowP[i], weightMargin))
	}
	for i := range rowNodes {
		for j := range colNodes {
			tn.cells = append(tn.cells, n.add(rowNodes[i], colNodes[j], t.cell[i*t.cols+j], t.cellP[i*t.cols+j], weightCell))
		}
	}
	for j := range colNodes {
		tn.cols = append(tn.cols, n.add(colNodes[j], sink, t.col[j], t.colP[j], weightMargin))
	}
	return tn
}

func value(a *arc) Value {
	if a.hidden {
		return Value{Hidden: true}
	}
	return Value{N: a.value}
}

func (tn *tableNet) table(id, unit string, rows Axis, cols *Axis) Table {
	t := Table{ID: id, Unit: unit, Rows: rows, Columns: cols, Total: value(tn.total)}
	for i := range tn.r {
		row := make([]Value, tn.c)
		for j := range tn.c {
			row[j] = value(tn.cells[i*tn.c+j])
		}
		t.Cells = append(t.Cells, row)
		t.RowTotals = append(t.RowTotals, value(tn.rows[i]))
	}
	for j := range tn.c {
		t.ColumnTotals = append(t.ColumnTotals, value(tn.cols[j]))
	}
	return t
}

func cellReport(id, level string, cells []*arc) TableReport {
	rep := TableReport{ID: id, Level: level, Cells: len(cells)}
	var all, hidden int
	for _, a := range cells {
		all += a.value
		if a.hidden {
			rep.Hidden++
			hidden += a.value
		}
	}
	if all > 0 {
		rep.HiddenShare = float64(hidden) / float64(all)
	}
	return rep
}

func (tn *tableNet) report(id, level string) TableReport { return cellReport(id, level, tn.cells) }

// outcomeNet is the network of the outcome family: outcomes by period,
// with the evacuated row split by time to safety (published as its own
// table), and the counts no table shows (evacuations by period and band,
// period totals, the grand total) as model arcs.
type outcomeNet struct {
	net    *network
	cells  []*arc // outcome-major, len(Outcomes()) × periods
	rows   []*arc
	bands  []*arc
	cols   int
	report func(level string) TableReport
}

func safetyBand(days int, bands []int) int {
	for i, b := range bands {
		if days <= b {
			return i
		}
	}
	return len(bands)
}

func newOutcomeNet(ids map[string]int32, os []OutcomeRecord, periods *periodAxis, bandLimits []int) *outcomeNet {
	outcomes := Outcomes()
	evac := slices.Index(outcomes, OutcomeEvacuated)
	nb, np := len(bandLimits)+1, len(periods.cats)
	// One unit per case and outcome: the first time it was reached.
	type key struct {
		c int32
		o int
	}
	seen := map[key]bool{}
	cell := make([]int, len(outcomes)*np)
	row := make([]int, len(outcomes))
	col := make([]int, np)
	colP := make([]int, np)
	band := make([]int, nb)
	z := make([]int, np*nb)
	colCases := make([]map[int32]bool, np)
	for i := range colCases {
		colCases[i] = map[int32]bool{}
	}
	cases := map[int32]bool{}
	sorted := slices.Clone(os)
	slices.SortStableFunc(sorted, func(a, b OutcomeRecord) int { return a.Month.Compare(b.Month) })
	total := 0
	for _, o := range sorted {
		oi := slices.Index(outcomes, o.Outcome)
		if oi < 0 {
			continue
		}
		c := ids[o.CaseID]
		if seen[key{c, oi}] {
			continue
		}
		seen[key{c, oi}] = true
		p := periods.index(o.Month)
		cell[oi*np+p]++
		row[oi]++
		col[p]++
		total++
		colCases[p][c] = true
		cases[c] = true
		if oi == evac {
			b := safetyBand(o.SafetyDays, bandLimits)
			band[b]++
			z[p*nb+b]++
		}
	}
	for p := range colP {
		colP[p] = len(colCases[p])
	}

	n := &network{}
	on := &outcomeNet{net: n, cols: np}
	s, sink := n.node(), n.node()
	t := n.add(sink, s, total, len(cases), weightTotal)
	t.model = true
	rowNodes := make([]int, len(outcomes))
	for i := range rowNodes {
		rowNodes[i] = n.node()
	}
	colNodes := make([]int, np)
	for j := range colNodes {
		colNodes[j] = n.node()
	}
	for i := range outcomes {
		on.rows = append(on.rows, n.add(s, rowNodes[i], row[i], row[i], weightMargin))
	}
	bandNodes := make([]int, nb)
	for b := range bandNodes {
		bandNodes[b] = n.node()
		on.bands = append(on.bands, n.add(rowNodes[evac], bandNodes[b], band[b], band[b], weightMargin))
	}
	evacNodes := make([]int, np)
	for j := range evacNodes {
		evacNodes[j] = n.node()
		for b := range bandNodes {
			zb := n.add(bandNodes[b], evacNodes[j], z[j*nb+b], z[j*nb+b], weightCell)
			zb.model = true
		}
	}
	for i := range outcomes {
		for j := range colNodes {
			from := rowNodes[i]
			if i == evac {
				from = evacNodes[j]
			}
			on.cells = append(on.cells, n.add(from, colNodes[j], cell[i*np+j], cell[i*np+j], weightCell))
		}
	}
	for j := range colNodes {
		a := n.add(colNodes[j], sink, col[j], colP[j], weightMargin)
		a.model = true
	}
	on.report = func(level string) TableReport { return cellReport(TableOutcomes, level, on.cells) }
	return on
}

// Labels of outcomes and time-to-safety bands, in every language of the
// catalogue; they are written into each release.
var outcomeLabels = map[string]cases.Localised{
	OutcomeContacted:   {"en": "Made contact", "ru": "Обратились за помощью"},
	OutcomeEvacuated:   {"en": "Evacuated", "ru": "Эвакуированы"},
	OutcomeLeftCountry: {"en": "Left the country", "ru": "Покинули страну"},
	OutcomeResettled:   {"en": "Resettled", "ru": "Переселены"},
}

func bandCategories(limits []int) []Category {
	var out []Category
	lo := 0
	for _, b := range limits {
		label := cases.Localised{"en": fmt.Sprintf("%d–%d days", lo, b), "ru": fmt.Sprintf("%d–%d дн.", lo, b)}
		if lo == 0 {
			label = cases.Localised{"en": fmt.Sprintf("Up to %d days", b), "ru": fmt.Sprintf("До %d дн.", b)}
		}
		out = append(out, Category{ID: fmt.Sprintf("days_%d_%d", lo, b), Label: label})
		lo = b + 1
	}
	return append(out, Category{ID: fmt.Sprintf("days_over_%d", lo-1), Label: cases.Localised{
		"en": fmt.Sprintf("Over %d days", lo-1), "ru": fmt.Sprintf("Более %d дн.", lo-1)}})
}

func (on *outcomeNet) tables(periods *periodAxis, bandLimits []int) (Table, Table) {
	outcomes := Outcomes()
	var cats []Category
	for _, o := range outcomes {
		cats = append(cats, Category{ID: o, Label: outcomeLabels[o]})
	}
	t := Table{ID: TableOutcomes, Unit: "people", Rows: Axis{Dimension: DimOutcome, Categories: cats},
		Columns: &Axis{Dimension: DimPeriod, Level: periods.level, Categories: periods.cats}, Total: Value{Hidden: true}}
	for i := range outcomes {
		row := make([]Value, on.cols)
		for j := range on.cols {
			row[j] = value(on.cells[i*on.cols+j])
		}
		t.Cells = append(t.Cells, row)
		t.RowTotals = append(t.RowTotals, value(on.rows[i]))
	}
	s := Table{ID: TableSafety, Unit: "people", Rows: Axis{Dimension: DimSafety, Categories: bandCategories(bandLimits)},
		Total: value(on.rows[slices.Index(outcomes, OutcomeEvacuated)])}
	for _, b := range on.bands {
		s.RowTotals = append(s.RowTotals, value(b))
	}
	return t, s
}
