package web

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/corridor-org/corridor/internal/intake"
)

// personSessions holds a person's unlocked access to their request in
// memory only, for a short idle time. Nothing of it reaches disk: after a
// restart or a seizure the cookie is worthless, and the person types
// their receipt again.
type personSessions struct {
	mu    sync.Mutex
	idle  time.Duration
	max   int
	now   func() time.Time
	items map[[32]byte]*personSession
}

type personSession struct {
	access   *intake.Access
	csrf     string
	lastSeen time.Time
	nonces   []string // one-time tokens of message forms shown, newest last
}

// maxNonces bounds the message forms a session can have open at once.
const maxNonces = 8

func newPersonSessions(idle time.Duration, max int, now func() time.Time) *personSessions {
	return &personSessions{idle: idle, max: max, now: now, items: map[[32]byte]*personSession{}}
}

// add stores access under a new token and returns the token.
func (p *personSessions) add(a *intake.Access) (token string, ps *personSession) {
	token = randomToken(32)
	ps = &personSession{access: a, csrf: randomToken(24), lastSeen: p.now()}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked()
	if len(p.items) >= p.max {
		// Evict the oldest rather than refuse: a flood must not lock
		// people out of their own conversation for long.
		var oldest [32]byte
		var t time.Time
		for k, v := range p.items {
			if t.IsZero() || v.lastSeen.Before(t) {
				oldest, t = k, v.lastSeen
			}
		}
		p.deleteLocked(oldest)
	}
	p.items[sha256.Sum256([]byte(token))] = ps
	return token, ps
}

func (p *personSessions) get(token string) *personSession {
	if token == "" {
		return nil
	}
	k := sha256.Sum256([]byte(token))
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.items[k]
	if !ok {
		return nil
	}
	if p.now().Sub(ps.lastSeen) > p.idle {
		p.deleteLocked(k)
		return nil
	}
	ps.lastSeen = p.now()
	return ps
}

func (p *personSessions) remove(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deleteLocked(sha256.Sum256([]byte(token)))
}

// deleteLocked drops a session. The data key is not wiped in place: a
// request running concurrently may still hold it, and encrypting under a
// zeroed key must never happen; the garbage collector reclaims it.
func (p *personSessions) deleteLocked(k [32]byte) {
	delete(p.items, k)
}

func (p *personSessions) sweepLocked() {
	for k, v := range p.items {
		if p.now().Sub(v.lastSeen) > p.idle {
			p.deleteLocked(k)
		}
	}
}

func (p *personSessions) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.items {
		p.deleteLocked(k)
	}
}

// nonce issues a one-time token for a message form.
func (p *personSessions) nonce(ps *personSession) string {
	n := randomToken(16)
	p.mu.Lock()
	defer p.mu.Unlock()
	ps.nonces = append(ps.nonces, n)
	if len(ps.nonces) > maxNonces {
		ps.nonces = ps.nonces[len(ps.nonces)-maxNonces:]
	}
	return n
}

// useNonce reports whether n was issued and not yet used, and uses it.
func (p *personSessions) useNonce(ps *personSession, n string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range ps.nonces {
		if x == n && n != "" {
			ps.nonces = append(ps.nonces[:i], ps.nonces[i+1:]...)
			return true
		}
	}
	return false
}
