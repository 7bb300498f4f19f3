package stats

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Re-identification tests: an attacker holding every published release
// tries to prove that anyone at all is in a group of fewer than the
// threshold — a cell, a margin, a count no table shows, the same cell
// added up over several releases — from cells against totals, overlapping
// margins and linked tables, with a linear-program solver (attacker_test.go).
// Over random records and release sequences it never can. The naive tests
// at the end show that the same attacker does succeed against publications
// without complementary suppression, and against cumulative releases
// differenced with each other: the attacker is strong enough to matter.

const smallConfig = `
version = 1
threshold = %d
finest_period = "month"
max_hidden_share = %g
first_month = "2017-01"
safety_bands_days = [7, 30]
evacuated_stage = "safe_house"
resettled_reason = "resettled"
[[types]]
id = "detention"
label = { en = "Detention" }
[[types]]
id = "torture"
label = { en = "Torture" }
[[types]]
id = "other"
label = { en = "Other" }
[[perpetrators]]
id = "police"
label = { en = "Police" }
[[perpetrators]]
id = "family"
label = { en = "Family" }
[[countries]]
id = "ru"
label = { en = "Russia" }
[[countries]]
id = "abroad"
label = { en = "Abroad" }
[[macro_regions]]
id = "caucasus"
country = "ru"
label = { en = "Caucasus" }
[[macro_regions]]
id = "abroad"
country = "abroad"
label = { en = "Abroad" }
[[regions]]
id = "chechnya"
macro_region = "caucasus"
label = { en = "Chechnya" }
[[regions]]
id = "dagestan"
macro_region = "caucasus"
label = { en = "Dagestan" }
[[regions]]
id = "abroad"
macro_region = "abroad"
label = { en = "Abroad" }
`

// tb is what both *testing.T and *rapid.T offer.
type tb interface {
	Helper()
	Fatal(args ...any)
}

func testConfig(t tb, k int, share float64) *Config {
	t.Helper()
	cfg, err := ParseConfig(fmt.Appendf(nil, smallConfig, k, share))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func month(y, m int) time.Time { return time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC) }

// truth is the true number of distinct people in every group the attacker
// might target, computed from the raw records without the builder's code.
type truth map[string]map[string]bool // variable-like name → case ids

func (tr truth) add(name, caseID string) {
	if tr[name] == nil {
		tr[name] = map[string]bool{}
	}
	tr[name][caseID] = true
}

// periodID names month m at a level as the release's axis does.
func periodID(m time.Time, level string, first time.Time) string {
	if m.Before(first) && periodNumber(m, level) < periodNumber(first, level) {
		return earlierID
	}
	switch level {
	case LevelQuarter:
		return fmt.Sprintf("%d-q%d", m.Year(), (int(m.Month())-1)/3+1)
	case LevelYear:
		return fmt.Sprintf("%d", m.Year())
	}
	return m.Format("2006-01")
}

func regionAt(cfg *Config, region, level string) string {
	for _, r := range cfg.Regions {
		if r.ID != region {
			continue
		}
		switch level {
		case LevelMacro:
			return r.Parent
		case LevelCountry:
			for _, m := range cfg.MacroRegions {
				if m.ID == r.Parent {
					return m.Parent
				}
			}
		}
		return r.ID
	}
	panic("unknown region " + region)
}

// groups lists, for one release, every group and the expression that
// counts its units (violations or outcomes) in the attacker's terms.
func releaseTruth(cfg *Config, r *Release, tag string, in Input, tr truth, a *attacker) {
	first, _ := time.Parse("2006-01", r.FirstMonth)
	rp := r.Table(TableRegionPeriod)
	op := r.Table(TableOutcomes)
	sf := r.Table(TableSafety)
	for _, v := range in.Violations {
		cell := cellVar(tag, TableTypePerpetrator, v.Type, v.Perpetrator)
		tr.add(cell, v.CaseID)
		tr.add(tag+"/tp/row/"+v.Type, v.CaseID)
		tr.add(tag+"/tp/col/"+v.Perpetrator, v.CaseID)
		tr.add(tag+"/tp/all", v.CaseID)
		reg := regionAt(cfg, v.Region, rp.Rows.Level)
		per := periodID(v.Month, rp.Columns.Level, first)
		tr.add(cellVar(tag, TableRegionPeriod, reg, per), v.CaseID)
		tr.add(tag+"/rp/row/"+reg, v.CaseID)
		tr.add(tag+"/rp/col/"+per, v.CaseID)
		tr.add(tag+"/rp/all", v.CaseID)
	}
	bandOf := func(days int) string {
		for i, lim := range cfg.SafetyBandsDays {
			if days <= lim {
				return sf.Rows.Categories[i].ID
			}
		}
		return sf.Rows.Categories[len(cfg.SafetyBandsDays)].ID
	}
	for _, o := range in.Outcomes {
		per := periodID(o.Month, op.Columns.Level, first)
		tr.add(tag+"/out/row/"+o.Outcome, o.CaseID)
		tr.add(tag+"/out/col/"+per, o.CaseID)
		tr.add(tag+"/out/all", o.CaseID)
		if o.Outcome == OutcomeEvacuated {
			b := bandOf(o.SafetyDays)
			tr.add(cellVar(tag, "evacuated_safety", per, b), o.CaseID)
			tr.add(tag+"/out/cell/evacuated/"+per, o.CaseID)
			tr.add(tag+"/band/"+b, o.CaseID)
		} else {
			tr.add(cellVar(tag, TableOutcomes, o.Outcome, per), o.CaseID)
		}
	}
}

// exprOf maps a truth name to the attacker's expression for it.
func exprOf(a *attacker, name string) expr {
	parts := strings.Split(name, "/")
	tag := parts[0]
	match := func(prefix string, keep func(p []string) bool) expr {
		e := expr{}
		for v, i := range a.vars {
			p := strings.Split(v, "/")
			if p[0] == tag && strings.HasPrefix(v[len(tag)+1:], prefix) && keep(p) {
				e[i] = 1
			}
		}
		return e
	}
	switch {
	case len(parts) == 4 && parts[1] != "tp" && parts[1] != "rp" && parts[1] != "out" && parts[1] != "band":
		return sum(a.v(name))
	case parts[1] == "tp" || parts[1] == "rp":
		table := map[string]string{"tp": TableTypePerpetrator, "rp": TableRegionPeriod}[parts[1]]
		switch parts[2] {
		case "all":
			return match(table+"/", func([]string) bool { return true })
		case "row":
			return match(table+"/"+parts[3]+"/", func([]string) bool { return true })
		case "col":
			return match(table+"/", func(p []string) bool { return p[3] == parts[3] })
		}
	case parts[1] == "band":
		return match("evacuated_safety/", func(p []string) bool { return p[3] == parts[2] })
	case parts[1] == "out":
		ev := match("evacuated_safety/", func([]string) bool { return true })
		other := match(TableOutcomes+"/", func([]string) bool { return true })
		switch parts[2] {
		case "all":
			for k, v := range ev {
				other[k] = v
			}
			return other
		case "row":
			if parts[3] == OutcomeEvacuated {
				return ev
			}
			return match(TableOutcomes+"/"+parts[3]+"/", func([]string) bool { return true })
		case "col":
			e := match(TableOutcomes+"/", func(p []string) bool { return p[3] == parts[3] })
			for k, v := range match("evacuated_safety/", func(p []string) bool { return p[2] == parts[3] }) {
				e[k] = v
			}
			return e
		case "cell":
			return match("evacuated_safety/", func(p []string) bool { return p[2] == parts[4] })
		}
	}
	panic("no expression for " + name)
}

// genRelease draws the records one release counts: new people only, as
// the service hands them to Build.
func genRelease(t *rapid.T, cfg *Config, r, people int) Input {
	in := Input{Cutoff: month(2018, 1+r)}
	for p := range people {
		id := fmt.Sprintf("r%dp%d", r, p)
		n := rapid.IntRange(1, 3).Draw(t, "records")
		for range n {
			in.Violations = append(in.Violations, ViolationRecord{CaseID: id,
				Type:        rapid.SampledFrom([]string{"detention", "torture", "other"}).Draw(t, "type"),
				Perpetrator: rapid.SampledFrom([]string{"police", "family"}).Draw(t, "perp"),
				Region:      rapid.SampledFrom([]string{"chechnya", "dagestan", "abroad"}).Draw(t, "region"),
				Month:       month(2017, rapid.IntRange(1, 6).Draw(t, "month")),
			})
		}
		contact := rapid.IntRange(1, 6).Draw(t, "contact")
		in.Outcomes = append(in.Outcomes, OutcomeRecord{CaseID: id, Outcome: OutcomeContacted, Month: month(2017, contact)})
		if rapid.Bool().Draw(t, "evacuated") {
			in.Outcomes = append(in.Outcomes, OutcomeRecord{CaseID: id, Outcome: OutcomeEvacuated,
				Month: month(2017, contact), SafetyDays: rapid.IntRange(0, 60).Draw(t, "days")})
			if rapid.Bool().Draw(t, "left") {
				in.Outcomes = append(in.Outcomes, OutcomeRecord{CaseID: id, Outcome: OutcomeLeftCountry, Month: month(2017, min(contact+1, 6))})
			}
		}
	}
	return in
}

// attack builds every release, publishes it as JSON, and lets the
// attacker at all of them; it returns the problems found.
func attack(t tb, cfg *Config, inputs []Input) []string {
	a := newAttacker()
	tr := truth{}
	var problems []string
	var releases []*Release
	for i, in := range inputs {
		if len(in.Violations) == 0 && len(in.Outcomes) == 0 {
			continue
		}
		r, _, err := Build(cfg, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Version = i + 1
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		// The attacker reads the document as published.
		pub, err := ParseRelease(b)
		if err != nil {
			t.Fatal(err)
		}
		a.read(pub)
		releases = append(releases, pub)
		releaseTruth(cfg, pub, fmt.Sprintf("r%d", pub.Version), in, tr, a)
		pub.Values(func(table, where string, v Value) {
			if !v.Hidden && v.N < cfg.Threshold {
				problems = append(problems, fmt.Sprintf("release %d publishes %s %s = %d", pub.Version, table, where, v.N))
			}
		})
	}
	// The same cell over every release at once: what someone adding the
	// releases up would target.
	cumulative := truth{}
	for name, people := range tr {
		parts := strings.Split(name, "/")
		if len(parts) == 4 && parts[1] == TableTypePerpetrator {
			cumulative.addAll("all/"+strings.Join(parts[1:], "/"), people)
		}
	}
	for name, people := range cumulative {
		tr[name] = people
	}
	names := make([]string, 0, len(tr))
	for n := range tr {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		n := len(tr[name])
		if n == 0 || n >= cfg.Threshold {
			continue
		}
		var e expr
		if rest, ok := strings.CutPrefix(name, "all/"); ok {
			e = expr{}
			for _, r := range releases {
				for k, v := range exprOf(a, fmt.Sprintf("r%d/%s", r.Version, rest)) {
					e[k] = v
				}
			}
		} else {
			e = exprOf(a, name)
		}
		lo, err := a.minimum(e)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: solver: %v", name, err))
			continue
		}
		if lo > 1e-6 {
			problems = append(problems, fmt.Sprintf("%s: %d people, but every table consistent with the releases has at least %.3g", name, n, lo))
		}
	}
	return problems
}

func (tr truth) addAll(name string, people map[string]bool) {
	for p := range people {
		tr.add(name, p)
	}
}

func TestAttackerCannotProveSmallGroupsNonEmpty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.IntRange(3, 6).Draw(t, "threshold")
		cfg := testConfig(t, k, rapid.SampledFrom([]float64{0, 0.25, 1}).Draw(t, "share"))
		var inputs []Input
		for r := range rapid.IntRange(1, 3).Draw(t, "releases") {
			inputs = append(inputs, genRelease(t, cfg, r, rapid.IntRange(0, 25).Draw(t, "people")))
		}
		for _, p := range attack(t, cfg, inputs) {
			t.Error(p)
		}
	})
}

// A fixed, realistic case as well: the 2017 figures in miniature, where
// one small region (Ingushetia-like) has two people.
func TestAttackerFixedCase(t *testing.T) {
	cfg := testConfig(t, 10, 0.25)
	var in Input
	in.Cutoff = month(2018, 1)
	for i := range 60 {
		id := fmt.Sprintf("p%d", i)
		region, typ := "chechnya", "detention"
		if i < 2 {
			region, typ = "dagestan", "torture"
		}
		in.Violations = append(in.Violations, ViolationRecord{CaseID: id, Type: typ, Perpetrator: "police", Region: region, Month: month(2017, 3+i%3)})
		in.Outcomes = append(in.Outcomes, OutcomeRecord{CaseID: id, Outcome: OutcomeContacted, Month: month(2017, 3+i%3)})
	}
	if p := attack(t, cfg, []Input{in}); len(p) > 0 {
		t.Error(strings.Join(p, "\n"))
	}
}

// Without complementary suppression (only cells below the threshold
// hidden), the attacker recovers a hidden cell from its row total: the
// attacker has teeth.
func TestAttackerBreaksPrimaryOnlySuppression(t *testing.T) {
	cfg := testConfig(t, 10, 1)
	var in Input
	in.Cutoff = month(2018, 1)
	add := func(n int, typ, perp string) {
		for range n {
			id := fmt.Sprintf("p%d", len(in.Violations))
			in.Violations = append(in.Violations, ViolationRecord{CaseID: id, Type: typ, Perpetrator: perp, Region: "chechnya", Month: month(2017, 3)})
		}
	}
	add(30, "detention", "police")
	add(3, "detention", "family") // the small cell
	add(25, "torture", "police")
	add(12, "torture", "family")
	r, _, err := Build(cfg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := r.Table(TableTypePerpetrator)
	if !tp.Cells[0][1].Hidden {
		t.Fatal("the cell of 3 is published")
	}
	// Undo complementary suppression: publish every hidden cell of 10 or
	// more, as a naive publisher would.
	truthTP := map[[2]int]int{{0, 0}: 30, {0, 1}: 3, {1, 0}: 25, {1, 1}: 12}
	for ij, n := range truthTP {
		if n >= 10 {
			tp.Cells[ij[0]][ij[1]] = Value{N: n}
		}
	}
	for i, n := range []int{33, 37} {
		tp.RowTotals[i] = Value{N: n}
	}
	r.Version = 1
	b, _ := r.Marshal()
	pub, err := ParseRelease(b)
	if err != nil {
		t.Fatal(err)
	}
	a := newAttacker()
	a.read(pub)
	lo, err := a.minimum(sum(a.v(cellVar("r1", TableTypePerpetrator, "detention", "family"))))
	if err != nil {
		t.Fatal(err)
	}
	if lo < 2.999 {
		t.Errorf("the attacker bounds the cell of 3 below by %.3g; want it recovered (3)", lo)
	}
	// And with the builder's own output, it cannot.
	if p := attack(t, cfg, []Input{in}); len(p) > 0 {
		t.Error(strings.Join(p, "\n"))
	}
}

// Cumulative releases (each recounting everything so far) leak by
// differencing: release 2 shows 13 where release 1 showed 12, so one new
// person is in that cell. Corridor's releases count each record once, so
// release 2 holds the one new record alone, and hides it.
func TestAttackerDifferencesCumulativeReleases(t *testing.T) {
	cfg := testConfig(t, 10, 1)
	var first Input
	first.Cutoff = month(2018, 1)
	for i := range 12 {
		first.Violations = append(first.Violations, ViolationRecord{CaseID: fmt.Sprintf("p%d", i), Type: "detention", Perpetrator: "police", Region: "chechnya", Month: month(2017, 3)})
	}
	late := ViolationRecord{CaseID: "late", Type: "detention", Perpetrator: "police", Region: "chechnya", Month: month(2017, 3)}
	cumulative := first
	cumulative.Cutoff = month(2018, 2)
	cumulative.Violations = append(slices.Clone(first.Violations), late)

	a := newAttacker()
	for v, in := range []Input{first, cumulative} {
		r, _, err := Build(cfg, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Version = v + 1
		a.read(r)
	}
	// Records are only ever added: release 2's cell is release 1's plus
	// the new people (a slack unknown ≥ 0).
	c1 := a.v(cellVar("r1", TableTypePerpetrator, "detention", "police"))
	c2 := a.v(cellVar("r2", TableTypePerpetrator, "detention", "police"))
	added := a.v("added")
	a.extras = append(a.extras, equation{expr{c2: 1, c1: -1, added: -1}, 0})
	lo, err := a.minimum(sum(added))
	if err != nil {
		t.Fatal(err)
	}
	if lo < 0.999 {
		t.Fatalf("differencing cumulative releases: the attacker proves only %.3g new people; the test expects it to find the one", lo)
	}

	// Corridor's way: release 2 counts only what release 1 did not.
	second := Input{Cutoff: month(2018, 2), Violations: []ViolationRecord{late}}
	if p := attack(t, cfg, []Input{first, second}); len(p) > 0 {
		t.Error(strings.Join(p, "\n"))
	}
	r2, _, err := Build(cfg, second, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, r2, "en"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), ",1,") {
		t.Errorf("release 2 publishes the one new record:\n%s", buf.String())
	}
}
