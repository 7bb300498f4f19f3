package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/corridor-org/corridor/internal/store"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

func migrationFiles() fs.FS {
	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		panic(err) // the directory is embedded; it cannot be missing
	}
	return sub
}

// A migration moves the schema from version-1 to version.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads NNN_name.sql files from fsys. Versions must run
// 1, 2, 3 … without gaps, so that "the highest version this binary knows"
// is simply the number of files.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	// fs.Glob returns names sorted; zero-padded numbers sort numerically.
	ms := make([]migration, 0, len(names))
	for i, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("postgres: migration %q: want a name starting with %03d_", name, i+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %q: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

const createVersionTable = `CREATE TABLE IF NOT EXISTS schema_version (
	id      integer NOT NULL PRIMARY KEY CHECK (id = 1),
	version integer NOT NULL
)`

// migrate applies pending migrations, each in its own transaction together
// with the bump of schema_version; PostgreSQL's DDL is transactional, so a
// crash leaves the database at one version or the next, never in between.
func migrate(ctx context.Context, pool *pgxpool.Pool, ms []migration) error {
	for {
		done, err := migrateStep(ctx, pool, ms)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next pending migration, if any. The advisory lock
// keeps several servers starting at once from racing: the second waits,
// then reads the version the first left behind.
func migrateStep(ctx context.Context, pool *pgxpool.Pool, ms []migration) (done bool, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockMigrate); err != nil {
		return false, fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, createVersionTable); err != nil {
		return false, fmt.Errorf("postgres: migrate: %w", err)
	}
	v, err := readVersion(ctx, tx)
	if err != nil {
		return false, err
	}
	switch {
	case v > len(ms):
		return false, fmt.Errorf("postgres: database schema version %d, this binary knows up to %d: %w",
			v, len(ms), store.ErrSchemaUnknown)
	case v == len(ms):
		return true, tx.Commit(ctx)
	}
	m := ms[v]
	// Without arguments pgx sends the simple protocol, which runs a file
	// of several statements.
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return false, fmt.Errorf("postgres: migration %s: %w", m.name, err)
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO schema_version (id, version) VALUES (1, $1)
		 ON CONFLICT (id) DO UPDATE SET version = excluded.version`, m.version); err != nil {
		return false, fmt.Errorf("postgres: migration %s: %w", m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("postgres: migration %s: commit: %w", m.name, err)
	}
	return false, nil
}

// readVersion reports 0 for a database no migration has touched.
func readVersion(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRow(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	return v, nil
}
