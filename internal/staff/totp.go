package staff

import (
	"bytes"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/corridor-org/corridor/internal/keys"
)

// TOTP as every authenticator app supports it (RFC 6238 defaults): 30 s
// steps, 6 digits, HMAC-SHA1. A code from one step either side of now is
// accepted, for clock drift and for a code typed as it rolled over.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpSkew   = 1
	// totpSecretSize is RFC 4226's recommended 160 bits.
	totpSecretSize = 20
	// minTOTPSecretSize is RFC 4226's floor of 128 bits.
	minTOTPSecretSize = 16
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret makes a new TOTP secret (base32) and its otpauth URI for
// an account, labelled with DefaultIssuer. Service.NewTOTPSecret uses the
// configured issuer.
func NewTOTPSecret(username string) (secret, uri string, err error) {
	return newTOTPSecret(DefaultIssuer, username)
}

// NewTOTPSecret makes a new TOTP secret (base32) and its otpauth URI,
// labelled with the configured issuer.
func (s *Service) NewTOTPSecret(username string) (secret, uri string, err error) {
	return newTOTPSecret(s.cfg.TOTPIssuer, username)
}

func newTOTPSecret(issuer, account string) (secret, uri string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		SecretSize:  totpSecretSize,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", fmt.Errorf("staff: totp: %w", err)
	}
	return k.Secret(), k.URL(), nil
}

// totpURI returns the otpauth URI of an existing secret.
func totpURI(issuer, account, secret string) (string, error) {
	raw, err := decodeTOTPSecret(secret)
	if err != nil {
		return "", err
	}
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		Secret:      raw,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", fmt.Errorf("staff: totp: %w", err)
	}
	return k.URL(), nil
}

// decodeTOTPSecret checks a base32 secret as apps show it (any case,
// spaces, with or without padding) and returns its bytes.
func decodeTOTPSecret(secret string) ([]byte, error) {
	s := strings.ToUpper(strings.Join(strings.Fields(secret), ""))
	s = strings.TrimRight(s, "=")
	raw, err := b32.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not base32", ErrInvalidTOTPSecret)
	}
	if len(raw) < minTOTPSecretSize {
		return nil, fmt.Errorf("%w: %d bits, want at least %d", ErrInvalidTOTPSecret, 8*len(raw), 8*minTOTPSecretSize)
	}
	return raw, nil
}

// canonicalTOTPSecret is the form secrets are stored in.
func canonicalTOTPSecret(secret string) (string, error) {
	raw, err := decodeTOTPSecret(secret)
	if err != nil {
		return "", err
	}
	return b32.EncodeToString(raw), nil
}

// normaliseCode accepts "123456" and "123 456".
func normaliseCode(code string) (string, bool) {
	c := strings.Join(strings.Fields(code), "")
	if len(c) != totpDigits.Length() {
		return "", false
	}
	for _, r := range c {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return c, true
}

// matchStep returns the time step within the skew whose code is code. It
// computes every candidate and compares each in constant time, so the
// time taken does not depend on which one matched.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	c, ok := normaliseCode(code)
	if !ok {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	var step int64
	found := 0
	for _, d := range []int64{0, -1, 1} {
		st := cur + d
		if st < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(st), hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(c)) == 1 && found == 0 {
			step, found = st, 1
		}
	}
	return step, found == 1
}

// ValidTOTP reports whether code is valid for secret at now (±1 step). It
// is for checking enrolment before an account exists (first-run set-up);
// it cannot prevent replay, which Login does per account.
func ValidTOTP(secret, code string, now time.Time) bool {
	s, err := canonicalTOTPSecret(secret)
	if err != nil {
		return false
	}
	_, ok := matchStep(s, code, now)
	return ok
}

// totpAD binds a TOTP secret's ciphertext to its account.
func totpAD(userID int64) []string {
	return []string{"user", strconv.FormatInt(userID, 10), "totp"}
}

func sealTOTP(staffKey []byte, userID int64, secret string) ([]byte, error) {
	return keys.Encrypt(staffKey, []byte(secret), totpAD(userID)...)
}

func openTOTP(staffKey []byte, userID int64, ct []byte) (string, error) {
	pt, err := keys.Decrypt(staffKey, ct, totpAD(userID)...)
	if err != nil {
		return "", fmt.Errorf("staff: totp secret of user %d: %w", userID, err)
	}
	return string(pt), nil
}

// qrSize is the PNG's width and height in pixels: large enough for a
// phone camera at arm's length, small enough to embed inline.
const qrSize = 256

// QRCodePNG renders an otpauth URI as a QR code PNG, here on the server:
// sending the secret to a QR web service would hand it to a third party.
func QRCodePNG(otpURI string) ([]byte, error) {
	u, err := url.Parse(otpURI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		return nil, fmt.Errorf("staff: not an otpauth://totp URI")
	}
	k, err := otp.NewKeyFromURL(otpURI)
	if err != nil {
		return nil, fmt.Errorf("staff: qr: %w", err)
	}
	img, err := k.Image(qrSize, qrSize)
	if err != nil {
		return nil, fmt.Errorf("staff: qr: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("staff: qr: %w", err)
	}
	return b.Bytes(), nil
}
