package storetest

import (
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var sessionTests = []test{
	{"CreateGetTouchDelete", testSessions},
	{"NotFound", testSessionNotFound},
	{"DeleteUserSessions", testDeleteUserSessions},
	{"DeleteIdleSessions", testDeleteIdleSessions},
}

func newSession(userID int64, created, seen time.Time) *store.Session {
	return &store.Session{TokenHash: randomBytes(32), UserID: userID, CreatedAt: created, LastSeen: seen}
}

func sessionExists(t *testing.T, s store.Store, tokenHash []byte) bool {
	t.Helper()
	_, err := s.GetSession(t.Context(), tokenHash)
	if err != nil && !isNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("alice")
	createUser(t, s, u)

	created := time.Date(2026, 3, 1, 12, 0, 0, 987654321, time.FixedZone("X", 3600))
	sess := newSession(u.ID, created, created.Add(time.Second))
	want := *sess
	want.CreatedAt, want.LastSeen = micro(sess.CreatedAt), micro(sess.LastSeen)
	must(t, s.CreateSession(ctx, sess))
	other := newSession(u.ID, t0, t0)
	must(t, s.CreateSession(ctx, other))

	got, err := s.GetSession(ctx, sess.TokenHash)
	must(t, err)
	checkEqual(t, &want, got)

	dup := newSession(u.ID, t0, t0)
	dup.TokenHash = append([]byte(nil), sess.TokenHash...)
	wantErr(t, s.CreateSession(ctx, dup), store.ErrConflict)

	must(t, s.TouchSession(ctx, sess.TokenHash, at(time.Hour+time.Nanosecond)))
	want.LastSeen = at(time.Hour)
	got, err = s.GetSession(ctx, sess.TokenHash)
	must(t, err)
	checkEqual(t, &want, got)

	must(t, s.DeleteSession(ctx, sess.TokenHash))
	if sessionExists(t, s, sess.TokenHash) {
		t.Error("session still there after DeleteSession")
	}
	if !sessionExists(t, s, other.TokenHash) {
		t.Error("DeleteSession removed another session")
	}
}

func testSessionNotFound(t *testing.T, s store.Store) {
	u := newUser("alice")
	createUser(t, s, u)
	must(t, s.CreateSession(t.Context(), newSession(u.ID, t0, t0)))
	missing := randomBytes(32)
	tests := []struct {
		name string
		call func() error
	}{
		{"GetSession", func() error { _, err := s.GetSession(t.Context(), missing); return err }},
		{"GetSessionNil", func() error { _, err := s.GetSession(t.Context(), nil); return err }},
		{"TouchSession", func() error { return s.TouchSession(t.Context(), missing, t0) }},
		{"DeleteSession", func() error { return s.DeleteSession(t.Context(), missing) }},
		{"CreateSessionUnknownUser", func() error {
			return s.CreateSession(t.Context(), newSession(u.ID+1000, t0, t0))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.call(), store.ErrNotFound) })
	}
}

func testDeleteUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := newUser("alice"), newUser("bob")
	createUser(t, s, alice)
	createUser(t, s, bob)
	var aliceSessions [][]byte
	for range 3 {
		sess := newSession(alice.ID, t0, t0)
		must(t, s.CreateSession(ctx, sess))
		aliceSessions = append(aliceSessions, sess.TokenHash)
	}
	bobSession := newSession(bob.ID, t0, t0)
	must(t, s.CreateSession(ctx, bobSession))

	must(t, s.DeleteUserSessions(ctx, alice.ID))
	for _, h := range aliceSessions {
		if sessionExists(t, s, h) {
			t.Error("alice's session survived DeleteUserSessions")
		}
	}
	if !sessionExists(t, s, bobSession.TokenHash) {
		t.Error("DeleteUserSessions removed another user's session")
	}
	// Nothing left to delete is not an error.
	must(t, s.DeleteUserSessions(ctx, alice.ID))
	must(t, s.DeleteUserSessions(ctx, bob.ID+1000))
}

func testDeleteIdleSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("alice")
	createUser(t, s, u)
	var hashes [][]byte
	for _, seen := range []time.Duration{-3 * time.Hour, -2 * time.Hour, -time.Hour, 0} {
		sess := newSession(u.ID, at(-4*time.Hour), at(seen))
		must(t, s.CreateSession(ctx, sess))
		hashes = append(hashes, sess.TokenHash)
	}
	for _, st := range []struct {
		before time.Time
		n      int
	}{
		{at(-time.Hour), 2}, // strictly before: the one seen at -1h stays
		{at(-time.Hour), 0},
		{at(time.Minute), 2},
	} {
		n, err := s.DeleteIdleSessions(ctx, st.before)
		must(t, err)
		if n != st.n {
			t.Errorf("DeleteIdleSessions(%v): removed %d, want %d", st.before, n, st.n)
		}
		if st.before.Equal(at(-time.Hour)) {
			for i, h := range hashes {
				if got, want := sessionExists(t, s, h), i >= 2; got != want {
					t.Errorf("session %d: exists %v, want %v", i, got, want)
				}
			}
		}
	}
}
