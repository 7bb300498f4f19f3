package stats

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
)

// Noise.
//
// With a privacy budget ε per release, every published number gets an
// independent draw of integer noise from the discrete Laplace (two-sided
// geometric) distribution, P(Z = z) ∝ exp(−|z|·ε/Δ), where Δ is the most
// one person can change all the published numbers of a release together
// (their L1 sensitivity). That makes the published numbers ε-differentially
// private with respect to any one person. Draws are exact: the sampler of
// Canonne, Kamath and Steinke ("The Discrete Gaussian for Differential
// Privacy", 2020, algorithms 1 and 2) uses only integer arithmetic and
// uniform integers from crypto/rand, so no floating-point rounding can
// leak the true value.
//
// Δ: a person adds at most m = max_records_per_person units to the type ×
// perpetrator table and as many to the region × period table; each unit
// changes a cell, its row total, its column total and the grand total
// (4 numbers each: 8m). In the outcome family a person reaches at most four
// outcomes, each changing a cell and its row total (8), and an evacuation
// also a time-to-safety band (1). So Δ = 8m + 9.
//
// Published numbers are then raised to the threshold if noise took them
// below it (a number below the threshold is never shown); that is
// post-processing and costs no budget. The suppression pattern itself is
// decided on the true counts and is not covered by ε: it is protected by
// the suppression rules.

// Sensitivity is Δ for a configuration.
func Sensitivity(cfg *Config) int { return 8*cfg.MaxRecordsPerPerson + 9 }

func newNoise(cfg *Config) (*Noise, error) {
	if cfg.EpsilonMilli <= 0 {
		return nil, fmt.Errorf("stats: no noise configured")
	}
	d := Sensitivity(cfg)
	scale := float64(d) * 1000 / float64(cfg.EpsilonMilli)
	return &Noise{Epsilon: cfg.Epsilon(), Sensitivity: d, Scale: scale,
		MaxRecordsPerPerson: cfg.MaxRecordsPerPerson, Within90: within(scale, 0.9)}, nil
}

// within returns the smallest x with P(|Z| <= x) >= p for discrete
// Laplace noise of the given scale: P(|Z| > x) = 2·a^(x+1)/(1+a), a = e^(−1/scale).
func within(scale, p float64) int {
	a := math.Exp(-1 / scale)
	x := math.Ceil(math.Log((1-p)*(1+a)/2)/math.Log(a)) - 1
	return max(int(x), 0)
}

func addNoise(r *Release, cfg *Config, rnd io.Reader) error {
	t := Sensitivity(cfg) * 1000
	s := cfg.EpsilonMilli
	var failed error
	noisy := func(v *Value) {
		if v.Hidden || failed != nil {
			return
		}
		z, err := discreteLaplace(rnd, uint64(t), uint64(s))
		if err != nil {
			failed = err
			return
		}
		v.N = max(v.N+int(z), cfg.Threshold)
	}
	for i := range r.Tables {
		tb := &r.Tables[i]
		if tb.ID == TableSafety {
			continue // its total is the evacuated row of the outcome table
		}
		for _, row := range tb.Cells {
			for j := range row {
				noisy(&row[j])
			}
		}
		for j := range tb.RowTotals {
			noisy(&tb.RowTotals[j])
		}
		for j := range tb.ColumnTotals {
			noisy(&tb.ColumnTotals[j])
		}
		noisy(&tb.Total)
	}
	if o, sf := r.Table(TableOutcomes), r.Table(TableSafety); o != nil && sf != nil {
		for j := range sf.RowTotals {
			noisy(&sf.RowTotals[j])
		}
		sf.Total = o.RowTotals[slices.Index(Outcomes(), OutcomeEvacuated)]
	}
	if failed != nil {
		return fmt.Errorf("stats: noise: %w", failed)
	}
	return nil
}

// uniform returns a uniform integer in [0, n), n > 0, by rejection.
func uniform(rnd io.Reader, n uint64) (uint64, error) {
	var b [8]byte
	limit := math.MaxUint64 - math.MaxUint64%n
	for {
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return 0, err
		}
		if x := binary.LittleEndian.Uint64(b[:]); x < limit {
			return x % n, nil
		}
	}
}

// bernoulli returns true with probability num/den.
func bernoulli(rnd io.Reader, num, den uint64) (bool, error) {
	u, err := uniform(rnd, den)
	return u < num, err
}

// bernoulliExp returns true with probability exp(−num/den) (CKS
// algorithm 1).
func bernoulliExp(rnd io.Reader, num, den uint64) (bool, error) {
	for num > den {
		ok, err := bernoulliExp(rnd, 1, 1)
		if err != nil || !ok {
			return false, err
		}
		num -= den
	}
	k := uint64(1)
	for {
		ok, err := bernoulli(rnd, num, den*k)
		if err != nil {
			return false, err
		}
		if !ok {
			return k%2 == 1, nil
		}
		k++
	}
}

// discreteLaplace draws Z with P(Z = z) ∝ exp(−|z|·s/t) (CKS algorithm 2).
func discreteLaplace(rnd io.Reader, t, s uint64) (int64, error) {
	for {
		u, err := uniform(rnd, t)
		if err != nil {
			return 0, err
		}
		d, err := bernoulliExp(rnd, u, t)
		if err != nil {
			return 0, err
		}
		if !d {
			continue
		}
		var v uint64
		for {
			a, err := bernoulliExp(rnd, 1, 1)
			if err != nil {
				return 0, err
			}
			if !a {
				break
			}
			v++
		}
		y := int64((u + t*v) / s)
		b, err := bernoulli(rnd, 1, 2)
		if err != nil {
			return 0, err
		}
		if b && y == 0 {
			continue
		}
		if b {
			return -y, nil
		}
		return y, nil
	}
}
