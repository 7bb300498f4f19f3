package postgres

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-org/corridor/internal/store"
)

// uniqueEntries drops repeated entries and refuses empty ones: an empty
// kind or value is a bug in the caller, and would match nothing useful.
func uniqueEntries(entries []store.IndexEntry, what string) ([]store.IndexEntry, error) {
	out := make([]store.IndexEntry, 0, len(entries))
	for _, e := range entries {
		if e.Kind == "" || len(e.Value) == 0 {
			return nil, fmt.Errorf("postgres: %s: empty index entry", what)
		}
		if !slices.ContainsFunc(out, func(o store.IndexEntry) bool { return o.Kind == e.Kind && bytes.Equal(o.Value, e.Value) }) {
			out = append(out, e)
		}
	}
	return out, nil
}

// SetCaseIndex replaces a case's index entries. It takes the case's lock
// first (see lockCase), so it is ordered with EraseCase: entries written
// before an erasure are deleted by it, and an erased case takes none.
func (s *DB) SetCaseIndex(ctx context.Context, caseID string, entries []store.IndexEntry) error {
	entries, err := uniqueEntries(entries, "set case index")
	if err != nil {
		return err
	}
	return s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, caseID, "set case index")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("postgres: set case index: case erased: %w", store.ErrNotFound)
		}
		if _, err := q.Exec(ctx, `DELETE FROM case_index WHERE case_id = $1`, caseID); err != nil {
			return fmt.Errorf("postgres: set case index: %w", err)
		}
		for _, e := range entries {
			if _, err := q.Exec(ctx, `INSERT INTO case_index (case_id, kind, value) VALUES ($1, $2, $3)`,
				caseID, e.Kind, e.Value); err != nil {
				return fmt.Errorf("postgres: set case index: %w", err)
			}
		}
		return nil
	})
}

// CaseIndex returns a case's entries by kind, then value.
func (s *DB) CaseIndex(ctx context.Context, caseID string) ([]store.IndexEntry, error) {
	if err := caseExists(ctx, s.q, caseID, "case index"); err != nil {
		return nil, err
	}
	rows, err := s.q.Query(ctx, `SELECT kind, value FROM case_index WHERE case_id = $1 ORDER BY kind, value`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case index: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.IndexEntry, error) {
		var e store.IndexEntry
		err := row.Scan(&e.Kind, &e.Value)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: case index: %w", err)
	}
	if out == nil {
		out = []store.IndexEntry{}
	}
	return out, nil
}

// FindCases looks each entry up on case_index_value, as the SQLite store
// does, so both give the same matches in the same order.
func (s *DB) FindCases(ctx context.Context, entries []store.IndexEntry, limit int) ([]store.IndexMatch, error) {
	entries, err := uniqueEntries(entries, "find cases")
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	seen := map[store.IndexMatch]bool{}
	var out []store.IndexMatch
	for _, e := range entries {
		rows, err := s.q.Query(ctx, `
			SELECT case_id FROM case_index WHERE value = $1 AND kind = $2 ORDER BY case_id LIMIT $3`,
			e.Value, e.Kind, limit)
		if err != nil {
			return nil, fmt.Errorf("postgres: find cases: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("postgres: find cases: %w", err)
		}
		for _, id := range ids {
			m := store.IndexMatch{CaseID: id, Kind: e.Kind}
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b store.IndexMatch) int {
		return cmp.Or(cmp.Compare(a.CaseID, b.CaseID), cmp.Compare(a.Kind, b.Kind))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

const watchColumns = `id, kind, value, note, created_at, created_by`

func scanWatch(row pgx.Row) (*store.WatchEntry, error) {
	var (
		w       store.WatchEntry
		created time.Time
	)
	if err := row.Scan(&w.ID, &w.Kind, &w.Value, &w.Note, &created, &w.CreatedBy); err != nil {
		return nil, err
	}
	w.Note, w.CreatedAt = normBlob(w.Note), created.UTC()
	return &w, nil
}

// AddWatch inserts a watch-list entry; ErrConflict on a repeated id or
// kind and value.
func (s *DB) AddWatch(ctx context.Context, w *store.WatchEntry) error {
	if w.Kind == "" || len(w.Value) == 0 {
		return errors.New("postgres: add watch: empty kind or value")
	}
	created := normTime(w.CreatedAt)
	tag, err := s.q.Exec(ctx, `
		INSERT INTO watch_list (id, kind, value, note, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		w.ID, w.Kind, w.Value, blob(w.Note), created, w.CreatedBy)
	if err != nil {
		return fmt.Errorf("postgres: add watch: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: add watch: %w", store.ErrConflict)
	}
	w.CreatedAt, w.Note = created, normBlob(w.Note)
	return nil
}

func (s *DB) ListWatch(ctx context.Context) ([]*store.WatchEntry, error) {
	rows, err := s.q.Query(ctx, `SELECT `+watchColumns+` FROM watch_list ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list watch: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.WatchEntry, error) { return scanWatch(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list watch: %w", err)
	}
	if out == nil {
		out = []*store.WatchEntry{}
	}
	return out, nil
}

func (s *DB) DeleteWatch(ctx context.Context, id string) error {
	tag, err := s.q.Exec(ctx, `DELETE FROM watch_list WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("postgres: delete watch: %w", err)
	}
	return affectedOne(tag, "delete watch")
}

// MatchWatch looks each entry up on the (kind, value) unique index.
func (s *DB) MatchWatch(ctx context.Context, entries []store.IndexEntry) ([]*store.WatchEntry, error) {
	entries, err := uniqueEntries(entries, "match watch")
	if err != nil {
		return nil, err
	}
	out := []*store.WatchEntry{}
	for _, e := range entries {
		w, err := scanWatch(s.q.QueryRow(ctx,
			`SELECT `+watchColumns+` FROM watch_list WHERE kind = $1 AND value = $2`, e.Kind, e.Value))
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("postgres: match watch: %w", err)
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *store.WatchEntry) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}
