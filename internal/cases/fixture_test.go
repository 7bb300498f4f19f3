package cases_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/sqlite"
)

const testPassphrase = "passphrase for tests"

// clock is an injected clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a real SQLite store in a temporary directory, an unsealed
// vault, and one user per role (two caseworkers, two coordinators).
type fixture struct {
	ctx   context.Context
	path  string
	st    *sqlite.DB
	vault *keys.Vault
	clock *clock
	svc   *cases.Service

	admin, coord, coord2, op, cw, cw2, logi, cust, gone *store.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{ctx: ctx, path: filepath.Join(t.TempDir(), "corridor.db"),
		clock: &clock{t: time.Date(2017, 4, 1, 9, 0, 0, 0, time.UTC)}}
	st, err := sqlite.Open(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if f.vault, err = keys.Open(ctx, st, f.clock.Now); err != nil {
		t.Fatal(err)
	}
	if err := f.vault.Initialise(ctx, st, []byte(testPassphrase), keys.TestKDF, keys.TestKDF); err != nil {
		t.Fatal(err)
	}
	f.svc = cases.New(st, f.vault, audit.New(st, f.clock.Now), nil, nil, f.clock.Now)
	f.admin = f.user(t, store.RoleAdmin, false)
	f.coord = f.user(t, store.RoleCoordinator, false)
	f.coord2 = f.user(t, store.RoleCoordinator, false)
	f.op = f.user(t, store.RoleOperator, false)
	f.cw = f.user(t, store.RoleCaseworker, false)
	f.cw2 = f.user(t, store.RoleCaseworker, false)
	f.logi = f.user(t, store.RoleLogistics, false)
	f.cust = f.user(t, store.RoleCustodian, false)
	f.gone = f.user(t, store.RoleCaseworker, true)
	return f
}

func (f *fixture) user(t *testing.T, role string, disabled bool) *store.User {
	t.Helper()
	n, err := f.st.CountUsers(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{UsernameIndex: []byte{byte(n), 0xC0}, Username: []byte("ciphertext"), Role: role,
		PasswordHash: "x", Disabled: disabled, CreatedAt: f.clock.Now()}
	if err := f.st.CreateUser(f.ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// open opens a case as u and fails the test on error.
func (f *fixture) open(t *testing.T, u *store.User, sections map[string]map[string]string) *store.Case {
	t.Helper()
	c, err := f.svc.Open(f.ctx, u, cases.OpenInput{Sections: sections})
	if err != nil {
		t.Fatalf("open as %s: %v", u.Role, err)
	}
	return c
}

// must fails the test if err is not nil.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails the test unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// view opens case id as u and fails the test on error.
func (f *fixture) view(t *testing.T, u *store.User, id string) *cases.View {
	t.Helper()
	v, err := f.svc.View(f.ctx, u, id)
	if err != nil {
		t.Fatalf("view as %s (%d): %v", u.Role, u.ID, err)
	}
	return v
}

// actions returns the audit actions recorded on object, oldest first.
func (f *fixture) actions(t *testing.T, object string) []string {
	t.Helper()
	es, err := f.st.AuditRange(f.ctx, 1, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Object == object {
			out = append(out, e.Action)
		}
	}
	return out
}

// countAction counts audit entries of one action by one actor on object.
func (f *fixture) countAction(t *testing.T, actorID int64, action, object string) int {
	t.Helper()
	es, err := f.st.AuditRange(f.ctx, 1, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return len(slices.DeleteFunc(es, func(e *store.AuditEntry) bool {
		return e.ActorID != actorID || e.Action != action || e.Object != object
	}))
}

// verify records a complete checklist as u.
func (f *fixture) verify(t *testing.T, u *store.User, id string) {
	t.Helper()
	must(t, f.svc.RecordVerification(f.ctx, u, id, cases.Checklist{Interview: true, References: true, Documents: true}, ""))
}
