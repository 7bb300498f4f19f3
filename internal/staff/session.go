package staff

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// sessionTokenLen is the random part of a session token; base64url makes
// it 43 characters.
const sessionTokenLen = 32

var b64url = base64.RawURLEncoding

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		// crypto/rand does not fail on supported platforms; if it
		// did, carrying on with predictable tokens would be worse.
		panic("staff: crypto/rand failed: " + err.Error())
	}
	return b
}

func randomToken(n int) string { return b64url.EncodeToString(randomBytes(n)) }

// hashToken is what the store keeps of a session token: a database dump
// then holds nothing that can be replayed as a cookie.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// wellFormedToken rejects, before any database work, what cannot be a
// token this package issued.
func wellFormedToken(token string) bool {
	if len(token) != b64url.EncodedLen(sessionTokenLen) {
		return false
	}
	_, err := b64url.Strict().DecodeString(token)
	return err == nil
}

// createSession stores a new session for userID in q and returns its
// token.
func createSession(ctx context.Context, q store.Store, userID int64, now time.Time) (string, error) {
	token := randomToken(sessionTokenLen)
	err := q.CreateSession(ctx, &store.Session{TokenHash: hashToken(token), UserID: userID, CreatedAt: now, LastSeen: now})
	if err != nil {
		return "", fmt.Errorf("staff: create session: %w", err)
	}
	return token, nil
}

// Session returns the user a session token belongs to, and records the
// use. ErrNoSession if the token is unknown, idle longer than SessionIdle,
// older than SessionMax, or its user is disabled or gone; an expired
// session is deleted on the way. Admin actions that change what a user
// may do (role, disable, password or TOTP reset) end the user's sessions,
// so a session never outlives the rights it was opened with.
func (s *Service) Session(ctx context.Context, token string) (*store.User, error) {
	if !wellFormedToken(token) {
		return nil, ErrNoSession
	}
	h := hashToken(token)
	sess, err := s.st.GetSession(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("staff: session: %w", err)
	}
	now := s.now()
	end := func(why string) (*store.User, error) {
		if err := s.st.DeleteSession(ctx, h); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("staff: end session: %w", err)
		}
		return nil, fmt.Errorf("%w: %s", ErrNoSession, why)
	}
	if now.Sub(sess.LastSeen) > s.cfg.SessionIdle {
		return end("idle")
	}
	if now.Sub(sess.CreatedAt) > s.cfg.SessionMax {
		return end("too old")
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return end("user gone")
	}
	if err != nil {
		return nil, fmt.Errorf("staff: session user: %w", err)
	}
	if u.Disabled {
		return end("user disabled")
	}
	if err := s.st.TouchSession(ctx, h, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNoSession // ended by a concurrent logout
		}
		return nil, fmt.Errorf("staff: touch session: %w", err)
	}
	return u, nil
}

// Logout ends one session. Ending a session that does not exist is not an
// error: the caller wanted it gone.
func (s *Service) Logout(ctx context.Context, token string) error {
	if !wellFormedToken(token) {
		return nil
	}
	h := hashToken(token)
	err := s.st.Tx(ctx, func(tx store.Store) error {
		sess, err := tx.GetSession(ctx, h)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteSession(ctx, h); err != nil {
			return err
		}
		return s.record(ctx, tx, sess.UserID, "user.logout", userObject(sess.UserID))
	})
	if err != nil {
		return fmt.Errorf("staff: logout: %w", err)
	}
	return nil
}

// LogoutEverywhere ends every session of a user, for "I lost my laptop".
func (s *Service) LogoutEverywhere(ctx context.Context, userID int64) error {
	err := s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.DeleteUserSessions(ctx, userID); err != nil {
			return err
		}
		return s.record(ctx, tx, userID, "user.logout_all", userObject(userID))
	})
	if err != nil {
		return fmt.Errorf("staff: logout everywhere: %w", err)
	}
	return nil
}

// PurgeSessions deletes sessions idle longer than SessionIdle, for a
// periodic clean-up; Session refuses them anyway.
func (s *Service) PurgeSessions(ctx context.Context) (int, error) {
	n, err := s.st.DeleteIdleSessions(ctx, s.now().Add(-s.cfg.SessionIdle))
	if err != nil {
		return 0, fmt.Errorf("staff: purge sessions: %w", err)
	}
	return n, nil
}

// CSRFToken returns the anti-CSRF token for a session: a MAC of the
// session token's hash, so it needs no storage, differs per session, and
// cannot be computed without the server's session key.
func (s *Service) CSRFToken(sessionToken string) (string, error) {
	if sessionToken == "" {
		return "", ErrNoSession
	}
	k, err := s.v.Key(keys.PurposeSession)
	if err != nil {
		return "", err
	}
	defer keys.Wipe(k)
	return b64url.EncodeToString(keys.MAC(k, "csrf", string(hashToken(sessionToken)))), nil
}

// CheckCSRF reports whether got is the CSRF token of the session, in
// constant time.
func (s *Service) CheckCSRF(sessionToken, got string) bool {
	want, err := s.CSRFToken(sessionToken)
	if err != nil || got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}
