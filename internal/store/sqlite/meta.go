package sqlite

import (
	"context"
	"fmt"

	"github.com/corridor-org/corridor/internal/store"
)

// GetMeta returns the value of key; an empty value reads back as nil.
func (s *DB) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	if err := s.reader().QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v); err != nil {
		return nil, notFound(err, "get meta")
	}
	return normBlob(v), nil
}

func (s *DB) SetMeta(ctx context.Context, key string, value []byte) error {
	_, err := s.writer().ExecContext(ctx, `
		INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, blob(value))
	if err != nil {
		return fmt.Errorf("sqlite: set meta: %w", err)
	}
	return nil
}

func (s *DB) CreateMeta(ctx context.Context, key string, value []byte) error {
	res, err := s.writer().ExecContext(ctx, `
		INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, key, blob(value))
	if err != nil {
		return fmt.Errorf("sqlite: create meta: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: create meta: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create meta: %w", store.ErrConflict)
	}
	return nil
}
