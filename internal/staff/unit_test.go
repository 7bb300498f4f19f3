package staff

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/corridor-org/corridor/internal/keys"
)

func TestNormaliseUsername(t *testing.T) {
	long := strings.Repeat("щ", MaxUsernameLen)
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{"alice", "alice", nil},
		{"Alice", "alice", nil},
		{"  Bob.Smith_1-x \t", "bob.smith_1-x", nil},
		{"ЩУКА", "щука", nil},
		{"canary-Щука", "canary-щука", nil},
		{"ａｂｃ", "abc", nil},                       // full-width folds to ASCII
		{"ΣΑΣ", "σασ", nil},                       // Greek
		{"й", "", ErrUsernameTooShort},            // one rune
		{"и\u0306x", "", ErrUsernameMixedScripts}, // NFC: й (Cyrillic) then Latin x in one part
		{"и\u0306к", "йк", nil},                   // decomposed й composes
		{"ab", "ab", nil},
		{"42", "42", nil},
		{long, long, nil},
		{"", "", ErrUsernameTooShort},
		{"   ", "", ErrUsernameTooShort},
		{"a", "", ErrUsernameTooShort},
		{long + "щ", "", ErrUsernameTooLong},
		{strings.Repeat("a", 1000), "", ErrUsernameTooLong},
		{"a b", "", ErrUsernameCharacters},
		{"x@y", "", ErrUsernameCharacters},
		{"a/b", "", ErrUsernameCharacters},
		{"-abc", "", ErrUsernameCharacters},
		{".abc", "", ErrUsernameCharacters},
		{"_abc", "", ErrUsernameCharacters},
		{"ab\x00c", "", ErrUsernameCharacters},
		{"ab\u200bc", "", ErrUsernameCharacters}, // zero-width space
		{"ab😀", "", ErrUsernameCharacters},
		{"\u0301ab", "", ErrUsernameCharacters}, // combining mark with no letter
		{"١٢٣", "", ErrUsernameCharacters},      // only ASCII digits
		{"\xff\xfe", "", ErrUsernameCharacters},
		{"аdmin", "", ErrUsernameMixedScripts},  // Cyrillic а, Latin dmin
		{"pаypal", "", ErrUsernameMixedScripts}, // Cyrillic а inside
		{"ivan-иван", "ivan-иван", nil},         // one script per part
		{"ivan.иван_ΣΑΣ", "ivan.иван_σασ", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, err := NormaliseUsername(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalidUsername) {
					t.Fatalf("NormaliseUsername = %q, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormaliseUsername = %q, %v; want %q", got, err, tt.want)
			}
			// Normalising is idempotent, or look-ups would miss.
			if again, err := NormaliseUsername(got); err != nil || again != got {
				t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		pw, user string
		ok       bool
	}{
		{"correct horse battery", "alice", true},
		{"twelve chars", "alice", true},
		{"eleven char", "alice", false},
		{"щщщщщщщщщщщщ", "alice", true}, // 12 runes, 24 bytes
		{"щщщщщщщщщщщ", "alice", false},
		{"", "alice", false},
		{"alice.smith-1", "alice.smith-1", false},
		{"ALICE.SMITH-1", "alice.smith-1", false},
		{"  alice.smith-1 ", "Alice.Smith-1", false},
		{"ａｌｉｃｅ.smith-1", "alice.smith-1", false},
		{strings.Repeat("x", maxPasswordBytes), "alice", true},
		{strings.Repeat("x", maxPasswordBytes+1), "alice", false},
	}
	for _, tt := range tests {
		err := CheckPassword(tt.pw, tt.user, 12)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPassword(%.20q, %q) = %v, want ok=%v", tt.pw, tt.user, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrWeakPassword) {
			t.Errorf("CheckPassword(%.20q) = %v, not ErrWeakPassword", tt.pw, err)
		}
	}
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=8192,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("correct horse battery", keys.TestKDF)
	if err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(h) {
		t.Fatalf("hash %q is not PHC argon2id", h)
	}
	if !verifyPassword(h, "correct horse battery") {
		t.Fatal("right password refused")
	}
	for _, wrong := range []string{"", "correct horse batter", "correct horse battery ", "Correct horse battery"} {
		if verifyPassword(h, wrong) {
			t.Fatalf("wrong password %q accepted", wrong)
		}
	}
	h2, _ := hashPassword("correct horse battery", keys.TestKDF)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	// NFC: "й" composed and decomposed are one password.
	hn, _ := hashPassword("пароль-й-длинный", keys.TestKDF)
	if !verifyPassword(hn, "пароль-и\u0306-длинный") {
		t.Fatal("decomposed form of the same password refused")
	}
}

// TestPasswordHashInterop checks against the argon2 reference
// implementation: `echo -n 'correct horse battery staple' | argon2
// corridor-salt-16 -id -t 2 -m 13 -p 1 -l 32 -e`.
func TestPasswordHashInterop(t *testing.T) {
	const ref = "$argon2id$v=19$m=8192,t=2,p=1$Y29ycmlkb3Itc2FsdC0xNg$KOz+AOpOV0MF+T8Boetl4kZMEVKdarTC5VwrscZcuTs"
	if !verifyPassword(ref, "correct horse battery staple") {
		t.Fatal("reference hash refused")
	}
	if verifyPassword(ref, "correct horse battery stapl") {
		t.Fatal("reference hash accepted a wrong password")
	}
	if !needsRehash(ref, keys.TestKDF) {
		t.Fatal("hash with other parameters does not need a rehash")
	}
	own, _ := hashPassword("x", keys.TestKDF)
	if needsRehash(own, keys.TestKDF) {
		t.Fatal("current hash needs a rehash")
	}
}

func TestParsePHCRejects(t *testing.T) {
	const salt, hash = "Y29ycmlkb3Itc2FsdC0xNg", "KOz+AOpOV0MF+T8Boetl4kZMEVKdarTC5VwrscZcuTs"
	for _, s := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=8192,t=2,p=1$" + salt + "$" + hash,
		"$argon2d$v=19$m=8192,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=16$m=8192,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$m=8192,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$t=2,m=8192,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=2$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=2,p=1,x=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=08192,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + hash,
		"$argon2id$v=19$m=1024,t=2,p=1$" + salt + "$" + hash,       // too weak
		"$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + hash, // 4 TiB
		"$argon2id$v=19$m=8192,t=100000,p=1$" + salt + "$" + hash,  // hours
		"$argon2id$v=19$m=8192,t=2,p=0$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=2,p=256$" + salt + "$" + hash,
		"$argon2id$v=19$m=8192,t=2,p=1$" + salt + "=$" + hash, // padded
		"$argon2id$v=19$m=8192,t=2,p=1$" + salt + "$" + hash + "$",
		"$argon2id$v=19$m=8192,t=2,p=1$$" + hash,
		"$argon2id$v=19$m=8192,t=2,p=1$" + salt + "$",
		"$argon2id$v=19$m=8192,t=2,p=1$" + salt + "$" + hash[:10],
		"$argon2id$v=19$m=8192,t=2,p=1$" + salt + "$" + strings.Repeat("A", 200),
		"$argon2id$v=19$m=8192,t=2,p=1$" + salt + "$" + strings.ReplaceAll(hash, "+", "-"),
	} {
		if _, err := parsePHC(s); err == nil {
			t.Errorf("parsePHC(%q) accepted", s)
		}
		if verifyPassword(s, "correct horse battery staple") {
			t.Errorf("verifyPassword(%q) accepted", s)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 500 {
		p := generatePassword(generatedPasswordLen)
		if len(p) != generatedPasswordLen {
			t.Fatalf("length %d", len(p))
		}
		if seen[p] {
			t.Fatal("repeated password")
		}
		seen[p] = true
		for _, r := range p {
			if !strings.ContainsRune(passwordAlphabet, r) {
				t.Fatalf("character %q not in the alphabet", r)
			}
			counts[r]++
		}
		if err := CheckPassword(p, "alice", 12); err != nil {
			t.Fatalf("generated password refused by the policy: %v", err)
		}
	}
	// 10,000 draws over 54 characters: each about 185 times. A character
	// never drawn would mean a broken mapping, not bad luck.
	for _, r := range passwordAlphabet {
		if counts[r] == 0 {
			t.Errorf("character %q never generated", r)
		}
	}
	for _, r := range "0O1Il" {
		if strings.ContainsRune(passwordAlphabet, r) {
			t.Errorf("ambiguous %q in the alphabet", r)
		}
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 0}, {1, 0}, {4, 0},
		{5, time.Minute}, {6, 2 * time.Minute}, {7, 4 * time.Minute},
		{10, 32 * time.Minute}, {11, time.Hour}, {12, time.Hour},
		{1000, time.Hour}, {1 << 40, time.Hour},
	}
	for _, tt := range tests {
		if got := backoff(tt.n, 5, time.Minute, time.Hour); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	d := DefaultConfig()
	if d.SessionIdle != 30*time.Minute || d.SessionMax != 12*time.Hour || d.MaxFailures != 5 ||
		d.LockoutBase != time.Minute || d.LockoutMax != time.Hour || d.TOTPIssuer != "Corridor" ||
		d.MinPasswordLen != 12 {
		t.Fatalf("DefaultConfig = %+v", d)
	}
	if err := d.PasswordKDF.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := (Config{}).withDefaults(); got != d {
		t.Fatalf("zero Config with defaults = %+v, want %+v", got, d)
	}
	c := Config{SessionIdle: time.Minute, PasswordKDF: keys.TestKDF}.withDefaults()
	if c.SessionIdle != time.Minute || c.PasswordKDF != keys.TestKDF || c.SessionMax != d.SessionMax {
		t.Fatalf("partial Config = %+v", c)
	}
}

func TestNewPanicsOnBadKDF(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted argon2id parameters Validate refuses")
		}
	}()
	New(nil, nil, nil, Config{PasswordKDF: keys.KDFParams{Time: 1, MemoryKiB: 16, Threads: 1}}, nil)
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewTOTPSecret(t *testing.T) {
	secret, uri, err := NewTOTPSecret("canary-щука")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := decodeTOTPSecret(secret)
	if err != nil || len(raw) != 20 {
		t.Fatalf("secret %q: %d bytes, %v", secret, len(raw), err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("secret") != secret || q.Get("issuer") != "Corridor" ||
		q.Get("period") != "30" || q.Get("digits") != "6" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("uri %q", uri)
	}
	if u.Path != "/Corridor:canary-щука" {
		t.Fatalf("label %q", u.Path)
	}
	s2, _, _ := NewTOTPSecret("x")
	if s2 == secret {
		t.Fatal("two secrets are equal")
	}
}

func TestValidTOTP(t *testing.T) {
	secret, _, err := NewTOTPSecret("alice")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	tests := []struct {
		name string
		code string
		ok   bool
	}{
		{"current", totpCode(t, secret, now), true},
		{"previous step", totpCode(t, secret, now.Add(-30*time.Second)), true},
		{"next step", totpCode(t, secret, now.Add(30*time.Second)), true},
		{"with a space", func() string { c := totpCode(t, secret, now); return c[:3] + " " + c[3:] }(), true},
		{"two steps back", totpCode(t, secret, now.Add(-60*time.Second)), false},
		{"two steps ahead", totpCode(t, secret, now.Add(60*time.Second)), false},
		{"empty", "", false},
		{"five digits", totpCode(t, secret, now)[:5], false},
		{"seven digits", totpCode(t, secret, now) + "0", false},
		{"letters", "abcdef", false},
		{"non-ASCII digits", "١٢٣٤٥٦", false},
	}
	for _, tt := range tests {
		if tt.name == "two steps back" || tt.name == "two steps ahead" {
			// A code of another step may collide with one in the window.
			if tt.code == totpCode(t, secret, now) || tt.code == totpCode(t, secret, now.Add(-30*time.Second)) || tt.code == totpCode(t, secret, now.Add(30*time.Second)) {
				continue
			}
		}
		if got := ValidTOTP(secret, tt.code, now); got != tt.ok {
			t.Errorf("%s: ValidTOTP(%q) = %v", tt.name, tt.code, got)
		}
	}
	if ValidTOTP("not base32!", "123456", now) || ValidTOTP("AAAA", "123456", now) {
		t.Error("ValidTOTP accepted an invalid secret")
	}
	// Lower case and spaces, as some apps show secrets, are the same secret.
	spaced := strings.ToLower(secret[:4] + " " + secret[4:])
	if !ValidTOTP(spaced, totpCode(t, secret, now), now) {
		t.Error("secret with spaces and lower case refused")
	}
}

func TestMatchStep(t *testing.T) {
	secret, _, _ := NewTOTPSecret("alice")
	now := time.Date(2026, 3, 1, 12, 0, 5, 0, time.UTC)
	cur := now.Unix() / 30
	for _, d := range []int64{-1, 0, 1} {
		step, ok := matchStep(secret, totpCode(t, secret, time.Unix((cur+d)*30, 0)), now)
		if !ok || step != cur+d {
			t.Errorf("offset %d: step %d, %v; want %d", d, step, ok, cur+d)
		}
	}
}

func TestDecodeTOTPSecret(t *testing.T) {
	for _, s := range []string{"", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAA", "not base32 at all!!!!!!!!!!!!!!!", "1111111111111111111111111111111111"} {
		if _, err := decodeTOTPSecret(s); !errors.Is(err, ErrInvalidTOTPSecret) {
			t.Errorf("decodeTOTPSecret(%q) = %v", s, err)
		}
	}
	if _, err := decodeTOTPSecret(strings.Repeat("A", 26)); err != nil { // 16 bytes
		t.Errorf("128-bit secret refused: %v", err)
	}
}

func TestQRCodePNG(t *testing.T) {
	_, uri, err := NewTOTPSecret("canary-щука")
	if err != nil {
		t.Fatal(err)
	}
	b, err := QRCodePNG(uri)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("not a PNG")
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != qrSize || r.Dy() != qrSize {
		t.Fatalf("size %v", r)
	}
	for _, bad := range []string{"", "https://example.org/", "otpauth://hotp/x?secret=AAAA", "::", "otpauth://totp/" + strings.Repeat("x", 5000)} {
		if _, err := QRCodePNG(bad); err == nil {
			t.Errorf("QRCodePNG(%.40q) succeeded", bad)
		}
	}
}

func TestTracker(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tr := newTracker(3, func(n int) time.Duration { return backoff(n, 2, time.Minute, time.Hour) })
	tr.fail("a", now)
	if _, locked := tr.locked("a", now); locked {
		t.Fatal("locked after one failure")
	}
	tr.fail("a", now)
	until, locked := tr.locked("a", now)
	if !locked || !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("after two failures: %v %v", until, locked)
	}
	if _, locked := tr.locked("a", now.Add(time.Minute)); locked {
		t.Fatal("still locked after the back-off")
	}
	tr.fail("a", now.Add(time.Minute))
	if until, _ := tr.locked("a", now.Add(time.Minute)); !until.Equal(now.Add(3 * time.Minute)) {
		t.Fatalf("back-off did not double: %v", until)
	}
	tr.reset("a")
	if _, locked := tr.locked("a", now.Add(time.Minute)); locked {
		t.Fatal("reset did not clear")
	}
	// Bounded: the least recently seen entry goes.
	for i, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
		tr.fail(k, now.Add(time.Duration(i)*time.Second))
		if tr.len() > 3 {
			t.Fatalf("tracker holds %d entries, limit 3", tr.len())
		}
	}
	tr.mu.Lock()
	_, k1 := tr.m["k1"]
	_, k5 := tr.m["k5"]
	tr.mu.Unlock()
	if k1 || !k5 {
		t.Fatalf("eviction kept k1=%v k5=%v", k1, k5)
	}
}
