package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

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
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	// fs.Glob returns names sorted; zero-padded numbers sort numerically.
	ms := make([]migration, 0, len(names))
	for i, name := range names {
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("sqlite: migration %q: want a name starting with %03d_", name, i+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("sqlite: migration %q: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

const createVersionTable = `CREATE TABLE IF NOT EXISTS schema_version (
	id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
) STRICT`

// migrate applies pending migrations, each in its own transaction together
// with the bump of schema_version, so a crash leaves the database at one
// version or the next, never in between.
func migrate(ctx context.Context, db *sql.DB, ms []migration) error {
	for {
		done, err := migrateStep(ctx, db, ms)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next pending migration, if any. The version is
// read inside the write transaction (BEGIN IMMEDIATE), so two processes
// opening the same file never apply the same migration twice.
func migrateStep(ctx context.Context, db *sql.DB, ms []migration) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, createVersionTable); err != nil {
		return false, fmt.Errorf("sqlite: migrate: %w", err)
	}
	v, err := readVersion(ctx, tx)
	if err != nil {
		return false, err
	}
	switch {
	case v > len(ms):
		return false, fmt.Errorf("sqlite: database schema version %d, this binary knows up to %d: %w",
			v, len(ms), store.ErrSchemaUnknown)
	case v == len(ms):
		return true, tx.Commit()
	}
	m := ms[v]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_version (id, version) VALUES (1, ?)
		 ON CONFLICT (id) DO UPDATE SET version = excluded.version`, m.version); err != nil {
		return false, fmt.Errorf("sqlite: migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite: migration %s: commit: %w", m.name, err)
	}
	return false, nil
}

// readVersion reports 0 for a database no migration has touched.
func readVersion(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return v, nil
}
