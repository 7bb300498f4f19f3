package web

import (
	"sync"
	"time"
)

// onceSet remembers tokens for a while, so that a form sent twice (a
// reload of the page its POST returned) is acted on once. Bounded: when
// full, the oldest tokens go first.
type onceSet struct {
	mu   sync.Mutex
	ttl  time.Duration
	max  int
	now  func() time.Time
	seen map[string]time.Time
}

func newOnceSet(ttl time.Duration, max int, now func() time.Time) *onceSet {
	return &onceSet{ttl: ttl, max: max, now: now, seen: map[string]time.Time{}}
}

// first records tok and reports whether it was new.
func (o *onceSet) first(tok string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	if at, ok := o.seen[tok]; ok && now.Sub(at) < o.ttl {
		return false
	}
	if len(o.seen) >= o.max {
		for k, at := range o.seen {
			if now.Sub(at) >= o.ttl {
				delete(o.seen, k)
			}
		}
		for len(o.seen) >= o.max {
			var oldest string
			var t time.Time
			for k, at := range o.seen {
				if t.IsZero() || at.Before(t) {
					oldest, t = k, at
				}
			}
			delete(o.seen, oldest)
		}
	}
	o.seen[tok] = now
	return true
}

// forget drops tok, so the same form can be sent again (after a failure).
func (o *onceSet) forget(tok string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.seen, tok)
}
