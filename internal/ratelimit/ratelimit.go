// Package ratelimit limits how fast and how much at once, without ever
// recording who is asking. Limits are global or keyed by an opaque value the
// application already holds (a receipt's lookup id, a staff user id), never
// by IP address: an IP address identifies a person at risk, and a table of
// them in memory is exactly what a seized, running server must not contain.
// Global limits are coarse, which is the price; they are set so that a
// flood slows everyone down rather than letting anyone through.
package ratelimit

import (
	"container/list"
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// bucket is a token bucket kept as a single time, the generic cell rate
// algorithm's "theoretical arrival time": the moment at which the bucket
// would be full again. Keeping a time instead of a float count of tokens
// makes the arithmetic exact in nanoseconds.
type bucket struct {
	tat time.Time
}

// allow takes one token at now if there is one. interval is the time to
// earn one token; burst is the bucket's size.
func (b *bucket) allow(now time.Time, interval time.Duration, burst int) bool {
	tat := b.tat
	if tat.Before(now) {
		tat = now // full: unused time does not bank beyond the burst
	}
	// Taking a token moves tat one interval later; it may run at most
	// burst intervals ahead of now.
	next := tat.Add(interval)
	if next.Sub(now) > interval*time.Duration(burst) {
		return false
	}
	b.tat = next
	return true
}

// full reports whether the bucket has every token back at now, in which
// case it is indistinguishable from a new bucket and can be forgotten.
func (b *bucket) full(now time.Time) bool {
	return !b.tat.After(now)
}

// params converts a rate in tokens a second into the interval per token,
// and panics on settings that are programming or configuration mistakes, as
// time.NewTicker does: a limiter that silently allowed everything (or
// nothing) would be worse than a failed start.
func params(rate float64, burst int) time.Duration {
	if !(rate > 0) || math.IsInf(rate, 0) {
		panic(fmt.Sprintf("ratelimit: rate %v is not a positive number", rate))
	}
	if burst < 1 {
		panic(fmt.Sprintf("ratelimit: burst %d is less than 1", burst))
	}
	interval := float64(time.Second) / rate
	if interval < 1 {
		panic(fmt.Sprintf("ratelimit: rate %v is above one a nanosecond", rate))
	}
	if interval*float64(burst) >= math.MaxInt64/2 {
		panic(fmt.Sprintf("ratelimit: rate %v with burst %d spans too long a time", rate, burst))
	}
	return time.Duration(interval)
}

// Limiter is a token bucket: it allows bursts of up to burst events, and
// rate events a second on average after that. It is safe for concurrent
// use.
type Limiter struct {
	interval time.Duration
	burst    int
	now      func() time.Time

	mu sync.Mutex
	b  bucket
}

// NewLimiter returns a Limiter that starts full. now is the clock (nil means
// time.Now). It panics if rate is not positive and finite or burst is less
// than 1.
func NewLimiter(rate float64, burst int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{interval: params(rate, burst), burst: burst, now: now}
}

// Allow reports whether one event may happen now, and if so counts it.
func (l *Limiter) Allow() bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.allow(now, l.interval, l.burst)
}

// Keyed is a set of token buckets, one for each key, with the same rate and
// burst. It holds at most maxKeys buckets: when a new key arrives and the
// set is full, the least recently used bucket is dropped. Buckets that have
// filled up again are dropped early, since a full bucket is the same as no
// bucket. It is safe for concurrent use.
//
// A key must be opaque and must not identify a person: a receipt's lookup
// id or a staff user id, never an IP address. Keys are not kept: each is
// reduced to a 64-bit hash under a per-Keyed random seed, so memory stays
// bounded whatever the keys' length and no key can be read back out of a
// memory dump. Two keys that collide (about one chance in 2^64 per pair)
// share a bucket.
//
// Dropping a bucket that is not yet full gives its key a fresh burst; size
// maxKeys so that, in normal use, buckets fill up long before they are the
// least recently used, and put a global Limiter in front to bound the total.
type Keyed struct {
	interval time.Duration
	burst    int
	max      int
	now      func() time.Time
	seed     maphash.Seed

	mu    sync.Mutex
	keys  map[uint64]*list.Element // of *entry
	order *list.List               // most recently used at the front
}

type entry struct {
	key uint64
	b   bucket
}

// NewKeyed returns a Keyed limiter holding at most maxKeys buckets. now is
// the clock (nil means time.Now). It panics if rate is not positive and
// finite, or burst or maxKeys is less than 1.
func NewKeyed(rate float64, burst, maxKeys int, now func() time.Time) *Keyed {
	interval := params(rate, burst)
	if maxKeys < 1 {
		panic(fmt.Sprintf("ratelimit: maxKeys %d is less than 1", maxKeys))
	}
	if now == nil {
		now = time.Now
	}
	return &Keyed{
		interval: interval,
		burst:    burst,
		max:      maxKeys,
		now:      now,
		seed:     maphash.MakeSeed(),
		keys:     make(map[uint64]*list.Element),
		order:    list.New(),
	}
}

// Allow reports whether one event for key may happen now, and if so counts
// it.
func (k *Keyed) Allow(key string) bool {
	h := maphash.String(k.seed, key)
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()

	// Forget buckets that have filled up, oldest first. Each call removes
	// at most what earlier calls added, so the cost is constant on average.
	for e := k.order.Back(); e != nil && e.Value.(*entry).b.full(now); e = k.order.Back() {
		k.remove(e)
	}

	if e, ok := k.keys[h]; ok {
		k.order.MoveToFront(e)
		return e.Value.(*entry).b.allow(now, k.interval, k.burst)
	}
	if len(k.keys) >= k.max {
		k.remove(k.order.Back())
	}
	en := &entry{key: h}
	k.keys[h] = k.order.PushFront(en)
	return en.b.allow(now, k.interval, k.burst)
}

func (k *Keyed) remove(e *list.Element) {
	delete(k.keys, e.Value.(*entry).key)
	k.order.Remove(e)
}

// Len returns the number of buckets held, for metrics and tests.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// Gate caps how many expensive operations run at once. argon2id is
// memory-hard by design: each derivation of a person's key takes tens of
// megabytes and a core for a noticeable time, so a flood of receipt look-ups
// must queue at the gate, not run side by side until the server runs out of
// memory.
type Gate struct {
	slots chan struct{}
}

// NewGate returns a Gate letting n callers in at once. It panics if n is
// less than 1.
func NewGate(n int) *Gate {
	if n < 1 {
		panic(fmt.Sprintf("ratelimit: gate size %d is less than 1", n))
	}
	return &Gate{slots: make(chan struct{}, n)}
}

// Enter waits for a place and returns a function that gives it back, or
// ctx's error (wrapped) if ctx ends first. A context that has already ended
// is refused even if a place is free, so that a request whose client has
// gone away starts no expensive work. release may be called more than once;
// only the first call counts.
func (g *Gate) Enter(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ratelimit: gate: %w", err)
	}
	select {
	case g.slots <- struct{}{}:
		return g.releaser(), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("ratelimit: gate: %w", ctx.Err())
	}
}

// TryEnter takes a place if one is free now, without waiting.
func (g *Gate) TryEnter() (release func(), ok bool) {
	select {
	case g.slots <- struct{}{}:
		return g.releaser(), true
	default:
		return nil, false
	}
}

func (g *Gate) releaser() func() {
	var once sync.Once
	return func() { once.Do(func() { <-g.slots }) }
}

// InUse returns how many places are taken, for metrics and tests.
func (g *Gate) InUse() int {
	return len(g.slots)
}
