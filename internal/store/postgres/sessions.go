package postgres

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
		// Checking the user in the statement, rather than letting the
		// foreign key fail, keeps a surrounding transaction usable.
		tag, err := q.Exec(ctx, `
			INSERT INTO sessions (token_hash, user_id, created_at, last_seen)
			SELECT $1::bytea, $2::bigint, $3::timestamptz, $4::timestamptz
			WHERE EXISTS (SELECT 1 FROM users WHERE id = $2::bigint)
			ON CONFLICT DO NOTHING`,
			blob(sess.TokenHash), sess.UserID, created, seen)
		if err != nil {
			return fmt.Errorf("postgres: create session: %w", err)
		}
		if tag.RowsAffected() == 0 {
			var one int
			if err := q.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, sess.UserID).Scan(&one); err != nil {
				return notFound(err, "create session")
			}
			return fmt.Errorf("postgres: create session: %w", store.ErrConflict)
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
	var sess store.Session
	err := s.q.QueryRow(ctx, `
		SELECT token_hash, user_id, created_at, last_seen FROM sessions WHERE token_hash = $1`,
		blob(tokenHash)).Scan(&sess.TokenHash, &sess.UserID, &sess.CreatedAt, &sess.LastSeen)
	if err != nil {
		return nil, notFound(err, "get session")
	}
	sess.CreatedAt, sess.LastSeen = sess.CreatedAt.UTC(), sess.LastSeen.UTC()
	return &sess, nil
}

func (s *DB) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	tag, err := s.q.Exec(ctx,
		`UPDATE sessions SET last_seen = $1 WHERE token_hash = $2`, normTime(at), blob(tokenHash))
	if err != nil {
		return fmt.Errorf("postgres: touch session: %w", err)
	}
	return affectedOne(tag, "touch session")
}

// DeleteSession removes one session; ErrNotFound if there was none, which
// a logout may safely ignore.
func (s *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	tag, err := s.q.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, blob(tokenHash))
	if err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	return affectedOne(tag, "delete session")
}

// DeleteUserSessions removes every session of a user, if any.
func (s *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	if _, err := s.q.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("postgres: delete user sessions: %w", err)
	}
	return nil
}

func (s *DB) DeleteIdleSessions(ctx context.Context, lastSeenBefore time.Time) (int, error) {
	tag, err := s.q.Exec(ctx, `DELETE FROM sessions WHERE last_seen < $1`, normTime(lastSeenBefore))
	if err != nil {
		return 0, fmt.Errorf("postgres: delete idle sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
