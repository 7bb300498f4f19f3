package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var userTests = []test{
	{"Empty", testUsersEmpty},
	{"CreateGet", testUserCreateGet},
	{"Conflict", testUserConflict},
	{"NotFound", testUserNotFound},
	{"Update", testUpdateUser},
	{"TOTPStep", testTOTPStep},
	{"TOTPStepConcurrent", testTOTPStepConcurrent},
}

func testUsersEmpty(t *testing.T, s store.Store) {
	n, err := s.CountUsers(t.Context())
	must(t, err)
	list, err := s.ListUsers(t.Context())
	must(t, err)
	if n != 0 || len(list) != 0 {
		t.Errorf("empty store: CountUsers %d, ListUsers %d users", n, len(list))
	}
}

func testUserCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser("alice")
	alice.Role = store.RoleAdmin
	alice.TOTPSecret = randomBytes(40)
	alice.TOTPEnrolled = true
	alice.TOTPLastStep = 12345
	alice.MustChangePassword = true
	alice.FailedLogins = 2
	alice.LockedUntil = time.Date(2026, 3, 1, 13, 0, 0, 999, time.FixedZone("X", -5*3600))
	alice.CreatedAt = time.Date(2026, 3, 1, 12, 0, 0, 1500, time.UTC)
	want := *alice
	want.LockedUntil = micro(alice.LockedUntil)
	want.CreatedAt = micro(alice.CreatedAt)
	createUser(t, s, alice)
	bob := newUser("bob")
	createUser(t, s, bob)

	if alice.ID <= 0 || bob.ID <= alice.ID {
		t.Fatalf("ids %d, %d: want positive and increasing", alice.ID, bob.ID)
	}
	want.ID = alice.ID

	got, err := s.GetUser(ctx, alice.ID)
	must(t, err)
	checkEqual(t, &want, got)
	got, err = s.GetUserByIndex(ctx, alice.UsernameIndex)
	must(t, err)
	checkEqual(t, &want, got)

	list, err := s.ListUsers(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != alice.ID || list[1].ID != bob.ID {
		t.Fatalf("ListUsers: %d users, want alice then bob", len(list))
	}
	checkEqual(t, &want, list[0])
	n, err := s.CountUsers(ctx)
	must(t, err)
	if n != 2 {
		t.Errorf("CountUsers %d, want 2", n)
	}
}

func testUserConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	createUser(t, s, newUser("alice"))
	dup := newUser("alice")
	dup.Username = []byte("something else")
	wantErr(t, s.CreateUser(ctx, dup), store.ErrConflict)
	n, err := s.CountUsers(ctx)
	must(t, err)
	if n != 1 {
		t.Errorf("CountUsers %d after conflict, want 1", n)
	}
	// The store keeps working, and ids keep increasing.
	createUser(t, s, newUser("bob"))
}

func testUserNotFound(t *testing.T, s store.Store) {
	u := newUser("exists")
	createUser(t, s, u)
	missing := u.ID + 1000
	tests := []struct {
		name string
		call func() error
	}{
		{"GetUser", func() error { _, err := s.GetUser(t.Context(), missing); return err }},
		{"GetUserByIndex", func() error { _, err := s.GetUserByIndex(t.Context(), []byte("missing")); return err }},
		{"UpdateUser", func() error { v := *newUser("missing"); v.ID = missing; return s.UpdateUser(t.Context(), &v) }},
		{"UseTOTPStep", func() error { _, err := s.UseTOTPStep(t.Context(), missing, 1); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.call(), store.ErrNotFound) })
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("alice")
	u.TOTPLastStep = 100
	createUser(t, s, u)
	other := newUser("bob")
	createUser(t, s, other)
	wantOther, err := s.GetUser(ctx, other.ID)
	must(t, err)

	steps := []struct {
		name   string
		change func(u *store.User)
	}{
		{"every field", func(u *store.User) {
			u.Username = randomBytes(33)
			u.Role = store.RoleCustodian
			u.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3$bmV3"
			u.TOTPSecret = randomBytes(40)
			u.TOTPEnrolled = true
			u.Disabled = true
			u.MustChangePassword = true
			u.FailedLogins = 5
			u.LockedUntil = time.Date(2026, 3, 2, 0, 0, 0, 123456789, time.UTC)
		}},
		{"back to zero values", func(u *store.User) {
			u.Username = nil
			u.Role = store.RoleCaseworker
			u.TOTPSecret = nil
			u.TOTPEnrolled = false
			u.Disabled = false
			u.MustChangePassword = false
			u.FailedLogins = 0
			u.LockedUntil = time.Time{}
		}},
		{"one field", func(u *store.User) { u.FailedLogins = 1 }},
	}
	cur, err := s.GetUser(ctx, u.ID)
	must(t, err)
	for _, st := range steps {
		next := *cur
		st.change(&next)
		want := next
		want.LockedUntil = micro(next.LockedUntil)

		// Fields UpdateUser must not write: a stale or forged copy cannot
		// change them.
		next.UsernameIndex = []byte("index:mallory")
		next.CreatedAt = at(-time.Hour)
		next.TOTPLastStep = 0
		must(t, s.UpdateUser(ctx, &next))

		got, err := s.GetUser(ctx, u.ID)
		must(t, err)
		for _, d := range diff(&want, got) {
			t.Errorf("%s: %s", st.name, d)
		}
		cur = got
	}
	gotOther, err := s.GetUser(ctx, other.ID)
	must(t, err)
	checkEqual(t, wantOther, gotOther)
	_, err = s.GetUserByIndex(ctx, []byte("index:mallory"))
	wantErr(t, err, store.ErrNotFound)
}

func testTOTPStep(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("alice")
	createUser(t, s, u)
	for _, st := range []struct {
		step int64
		ok   bool
	}{
		{0, false}, // not greater than the initial 0
		{5, true},
		{5, false},
		{4, false},
		{6, true},
		{100, true},
		{99, false},
		{101, true},
	} {
		ok, err := s.UseTOTPStep(ctx, u.ID, st.step)
		must(t, err)
		if ok != st.ok {
			t.Errorf("step %d: accepted %v, want %v", st.step, ok, st.ok)
		}
	}
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	if got.TOTPLastStep != 101 {
		t.Errorf("TOTPLastStep %d, want 101", got.TOTPLastStep)
	}
}

func testTOTPStepConcurrent(t *testing.T, s store.Store) {
	u := newUser("alice")
	createUser(t, s, u)
	const racers = 16
	for _, step := range []int64{42, 43, 44} {
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			accepted int
			errs     []error
		)
		for range racers {
			wg.Go(func() {
				ok, err := s.UseTOTPStep(t.Context(), u.ID, step)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					accepted++
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			t.Error(err)
		}
		if accepted != 1 {
			t.Errorf("step %d: accepted %d times by %d concurrent calls, want exactly once", step, accepted, racers)
		}
	}
}
