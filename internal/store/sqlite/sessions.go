package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// CreateSession inserts sess and sets its times to the times as stored
// (UTC, whole microseconds). ErrConflict if the token hash exists,
// ErrNotFound if the user does not.
func (s *DB) CreateSession(ctx context.Context, sess *store.Session) error {
	created, seen := normTime(sess.CreatedAt), normTime(sess.LastSeen)
	err := s.atomically(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `
			INSERT INTO sessions (token_hash, user_id, created_at, last_seen)
			SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?)
			ON CONFLICT DO NOTHING`,
			blob(sess.TokenHash), sess.UserID, micros(created), micros(seen), sess.UserID)
		if err != nil {
			return fmt.Errorf("sqlite: create session: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: create session: %w", err)
		} else if n == 0 {
			var one int
			if err := q.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, sess.UserID).Scan(&one); err != nil {
				return notFound(err, "create session")
			}
			return fmt.Errorf("sqlite: create session: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sess.CreatedAt, sess.LastSeen = created, seen
	return nil
}

func (s *DB) GetSession(ctx context.Context, tokenHash []byte) (*store.Session, error) {
	var (
		sess          store.Session
		created, seen int64
	)
	err := s.reader().QueryRowContext(ctx, `
		SELECT token_hash, user_id, created_at, last_seen FROM sessions WHERE token_hash = ?`,
		blob(tokenHash)).Scan(&sess.TokenHash, &sess.UserID, &created, &seen)
	if err != nil {
		return nil, notFound(err, "get session")
	}
	sess.CreatedAt, sess.LastSeen = fromMicros(created), fromMicros(seen)
	return &sess, nil
}

func (s *DB) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	res, err := s.writer().ExecContext(ctx,
		`UPDATE sessions SET last_seen = ? WHERE token_hash = ?`, micros(at), blob(tokenHash))
	if err != nil {
		return fmt.Errorf("sqlite: touch session: %w", err)
	}
	return affectedOne(res, "touch session")
}

// DeleteSession removes one session; ErrNotFound if there was none, which
// a logout may safely ignore.
func (s *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	res, err := s.writer().ExecContext(ctx,
		`DELETE FROM sessions WHERE token_hash = ?`, blob(tokenHash))
	if err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	return affectedOne(res, "delete session")
}

// DeleteUserSessions removes every session of a user, if any.
func (s *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	if _, err := s.writer().ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("sqlite: delete user sessions: %w", err)
	}
	return nil
}

func (s *DB) DeleteIdleSessions(ctx context.Context, lastSeenBefore time.Time) (int, error) {
	res, err := s.writer().ExecContext(ctx,
		`DELETE FROM sessions WHERE last_seen < ?`, micros(lastSeenBefore))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete idle sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete idle sessions: %w", err)
	}
	return int(n), nil
}
