package staff

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Username length bounds, in runes after normalisation.
const (
	MinUsernameLen = 2
	MaxUsernameLen = 64
)

// Username errors. Each one is also ErrInvalidUsername.
var (
	ErrInvalidUsername      = errors.New("staff: invalid username")
	ErrUsernameTooShort     = fmt.Errorf("%w: shorter than %d characters", ErrInvalidUsername, MinUsernameLen)
	ErrUsernameTooLong      = fmt.Errorf("%w: longer than %d characters", ErrInvalidUsername, MaxUsernameLen)
	ErrUsernameCharacters   = fmt.Errorf("%w: only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit", ErrInvalidUsername)
	ErrUsernameMixedScripts = fmt.Errorf("%w: letters from different alphabets in one part of the name", ErrInvalidUsername)
)

// NormaliseUsername returns the canonical form of a username, the one
// that is indexed and stored: trimmed, width-folded, lower-cased and NFC
// (the PRECIS UsernameCaseMapped profile, RFC 8265), then restricted to
// letters of any script, ASCII digits and '.', '_', '-'.
//
// Within each part of the name between separators the letters must come
// from one script: "canary-щука" is fine, but "аdmin" with a Cyrillic
// "а" is refused, so nobody can be made to trust a look-alike of a
// colleague's name.
func NormaliseUsername(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", ErrUsernameTooShort
	}
	// Bound the work precis does on hostile input; 4 bytes a rune is
	// the most a valid name can take.
	if len(name) > 4*MaxUsernameLen {
		return "", ErrUsernameTooLong
	}
	n, err := precis.UsernameCaseMapped.String(name)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUsernameCharacters, err)
	}
	switch c := utf8.RuneCountInString(n); {
	case c < MinUsernameLen:
		return "", ErrUsernameTooShort
	case c > MaxUsernameLen:
		return "", ErrUsernameTooLong
	}
	var script *unicode.RangeTable // script of the current part
	prev := rune(-1)
	for i, r := range n {
		switch {
		case r == '.' || r == '_' || r == '-':
			if i == 0 {
				return "", ErrUsernameCharacters
			}
			script = nil
		case r >= '0' && r <= '9':
		case unicode.IsLetter(r):
			s := scriptOf(r)
			if script != nil && s != script {
				return "", ErrUsernameMixedScripts
			}
			script = s
		case unicode.IsMark(r) && prev >= 0 && (unicode.IsLetter(prev) || unicode.IsMark(prev)):
			// Combining marks that NFC cannot fold (many scripts need
			// them), but only on a letter.
		default:
			return "", ErrUsernameCharacters
		}
		prev = r
	}
	return n, nil
}

// scriptOf returns the Unicode script table r belongs to.
func scriptOf(r rune) *unicode.RangeTable {
	for _, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return t
		}
	}
	return nil
}

// The blind index domain for usernames (keys.BlindIndex separates domains
// so a username never matches a phone number's index).
const usernameDomain = "username"

// usernameIndex is the keyed blind index a username is looked up by.
func (s *Service) usernameIndex(normalised string) ([]byte, error) {
	k, err := s.v.Key(keys.PurposeBlindIndex)
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(k)
	return keys.BlindIndex(k, usernameDomain, normalised), nil
}

// usernameAD binds a username's ciphertext to the account's blind index,
// which never changes and is known before CreateUser assigns the id, so a
// ciphertext moved to another account's row fails to decrypt.
func usernameAD(index []byte) []string {
	return []string{"user", hex.EncodeToString(index), "username"}
}

func sealUsername(staffKey, index []byte, normalised string) ([]byte, error) {
	return keys.Encrypt(staffKey, []byte(normalised), usernameAD(index)...)
}

// Username decrypts a user's name for display.
func (s *Service) Username(u *store.User) (string, error) {
	k, err := s.v.Key(keys.PurposeStaff)
	if err != nil {
		return "", err
	}
	defer keys.Wipe(k)
	return openUsername(k, u)
}

func openUsername(staffKey []byte, u *store.User) (string, error) {
	pt, err := keys.Decrypt(staffKey, u.Username, usernameAD(u.UsernameIndex)...)
	if err != nil {
		return "", fmt.Errorf("staff: username of user %d: %w", u.ID, err)
	}
	return string(pt), nil
}
