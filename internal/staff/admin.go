package staff

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Credentials are what a new account's owner needs, shown once to whoever
// created it and never stored in clear.
type Credentials struct {
	User      *store.User
	Username  string // normalised
	Password  string // the generated password; empty when the caller chose it
	OTPURI    string // otpauth:// URI for the QR code
	OTPSecret string // base32, for apps that cannot scan
}

// CreateUser creates an account with a generated password, which its
// owner must change at first login, and a new TOTP secret.
//
// The very first account must be an admin and is created by the system
// (actorID 0); after that the actor must be an enabled admin, or 0 for the
// command line.
func (s *Service) CreateUser(ctx context.Context, actorID int64, username, role string) (*Credentials, error) {
	return s.createUser(ctx, actorID, username, role, "", "")
}

// CreateUserWithPassword creates an account with a chosen password and a
// TOTP secret made beforehand (NewTOTPSecret), for first-run set-up, where
// the page showed the secret's QR code and checked a code before calling.
//
// Only the first account, created by the system (actorID 0), keeps its
// password; one an admin creates this way must still change it at first
// login, since the admin knows it. The system cannot use this once
// accounts exist, so a set-up page left reachable cannot mint admins.
func (s *Service) CreateUserWithPassword(ctx context.Context, actorID int64, username, role, password, totpSecret string) (*Credentials, error) {
	if password == "" {
		return nil, fmt.Errorf("%w: empty", ErrWeakPassword)
	}
	if totpSecret == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidTOTPSecret)
	}
	return s.createUser(ctx, actorID, username, role, password, totpSecret)
}

func (s *Service) createUser(ctx context.Context, actorID int64, username, role, password, secret string) (*Credentials, error) {
	name, err := NormaliseUsername(username)
	if err != nil {
		return nil, err
	}
	if err := validRole(role); err != nil {
		return nil, err
	}
	chosen := password != ""
	if chosen {
		if err := CheckPassword(password, name, s.cfg.MinPasswordLen); err != nil {
			return nil, err
		}
	} else {
		password = generatePassword(max(generatedPasswordLen, s.cfg.MinPasswordLen))
	}
	if secret == "" {
		if secret, _, err = s.NewTOTPSecret(name); err != nil {
			return nil, err
		}
	}
	if secret, err = canonicalTOTPSecret(secret); err != nil {
		return nil, err
	}
	uri, err := totpURI(s.cfg.TOTPIssuer, name, secret)
	if err != nil {
		return nil, err
	}
	idx, err := s.usernameIndex(name)
	if err != nil {
		return nil, err
	}
	staffKey, err := s.v.Key(keys.PurposeStaff)
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(staffKey)
	encName, err := sealUsername(staffKey, idx, name)
	if err != nil {
		return nil, err
	}
	hash, err := hashPassword(password, s.cfg.PasswordKDF)
	if err != nil {
		return nil, err
	}

	u := &store.User{
		UsernameIndex: idx,
		Username:      encName,
		Role:          role,
		PasswordHash:  hash,
		CreatedAt:     s.now(),
	}
	err = s.st.Tx(ctx, func(tx store.Store) error {
		n, err := tx.CountUsers(ctx)
		if err != nil {
			return fmt.Errorf("staff: count users: %w", err)
		}
		switch {
		case n == 0 && actorID != 0:
			return fmt.Errorf("%w: the first account is created by the system", ErrForbidden)
		case n == 0 && role != store.RoleAdmin:
			return fmt.Errorf("%w: the first account must be an admin", ErrInvalidRole)
		case n > 0 && chosen && actorID == 0:
			return fmt.Errorf("%w: set-up is done", ErrForbidden)
		}
		if err := authorise(ctx, tx, actorID); err != nil {
			return err
		}
		u.MustChangePassword = !(chosen && n == 0)
		if err := tx.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("staff: create user: %w", err)
		}
		// The TOTP secret's ciphertext is bound to the id, which only
		// exists now; same transaction, so no account is ever without it.
		if u.TOTPSecret, err = sealTOTP(staffKey, u.ID, secret); err != nil {
			return err
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return fmt.Errorf("staff: create user: %w", err)
		}
		return s.record(ctx, tx, actorID, "user.create", userObject(u.ID))
	})
	if err != nil {
		return nil, err
	}
	c := &Credentials{User: u, Username: name, OTPURI: uri, OTPSecret: secret}
	if !chosen {
		c.Password = password
	}
	return c, nil
}

// Disable disables an account and ends its sessions at once.
func (s *Service) Disable(ctx context.Context, actorID, userID int64) error {
	_, err := s.adminUpdate(ctx, actorID, userID, "user.disable", true, func(tx store.Store, u *store.User) error {
		if err := s.keepAnAdmin(ctx, tx, u); err != nil {
			return err
		}
		u.Disabled = true
		return nil
	})
	return err
}

// Enable re-enables an account.
func (s *Service) Enable(ctx context.Context, actorID, userID int64) error {
	_, err := s.adminUpdate(ctx, actorID, userID, "user.enable", false, func(_ store.Store, u *store.User) error {
		u.Disabled = false
		return nil
	})
	return err
}

// ResetPassword gives an account a new generated password, which its owner
// must change at next login, lifts a lock-out and ends its sessions.
func (s *Service) ResetPassword(ctx context.Context, actorID, userID int64) (string, error) {
	password := generatePassword(max(generatedPasswordLen, s.cfg.MinPasswordLen))
	hash, err := hashPassword(password, s.cfg.PasswordKDF)
	if err != nil {
		return "", err
	}
	_, err = s.adminUpdate(ctx, actorID, userID, "user.reset_password", true, func(_ store.Store, u *store.User) error {
		u.PasswordHash = hash
		u.MustChangePassword = true
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
		return nil
	})
	if err != nil {
		return "", err
	}
	return password, nil
}

// ResetTOTP gives an account a new TOTP secret and returns its otpauth
// URI; the old secret stops working at once and the account's sessions
// end (for a lost or seized phone).
func (s *Service) ResetTOTP(ctx context.Context, actorID, userID int64) (string, error) {
	staffKey, err := s.v.Key(keys.PurposeStaff)
	if err != nil {
		return "", err
	}
	defer keys.Wipe(staffKey)
	var uri string
	_, err = s.adminUpdate(ctx, actorID, userID, "user.reset_totp", true, func(_ store.Store, u *store.User) error {
		name, err := openUsername(staffKey, u)
		if err != nil {
			return err
		}
		secret, otpURI, err := s.NewTOTPSecret(name)
		if err != nil {
			return err
		}
		if u.TOTPSecret, err = sealTOTP(staffKey, u.ID, secret); err != nil {
			return err
		}
		u.TOTPEnrolled = false
		uri = otpURI
		return nil
	})
	if err != nil {
		return "", err
	}
	return uri, nil
}

// SetRole changes an account's role and ends its sessions, so nobody
// keeps the old role's reach in an open session.
func (s *Service) SetRole(ctx context.Context, actorID, userID int64, role string) error {
	if err := validRole(role); err != nil {
		return err
	}
	_, err := s.adminUpdate(ctx, actorID, userID, "user.set_role", true, func(tx store.Store, u *store.User) error {
		if role != store.RoleAdmin {
			if err := s.keepAnAdmin(ctx, tx, u); err != nil {
				return err
			}
		}
		u.Role = role
		return nil
	})
	return err
}

// keepAnAdmin refuses to take u out of the enabled admins if it is the
// last one.
func (s *Service) keepAnAdmin(ctx context.Context, tx store.Store, u *store.User) error {
	if u.Role != store.RoleAdmin || u.Disabled {
		return nil
	}
	n, err := enabledAdmins(ctx, tx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return ErrLastAdmin
	}
	return nil
}

// ChangePassword changes a user's own password after checking the old
// one, clears MustChangePassword and ends every session of the user, so a
// thief holding a session loses it. ChangePasswordKeepSession keeps the
// caller's.
func (s *Service) ChangePassword(ctx context.Context, userID int64, oldPassword, newPassword string) error {
	return s.changePassword(ctx, userID, nil, oldPassword, newPassword)
}

// ChangePasswordKeepSession is ChangePassword for the owner of a session:
// the session stays open, every other session of the user ends.
func (s *Service) ChangePasswordKeepSession(ctx context.Context, sessionToken, oldPassword, newPassword string) error {
	u, err := s.Session(ctx, sessionToken)
	if err != nil {
		return err
	}
	sess, err := s.st.GetSession(ctx, hashToken(sessionToken))
	if err != nil {
		return fmt.Errorf("staff: session: %w", err)
	}
	return s.changePassword(ctx, u.ID, sess, oldPassword, newPassword)
}

func (s *Service) changePassword(ctx context.Context, userID int64, keep *store.Session, oldPassword, newPassword string) error {
	now := s.now()
	// Wrong old passwords are throttled per account in memory: someone
	// holding a stolen session must not test guesses at full speed. It
	// is not the login lock-out, so they cannot lock the owner out.
	budget := "password-change:" + strconv.FormatInt(userID, 10)
	if until, locked := s.devices.locked(budget, now); locked {
		return &LockedError{Until: until}
	}
	u, err := s.st.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("staff: user %d: %w", userID, err)
	}
	name, err := s.Username(u)
	if err != nil {
		return err
	}
	if u.Disabled || !verifyPassword(u.PasswordHash, oldPassword) {
		s.devices.fail(budget, now)
		if err := s.a.Record(ctx, userID, "user.change_password_failed", userObject(userID)); err != nil {
			return fmt.Errorf("staff: audit: %w", err)
		}
		return ErrBadCredentials
	}
	if err := CheckPassword(newPassword, name, s.cfg.MinPasswordLen); err != nil {
		return err
	}
	if newPassword == oldPassword {
		return fmt.Errorf("%w: same as the old one", ErrWeakPassword)
	}
	hash, err := hashPassword(newPassword, s.cfg.PasswordKDF)
	if err != nil {
		return err
	}
	_, err = s.updateUser(ctx, userID, func(tx store.Store, fresh *store.User) error {
		if fresh.Disabled || fresh.PasswordHash != u.PasswordHash {
			return ErrBadCredentials // changed or reset meanwhile
		}
		fresh.PasswordHash = hash
		fresh.MustChangePassword = false
		fresh.FailedLogins, fresh.LockedUntil = 0, time.Time{}
		if err := tx.DeleteUserSessions(ctx, userID); err != nil {
			return fmt.Errorf("staff: end sessions: %w", err)
		}
		if keep != nil {
			if err := tx.CreateSession(ctx, keep); err != nil {
				return fmt.Errorf("staff: keep session: %w", err)
			}
		}
		return s.record(ctx, tx, userID, "user.change_password", userObject(userID))
	})
	if err != nil {
		return err
	}
	s.devices.reset(budget)
	return nil
}

// UserView is an account for lists, with its name decrypted. User is a
// copy without the password hash and TOTP secret, so a template cannot
// print them by mistake; it keeps the username's ciphertext and index, so
// Username(v.User) still works.
type UserView struct {
	User     *store.User
	Username string
	Locked   bool // locked out for clients without a device token
}

// List returns every account, ordered by id.
func (s *Service) List(ctx context.Context) ([]UserView, error) {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("staff: list users: %w", err)
	}
	k, err := s.v.Key(keys.PurposeStaff)
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(k)
	now := s.now()
	out := make([]UserView, 0, len(users))
	for _, u := range users {
		name, err := openUsername(k, u)
		if err != nil {
			return nil, err
		}
		c := *u
		c.PasswordHash, c.TOTPSecret = "", nil
		out = append(out, UserView{User: &c, Username: name, Locked: u.LockedUntil.After(now)})
	}
	return out, nil
}

// UserByName finds an account by username through its blind index; the
// name is normalised first. store.ErrNotFound if there is none.
func (s *Service) UserByName(ctx context.Context, username string) (*store.User, error) {
	name, err := NormaliseUsername(username)
	if err != nil {
		return nil, err
	}
	idx, err := s.usernameIndex(name)
	if err != nil {
		return nil, err
	}
	u, err := s.st.GetUserByIndex(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("staff: user by name: %w", err)
	}
	return u, nil
}
