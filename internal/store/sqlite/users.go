package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/corridor-org/corridor/internal/store"
)

const userColumns = `id, username_index, username, role, password_hash, totp_secret,
	totp_enrolled, totp_last_step, disabled, must_change_password, failed_logins,
	locked_until, created_at`

func scanUser(sc scanner) (*store.User, error) {
	var (
		u              store.User
		username, totp []byte
		lockedUntil    sql.NullInt64
		created        int64
	)
	err := sc.Scan(&u.ID, &u.UsernameIndex, &username, &u.Role, &u.PasswordHash, &totp,
		&u.TOTPEnrolled, &u.TOTPLastStep, &u.Disabled, &u.MustChangePassword, &u.FailedLogins,
		&lockedUntil, &created)
	if err != nil {
		return nil, err
	}
	u.Username, u.TOTPSecret = normBlob(username), normBlob(totp)
	u.LockedUntil, u.CreatedAt = fromNullMicros(lockedUntil), fromMicros(created)
	return &u, nil
}

// CreateUser inserts u and sets u.ID; it also sets u.CreatedAt and
// u.LockedUntil to the times as stored (UTC, whole microseconds).
func (s *DB) CreateUser(ctx context.Context, u *store.User) error {
	created, locked := normTime(u.CreatedAt), normTime(u.LockedUntil)
	var id int64
	err := s.writer().QueryRowContext(ctx, `
		INSERT INTO users (username_index, username, role, password_hash, totp_secret,
			totp_enrolled, totp_last_step, disabled, must_change_password, failed_logins,
			locked_until, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING
		RETURNING id`,
		blob(u.UsernameIndex), blob(u.Username), u.Role, u.PasswordHash, blob(u.TOTPSecret),
		u.TOTPEnrolled, u.TOTPLastStep, u.Disabled, u.MustChangePassword, u.FailedLogins,
		nullMicros(locked), micros(created)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: create user: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	u.ID, u.CreatedAt, u.LockedUntil = id, created, locked
	return nil
}

func (s *DB) GetUser(ctx context.Context, id int64) (*store.User, error) {
	u, err := scanUser(s.reader().QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "get user")
	}
	return u, nil
}

func (s *DB) GetUserByIndex(ctx context.Context, usernameIndex []byte) (*store.User, error) {
	u, err := scanUser(s.reader().QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE username_index = ?`, blob(usernameIndex)))
	if err != nil {
		return nil, notFound(err, "get user by index")
	}
	return u, nil
}

func (s *DB) ListUsers(ctx context.Context) ([]*store.User, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return list, nil
}

// UpdateUser writes every mutable field of u. TOTPLastStep is left alone:
// only UseTOTPStep moves it, so that a stale copy of u cannot roll it back
// and let a used code be accepted again.
func (s *DB) UpdateUser(ctx context.Context, u *store.User) error {
	res, err := s.writer().ExecContext(ctx, `
		UPDATE users SET username = ?, role = ?, password_hash = ?, totp_secret = ?,
			totp_enrolled = ?, disabled = ?, must_change_password = ?, failed_logins = ?,
			locked_until = ?
		WHERE id = ?`,
		blob(u.Username), u.Role, u.PasswordHash, blob(u.TOTPSecret),
		u.TOTPEnrolled, u.Disabled, u.MustChangePassword, u.FailedLogins,
		nullMicros(u.LockedUntil), u.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update user: %w", err)
	}
	return affectedOne(res, "update user")
}

// UseTOTPStep is a single conditional UPDATE, so two logins racing with
// the same code cannot both succeed.
func (s *DB) UseTOTPStep(ctx context.Context, userID int64, step int64) (bool, error) {
	res, err := s.writer().ExecContext(ctx,
		`UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`,
		step, userID, step)
	if err != nil {
		return false, fmt.Errorf("sqlite: use totp step: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: use totp step: %w", err)
	}
	if n == 1 {
		return true, nil
	}
	var one int
	if err := s.reader().QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&one); err != nil {
		return false, notFound(err, "use totp step")
	}
	return false, nil
}

func (s *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.reader().QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count users: %w", err)
	}
	return n, nil
}
