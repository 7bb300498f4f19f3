// Package sqlite implements store.Store on an SQLite database file through
// the pure-Go driver modernc.org/sqlite, so the corridor binary needs no C
// toolchain and stays static.
//
// Times are stored as integer microseconds since the Unix epoch and come
// back in UTC; blobs that are nil or empty are stored as NULL and come back
// as nil.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/corridor-org/corridor/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Connection parameters. synchronous=FULL makes every commit survive a
// power cut, which matters more here than write speed. foreign_keys is off
// by default in SQLite and per connection, so every connection sets it.
// _txlock=immediate takes the write lock at BEGIN rather than at the first
// write, so two transactions that both read and then write cannot deadlock
// each other (SQLite would fail one with SQLITE_BUSY instead of waiting).
// secure_delete overwrites deleted content with zeros instead of leaving it
// in free space, so that an erased case's key and ciphertext are gone from
// the file, not merely unlinked; only the writer deletes.
const (
	writerParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=secure_delete(1)&_txlock=immediate"
	readerParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)&_pragma=query_only(1)"
)

// DB is a store.Store backed by one SQLite file.
//
// It keeps two pools: a single writer connection, so writers in this
// process queue in Go (honouring their contexts) instead of spinning in
// SQLite's busy handler, and several read-only connections, which WAL lets
// run beside the writer. Other processes opening the same file are kept in
// order by BEGIN IMMEDIATE and the busy timeout.
type DB struct {
	w  *sql.DB // nil inside a transaction
	r  *sql.DB // nil inside a transaction
	tx *sql.Tx // non-nil inside a transaction; then every query uses it

	// erased is set inside a transaction that erased a case, so that Tx
	// truncates the -wal file once it has committed.
	erased atomic.Bool
}

var _ store.Store = (*DB)(nil)

// querier is what *sql.DB and *sql.Tx have in common, so one
// implementation of each method serves both.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Open opens the SQLite database at path, creating it with mode 0600 if it
// does not exist, and applies pending migrations. It refuses, with an error
// wrapping store.ErrSchemaUnknown, a database written by a newer binary.
//
// The file and its -wal and -shm companions are made unreadable to group
// and others: they hold only ciphertext, but sizes and timestamps are
// information too.
func Open(ctx context.Context, path string) (*DB, error) {
	// The driver splits its parameters off at the first '?', and a "file:"
	// URI would carry parameters of its own; a plain path keeps both simple.
	if path == "" || strings.Contains(path, "?") || strings.HasPrefix(path, "file:") {
		return nil, errors.New("sqlite: path must be a plain file path without '?'")
	}
	// SQLite would create a missing file with 0644; creating it first
	// decides the mode, and SQLite gives the -wal and -shm files the mode of
	// the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := restrictMode(path); err != nil {
		return nil, err
	}

	w, err := sql.Open("sqlite", path+"?"+writerParams)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{w: w}
	if err := db.setUp(ctx, path); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (s *DB) setUp(ctx context.Context, path string) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	// Readers beside the writer, and the durability reasoning above, rest
	// on WAL; some file systems cannot do it, and then we would rather stop.
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: journal mode is %q, want wal", mode)
	}
	ms, err := loadMigrations(migrationFiles())
	if err != nil {
		return err
	}
	if err := migrate(ctx, s.w, ms); err != nil {
		return err
	}

	r, err := sql.Open("sqlite", path+"?"+readerParams)
	if err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	s.r = r

	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := restrictMode(path + suffix); err != nil {
			return err
		}
	}
	return nil
}

// restrictMode removes group and other permissions from name, if it exists.
func restrictMode(name string) error {
	fi, err := os.Stat(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(name, perm&^0o077); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	return nil
}

// Close closes the database. Inside a transaction it does nothing: the
// transaction ends when the function given to Tx returns.
func (s *DB) Close() error {
	if s.tx != nil {
		return nil
	}
	var errs []error
	// Readers first, so that the writer is the last connection: it then
	// checkpoints the WAL into the main file and removes the -wal file.
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

func (s *DB) reader() querier {
	if s.tx != nil {
		return s.tx
	}
	return s.r
}

func (s *DB) writer() querier {
	if s.tx != nil {
		return s.tx
	}
	return s.w
}

// Tx runs fn in one transaction, committing if fn returns nil and rolling
// back otherwise. Inside a transaction, Tx runs fn on that same transaction.
//
// The transaction holds the only writer connection until fn returns, so a
// write through the outer DB from inside fn (which store.Store forbids)
// would wait for it until ctx is done.
func (s *DB) Tx(ctx context.Context, fn func(tx store.Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	// Also covers a panic in fn; after Commit it is a no-op.
	defer tx.Rollback()
	inner := &DB{tx: tx}
	if err := fn(inner); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	if inner.erased.Load() {
		s.truncateWAL(ctx)
	}
	return nil
}

// truncateWAL checkpoints the -wal file into the database file and
// truncates it to zero bytes. After an erasure the -wal file's older
// frames still hold the pages as they were before it, erased key and
// ciphertext included, until SQLite happens to overwrite them; the
// checkpoint copies the zeroed pages into the database file and the
// truncation drops the old frames.
//
// It is best effort: the erasure has committed whatever happens here. It
// waits (up to the busy timeout) for readers of older snapshots, and does
// not truncate if one outlasts that; SQLite's later checkpoints, and the
// one on Close, then finish the job.
func (s *DB) truncateWAL(ctx context.Context) {
	var busy, logFrames, checkpointed int
	_ = s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed)
}

// atomically runs fn in a transaction: the caller's, if there is one.
func (s *DB) atomically(ctx context.Context, fn func(q querier) error) error {
	return s.Tx(ctx, func(tx store.Store) error { return fn(tx.(*DB).tx) })
}

// SchemaVersion reports the version of the last migration applied.
func (s *DB) SchemaVersion(ctx context.Context) (int, error) {
	return readVersion(ctx, s.reader())
}

// micros converts t to what the database stores: microseconds since the
// epoch. Sub-microsecond precision is dropped (truncated).
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros is the inverse of micros.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// normTime returns t as it will read back from the database.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// blob stores nil and empty alike, as NULL.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// normBlob reads NULL and empty alike, as nil.
func normBlob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// affectedOne turns a statement that changed no row into
// store.ErrNotFound.
func affectedOne(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", what, store.ErrNotFound)
	}
	return nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

type scanner interface {
	Scan(dest ...any) error
}

// collectRows scans every row with scan, the way pgx.CollectRows does for
// the PostgreSQL store: one loop instead of one per query. It returns nil
// for no rows.
func collectRows[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, rows.Err()
}
