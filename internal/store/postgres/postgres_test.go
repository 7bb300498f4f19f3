package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/storetest"
)

// server is set once by TestMain, before any test runs.
var server struct {
	dsn   string        // base DSN; tests add a search_path of their own
	admin *pgxpool.Pool // creates and drops the per-test schemas
	err   error         // why there is no server, if there is none
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse() // for testing.Verbose and -short
	ctx := context.Background()
	server.dsn = os.Getenv("CORRIDOR_TEST_POSTGRES_DSN")
	if server.dsn == "" {
		start := time.Now()
		c, err := startCluster()
		if err != nil {
			server.err = err
			return m.Run()
		}
		defer c.stop()
		server.dsn = c.dsn
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "postgres: throwaway cluster started in %v\n", time.Since(start).Round(time.Millisecond))
		}
	}
	admin, err := pgxpool.New(ctx, server.dsn)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		server.err = fmt.Errorf("connecting to the test server: %w", err)
		return m.Run()
	}
	defer admin.Close()
	server.admin = admin
	return m.Run()
}

// needServer skips the test when there is no PostgreSQL to test against,
// or fails it when CORRIDOR_REQUIRE_POSTGRES=1 (as in CI).
func needServer(t testing.TB) {
	t.Helper()
	if server.admin != nil {
		return
	}
	msg := fmt.Sprintf("PostgreSQL tests not run: %v; set CORRIDOR_TEST_POSTGRES_DSN or install PostgreSQL", server.err)
	if os.Getenv("CORRIDOR_REQUIRE_POSTGRES") == "1" || !errors.Is(server.err, errUnavailable) {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// freshDSN creates an empty schema for this test alone, dropped when the
// test ends, and returns a DSN whose search_path points at it, so tests
// never see each other's tables.
func freshDSN(t testing.TB) string {
	t.Helper()
	needServer(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "corridor_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := server.admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := server.admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	return withSearchPath(server.dsn, schema)
}

func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

func openFresh(t testing.TB) (*DB, string) {
	t.Helper()
	dsn := freshDSN(t)
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

func TestConformance(t *testing.T) {
	needServer(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		db, _ := openFresh(t)
		return db
	})
}

func TestReopenKeepsData(t *testing.T) {
	db, dsn := openFresh(t)
	ctx := t.Context()
	if err := db.SetMeta(ctx, "root", []byte("wrapped")); err != nil {
		t.Fatal(err)
	}
	want, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.GetMeta(ctx, "root"); err != nil || string(v) != "wrapped" {
		t.Errorf("after reopen: meta %q, %v", v, err)
	}
	if got, err := db.SchemaVersion(ctx); err != nil || got != want {
		t.Errorf("after reopen: SchemaVersion %d, %v; want %d", got, err, want)
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	db, dsn := openFresh(t)
	ctx := t.Context()
	known, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `UPDATE schema_version SET version = $1`, known+1); err != nil {
		t.Fatal(err)
	}

	again, err := Open(ctx, dsn)
	if err == nil {
		again.Close()
		t.Fatal("Open accepted a database from the future")
	}
	if !errors.Is(err, store.ErrSchemaUnknown) {
		t.Fatalf("Open: %v, want ErrSchemaUnknown", err)
	}
	if v, err := readVersion(ctx, db.pool); err != nil || v != known+1 {
		t.Errorf("version after refusal: %d, %v; want %d", v, err, known+1)
	}
}

func TestOpenWithholdsBadDSN(t *testing.T) {
	_, err := Open(t.Context(), "postgres://user:hunter2@host:notaport/db")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open with a bad DSN: %v", err)
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
	dsn := freshDSN(t)
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	good := fstest.MapFS{"001_a.sql": {Data: []byte("CREATE TABLE a (x integer);")}}
	bad := fstest.MapFS{
		"001_a.sql": good["001_a.sql"],
		"002_b.sql": {Data: []byte("CREATE TABLE b (x integer); INSERT INTO a VALUES (1); INSERT INTO nowhere VALUES (1);")},
	}
	fixed := fstest.MapFS{
		"001_a.sql": good["001_a.sql"],
		"002_b.sql": {Data: []byte("CREATE TABLE b (x integer); INSERT INTO a VALUES (1);")},
	}
	run := func(fsys fstest.MapFS) error {
		ms, err := loadMigrations(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return migrate(ctx, pool, ms)
	}
	version := func() int {
		v, err := readVersion(ctx, pool)
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
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'b'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("table from failed migration exists (%d, %v)", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM a`).Scan(&n); err != nil || n != 0 {
		t.Errorf("row from failed migration exists (%d, %v)", n, err)
	}
	if err := run(fixed); err != nil || version() != 2 {
		t.Fatalf("fixed migration: %v, version %d", err, version())
	}
	if err := run(fixed); err != nil || version() != 2 {
		t.Fatalf("second run: %v, version %d", err, version())
	}
}

// Several servers starting at once against one empty database: the
// advisory lock lets one migrate while the others wait, and all open.
func TestConcurrentOpen(t *testing.T) {
	dsn := freshDSN(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	dbs := make([]*DB, 4)
	errs := make([]error, len(dbs))
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = Open(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	// Appends from the different pools form one chain.
	hash := func(e *store.AuditEntry) []byte {
		h := sha256.Sum256(fmt.Appendf(nil, "%d:%x", e.Seq, e.PrevHash))
		return h[:]
	}
	for _, db := range dbs {
		wg.Go(func() {
			for range 10 {
				if err := db.AppendAudit(ctx, &store.AuditEntry{At: time.Now(), Action: "a", Object: "o"}, hash); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	entries, err := dbs[0].AuditRange(ctx, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 40 {
		t.Fatalf("%d entries, want 40", len(entries))
	}
	for i, e := range entries {
		if e.Seq != int64(i+1) || (i > 0 && string(e.PrevHash) != string(entries[i-1].Hash)) {
			t.Fatalf("entry %d: Seq %d, chain broken", i, e.Seq)
		}
	}
}

// The inbox must render quickly with 100,000 requests: with realistic
// statistics the planner reads each page off an index instead of sorting.
func TestInboxQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100,000 rows")
	}
	db, _ := openFresh(t)
	ctx := t.Context()
	fill100k(t, db)
	for _, f := range []store.InboxFilter{
		{},
		{AssigneeID: 3},
		{Status: store.StatusNew},
		{Status: store.StatusClosed},
		{Limit: 20, Offset: 40},
	} {
		_, pageSQL, _, args := inboxQueries(f)
		rows, err := db.pool.Query(ctx, "EXPLAIN "+pageSQL, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, strings.TrimSpace(line))
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if strings.Contains(joined, "Sort") || !strings.Contains(joined, "Index Scan using requests_inbox") {
			t.Errorf("filter %+v: plan sorts instead of reading an index:\n%s", f, strings.Join(plan, "\n"))
		}
	}
}

// BenchmarkListInbox measures one inbox page over 100,000 requests.
func BenchmarkListInbox(b *testing.B) {
	db, _ := openFresh(b)
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
	ctx := context.Background()
	_, err := db.pool.Exec(ctx, `
		INSERT INTO requests (id, lookup_id, created_at, updated_at, urgency, status, assignee_id,
			key_intake, key_person, answers)
		SELECT format('r%s', lpad(i::text, 6, '0')), sha256(i::text::bytea),
			timestamptz '2026-01-01' + i * interval '1 second', timestamptz '2026-01-01' + i * interval '1 second',
			i % 4, CASE WHEN i % 10 < 7 THEN 'closed' WHEN i % 10 < 9 THEN 'in_progress' ELSE 'new' END,
			i % 50, decode(repeat(md5(i::text), 7), 'hex'), decode(repeat(md5(i::text), 4), 'hex'),
			decode(repeat(md5(i::text), 32), 'hex')
		FROM generate_series(1, 100000) AS i`)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `VACUUM ANALYZE requests`); err != nil {
		tb.Fatal(err)
	}
}
