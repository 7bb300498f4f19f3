package staff

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// LoginInput is what a login form sends, plus the device cookie if the
// browser has one.
type LoginInput struct {
	Username    string
	Password    string
	Code        string // TOTP code
	DeviceToken string // from an earlier successful login in this browser; may be empty
}

// LoginResult is a successful login.
type LoginResult struct {
	User         *store.User
	SessionToken string // for the session cookie; only its hash is stored
	DeviceToken  string // for the device cookie; replaces any earlier one
}

// Login checks a username, password and TOTP code and opens a session.
//
// Every failure is ErrBadCredentials, whatever failed; a lock-out is a
// *LockedError (errors.Is ErrLocked); a sealed vault is keys.ErrSealed.
//
// Lock-out follows OWASP's "device cookies": failures from a browser
// without a valid device token for this account count against the account
// and lock it with exponential back-off; a browser holding one (from an
// earlier successful login) ignores that lock and has its own failure
// budget in memory. Someone hammering a username therefore locks out only
// browsers that never logged in as it, never its owner's.
//
// Timing: an unknown username costs the same argon2id run (against a
// dummy hash) and locks the same way (in memory), so neither the time
// taken nor a lock-out tells whether the name exists.
func (s *Service) Login(ctx context.Context, in LoginInput) (*LoginResult, error) {
	// Take every key now: the vault may be sealed halfway through.
	biKey, err := s.v.Key(keys.PurposeBlindIndex)
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(biKey)
	staffKey, err := s.v.Key(keys.PurposeStaff)
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(staffKey)
	sessKey, err := s.v.Key(keys.PurposeSession)
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(sessKey)
	now := s.now()

	name, err := NormaliseUsername(in.Username)
	if err != nil {
		// No account can have this name; spend the same time anyway.
		verifyPassword(s.dummyHash, in.Password)
		return nil, s.loginFailed(ctx, 0)
	}
	idx := keys.BlindIndex(biKey, usernameDomain, name)
	u, err := s.st.GetUserByIndex(ctx, idx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.loginUnknown(ctx, hex.EncodeToString(idx), in.Password, now)
	}
	if err != nil {
		return nil, fmt.Errorf("staff: login: %w", err)
	}

	device, trusted := s.checkDeviceToken(sessKey, u.ID, in.DeviceToken, now)
	if trusted {
		if until, locked := s.devices.locked(device, now); locked {
			return nil, s.loginLocked(ctx, u.ID, until)
		}
	} else if u.LockedUntil.After(now) {
		return nil, s.loginLocked(ctx, u.ID, u.LockedUntil)
	}

	passOK := verifyPassword(u.PasswordHash, in.Password)
	step, codeOK := s.checkCode(staffKey, u, in.Code, now)
	if !passOK || !codeOK || u.Disabled {
		return nil, s.loginWrong(ctx, u.ID, trusted, device, now)
	}

	// Upgrade an old hash while the password is at hand. Done before the
	// transaction: argon2id is too slow to run while holding the write
	// lock.
	var rehash string
	if needsRehash(u.PasswordHash, s.cfg.PasswordKDF) {
		if rehash, err = hashPassword(in.Password, s.cfg.PasswordKDF); err != nil {
			return nil, err
		}
	}

	var token string
	fresh, err := s.updateUser(ctx, u.ID, func(tx store.Store, fresh *store.User) error {
		// What was checked must still hold: an admin may have disabled
		// the account, reset its password or TOTP meanwhile.
		if fresh.Disabled || fresh.PasswordHash != u.PasswordHash || !bytes.Equal(fresh.TOTPSecret, u.TOTPSecret) {
			return errRefused
		}
		// The code's step is used once, ever: a phished or shoulder-
		// surfed code is worthless after its owner used it.
		ok, err := tx.UseTOTPStep(ctx, u.ID, step)
		if err != nil {
			return fmt.Errorf("staff: totp step: %w", err)
		}
		if !ok {
			return errRefused
		}
		fresh.FailedLogins, fresh.LockedUntil, fresh.TOTPEnrolled = 0, time.Time{}, true
		if rehash != "" {
			fresh.PasswordHash = rehash
		}
		if token, err = createSession(ctx, tx, u.ID, now); err != nil {
			return err
		}
		return s.record(ctx, tx, u.ID, "user.login", userObject(u.ID))
	})
	if errors.Is(err, errRefused) {
		return nil, s.loginWrong(ctx, u.ID, trusted, device, now)
	}
	if err != nil {
		return nil, err
	}
	if trusted {
		s.devices.reset(device)
	}
	return &LoginResult{User: fresh, SessionToken: token, DeviceToken: s.newDeviceToken(sessKey, u.ID, now)}, nil
}

// errRefused is a failure found inside the success transaction (replayed
// code, account changed meanwhile); it becomes ErrBadCredentials.
var errRefused = errors.New("staff: refused")

// checkCode decrypts the user's TOTP secret and matches the code.
func (s *Service) checkCode(staffKey []byte, u *store.User, code string, now time.Time) (int64, bool) {
	if u.TOTPSecret == nil {
		return 0, false
	}
	secret, err := openTOTP(staffKey, u.ID, u.TOTPSecret)
	if err != nil {
		return 0, false
	}
	return matchStep(secret, code, now)
}

// loginFailed records a failed login and returns ErrBadCredentials. The
// object names the account only if it exists; never the name tried.
func (s *Service) loginFailed(ctx context.Context, userID int64) error {
	obj := "user"
	if userID != 0 {
		obj = userObject(userID)
	}
	if err := s.a.Record(ctx, 0, "user.login_failed", obj); err != nil {
		return fmt.Errorf("staff: audit failed login: %w", err)
	}
	return ErrBadCredentials
}

// loginLocked records an attempt refused by a lock-out. The password is
// not checked, so the lock cannot be used to test guesses.
func (s *Service) loginLocked(ctx context.Context, userID int64, until time.Time) error {
	if err := s.loginFailed(ctx, userID); !errors.Is(err, ErrBadCredentials) {
		return err
	}
	return &LockedError{Until: until}
}

// loginUnknown handles a username that does not exist exactly like a
// wrong password for one that does: the same KDF run, the same lock-out.
func (s *Service) loginUnknown(ctx context.Context, key, password string, now time.Time) error {
	if until, locked := s.unknown.locked(key, now); locked {
		return s.loginLocked(ctx, 0, until)
	}
	verifyPassword(s.dummyHash, password)
	s.unknown.fail(key, now)
	return s.loginFailed(ctx, 0)
}

// loginWrong counts a failure: against the device's own budget if the
// client is trusted, else against the account.
func (s *Service) loginWrong(ctx context.Context, userID int64, trusted bool, device string, now time.Time) error {
	if trusted {
		s.devices.fail(device, now)
		return s.loginFailed(ctx, userID)
	}
	_, err := s.updateUser(ctx, userID, func(tx store.Store, u *store.User) error {
		u.FailedLogins++
		if d := backoff(u.FailedLogins, s.cfg.MaxFailures, s.cfg.LockoutBase, s.cfg.LockoutMax); d > 0 {
			u.LockedUntil = now.Add(d)
		}
		return s.record(ctx, tx, 0, "user.login_failed", userObject(userID))
	})
	if err != nil {
		// Fail closed: a failure that could not be counted must not
		// become a free guess.
		return fmt.Errorf("staff: count failed login: %w", err)
	}
	return ErrBadCredentials
}

// Device tokens: version ‖ user id ‖ issued (unix seconds) ‖ nonce ‖ MAC,
// base64url. Nothing is stored; the MAC under the session key proves the
// server issued it, and it names the account it is good for.
const (
	deviceVersion  = 1
	deviceNonceLen = 16
	deviceMACLen   = 32
	deviceBodyLen  = 1 + 8 + 8 + deviceNonceLen
	deviceTokenLen = deviceBodyLen + deviceMACLen
)

func deviceMAC(sessKey, body []byte) []byte {
	return keys.MAC(sessKey, "device", string(body))
}

func (s *Service) newDeviceToken(sessKey []byte, userID int64, now time.Time) string {
	body := make([]byte, 0, deviceTokenLen)
	body = append(body, deviceVersion)
	body = binary.BigEndian.AppendUint64(body, uint64(userID))
	body = binary.BigEndian.AppendUint64(body, uint64(now.Unix()))
	body = append(body, randomBytes(deviceNonceLen)...)
	return b64url.EncodeToString(append(body, deviceMAC(sessKey, body)...))
}

// checkDeviceToken reports whether token is a device token this server
// issued for userID, not older than DeviceTokenMaxAge, and returns the
// key its failure budget is kept under.
func (s *Service) checkDeviceToken(sessKey []byte, userID int64, token string, now time.Time) (string, bool) {
	if token == "" || len(token) != b64url.EncodedLen(deviceTokenLen) {
		return "", false
	}
	raw, err := b64url.Strict().DecodeString(token)
	if err != nil || len(raw) != deviceTokenLen || raw[0] != deviceVersion {
		return "", false
	}
	body, mac := raw[:deviceBodyLen], raw[deviceBodyLen:]
	if !hmac.Equal(mac, deviceMAC(sessKey, body)) {
		return "", false
	}
	if int64(binary.BigEndian.Uint64(body[1:9])) != userID {
		return "", false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(body[9:17])), 0)
	if now.Sub(issued) > s.cfg.DeviceTokenMaxAge || issued.After(now.Add(time.Minute)) {
		return "", false
	}
	return hex.EncodeToString(body[1:]), true
}

// tracker counts consecutive failures per key in memory, with the same
// exponential back-off as accounts, holding at most limit keys so that a
// flood of distinct keys cannot exhaust memory (the least recently seen
// entry goes first). It is lost on restart, which is acceptable for a
// budget that only ever restricts.
type tracker struct {
	mu      sync.Mutex
	limit   int
	backoff func(failures int) time.Duration
	m       map[string]*trackEntry
}

type trackEntry struct {
	failures    int
	lockedUntil time.Time
	last        time.Time
}

func newTracker(limit int, backoff func(int) time.Duration) *tracker {
	return &tracker{limit: limit, backoff: backoff, m: map[string]*trackEntry{}}
}

func (t *tracker) locked(key string, now time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.m[key]; ok && e.lockedUntil.After(now) {
		return e.lockedUntil, true
	}
	return time.Time{}, false
}

func (t *tracker) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[key]
	if !ok {
		if len(t.m) >= t.limit {
			t.evictLocked()
		}
		e = &trackEntry{}
		t.m[key] = e
	}
	e.failures++
	e.last = now
	if d := t.backoff(e.failures); d > 0 {
		e.lockedUntil = now.Add(d)
	}
}

func (t *tracker) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

func (t *tracker) evictLocked() {
	var oldest string
	var at time.Time
	for k, e := range t.m {
		if oldest == "" || e.last.Before(at) {
			oldest, at = k, e.last
		}
	}
	delete(t.m, oldest)
}

func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
