package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/storetest"
)

func openTemp(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "corridor.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, _ := openTemp(t)
		return db
	})
}

func TestFileModes(t *testing.T) {
	db, path := openTemp(t)
	ctx := t.Context()
	if err := db.SetMeta(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Hold a read transaction open so that the -wal and -shm files exist
	// and are in use while we look at them.
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var v []byte
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(name), perm)
		}
	}
}

func TestExistingFileModeTightened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corridor.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // in case of a strict umask
		t.Fatal(err)
	}
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %o, want 600", perm)
	}
}

func TestOpenRejectsURIs(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"", "file:" + filepath.Join(dir, "x.db"), filepath.Join(dir, "x.db?mode=ro")} {
		if db, err := Open(t.Context(), p); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestPragmas(t *testing.T) {
	db, _ := openTemp(t)
	ctx := t.Context()
	for _, pool := range []struct {
		name string
		db   *sql.DB
	}{{"writer", db.w}, {"reader", db.r}} {
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"foreign_keys": "1",
			"synchronous":  "2", // FULL
			"busy_timeout": "10000",
		} {
			var got string
			if err := pool.db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", pool.name, pragma, got, want)
			}
		}
	}
	// Readers cannot write, whatever a bug elsewhere might ask of them.
	if _, err := db.r.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('x', NULL)`); err == nil {
		t.Error("a reader connection wrote")
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corridor.db")
	ctx := t.Context()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetMeta(ctx, "root", []byte("wrapped")); err != nil {
		t.Fatal(err)
	}
	u := &store.User{UsernameIndex: []byte("i"), Role: store.RoleAdmin, PasswordHash: "h", CreatedAt: time.Now()}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	want, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.GetMeta(ctx, "root")
	if err != nil || string(v) != "wrapped" {
		t.Errorf("after reopen: meta %q, %v", v, err)
	}
	if got, err := db.GetUser(ctx, u.ID); err != nil || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("after reopen: user %+v, %v", got, err)
	}
	if got, err := db.SchemaVersion(ctx); err != nil || got != want {
		t.Errorf("after reopen: SchemaVersion %d, %v; want %d", got, err, want)
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corridor.db")
	ctx := t.Context()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	known, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `UPDATE schema_version SET version = ?`, known+1); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(ctx, path)
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a database from the future")
	}
	if !errors.Is(err, store.ErrSchemaUnknown) {
		t.Fatalf("Open: %v, want ErrSchemaUnknown", err)
	}
	// Refusing must not have touched the version.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	if err := raw.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != known+1 {
		t.Errorf("version after refusal: %d, want %d", v, known+1)
	}
}

func TestMigrationsEmbedded(t *testing.T) {
	ms, err := loadMigrations(migrationFiles())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "001_initial.sql" {
		t.Fatalf("embedded migrations: %+v", ms)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"001_a.sql": {}, "003_c.sql": {}},
		"no prefix": {"001_a.sql": {}, "b.sql": {}},
		"zero":      {"000_a.sql": {}},
		"duplicate": {"001_a.sql": {}, "001_b.sql": {}},
	} {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A failing migration leaves the database at the previous version with
// none of its statements applied.
func TestMigrationIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := t.Context()
	raw, err := sql.Open("sqlite", path+"?"+writerParams)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)

	good := fstest.MapFS{"001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")}}
	bad := fstest.MapFS{
		"001_a.sql": good["001_a.sql"],
		"002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1); INSERT INTO nowhere VALUES (1);")},
	}
	fixed := fstest.MapFS{
		"001_a.sql": good["001_a.sql"],
		"002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1);")},
	}
	run := func(fsys fstest.MapFS) error {
		ms, err := loadMigrations(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return migrate(ctx, raw, ms)
	}
	version := func() int {
		v, err := readVersion(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	if err := run(good); err != nil || version() != 1 {
		t.Fatalf("first migration: %v, version %d", err, version())
	}
	if err := run(bad); err == nil {
		t.Fatal("failing migration reported success")
	}
	if v := version(); v != 1 {
		t.Errorf("after failed migration: version %d, want 1", v)
	}
	var n int
	if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'b'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table from failed migration exists (%d, %v)", n, err)
	}
	if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM a`).Scan(&n); err != nil || n != 0 {
		t.Errorf("row from failed migration exists (%d, %v)", n, err)
	}
	if err := run(fixed); err != nil || version() != 2 {
		t.Fatalf("fixed migration: %v, version %d", err, version())
	}
	// Running again is a no-op.
	if err := run(fixed); err != nil || version() != 2 {
		t.Fatalf("second run: %v, version %d", err, version())
	}
}

// Two handles on one file stand in for two processes (a server and a
// command-line tool): opening together and appending together must work,
// kept in order by BEGIN IMMEDIATE and the busy timeout.
func TestTwoHandlesOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corridor.db")
	ctx := t.Context()
	dbs := make([]*DB, 2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = Open(ctx, path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		defer dbs[i].Close()
	}

	const each = 30
	hash := func(e *store.AuditEntry) []byte {
		h := sha256.Sum256(fmt.Appendf(nil, "%d:%x", e.Seq, e.PrevHash))
		return h[:]
	}
	for _, db := range dbs {
		for w := range 3 {
			wg.Go(func() {
				for range each {
					if err := db.AppendAudit(ctx, &store.AuditEntry{At: time.Now(), ActorID: int64(w), Action: "a", Object: "o"}, hash); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	entries, err := dbs[0].AuditRange(ctx, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2*3*each {
		t.Fatalf("%d entries, want %d", len(entries), 2*3*each)
	}
	for i, e := range entries {
		if e.Seq != int64(i+1) || (i > 0 && string(e.PrevHash) != string(entries[i-1].Hash)) {
			t.Fatalf("entry %d: Seq %d, chain broken", i, e.Seq)
		}
	}
}

// The inbox must render quickly with 100,000 requests: every page query
// reads the order off an index instead of sorting.
func TestInboxQueriesUseIndexes(t *testing.T) {
	db, _ := openTemp(t)
	ctx := t.Context()
	for _, f := range []store.InboxFilter{
		{},
		{AssigneeID: 3},
		{Status: store.StatusNew},
		{Status: store.StatusClosed},
		{AssigneeID: 3, Status: store.StatusInProgress},
		{Limit: 20, Offset: 40},
	} {
		_, pageSQL, _, args := inboxQueries(f)
		rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+pageSQL, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if strings.Contains(joined, "TEMP B-TREE") || !strings.Contains(joined, "USING INDEX") {
			t.Errorf("filter %+v: plan %q sorts instead of reading an index", f, joined)
		}
	}
}

// BenchmarkListInbox measures one inbox page over 100,000 requests.
func BenchmarkListInbox(b *testing.B) {
	db, _ := openTemp(b)
	ctx := context.Background()
	fill100k(b, db)
	for _, f := range []store.InboxFilter{{}, {AssigneeID: 7}, {Status: store.StatusClosed}, {Offset: 5000}} {
		b.Run(fmt.Sprintf("%+v", f), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := db.ListInbox(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func fill100k(tb testing.TB, db *DB) {
	tb.Helper()
	_, err := db.w.ExecContext(context.Background(), `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		INSERT INTO requests (id, lookup_id, created_at, updated_at, urgency, status, assignee_id,
			key_intake, key_person, answers)
		SELECT printf('r%06d', i), randomblob(32), 1700000000000000 + i * 1000000, 1700000000000000 + i * 1000000,
			i % 4, CASE WHEN i % 10 < 7 THEN 'closed' WHEN i % 10 < 9 THEN 'in_progress' ELSE 'new' END,
			i % 50, randomblob(100), randomblob(60), randomblob(500)
		FROM n`)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.w.ExecContext(context.Background(), `ANALYZE`); err != nil {
		tb.Fatal(err)
	}
}
