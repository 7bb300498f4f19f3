package stats

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// synthetic makes n violation records of n/3 people, spread over the
// default lists and three years, skewed the way real reports are (a few
// types, perpetrators and regions account for most), with their outcomes.
func synthetic(cfg *Config, n int) Input {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	skew := func(k int) int { return min(int(rng.ExpFloat64()*float64(k)/4), k-1) }
	in := Input{Cutoff: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	people := max(n/3, 1)
	for i := range n {
		id := fmt.Sprintf("c%07d", i%people)
		in.Violations = append(in.Violations, ViolationRecord{CaseID: id,
			Type: cfg.Types[skew(len(cfg.Types))].ID, Perpetrator: cfg.Perpetrators[skew(len(cfg.Perpetrators))].ID,
			Region: cfg.Regions[skew(len(cfg.Regions))].ID, Month: month(2017+rng.IntN(3), 1+rng.IntN(12))})
	}
	for p := range people {
		id := fmt.Sprintf("c%07d", p)
		m := month(2017+rng.IntN(3), 1+rng.IntN(12))
		in.Outcomes = append(in.Outcomes, OutcomeRecord{CaseID: id, Outcome: OutcomeContacted, Month: m})
		if rng.IntN(3) > 0 {
			in.Outcomes = append(in.Outcomes, OutcomeRecord{CaseID: id, Outcome: OutcomeEvacuated, Month: m, SafetyDays: rng.IntN(240)})
		}
	}
	return in
}

// BenchmarkBuild builds a release (counting, protection, coarsening) from
// 1,000,000 violation records beside a baseline of 10,000, in the same
// run. It reports the records counted per second.
func BenchmarkBuild(b *testing.B) {
	cfg := DefaultConfig()
	for _, n := range []int{10_000, 1_000_000} {
		in := synthetic(cfg, n)
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := Build(cfg, in, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
