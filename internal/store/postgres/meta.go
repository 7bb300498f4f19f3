package postgres

import (
	"context"
	"fmt"

	"github.com/corridor-org/corridor/internal/store"
)

// GetMeta returns the value of key; an empty value reads back as nil.
func (s *DB) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	if err := s.q.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v); err != nil {
		return nil, notFound(err, "get meta")
	}
	return normBlob(v), nil
}

func (s *DB) SetMeta(ctx context.Context, key string, value []byte) error {
	_, err := s.q.Exec(ctx, `
		INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, blob(value))
	if err != nil {
		return fmt.Errorf("postgres: set meta: %w", err)
	}
	return nil
}

// CreateMeta sets key only if absent. DO NOTHING rather than a unique
// violation, which would abort a surrounding transaction.
func (s *DB) CreateMeta(ctx context.Context, key string, value []byte) error {
	tag, err := s.q.Exec(ctx,
		`INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, key, blob(value))
	if err != nil {
		return fmt.Errorf("postgres: create meta: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create meta: %w", store.ErrConflict)
	}
	return nil
}
