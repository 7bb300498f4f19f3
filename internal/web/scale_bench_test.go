package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/demo"
	"github.com/corridor-org/corridor/internal/store"
)

// BenchmarkScale measures the pages and computations that grow with the
// number of cases, on installations filled by the demo generator (the
// same one as corridor demo): 100,000 cases, beside 1,000 as the baseline
// (and, for the duplicate lookup, an empty index). Each installation is
// seeded once per run: a benchmark that calls b.Run runs its own body only
// once, so the sub-benchmarks share the data directory in its temporary
// directory.
//
// Page benchmarks report the median and 99th percentile latency of their
// iterations (p50-ms, p99-ms) besides ns/op. Run:
//
//	go test -run '^$' -bench BenchmarkScale -benchtime 200x ./internal/web/
//
// Seeding 100,000 cases takes a few minutes.
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{0, 1000, 100000} {
		b.Run(fmt.Sprintf("cases=%d", n), func(b *testing.B) {
			ctx := context.Background()
			h := newHarness(b, true)
			for _, role := range []string{store.RoleCaseworker, store.RoleCaseworker, store.RoleCaseworker, store.RoleOperator, store.RoleLogistics} {
				h.addUser(role)
			}
			start := time.Now()
			if _, err := demo.Generate(ctx, h.st, h.cases, h.intake, demo.Options{Cases: n, Requests: -1, Seed: 1}); err != nil {
				b.Fatal(err)
			}
			b.Logf("seeded %d cases in %v", n, time.Since(start).Round(time.Millisecond))
			handler := h.srv.StaffHandler()
			c := h.login(h.admin)
			page := func(path string) func(b *testing.B) {
				return func(b *testing.B) {
					req := httptest.NewRequest("GET", path, nil)
					for _, ck := range c.c.Jar.Cookies(mustURL(h.staffURL)) {
						req.AddCookie(ck)
					}
					timed(b, func() {
						rec := httptest.NewRecorder()
						handler.ServeHTTP(rec, req)
						if rec.Code != http.StatusOK {
							b.Fatalf("%s: status %d", path, rec.Code)
						}
					})
				}
			}
			if n > 0 {
				b.Run("list-first-page", page("/cases"))
				b.Run("list-filtered-page", page("/cases?stage=documents&page=2"))
				b.Run("dashboard", func(b *testing.B) {
					timed(b, func() {
						if _, err := h.cases.Dashboard(ctx); err != nil {
							b.Fatal(err)
						}
					})
				})
			}
			// A phone number of a demo case (the 500th), written as a
			// caller would; with no cases, the lookup of an empty index.
			b.Run("duplicate-lookup", func(b *testing.B) {
				timed(b, func() {
					if _, err := h.cases.DuplicatesOf(ctx, h.admin.user, map[string]string{cases.FieldPhone: "8 900 000-05-00"}); err != nil {
						b.Fatal(err)
					}
				})
			})
		})
	}
}

// timed runs f once per iteration and reports the median and 99th
// percentile of the iterations' durations, in milliseconds.
func timed(b *testing.B, f func()) {
	b.Helper()
	var ds []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t := time.Now()
		f()
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	at := func(p int) float64 {
		i := min((p*len(ds)+99)/100, len(ds)) - 1 // nearest rank
		return float64(ds[max(i, 0)]) / float64(time.Millisecond)
	}
	if len(ds) > 0 {
		b.ReportMetric(at(50), "p50-ms")
		b.ReportMetric(at(99), "p99-ms")
	}
}
