package translog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
)

// BenchmarkAppend measures custody events appended per second through
// Integrate — from an in-memory outbox; from an SQLite outbox (synchronous
// FULL, as the store) committing one transaction per recorded event
// (Source.Logged) and one per round (BatchSource.LoggedBatch) — beside the
// same entries appended with tessera directly, in rounds of the same size,
// with no outbox.
func BenchmarkAppend(b *testing.B) {
	report := func(b *testing.B, n int) {
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("integrate/memory-outbox", func(b *testing.B) {
		l := openLog(b, testConfig(b, b.TempDir()))
		src := newMemSource()
		for i := range b.N {
			src.add(entry(i))
		}
		b.ResetTimer()
		n, err := l.Integrate(b.Context(), src)
		if err != nil || n != b.N {
			b.Fatalf("Integrate = %d, %v", n, err)
		}
		b.StopTimer()
		report(b, n)
	})
	b.Run("integrate/sqlite-outbox", func(b *testing.B) {
		dir := b.TempDir()
		l := openLog(b, testConfig(b, filepath.Join(dir, "log")))
		src, err := openSQLSource(filepath.Join(dir, "outbox.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer src.db.Close()
		var es [][]byte
		for i := range b.N {
			es = append(es, entry(i))
		}
		if err := src.add(b.Context(), es...); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		n, err := l.Integrate(b.Context(), src)
		if err != nil || n != b.N {
			b.Fatalf("Integrate = %d, %v", n, err)
		}
		b.StopTimer()
		report(b, n)
	})
	b.Run("integrate/sqlite-outbox-batched", func(b *testing.B) {
		dir := b.TempDir()
		l := openLog(b, testConfig(b, filepath.Join(dir, "log")))
		src, err := openSQLSource(filepath.Join(dir, "outbox.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer src.db.Close()
		var es [][]byte
		for i := range b.N {
			es = append(es, entry(i))
		}
		if err := src.add(b.Context(), es...); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		n, err := l.Integrate(b.Context(), sqlBatchSource{src})
		if err != nil || n != b.N {
			b.Fatalf("Integrate = %d, %v", n, err)
		}
		b.StopTimer()
		report(b, n)
	})
	b.Run("baseline/tessera-direct", func(b *testing.B) {
		ctx, cancel := context.WithCancel(b.Context())
		defer cancel()
		cfg := testConfig(b, b.TempDir())
		cfg.batch = defaultBatch
		driver, err := posix.New(ctx, posix.Config{Path: cfg.Dir})
		if err != nil {
			b.Fatal(err)
		}
		opts, err := appendOptions(cfg)
		if err != nil {
			b.Fatal(err)
		}
		a, _, _, err := tessera.NewAppender(ctx, driver, opts)
		if err != nil {
			b.Fatal(err)
		}
		es := make([][]byte, b.N)
		for i := range es {
			es[i] = entry(i)
		}
		b.ResetTimer()
		for start := 0; start < b.N; start += defaultBatch {
			var fs []tessera.IndexFuture
			for _, e := range es[start:min(start+defaultBatch, b.N)] {
				fs = append(fs, a.Add(ctx, tessera.NewEntry(e)))
			}
			for _, f := range fs {
				if _, err := f(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		report(b, b.N)
	})
}

// BenchmarkInclusionProof builds a receipt (and, separately, verifies one)
// for a random entry of a log of 1,000 entries and of 1,000,000 entries.
// The big log is built once, before the timed runs; that takes a while.
func BenchmarkInclusionProof(b *testing.B) {
	ctx := b.Context()
	for _, size := range []int{1_000, 1_000_000} {
		cfg := testConfig(b, b.TempDir())
		cfg.batch = 4096
		l := openLog(b, cfg)
		build := time.Now()
		for start := 0; start < size; start += cfg.batch {
			var ps []Pending
			for i := start; i < min(start+cfg.batch, size); i++ {
				ps = append(ps, Pending{Entry: entry(i)})
			}
			appendDirect(b, l, ps)
		}
		wait, cancel := context.WithTimeout(ctx, 5*time.Minute)
		if _, err := l.AwaitCheckpoint(wait, uint64(size)); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.Logf("built a log of %d entries in %v", size, time.Since(build).Round(time.Millisecond))
		p := testPolicy(b, nil, 0)

		b.Run(fmt.Sprintf("prove/entries=%d", size), func(b *testing.B) {
			for b.Loop() {
				if _, err := l.Proof(ctx, uint64(rand.IntN(size))); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("verify/entries=%d", size), func(b *testing.B) {
			i := rand.IntN(size)
			pr, err := l.Proof(ctx, uint64(i))
			if err != nil {
				b.Fatal(err)
			}
			e := entry(i)
			for b.Loop() {
				if _, _, err := VerifyProof(pr, e, p); err != nil {
					b.Fatal(err)
				}
			}
		})
		l.Close()
	}
}
