package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-org/corridor/internal/store"
)

const userColumns = `id, username_index, username, role, password_hash, totp_secret,
	totp_enrolled, totp_last_step, disabled, must_change_password, failed_logins,
	locked_until, created_at`

func scanUser(row pgx.Row) (*store.User, error) {
	var (
		u           store.User
		lockedUntil *time.Time
	)
	err := row.Scan(&u.ID, &u.UsernameIndex, &u.Username, &u.Role, &u.PasswordHash, &u.TOTPSecret,
		&u.TOTPEnrolled, &u.TOTPLastStep, &u.Disabled, &u.MustChangePassword, &u.FailedLogins,
		&lockedUntil, &u.CreatedAt)
	if err != nil {
		return nil, err
	}
	u.Username, u.TOTPSecret = normBlob(u.Username), normBlob(u.TOTPSecret)
	u.LockedUntil, u.CreatedAt = fromNullTime(lockedUntil), u.CreatedAt.UTC()
	return &u, nil
}

// CreateUser inserts u and sets u.ID; it also sets u.CreatedAt and
// u.LockedUntil to the times as stored (UTC, whole microseconds).
func (s *DB) CreateUser(ctx context.Context, u *store.User) error {
	created := normTime(u.CreatedAt)
	var id int64
	err := s.q.QueryRow(ctx, `
		INSERT INTO users (username_index, username, role, password_hash, totp_secret,
			totp_enrolled, totp_last_step, disabled, must_change_password, failed_logins,
			locked_until, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT DO NOTHING
		RETURNING id`,
		blob(u.UsernameIndex), blob(u.Username), u.Role, u.PasswordHash, blob(u.TOTPSecret),
		u.TOTPEnrolled, u.TOTPLastStep, u.Disabled, u.MustChangePassword, u.FailedLogins,
		nullTime(u.LockedUntil), created).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: create user: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	u.ID, u.CreatedAt = id, created
	if !u.LockedUntil.IsZero() {
		u.LockedUntil = normTime(u.LockedUntil)
	}
	return nil
}

func (s *DB) GetUser(ctx context.Context, id int64) (*store.User, error) {
	u, err := scanUser(s.q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "get user")
	}
	return u, nil
}

func (s *DB) GetUserByIndex(ctx context.Context, usernameIndex []byte) (*store.User, error) {
	u, err := scanUser(s.q.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE username_index = $1`, blob(usernameIndex)))
	if err != nil {
		return nil, notFound(err, "get user by index")
	}
	return u, nil
}

func (s *DB) ListUsers(ctx context.Context) ([]*store.User, error) {
	rows, err := s.q.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.User, error) {
		return scanUser(row)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return list, nil
}

// UpdateUser writes every mutable field of u. TOTPLastStep is left alone:
// only UseTOTPStep moves it, so that a stale copy of u cannot roll it back
// and let a used code be accepted again.
func (s *DB) UpdateUser(ctx context.Context, u *store.User) error {
	tag, err := s.q.Exec(ctx, `
		UPDATE users SET username = $1, role = $2, password_hash = $3, totp_secret = $4,
			totp_enrolled = $5, disabled = $6, must_change_password = $7, failed_logins = $8,
			locked_until = $9
		WHERE id = $10`,
		blob(u.Username), u.Role, u.PasswordHash, blob(u.TOTPSecret),
		u.TOTPEnrolled, u.Disabled, u.MustChangePassword, u.FailedLogins,
		nullTime(u.LockedUntil), u.ID)
	if err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	return affectedOne(tag, "update user")
}

// UseTOTPStep is a single conditional UPDATE. Under READ COMMITTED a
// second concurrent UPDATE of the row waits for the first, then re-checks
// the condition against the committed row, so two logins racing with the
// same code cannot both succeed.
func (s *DB) UseTOTPStep(ctx context.Context, userID int64, step int64) (bool, error) {
	tag, err := s.q.Exec(ctx,
		`UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, userID)
	if err != nil {
		return false, fmt.Errorf("postgres: use totp step: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	var one int
	if err := s.q.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, userID).Scan(&one); err != nil {
		return false, notFound(err, "use totp step")
	}
	return false, nil
}

func (s *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.q.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count users: %w", err)
	}
	return n, nil
}
