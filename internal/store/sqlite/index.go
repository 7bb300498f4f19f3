package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/corridor-org/corridor/internal/store"
)

// uniqueEntries drops repeated entries and refuses empty ones: an empty
// kind or value is a bug in the caller, and would match nothing useful.
func uniqueEntries(entries []store.IndexEntry, what string) ([]store.IndexEntry, error) {
	out := make([]store.IndexEntry, 0, len(entries))
	for _, e := range entries {
		if e.Kind == "" || len(e.Value) == 0 {
			return nil, fmt.Errorf("sqlite: %s: empty index entry", what)
		}
		if !slices.ContainsFunc(out, func(o store.IndexEntry) bool { return o.Kind == e.Kind && bytes.Equal(o.Value, e.Value) }) {
			out = append(out, e)
		}
	}
	return out, nil
}

// SetCaseIndex replaces a case's index entries. An erased case takes
// none: ErrNotFound, as PutSection does.
func (s *DB) SetCaseIndex(ctx context.Context, caseID string, entries []store.IndexEntry) error {
	entries, err := uniqueEntries(entries, "set case index")
	if err != nil {
		return err
	}
	return s.atomically(ctx, func(q querier) error {
		var erased bool
		if err := q.QueryRowContext(ctx, `SELECT erased_at IS NOT NULL FROM cases WHERE id = ?`, caseID).Scan(&erased); err != nil {
			return notFound(err, "set case index")
		}
		if erased {
			return fmt.Errorf("sqlite: set case index: case erased: %w", store.ErrNotFound)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM case_index WHERE case_id = ?`, caseID); err != nil {
			return fmt.Errorf("sqlite: set case index: %w", err)
		}
		for _, e := range entries {
			if _, err := q.ExecContext(ctx, `INSERT INTO case_index (case_id, kind, value) VALUES (?, ?, ?)`,
				caseID, e.Kind, e.Value); err != nil {
				return fmt.Errorf("sqlite: set case index: %w", err)
			}
		}
		return nil
	})
}

// CaseIndex returns a case's entries by kind, then value.
func (s *DB) CaseIndex(ctx context.Context, caseID string) ([]store.IndexEntry, error) {
	q := s.reader()
	var one int
	if err := q.QueryRowContext(ctx, `SELECT 1 FROM cases WHERE id = ?`, caseID).Scan(&one); err != nil {
		return nil, notFound(err, "case index")
	}
	rows, err := q.QueryContext(ctx, `SELECT kind, value FROM case_index WHERE case_id = ? ORDER BY kind, value`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case index: %w", err)
	}
	defer rows.Close()
	out := []store.IndexEntry{}
	for rows.Next() {
		var e store.IndexEntry
		if err := rows.Scan(&e.Kind, &e.Value); err != nil {
			return nil, fmt.Errorf("sqlite: case index: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: case index: %w", err)
	}
	return out, nil
}

// FindCases looks each entry up on case_index_value. A case's identity
// yields a handful of entries, so one indexed query per entry is cheaper
// than one query with a long OR the planner might not split.
func (s *DB) FindCases(ctx context.Context, entries []store.IndexEntry, limit int) ([]store.IndexMatch, error) {
	entries, err := uniqueEntries(entries, "find cases")
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	q := s.reader()
	seen := map[store.IndexMatch]bool{}
	var out []store.IndexMatch
	for _, e := range entries {
		// The lowest limit ids per entry hold the lowest limit of the union.
		rows, err := q.QueryContext(ctx, `
			SELECT case_id FROM case_index WHERE value = ? AND kind = ? ORDER BY case_id LIMIT ?`,
			e.Value, e.Kind, limit)
		if err != nil {
			return nil, fmt.Errorf("sqlite: find cases: %w", err)
		}
		for rows.Next() {
			m := store.IndexMatch{Kind: e.Kind}
			if err := rows.Scan(&m.CaseID); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: find cases: %w", err)
			}
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: find cases: %w", err)
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

func scanWatch(sc scanner) (*store.WatchEntry, error) {
	var (
		w       store.WatchEntry
		created int64
		note    []byte
	)
	if err := sc.Scan(&w.ID, &w.Kind, &w.Value, &note, &created, &w.CreatedBy); err != nil {
		return nil, err
	}
	w.Note, w.CreatedAt = normBlob(note), fromMicros(created)
	return &w, nil
}

// AddWatch inserts a watch-list entry; ErrConflict on a repeated id or
// kind and value.
func (s *DB) AddWatch(ctx context.Context, w *store.WatchEntry) error {
	if w.Kind == "" || len(w.Value) == 0 {
		return errors.New("sqlite: add watch: empty kind or value")
	}
	created := normTime(w.CreatedAt)
	res, err := s.writer().ExecContext(ctx, `
		INSERT INTO watch_list (id, kind, value, note, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		w.ID, w.Kind, w.Value, blob(w.Note), micros(created), w.CreatedBy)
	if err != nil {
		return fmt.Errorf("sqlite: add watch: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: add watch: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: add watch: %w", store.ErrConflict)
	}
	w.CreatedAt, w.Note = created, normBlob(w.Note)
	return nil
}

func (s *DB) ListWatch(ctx context.Context) ([]*store.WatchEntry, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+watchColumns+` FROM watch_list ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list watch: %w", err)
	}
	return collectWatch(rows, "list watch")
}

func collectWatch(rows *sql.Rows, what string) ([]*store.WatchEntry, error) {
	defer rows.Close()
	out := []*store.WatchEntry{}
	for rows.Next() {
		w, err := scanWatch(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return out, nil
}

func (s *DB) DeleteWatch(ctx context.Context, id string) error {
	res, err := s.writer().ExecContext(ctx, `DELETE FROM watch_list WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete watch: %w", err)
	}
	return affectedOne(res, "delete watch")
}

// MatchWatch looks each entry up on the (kind, value) unique index.
func (s *DB) MatchWatch(ctx context.Context, entries []store.IndexEntry) ([]*store.WatchEntry, error) {
	entries, err := uniqueEntries(entries, "match watch")
	if err != nil {
		return nil, err
	}
	out := []*store.WatchEntry{}
	for _, e := range entries {
		w, err := scanWatch(s.reader().QueryRowContext(ctx,
			`SELECT `+watchColumns+` FROM watch_list WHERE kind = ? AND value = ?`, e.Kind, e.Value))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: match watch: %w", err)
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *store.WatchEntry) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}
