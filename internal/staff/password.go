package staff

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/corridor-org/corridor/internal/keys"
)

// maxPasswordBytes bounds what is fed to the KDF. Argon2 pre-hashes its
// input, so this is not about cost, but nothing legitimate is longer and a
// bound keeps megabyte "passwords" out of memory and logs.
const maxPasswordBytes = 1024

// passwordAlphabet is what generated passwords are drawn from: letters and
// digits without the ones people confuse when copying from a screen
// (0 O o, 1 I l i).
const passwordAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz"

// generatedPasswordLen characters from 54 give about 115 bits.
const generatedPasswordLen = 20

// generatePassword returns n characters from passwordAlphabet, uniformly
// (rejection sampling: bytes above the largest multiple of the alphabet
// size are dropped, so no character is more likely than another).
func generatePassword(n int) string {
	const a = len(passwordAlphabet)
	limit := 256 - 256%a
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := io.ReadFull(rand.Reader, buf[:]); err != nil {
			panic("staff: crypto/rand failed: " + err.Error())
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, passwordAlphabet[int(b)%a])
			}
		}
	}
	return string(out)
}

// CheckPassword applies the password policy: at least minLen characters,
// at most maxPasswordBytes bytes, and not the username. Errors are
// ErrWeakPassword.
func CheckPassword(password, username string, minLen int) error {
	p := norm.NFC.String(password)
	if utf8.RuneCountInString(p) < minLen {
		return fmt.Errorf("%w: shorter than %d characters", ErrWeakPassword, minLen)
	}
	if len(p) > maxPasswordBytes {
		return fmt.Errorf("%w: longer than %d bytes", ErrWeakPassword, maxPasswordBytes)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w: not valid text", ErrWeakPassword)
	}
	if u, err := NormaliseUsername(username); err == nil {
		if pn, err := NormaliseUsername(p); err == nil && pn == u {
			return fmt.Errorf("%w: same as the username", ErrWeakPassword)
		}
	}
	if strings.EqualFold(strings.TrimSpace(p), strings.TrimSpace(username)) {
		return fmt.Errorf("%w: same as the username", ErrWeakPassword)
	}
	return nil
}

// passwordBytes is what the KDF sees: NFC, so that the same password typed
// on keyboards that compose "й" differently still matches.
func passwordBytes(password string) []byte {
	return []byte(norm.NFC.String(password))
}

const (
	phcSaltLen = 16
	phcHashLen = 32
)

var b64 = base64.RawStdEncoding

// hashPassword returns an argon2id hash in PHC string format:
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash> (unpadded standard base64),
// the format other argon2 tools read.
func hashPassword(password string, p keys.KDFParams) (string, error) {
	salt := make([]byte, phcSaltLen)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return "", fmt.Errorf("staff: salt: %w", err)
	}
	h := p.Derive(passwordBytes(password), salt, phcHashLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(h)), nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	params     keys.KDFParams
	salt, hash []byte
}

var errBadHash = errors.New("staff: stored password hash is malformed")

// parsePHC parses strictly and bounds every number: the string comes from
// the database, and a tampered one must not make a login run for minutes
// or allocate gigabytes.
func parsePHC(s string) (*phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return nil, errBadHash
	}
	var p keys.KDFParams
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return nil, errBadHash
	}
	for i, want := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(fields[i], "=")
		if !ok || k != want {
			return nil, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || (len(v) > 1 && v[0] == '0') {
			return nil, errBadHash
		}
		switch want {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return nil, errBadHash
			}
			p.Threads = uint8(n)
		}
	}
	if err := p.Validate(); err != nil || p.Time > 64 {
		return nil, errBadHash
	}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return nil, errBadHash
	}
	hash, err := b64.Strict().DecodeString(parts[5])
	if err != nil || len(hash) < 16 || len(hash) > 64 {
		return nil, errBadHash
	}
	return &phc{params: p, salt: salt, hash: hash}, nil
}

// verifyPassword reports whether password matches the PHC hash, comparing
// in constant time.
func verifyPassword(hash, password string) bool {
	h, err := parsePHC(hash)
	if err != nil || len(password) > maxPasswordBytes {
		return false
	}
	got := h.params.Derive(passwordBytes(password), h.salt, uint32(len(h.hash)))
	return subtle.ConstantTimeCompare(got, h.hash) == 1
}

// needsRehash reports whether a stored hash was made with other costs
// than the current ones, so a successful login can upgrade it.
func needsRehash(hash string, p keys.KDFParams) bool {
	h, err := parsePHC(hash)
	return err != nil || h.params != p || len(h.hash) != phcHashLen || len(h.salt) != phcSaltLen
}
