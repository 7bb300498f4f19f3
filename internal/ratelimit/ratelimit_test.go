package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock only moves when a test moves it, so no assertion here depends
// on how fast the machine is.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2017, 4, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// drain calls allow until it refuses (at most limit times) and returns how
// many it allowed.
func drain(allow func() bool, limit int) int {
	n := 0
	for n < limit && allow() {
		n++
	}
	return n
}

func TestLimiterSequence(t *testing.T) {
	c := newClock()
	l := NewLimiter(2, 3, c.Now) // one token every 500ms, bucket of 3
	steps := []struct {
		advance time.Duration
		want    int // how many Allow calls succeed before one fails
	}{
		{0, 3},                       // starts full
		{0, 0},                       // empty
		{499 * time.Millisecond, 0},  // not quite one token
		{1 * time.Millisecond, 1},    // one token
		{250 * time.Millisecond, 0},  // half a token
		{750 * time.Millisecond, 2},  // the half plus one and a half: two
		{time.Hour, 3},               // never more than the burst
		{1500 * time.Millisecond, 3}, // exactly refilled
	}
	for i, s := range steps {
		c.Advance(s.advance)
		if got := drain(l.Allow, 100); got != s.want {
			t.Fatalf("step %d (+%v): %d allowed, want %d", i, s.advance, got, s.want)
		}
	}
}

// Over a long run, what passes is the burst plus rate × time, however
// often callers knock.
func TestLimiterLongRun(t *testing.T) {
	tests := []struct {
		rate  float64
		burst int
		step  time.Duration
		steps int
	}{
		{1, 1, 100 * time.Millisecond, 100},
		{10, 5, 7 * time.Millisecond, 1000},
		{0.2, 5, time.Second, 60},        // the unseal limit: one in 5s
		{1.0 / 30, 10, time.Second, 600}, // the message limit: one in 30s
		{1000, 1, time.Millisecond, 500},
		{4, 20, 333 * time.Millisecond, 90},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("rate%g_burst%d", tt.rate, tt.burst), func(t *testing.T) {
			c := newClock()
			l := NewLimiter(tt.rate, tt.burst, c.Now)
			total := drain(l.Allow, 1e6)
			for range tt.steps {
				c.Advance(tt.step)
				total += drain(l.Allow, 1e6)
			}
			elapsed := tt.step * time.Duration(tt.steps)
			want := tt.burst + int(math.Floor(elapsed.Seconds()*tt.rate+1e-9))
			if total != want {
				t.Errorf("%d allowed over %v, want %d", total, elapsed, want)
			}
		})
	}
}

func TestLimiterDeniedCallsCostNothing(t *testing.T) {
	c := newClock()
	l := NewLimiter(1, 1, c.Now)
	if !l.Allow() {
		t.Fatal("first call refused")
	}
	for range 1000 {
		if l.Allow() {
			t.Fatal("allowed with an empty bucket")
		}
	}
	c.Advance(time.Second)
	if !l.Allow() {
		t.Error("hammering an empty bucket delayed the refill")
	}
}

func TestLimiterClockGoesBack(t *testing.T) {
	c := newClock()
	l := NewLimiter(1, 2, c.Now)
	drain(l.Allow, 10)
	c.Advance(-time.Hour)
	if l.Allow() {
		t.Error("a clock going back earned tokens")
	}
	c.Advance(time.Hour + 2*time.Second)
	if got := drain(l.Allow, 10); got != 2 {
		t.Errorf("after the clock recovered: %d allowed, want 2", got)
	}
}

func TestLimiterDefaultClock(t *testing.T) {
	l := NewLimiter(1, 1, nil)
	if !l.Allow() {
		t.Error("a new limiter refused")
	}
}

func TestInvalidSettingsPanic(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		burst int
	}{
		{"zero rate", 0, 1},
		{"negative rate", -1, 1},
		{"NaN rate", math.NaN(), 1},
		{"infinite rate", math.Inf(1), 1},
		{"rate above one a nanosecond", 2e9, 1},
		{"zero burst", 1, 0},
		{"negative burst", 1, -5},
		{"span overflows", 1e-9, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for ctor, f := range map[string]func(){
				"NewLimiter": func() { NewLimiter(tt.rate, tt.burst, nil) },
				"NewKeyed":   func() { NewKeyed(tt.rate, tt.burst, 10, nil) },
			} {
				if !panics(f) {
					t.Errorf("%s(%v, %d) did not panic", ctor, tt.rate, tt.burst)
				}
			}
		})
	}
	if !panics(func() { NewKeyed(1, 1, 0, nil) }) {
		t.Error("NewKeyed with maxKeys 0 did not panic")
	}
	if !panics(func() { NewGate(0) }) {
		t.Error("NewGate(0) did not panic")
	}
	if panics(func() { NewLimiter(1e-6, 1000, nil) }) {
		t.Error("a slow but valid limiter panicked")
	}
}

func panics(f func()) (p bool) {
	defer func() { p = recover() != nil }()
	f()
	return false
}

func TestLimiterConcurrent(t *testing.T) {
	c := newClock()
	l := NewLimiter(10, 50, c.Now)
	count := func() int64 {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for range 100 {
					if l.Allow() {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		return allowed.Load()
	}
	if got := count(); got != 50 {
		t.Errorf("frozen clock: %d allowed, want exactly the burst of 50", got)
	}
	c.Advance(time.Second)
	if got := count(); got != 10 {
		t.Errorf("after one second: %d allowed, want 10", got)
	}
}

func TestKeyedIndependentKeys(t *testing.T) {
	c := newClock()
	k := NewKeyed(1, 2, 100, c.Now)
	for _, key := range []string{"a", "b", "", "a very long key " + string(make([]byte, 1<<16))} {
		if got := drain(func() bool { return k.Allow(key) }, 10); got != 2 {
			t.Errorf("key %.10q: %d allowed, want 2", key, got)
		}
	}
	c.Advance(time.Second)
	if !k.Allow("a") || k.Allow("a") {
		t.Error("key a did not get exactly one token back")
	}
}

func TestKeyedEvictsLeastRecentlyUsed(t *testing.T) {
	c := newClock()
	k := NewKeyed(1, 1, 3, c.Now)
	for _, key := range []string{"a", "b", "c"} {
		if !k.Allow(key) {
			t.Fatalf("first call for %s refused", key)
		}
	}
	// Touch a, so that b is now the least recently used.
	if k.Allow("a") {
		t.Fatal("a allowed twice")
	}
	if !k.Allow("d") { // evicts b
		t.Fatal("new key d refused")
	}
	if k.Len() != 3 {
		t.Errorf("Len = %d, want 3", k.Len())
	}
	if k.Allow("a") || k.Allow("c") || k.Allow("d") {
		t.Error("a kept bucket was reset")
	}
	// Still at capacity: a, c, d are all recently used, so b's return
	// evicts the least recent of them (a), and b starts afresh.
	if !k.Allow("b") {
		t.Error("evicted key b did not start with a fresh bucket")
	}
	if !k.Allow("a") {
		t.Error("a was not the one evicted")
	}
}

func TestKeyedForgetsFullBuckets(t *testing.T) {
	c := newClock()
	k := NewKeyed(1, 5, 1000, c.Now)
	for i := range 100 {
		k.Allow(strconv.Itoa(i))
	}
	if k.Len() != 100 {
		t.Fatalf("Len = %d, want 100", k.Len())
	}
	c.Advance(999 * time.Millisecond)
	k.Allow("x")
	if k.Len() != 101 {
		t.Errorf("Len = %d, want 101: buckets dropped before they were full", k.Len())
	}
	c.Advance(time.Millisecond) // the 100 are full again; x is not
	k.Allow("y")
	if k.Len() != 2 {
		t.Errorf("Len = %d, want 2 (x and y)", k.Len())
	}
}

func TestKeyedBoundedMemory(t *testing.T) {
	c := newClock()
	k := NewKeyed(0.001, 3, 50, c.Now)
	for i := range 10000 {
		k.Allow("key-" + strconv.Itoa(i))
		if n := k.Len(); n > 50 {
			t.Fatalf("after %d keys, Len = %d > 50", i+1, n)
		}
	}
}

func TestKeyedConcurrent(t *testing.T) {
	c := newClock()
	k := NewKeyed(1, 10, 10000, c.Now)
	const workers, keys = 32, 20
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range 200 {
				key := (w + i) % keys
				if k.Allow("k" + strconv.Itoa(key)) {
					allowed[key].Add(1)
				}
			}
		})
	}
	// Another goroutine moves the clock while they run; the race detector
	// checks that the clock and the buckets are read safely.
	wg.Go(func() {
		for range 100 {
			c.Advance(0)
			runtime.Gosched()
		}
	})
	wg.Wait()
	for key := range keys {
		if got := allowed[key].Load(); got != 10 {
			t.Errorf("key %d: %d allowed, want exactly the burst of 10", key, got)
		}
	}
	if k.Len() != keys {
		t.Errorf("Len = %d, want %d", k.Len(), keys)
	}
}

func TestKeyedConcurrentEviction(t *testing.T) {
	c := newClock()
	k := NewKeyed(1, 1, 64, c.Now)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 500 {
				k.Allow(strconv.Itoa(w*1000 + i))
				if i%50 == 0 {
					c.Advance(300 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if n := k.Len(); n > 64 {
		t.Errorf("Len = %d > 64", n)
	}
}

func TestGateCapsConcurrency(t *testing.T) {
	const n, callers = 3, 40
	g := NewGate(n)
	hold := make(chan struct{})
	var inside, entered atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			release, err := g.Enter(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			entered.Add(1)
			if v := inside.Add(1); v > n {
				t.Errorf("%d inside a gate of %d", v, n)
			}
			<-hold
			inside.Add(-1)
		})
	}
	// Wait (by yielding, not by the clock) until the gate is full.
	for g.InUse() < n || entered.Load() < n {
		runtime.Gosched()
	}
	if got := entered.Load(); got != n {
		t.Errorf("%d entered while the first %d hold their places", got, n)
	}
	close(hold)
	wg.Wait()
	if got := entered.Load(); got != callers {
		t.Errorf("%d entered in all, want %d", got, callers)
	}
	if g.InUse() != 0 {
		t.Errorf("InUse = %d after all released", g.InUse())
	}
}

func TestGateStress(t *testing.T) {
	const n = 4
	g := NewGate(n)
	var inside, maxInside atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			for range 20 {
				release, err := g.Enter(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				v := inside.Add(1)
				for m := maxInside.Load(); v > m && !maxInside.CompareAndSwap(m, v); m = maxInside.Load() {
				}
				runtime.Gosched()
				inside.Add(-1)
				release()
			}
		})
	}
	wg.Wait()
	if m := maxInside.Load(); m > n {
		t.Errorf("%d inside at once, gate of %d", m, n)
	}
}

func TestGateContext(t *testing.T) {
	g := NewGate(1)
	release, err := g.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	// A waiter whose context is cancelled gives up with that error.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := g.Enter(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: err = %v, want context.Canceled", err)
	}

	// An expired deadline, likewise.
	ctx, cancel = context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	if _, err := g.Enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired deadline: err = %v, want context.DeadlineExceeded", err)
	}

	// Releasing twice frees one place, not two.
	release()
	release()
	r1, ok := g.TryEnter()
	if !ok {
		t.Fatal("TryEnter on a free gate failed")
	}
	if _, ok := g.TryEnter(); ok {
		t.Error("a double release made room for two")
	}

	// A waiter gets in when the place is given back.
	got := make(chan error)
	go func() {
		rel, err := g.Enter(context.Background())
		if err == nil {
			rel()
		}
		got <- err
	}()
	r1()
	if err := <-got; err != nil {
		t.Errorf("waiter: %v", err)
	}

	// A context that has already ended is refused even with room free.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	for range 100 {
		if _, err := g.Enter(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("ended context with a free place: err = %v", err)
		}
	}
	if g.InUse() != 0 {
		t.Errorf("InUse = %d, want 0", g.InUse())
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewLimiter(1e6, 1000, nil)
	for b.Loop() {
		l.Allow()
	}
}

func BenchmarkKeyedAllow(b *testing.B) {
	k := NewKeyed(1, 5, 100000, nil)
	keys := make([]string, 50000)
	for i := range keys {
		keys[i] = "lookup-" + strconv.Itoa(i)
	}
	i := 0
	for b.Loop() {
		k.Allow(keys[i%len(keys)])
		i++
	}
}
