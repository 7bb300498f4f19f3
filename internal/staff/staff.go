// Package staff manages staff accounts: usernames kept only as a blind
// index and ciphertext, argon2id passwords, TOTP, server-side sessions,
// CSRF tokens, a lock-out that an attacker cannot turn against the
// account's owner, and the admin actions on accounts, each one audited.
//
// Staff accounts are what a state security service phishes first, so every
// login needs the password and a TOTP code, a code is accepted once, and
// nothing in an error or in the timing of a refusal tells which part was
// wrong or whether the username exists.
//
// The package holds the rules only: no net/http, no SQL.
package staff

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Sentinel errors callers branch on.
var (
	// ErrBadCredentials is the one answer to a failed login, whatever
	// failed: unknown user, wrong password, wrong or replayed code,
	// disabled account.
	ErrBadCredentials = errors.New("staff: wrong username, password or code")
	// ErrLocked reports a lock-out; errors.As with *LockedError gives
	// the time it ends.
	ErrLocked = errors.New("staff: too many failed attempts, locked for now")
	// ErrNoSession reports a missing, expired or revoked session.
	ErrNoSession = errors.New("staff: no valid session")
	// ErrLastAdmin refuses to disable or demote the last enabled admin,
	// which would leave nobody able to manage accounts or keys.
	ErrLastAdmin = errors.New("staff: this is the last enabled admin")
	// ErrForbidden reports an actor who may not manage accounts.
	ErrForbidden = errors.New("staff: not allowed")
	// ErrInvalidRole reports a role that is not one of store.Roles().
	ErrInvalidRole = errors.New("staff: invalid role")
	// ErrWeakPassword reports a password the policy refuses.
	ErrWeakPassword = errors.New("staff: password refused")
	// ErrInvalidTOTPSecret reports a TOTP secret that is not base32 or
	// too short.
	ErrInvalidTOTPSecret = errors.New("staff: invalid TOTP secret")
)

// LockedError is the ErrLocked a caller can ask details of.
type LockedError struct {
	Until time.Time // when the next attempt will be considered
}

func (e *LockedError) Error() string { return ErrLocked.Error() }

// Is makes errors.Is(err, ErrLocked) true for a *LockedError.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Config holds the account policy. The zero value of a field means its
// default (see DefaultConfig).
type Config struct {
	// SessionIdle ends a session nobody used for this long.
	SessionIdle time.Duration
	// SessionMax ends a session this long after login, used or not, so a
	// stolen session cookie does not live forever.
	SessionMax time.Duration

	// MaxFailures consecutive failed logins from clients without a device
	// token lock the account for LockoutBase, doubling with each further
	// failure up to LockoutMax.
	MaxFailures int
	LockoutBase time.Duration
	LockoutMax  time.Duration

	// DeviceMaxFailures is the failure budget of one trusted device (a
	// browser holding a device token); past it that device alone is
	// locked out with the same back-off.
	DeviceMaxFailures int
	// DeviceTokenMaxAge bounds how long a device token is honoured.
	DeviceTokenMaxAge time.Duration
	// MaxTracked bounds the in-memory lock-out entries (per device, and
	// per unknown username), so a flood cannot exhaust memory.
	MaxTracked int

	// TOTPIssuer is the label authenticator apps show. A deployment whose
	// staff cross checkpoints may want something innocuous here, since a
	// seized phone shows it.
	TOTPIssuer string

	// PasswordKDF are the argon2id costs for new password hashes; stored
	// hashes carry their own and are upgraded on the next login.
	PasswordKDF    keys.KDFParams
	MinPasswordLen int // in characters
}

// DefaultIssuer is the default TOTPIssuer.
const DefaultIssuer = "Corridor"

// DefaultConfig returns the default policy.
func DefaultConfig() Config {
	return Config{
		SessionIdle:       30 * time.Minute,
		SessionMax:        12 * time.Hour,
		MaxFailures:       5,
		LockoutBase:       time.Minute,
		LockoutMax:        time.Hour,
		DeviceMaxFailures: 10,
		DeviceTokenMaxAge: 180 * 24 * time.Hour,
		MaxTracked:        10000,
		TOTPIssuer:        DefaultIssuer,
		// OWASP's argon2id floor is m=19 MiB, t=2, p=1; this is above it
		// and still well under a second on a small server.
		PasswordKDF:    keys.KDFParams{Time: 2, MemoryKiB: 64 * 1024, Threads: 2},
		MinPasswordLen: 12,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&c.SessionIdle, d.SessionIdle)
	set(&c.SessionMax, d.SessionMax)
	set(&c.LockoutBase, d.LockoutBase)
	set(&c.LockoutMax, d.LockoutMax)
	set(&c.DeviceTokenMaxAge, d.DeviceTokenMaxAge)
	setInt(&c.MaxFailures, d.MaxFailures)
	setInt(&c.DeviceMaxFailures, d.DeviceMaxFailures)
	setInt(&c.MaxTracked, d.MaxTracked)
	setInt(&c.MinPasswordLen, d.MinPasswordLen)
	if c.TOTPIssuer == "" {
		c.TOTPIssuer = d.TOTPIssuer
	}
	if c.PasswordKDF == (keys.KDFParams{}) {
		c.PasswordKDF = d.PasswordKDF
	}
	c.LockoutMax = max(c.LockoutMax, c.LockoutBase)
	return c
}

// backoff is the lock-out after the n-th failure (n counted from 1): none
// below max, then base, doubling each time, capped.
func backoff(n, maxFailures int, base, ceiling time.Duration) time.Duration {
	if n < maxFailures {
		return 0
	}
	d := base
	for i := maxFailures; i < n && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// Service is the staff account service.
type Service struct {
	st  store.Store
	v   *keys.Vault
	cfg Config
	now func() time.Time

	// a records what happens outside any transaction (refused logins);
	// everything else is recorded in the transaction that does it.
	a *audit.Log
	// dummyHash is verified against when the username does not exist, so
	// that a login for an unknown name costs the same KDF run.
	dummyHash string
	// devices holds the failure budgets of trusted devices; unknown holds
	// lock-out state for usernames that do not exist, so that they lock
	// like real ones and a lock-out does not reveal that a name exists.
	devices *tracker
	unknown *tracker
}

// New returns the service. Zero fields of cfg take their defaults; it
// panics on argon2id parameters keys.KDFParams.Validate refuses, a wiring
// mistake that must not reach production.
func New(st store.Store, v *keys.Vault, a *audit.Log, cfg Config, now func() time.Time) *Service {
	cfg = cfg.withDefaults()
	if err := cfg.PasswordKDF.Validate(); err != nil {
		panic("staff: PasswordKDF: " + err.Error())
	}
	if now == nil {
		now = time.Now
	}
	s := &Service{st: st, v: v, a: a, cfg: cfg, now: now}
	dummy, err := hashPassword(generatePassword(20), cfg.PasswordKDF)
	if err != nil {
		panic("staff: " + err.Error()) // only if crypto/rand fails
	}
	s.dummyHash = dummy
	bo := func(n int) time.Duration { return backoff(n, cfg.MaxFailures, cfg.LockoutBase, cfg.LockoutMax) }
	dbo := func(n int) time.Duration { return backoff(n, cfg.DeviceMaxFailures, cfg.LockoutBase, cfg.LockoutMax) }
	s.devices = newTracker(cfg.MaxTracked, dbo)
	s.unknown = newTracker(cfg.MaxTracked, bo)
	return s
}

// MinPasswordLen is the configured minimum password length, for forms
// that check before calling.
func (s *Service) MinPasswordLen() int { return s.cfg.MinPasswordLen }

func userObject(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

func validRole(role string) error {
	if !slices.Contains(store.Roles(), role) {
		return fmt.Errorf("%w: %q", ErrInvalidRole, role)
	}
	return nil
}

// authorise checks that actorID may manage accounts. 0 is the system
// itself (the command line, first-run set-up), which the caller vouches
// for; anyone else must be an enabled admin. The web layer checks roles
// too; this second gate means a bug there does not hand account
// management to a phished operator.
func authorise(ctx context.Context, q store.Store, actorID int64) error {
	if actorID == 0 {
		return nil
	}
	u, err := q.GetUser(ctx, actorID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: actor %d does not exist", ErrForbidden, actorID)
	}
	if err != nil {
		return fmt.Errorf("staff: actor: %w", err)
	}
	if u.Disabled || u.Role != store.RoleAdmin {
		return fmt.Errorf("%w: actor %d is not an enabled admin", ErrForbidden, actorID)
	}
	return nil
}

// enabledAdmins counts enabled admins, inside the caller's transaction so
// two admins demoting each other at once cannot both succeed.
func enabledAdmins(ctx context.Context, q store.Store) (int, error) {
	users, err := q.ListUsers(ctx)
	if err != nil {
		return 0, fmt.Errorf("staff: list users: %w", err)
	}
	n := 0
	for _, u := range users {
		if u.Role == store.RoleAdmin && !u.Disabled {
			n++
		}
	}
	return n, nil
}

// updateUser re-reads a user inside a transaction, lets fn change it and
// writes it back. Every read-modify-write of a user goes through here:
// UpdateUser writes every field, so a change made from a stale copy (a
// login counting a failure while an admin disables the account) would
// otherwise undo the other.
func (s *Service) updateUser(ctx context.Context, id int64, fn func(tx store.Store, u *store.User) error) (*store.User, error) {
	var out *store.User
	err := s.st.Tx(ctx, func(tx store.Store) error {
		u, err := tx.GetUser(ctx, id)
		if err != nil {
			return fmt.Errorf("staff: user %d: %w", id, err)
		}
		if err := fn(tx, u); err != nil {
			return err
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return fmt.Errorf("staff: update user %d: %w", id, err)
		}
		out = u
		return nil
	})
	return out, err
}

// record writes an audit entry inside tx, so that the action and its
// record commit together or not at all: an action never happens
// unaudited, and no entry claims one that rolled back. Callers pass only
// ids and fixed action names, never names, passwords or codes.
func (s *Service) record(ctx context.Context, tx store.Store, actorID int64, action, object string) error {
	if err := audit.New(tx, s.now).Record(ctx, actorID, action, object); err != nil {
		return fmt.Errorf("staff: audit %s: %w", action, err)
	}
	return nil
}

// adminUpdate runs one audited admin action on a user in one transaction:
// authorise the actor, change the target, end its sessions if asked, and
// record it.
func (s *Service) adminUpdate(ctx context.Context, actorID, userID int64, action string, endSessions bool, fn func(tx store.Store, u *store.User) error) (*store.User, error) {
	var out *store.User
	err := s.st.Tx(ctx, func(tx store.Store) error {
		if err := authorise(ctx, tx, actorID); err != nil {
			return err
		}
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return fmt.Errorf("staff: user %d: %w", userID, err)
		}
		if err := fn(tx, u); err != nil {
			return err
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return fmt.Errorf("staff: update user %d: %w", userID, err)
		}
		if endSessions {
			if err := tx.DeleteUserSessions(ctx, userID); err != nil {
				return fmt.Errorf("staff: end sessions: %w", err)
			}
		}
		out = u
		return s.record(ctx, tx, actorID, action, userObject(userID))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
