package stats

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Every published number is the true count (without noise): checked
// against a count made here from the records, unit by unit.
func TestPublishedValuesAreTrue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := testConfig(t, rapid.IntRange(3, 6).Draw(t, "threshold"), 1)
		in := genRelease(t, cfg, 0, rapid.IntRange(1, 40).Draw(t, "people"))
		r, _, err := Build(cfg, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := time.Parse("2006-01", r.FirstMonth)
		tp := r.Table(TableTypePerpetrator)
		rp := r.Table(TableRegionPeriod)
		units := map[string]map[string]bool{}
		add := func(key, unit string) {
			if units[key] == nil {
				units[key] = map[string]bool{}
			}
			units[key][unit] = true
		}
		for _, v := range in.Violations {
			u := v.CaseID + "|" + v.Type + "|" + v.Perpetrator
			add("tp/"+v.Type+"/"+v.Perpetrator, u)
			add("tp/"+v.Type+"/all", u)
			add("tp/all/"+v.Perpetrator, u)
			add("tp/all/all", u)
			reg, per := regionAt(cfg, v.Region, rp.Rows.Level), periodID(v.Month, rp.Columns.Level, first)
			u = v.CaseID + "|" + reg + "|" + per
			add("rp/"+reg+"/"+per, u)
			add("rp/"+reg+"/all", u)
			add("rp/all/"+per, u)
			add("rp/all/all", u)
		}
		for _, tb := range []*Table{tp, rp} {
			prefix := map[string]string{TableTypePerpetrator: "tp/", TableRegionPeriod: "rp/"}[tb.ID]
			r.Values(func(table, where string, v Value) {
				if table != tb.ID || v.Hidden {
					return
				}
				if want := len(units[prefix+where]); v.N != want {
					t.Errorf("%s %s = %d, true count %d", table, where, v.N, want)
				}
			})
		}
	})
}

// Coarsening: with few people spread over many months, the region ×
// period table goes up to years (and regions up a level) rather than
// hiding nearly everything.
func TestCoarsening(t *testing.T) {
	cfg := testConfig(t, 5, 0.25)
	in := Input{Cutoff: month(2019, 1)}
	for i := range 40 {
		in.Violations = append(in.Violations, ViolationRecord{CaseID: fmt.Sprint(i), Type: "detention", Perpetrator: "police",
			Region: []string{"chechnya", "dagestan"}[i%2], Month: month(2017+i%2, 1+i%12)})
	}
	r, rep, err := Build(cfg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	rp := r.Table(TableRegionPeriod)
	if rp.Columns.Level == LevelMonth {
		t.Errorf("region × period stayed at months: %+v", rep.Tables)
	}
	for _, tr := range rep.Tables {
		if tr.ID == TableRegionPeriod && tr.HiddenShare > cfg.MaxHiddenShare {
			t.Errorf("hidden share %.2f after coarsening to %s", tr.HiddenShare, tr.Level)
		}
	}
	// With everything allowed hidden, it stays at months.
	r, _, err = Build(testConfig(t, 5, 1), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := r.Table(TableRegionPeriod).Columns.Level; l != LevelMonth {
		t.Errorf("max_hidden_share 1 coarsened to %s", l)
	}
}

// The axes of every table depend on the configuration and the cut-off,
// never on the data: which rows and columns exist says nothing.
func TestAxesDoNotDependOnData(t *testing.T) {
	cfg := testConfig(t, 3, 1)
	shape := func(in Input) string {
		r, _, err := Build(cfg, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, tb := range r.Tables {
			fmt.Fprintf(&b, "%s:%d", tb.ID, len(tb.Rows.Categories))
			if tb.Columns != nil {
				fmt.Fprintf(&b, "x%d", len(tb.Columns.Categories))
			}
			b.WriteString(" ")
		}
		return b.String()
	}
	a := shape(Input{Cutoff: month(2018, 1), Violations: []ViolationRecord{{CaseID: "a", Type: "torture", Perpetrator: "family", Region: "abroad", Month: month(2017, 5)}}})
	b := shape(Input{Cutoff: month(2018, 1), Outcomes: []OutcomeRecord{{CaseID: "b", Outcome: OutcomeContacted, Month: month(2015, 5)}}})
	if a != b {
		t.Errorf("shapes differ with the data:\n%s\n%s", a, b)
	}
}

func TestBuildNothing(t *testing.T) {
	if _, _, err := Build(testConfig(t, 3, 1), Input{Cutoff: month(2018, 1)}, nil); err != ErrNothing {
		t.Errorf("empty input: %v", err)
	}
}

// The noise sampler: exact discrete Laplace. Its empirical distribution
// over many draws (from a seeded generator, so the test is repeatable)
// matches P(Z = z) = (1−a)/(1+a)·a^|z| with a = e^(−s/t).
func TestDiscreteLaplaceDistribution(t *testing.T) {
	rnd := rand.NewChaCha8([32]byte{1})
	const n = 200000
	t0, s := uint64(3000), uint64(1000) // scale 3
	counts := map[int64]int{}
	var sum float64
	for range n {
		z, err := discreteLaplace(rnd, t0, s)
		if err != nil {
			t.Fatal(err)
		}
		counts[z]++
		sum += float64(z)
	}
	a := math.Exp(-float64(s) / float64(t0))
	for z := int64(-4); z <= 4; z++ {
		want := (1 - a) / (1 + a) * math.Pow(a, math.Abs(float64(z)))
		got := float64(counts[z]) / n
		// Five standard errors of a proportion.
		if tol := 5 * math.Sqrt(want*(1-want)/n); math.Abs(got-want) > tol {
			t.Errorf("P(Z=%d) = %.4f, want %.4f ± %.4f", z, got, want, tol)
		}
	}
	if mean := sum / n; math.Abs(mean) > 0.05 {
		t.Errorf("mean %.3f, want 0", mean)
	}
	// within(scale, 0.9) covers at least 90%.
	w := int64(within(3, 0.9))
	in := 0
	for z, c := range counts {
		if z >= -w && z <= w {
			in += c
		}
	}
	if f := float64(in) / n; f < 0.9 || f > 0.95 {
		t.Errorf("P(|Z| <= %d) = %.3f, want just over 0.9", w, f)
	}
}

// With noise, nothing is below the threshold and the release says how
// noisy it is; a short random source fails the build rather than giving
// weaker noise.
func TestNoisyRelease(t *testing.T) {
	cfg := testConfig(t, 5, 1)
	cfg.EpsilonMilli = 1000
	in := Input{Cutoff: month(2018, 1)}
	for i := range 200 {
		in.Violations = append(in.Violations, ViolationRecord{CaseID: fmt.Sprint(i), Type: "detention", Perpetrator: "police", Region: "chechnya", Month: month(2017, 3)})
	}
	r, _, err := Build(cfg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Noise == nil || r.Noise.Sensitivity != Sensitivity(cfg) || r.Noise.Within90 <= 0 {
		t.Fatalf("noise description: %+v", r.Noise)
	}
	if p := belowThreshold(r, 5); len(p) > 0 {
		t.Error(strings.Join(p, "\n"))
	}
	if _, _, err := Build(cfg, in, bytes.NewReader(make([]byte, 16))); err == nil {
		t.Error("a random source that runs dry gave a release")
	}
	// Too many records of one person in a noisy release is the caller's
	// error (the service keeps the rest for later).
	in.Violations = append(in.Violations, in.Violations[0], in.Violations[0], in.Violations[0])
	if _, _, err := Build(cfg, in, nil); err == nil {
		t.Error("a person over max_records_per_person was accepted")
	}
}

// protect's own invariant, on random two-way tables: afterwards, every
// arc below the threshold is hidden and no sensitive arc has a lower
// bound above zero (the attacker tests check the same from outside).
func TestProtectInvariant(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rows, cols := rapid.IntRange(1, 5).Draw(t, "rows"), rapid.IntRange(1, 5).Draw(t, "cols")
		k := rapid.IntRange(2, 8).Draw(t, "k")
		var us []unit
		for c := range rapid.IntRange(0, 60).Draw(t, "people") {
			for range rapid.IntRange(1, 3).Draw(t, "units") {
				us = append(us, unit{int32(c), uint16(rapid.IntRange(0, rows-1).Draw(t, "r")), uint16(rapid.IntRange(0, cols-1).Draw(t, "c"))})
			}
		}
		tn := net2D(tallyUnits(us, rows, cols))
		tn.net.protect(k)
		for i, a := range tn.net.arcs {
			if a.persons < k && !a.hidden {
				t.Fatalf("arc %d with %d people is published", i, a.persons)
			}
			if a.sensitive(k) {
				if lo := tn.net.lowerBound(a); lo != 0 {
					t.Fatalf("arc %d (%d people, value %d) has lower bound %d", i, a.persons, a.value, lo)
				}
			}
		}
	})
}
