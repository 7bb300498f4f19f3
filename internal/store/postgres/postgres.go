// Package postgres implements store.Store on PostgreSQL through pgx.
//
// Times are stored as timestamptz (microsecond precision) and come back in
// UTC; blobs that are nil or empty are stored as NULL and come back as nil.
// Tables are created unqualified, in the first schema of the connection's
// search_path, so one database can hold several installations side by side.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/corridor-org/corridor/internal/store"
)

// Advisory lock keys, taken with pg_advisory_xact_lock and so released when
// the transaction ends. Advisory locks are per database, not per schema.
const (
	lockMigrate int64 = 0x636f72726d696772 // "corrmigr"
	lockAudit   int64 = 0x636f727261756469 // "corraudi"
)

// DB is a store.Store backed by a PostgreSQL connection pool.
type DB struct {
	pool *pgxpool.Pool // nil inside a transaction
	tx   pgx.Tx        // non-nil inside a transaction
	q    querier       // pool or tx
}

var _ store.Store = (*DB)(nil)

// querier is what *pgxpool.Pool and pgx.Tx have in common, so one
// implementation of each method serves both.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Open connects to the database named by dsn (a URL or key=value string as
// pgx accepts) and applies pending migrations. It refuses, with an error
// wrapping store.ErrSchemaUnknown, a database written by a newer binary.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's error quotes the DSN with the password redacted only on a
		// best-effort basis, and errors end up in logs: say less.
		return nil, errors.New("postgres: cannot parse the DSN (details withheld: it may hold a password)")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	ms, err := loadMigrations(migrationFiles())
	if err == nil {
		err = migrate(ctx, pool, ms)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{pool: pool, q: pool}, nil
}

// Close closes the pool. Inside a transaction it does nothing: the
// transaction ends when the function given to Tx returns.
func (s *DB) Close() error {
	if s.pool != nil {
		s.pool.Close()
	}
	return nil
}

// Tx runs fn in one transaction (READ COMMITTED), committing if fn returns
// nil and rolling back otherwise. Inside a transaction, Tx runs fn on that
// same transaction.
func (s *DB) Tx(ctx context.Context, fn func(tx store.Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	// Also covers a panic in fn; after Commit it is a no-op. A context
	// that is already done must not stop the rollback.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(&DB{tx: tx, q: tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// atomically runs fn in a transaction: the caller's, if there is one.
func (s *DB) atomically(ctx context.Context, fn func(q querier) error) error {
	return s.Tx(ctx, func(tx store.Store) error { return fn(tx.(*DB).tx) })
}

// SchemaVersion reports the version of the last migration applied.
func (s *DB) SchemaVersion(ctx context.Context) (int, error) {
	return readVersion(ctx, s.q)
}

// normTime returns t as it will read back from the database. pgx would
// truncate the same way; doing it here lets callers see the stored value.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return normTime(t)
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// blob stores nil and empty alike, as NULL.
func blob(b []byte) []byte {
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

// affectedOne turns a statement that changed no row into store.ErrNotFound.
func affectedOne(tag pgconn.CommandTag, what string) error {
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", what, store.ErrNotFound)
	}
	return nil
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
