package evidence_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/blob"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/sqlite"
)

const (
	testPassphrase = "passphrase for tests"
	testPlugin     = "corridortest"
)

// TestMain doubles as a real age plugin (age-plugin-corridortest) when
// the test binary is started under that name, so plugin recipients are
// tested through the real plugin protocol. Its recipients and identities
// carry an X25519 recipient or identity string as their data.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "age-plugin-"+testPlugin {
		p, err := plugin.New(testPlugin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		p.HandleRecipient(func(data []byte) (age.Recipient, error) { return age.ParseX25519Recipient(string(data)) })
		p.HandleIdentity(func(data []byte) (age.Identity, error) { return age.ParseX25519Identity(string(data)) })
		fset := flag.NewFlagSet("plugin", flag.ContinueOnError)
		p.RegisterFlags(fset)
		if err := fset.Parse(os.Args[1:]); err != nil {
			os.Exit(2)
		}
		os.Exit(p.Main())
	}
	os.Exit(m.Run())
}

// installPlugin puts age-plugin-corridortest (this test binary) on PATH.
func installPlugin(t *testing.T) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "age-plugin-"+testPlugin)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

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

// fixture is a data directory as corridor keeps it (SQLite, blobs), an
// unsealed vault, one custodian key pair, one user per role and a case
// assigned to cw and shared with op, logi and cust.
type fixture struct {
	ctx     context.Context
	dir     string
	st      *sqlite.DB
	vault   *keys.Vault
	clock   *clock
	blobs   *blob.FS
	cases   *cases.Service
	svc     *evidence.Service
	custKey *age.X25519Identity

	admin, coord, op, cw, cw2, logi, cust, gone *store.User
	caseID                                      string
}

type fixtureOpts struct {
	cfg          evidence.Config
	noCustodians bool
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{ctx: ctx, dir: t.TempDir(), clock: &clock{t: time.Date(2017, 4, 1, 9, 0, 0, 0, time.UTC)}}
	st, err := sqlite.Open(ctx, filepath.Join(f.dir, "corridor.db"))
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
	if f.blobs, err = blob.NewFS(filepath.Join(f.dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	a := audit.New(st, f.clock.Now)
	f.cases = cases.New(st, f.vault, a, nil, nil, f.clock.Now)
	o.cfg.Now = f.clock.Now
	f.svc = evidence.New(st, f.vault, a, f.blobs, f.cases, o.cfg)
	f.admin = f.user(t, store.RoleAdmin)
	f.coord = f.user(t, store.RoleCoordinator)
	f.op = f.user(t, store.RoleOperator)
	f.cw = f.user(t, store.RoleCaseworker)
	f.cw2 = f.user(t, store.RoleCaseworker)
	f.logi = f.user(t, store.RoleLogistics)
	f.cust = f.user(t, store.RoleCustodian)
	f.gone = f.user(t, store.RoleCaseworker)
	c, err := f.cases.Open(ctx, f.cw, cases.OpenInput{})
	if err != nil {
		t.Fatal(err)
	}
	f.caseID = c.ID
	// The coordinator needs access to the case to share it.
	if err := f.cases.BreakGlass(ctx, f.coord, c.ID, "sharing for tests"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*store.User{f.op, f.logi, f.cust, f.gone} {
		if err := f.cases.Share(ctx, f.coord, c.ID, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	// …and loses it again, so that its own access is what the tests say.
	f.clock.Advance(2 * cases.BreakGlassFor)
	f.gone.Disabled = true
	if err := st.UpdateUser(ctx, f.gone); err != nil {
		t.Fatal(err)
	}
	if !o.noCustodians {
		f.custKey, _ = age.GenerateX25519Identity()
		if _, err := f.svc.AddCustodian(ctx, nil, "Custodian One", f.custKey.Recipient().String()); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) user(t testing.TB, role string) *store.User {
	t.Helper()
	n, err := f.st.CountUsers(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{UsernameIndex: []byte{byte(n), 0xE1}, Username: []byte("ciphertext"), Role: role,
		PasswordHash: "x", CreatedAt: f.clock.Now()}
	if err := f.st.CreateUser(f.ctx, u); err != nil {
		t.Fatal(err)
	}
	return u
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// importBytes ingests data from the command line into the fixture's case.
func (f *fixture) importBytes(t testing.TB, name string, data []byte) *evidence.Ingested {
	t.Helper()
	got, err := f.svc.Import(f.ctx, evidence.Input{CaseID: f.caseID, Filename: name}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// openOffline decrypts an item with the custodian's key.
func (f *fixture) openOffline(t testing.TB, id string) ([]byte, *evidence.Record) {
	t.Helper()
	var b bytes.Buffer
	rec, err := f.svc.OpenWithIdentity(f.ctx, &b, id, f.custKey)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), rec
}

// events returns an item's trail as stored, checked as a chain.
func (f *fixture) events(t testing.TB, id string) []evidence.Event {
	t.Helper()
	stored, err := f.st.CustodyEvents(f.ctx, id)
	must(t, err)
	var out []evidence.Event
	for _, e := range stored {
		ev, err := evidence.ParseEvent(e.Entry)
		must(t, err)
		if string(ev.Type) != e.Type || !ev.Time.Equal(e.At) || ev.Seq != e.Seq || ev.ItemID != id {
			t.Fatalf("stored columns %+v disagree with the entry %+v", e, ev)
		}
		out = append(out, ev)
	}
	must(t, evidence.CheckChain(out))
	return out
}

func types(es []evidence.Event) []evidence.EventType {
	var out []evidence.EventType
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

// auditActions lists the audit actions on object, oldest first.
func (f *fixture) auditActions(t testing.TB, object string) []string {
	t.Helper()
	es, err := f.st.AuditRange(f.ctx, 1, 100000)
	must(t, err)
	var out []string
	for _, e := range es {
		if e.Object == object {
			out = append(out, e.Action)
		}
	}
	return out
}

// blobFiles lists the files under the blob directory (temporary ones too).
func (f *fixture) blobFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(f.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	must(t, err)
	return out
}

// rawSQL opens the fixture's database directly, for tests that play an
// attacker (or a crash) changing rows behind the store's back.
func (f *fixture) rawSQL(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(f.dir, "corridor.db")+"?_pragma=busy_timeout(10000)")
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func (f *fixture) outbox(t testing.TB) []store.OutboxEntry {
	t.Helper()
	p, err := f.st.OutboxPending(f.ctx, 1000)
	must(t, err)
	return p
}

// errReader fails after n bytes, like a connection that drops.
type errReader struct {
	n   int
	err error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = byte(i)
	}
	r.n -= k
	return k, nil
}

var _ io.Reader = (*errReader)(nil)
