package keys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/sqlite"
)

// memMeta is an in-memory keys.MetaStore. It copies values in and out so a
// test cannot pass by aliasing the vault's own slices.
type memMeta struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemMeta() *memMeta { return &memMeta{m: map[string][]byte{}} }

func (s *memMeta) GetMeta(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (s *memMeta) SetMeta(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = bytes.Clone(value)
	return nil
}

func (s *memMeta) CreateMeta(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; ok {
		return store.ErrConflict
	}
	s.m[key] = bytes.Clone(value)
	return nil
}

func (s *memMeta) snapshot() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range s.m {
		out[k] = bytes.Clone(v)
	}
	return out
}

// clock is an injectable, race-safe clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var purposes = []string{keys.PurposeWrap, keys.PurposeBlindIndex, keys.PurposeStaff, keys.PurposeSession}

// newVault returns an initialised, unsealed vault over meta.
func newVault(t *testing.T, meta keys.MetaStore, pass string, now func() time.Time) *keys.Vault {
	t.Helper()
	ctx := context.Background()
	v, err := keys.Open(ctx, meta, now)
	if err != nil {
		t.Fatal(err)
	}
	if v.Initialised() {
		t.Fatal("Initialised() = true before Initialise")
	}
	if err := v.Initialise(ctx, meta, []byte(pass), keys.TestKDF, keys.TestKDF); err != nil {
		t.Fatal(err)
	}
	return v
}

func subkeys(t *testing.T, v *keys.Vault) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range purposes {
		k, err := v.Key(p)
		if err != nil {
			t.Fatalf("Key(%s): %v", p, err)
		}
		if len(k) != keys.KeySize {
			t.Fatalf("Key(%s) has %d bytes", p, len(k))
		}
		out[p] = k
	}
	return out
}

func sameKeys(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	key := keys.NewKey()
	tests := []struct {
		name      string
		plaintext []byte
		ad        []string
	}{
		{"empty plaintext", []byte{}, []string{"request", "r1", "answers"}},
		{"short", []byte("hello"), []string{"request", "r1", "answers"}},
		{"unicode", []byte("Помогите, пожалуйста"), []string{"message", "m-9", "body"}},
		{"large", bytes.Repeat([]byte{0xA5}, 1<<20), []string{"blob"}},
		{"no ad", []byte("x"), nil},
		{"empty ad parts", []byte("x"), []string{"", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := keys.Encrypt(key, tt.plaintext, tt.ad...)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.plaintext) >= 5 && bytes.Contains(ct, tt.plaintext) {
				t.Fatal("ciphertext contains the plaintext")
			}
			pt, err := keys.Decrypt(key, ct, tt.ad...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pt, tt.plaintext) {
				t.Fatal("round trip changed the plaintext")
			}
		})
	}
}

func TestEncryptUsesFreshNonces(t *testing.T) {
	key := keys.NewKey()
	a, err := keys.Encrypt(key, []byte("same"), "x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.Encrypt(key, []byte("same"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of the same plaintext are identical")
	}
}

func TestDecryptFails(t *testing.T) {
	key := keys.NewKey()
	ad := []string{"request", "r1", "answers"}
	ct, err := keys.Encrypt(key, []byte("safe house is at …"), ad...)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		return c
	}
	// Overhead: 1 version byte, 24 nonce bytes, 16 tag bytes.
	const overhead = 1 + 24 + 16

	tests := []struct {
		name string
		key  []byte
		ct   []byte
		ad   []string
	}{
		{"other record id", key, ct, []string{"request", "r2", "answers"}},
		{"other field", key, ct, []string{"request", "r1", "notes"}},
		{"other record kind", key, ct, []string{"message", "r1", "answers"}},
		{"parts shifted", key, ct, []string{"request", "r1answers"}},
		{"part boundary moved", key, ct, []string{"reques", "tr1", "answers"}},
		{"extra part", key, ct, []string{"request", "r1", "answers", ""}},
		{"missing part", key, ct, []string{"request", "r1"}},
		{"no ad", key, ct, nil},
		{"wrong key", keys.NewKey(), ct, ad},
		{"version byte altered", key, flip(0), ad},
		{"nonce altered", key, flip(5), ad},
		{"ciphertext altered", key, flip(overhead - 16 + 3), ad},
		{"tag altered", key, flip(len(ct) - 1), ad},
		{"truncated by one", key, ct[:len(ct)-1], ad},
		{"truncated to overhead", key, ct[:overhead], ad},
		{"truncated below overhead", key, ct[:overhead-1], ad},
		{"only version", key, ct[:1], ad},
		{"empty", key, []byte{}, ad},
		{"nil", key, nil, ad},
		{"appended byte", key, append(bytes.Clone(ct), 0), ad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := keys.Decrypt(tt.key, tt.ct, tt.ad...)
			if !errors.Is(err, keys.ErrDecrypt) {
				t.Fatalf("Decrypt = %q, %v; want ErrDecrypt", pt, err)
			}
			if pt != nil {
				t.Fatal("Decrypt returned plaintext along with an error")
			}
		})
	}

	// Every single-bit flip anywhere must be caught.
	for i := range ct {
		for bit := range 8 {
			c := bytes.Clone(ct)
			c[i] ^= 1 << bit
			if _, err := keys.Decrypt(key, c, ad...); !errors.Is(err, keys.ErrDecrypt) {
				t.Fatalf("flip of byte %d bit %d not detected: %v", i, bit, err)
			}
		}
	}
}

func TestEncryptBadKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := keys.Encrypt(make([]byte, n), []byte("x")); err == nil {
			t.Errorf("Encrypt with a %d-byte key succeeded", n)
		}
		if _, err := keys.Decrypt(make([]byte, n), make([]byte, 64)); err == nil {
			t.Errorf("Decrypt with a %d-byte key succeeded", n)
		}
	}
}

func TestSubkey(t *testing.T) {
	parent := keys.NewKey()
	seen := map[string]string{}
	for _, p := range purposes {
		a, b := keys.Subkey(parent, p), keys.Subkey(parent, p)
		if !bytes.Equal(a, b) {
			t.Fatalf("Subkey(%s) is not deterministic", p)
		}
		if len(a) != keys.KeySize {
			t.Fatalf("Subkey(%s) has %d bytes", p, len(a))
		}
		if bytes.Equal(a, parent) {
			t.Fatalf("Subkey(%s) equals its parent", p)
		}
		if other, dup := seen[string(a)]; dup {
			t.Fatalf("Subkey(%s) == Subkey(%s)", p, other)
		}
		seen[string(a)] = p
		if bytes.Equal(a, keys.Subkey(keys.NewKey(), p)) {
			t.Fatalf("Subkey(%s) does not depend on the parent", p)
		}
	}
}

func TestBlindIndex(t *testing.T) {
	key := keys.NewKey()
	base := keys.BlindIndex(key, "username", "alice")
	if len(base) != 32 {
		t.Fatalf("index has %d bytes, want 32", len(base))
	}
	if !bytes.Equal(base, keys.BlindIndex(key, "username", "alice")) {
		t.Fatal("BlindIndex is not deterministic")
	}
	if bytes.Contains(base, []byte("alice")) {
		t.Fatal("index contains the value")
	}
	differ := []struct {
		name                  string
		key                   []byte
		domain, normalised    string
		wantDifferentFromBase bool
	}{
		{"other domain", key, "phone", "alice", true},
		{"other value", key, "username", "alicf", true},
		{"other key", keys.NewKey(), "username", "alice", true},
		{"domain/value boundary moved", key, "usernamea", "lice", true},
		{"domain/value boundary moved back", key, "usernam", "ealice", true},
		{"empty domain", key, "", "alice", true},
		{"same", key, "username", "alice", false},
	}
	for _, tt := range differ {
		t.Run(tt.name, func(t *testing.T) {
			got := keys.BlindIndex(tt.key, tt.domain, tt.normalised)
			if bytes.Equal(got, base) == tt.wantDifferentFromBase {
				t.Fatalf("equal to base = %v, want %v", !tt.wantDifferentFromBase, !tt.wantDifferentFromBase)
			}
		})
	}
	// Domain separation from MAC, which shares the encoding: a blind index
	// must not be a valid MAC over the same strings, or the other way round.
	if bytes.Equal(base, keys.MAC(key, "username", "alice")) {
		t.Fatal("BlindIndex collides with MAC over the same parts")
	}
}

func TestMAC(t *testing.T) {
	key := keys.NewKey()
	a := keys.MAC(key, "csrf", "abc")
	if !bytes.Equal(a, keys.MAC(key, "csrf", "abc")) {
		t.Fatal("MAC is not deterministic")
	}
	for _, parts := range [][]string{{"csrf", "abd"}, {"csrfa", "bc"}, {"csrf", "ab", "c"}, {"device", "abc"}, {"csrfabc"}} {
		if bytes.Equal(a, keys.MAC(key, parts...)) {
			t.Fatalf("MAC(csrf, abc) == MAC(%q)", parts)
		}
	}
	if bytes.Equal(a, keys.MAC(keys.NewKey(), "csrf", "abc")) {
		t.Fatal("MAC does not depend on the key")
	}
}

func TestDerivePerson(t *testing.T) {
	salt := []byte("0123456789abcdef")
	a := keys.DerivePerson("4471-2290-1185", salt, keys.TestKDF)
	b := keys.DerivePerson("4471-2290-1185", salt, keys.TestKDF)
	if !bytes.Equal(a.LookupID, b.LookupID) || !bytes.Equal(a.Key, b.Key) {
		t.Fatal("DerivePerson is not deterministic")
	}
	if len(a.LookupID) != keys.KeySize || len(a.Key) != keys.KeySize {
		t.Fatalf("sizes %d, %d", len(a.LookupID), len(a.Key))
	}
	if bytes.Equal(a.LookupID, a.Key) {
		t.Fatal("the lookup id equals the key: the stored lookup id would reveal the key")
	}
	tests := []struct {
		name    string
		receipt string
		salt    []byte
		p       keys.KDFParams
	}{
		{"other salt", "4471-2290-1185", []byte("0123456789abcdeg"), keys.TestKDF},
		{"no salt", "4471-2290-1185", nil, keys.TestKDF},
		{"other receipt", "4471-2290-1186", salt, keys.TestKDF},
		{"other parameters", "4471-2290-1185", salt, keys.KDFParams{Time: 2, MemoryKiB: 8 * 1024, Threads: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := keys.DerivePerson(tt.receipt, tt.salt, tt.p)
			if bytes.Equal(c.LookupID, a.LookupID) || bytes.Equal(c.Key, a.Key) {
				t.Fatal("derived the same keys")
			}
		})
	}
}

func TestKDFParamsValidate(t *testing.T) {
	tests := []struct {
		p  keys.KDFParams
		ok bool
	}{
		{keys.RootKDF, true},
		{keys.ReceiptKDF, true},
		{keys.TestKDF, true},
		{keys.KDFParams{}, false},
		{keys.KDFParams{Time: 0, MemoryKiB: 8 * 1024, Threads: 1}, false},
		{keys.KDFParams{Time: 1, MemoryKiB: 8*1024 - 1, Threads: 1}, false},
		{keys.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 0}, false},
		{keys.KDFParams{Time: 1, MemoryKiB: 4*1024*1024 + 1, Threads: 1}, false},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func TestVaultLifecycle(t *testing.T) {
	ctx := context.Background()
	meta := newMemMeta()
	v := newVault(t, meta, "correct horse", nil)
	if !v.Initialised() || v.Sealed() {
		t.Fatalf("after Initialise: Initialised=%v Sealed=%v", v.Initialised(), v.Sealed())
	}
	before := subkeys(t, v)
	rcpt, err := v.IntakeRecipient()
	if err != nil {
		t.Fatal(err)
	}
	person, err := v.Person("4471-2290-1185")
	if err != nil {
		t.Fatal(err)
	}

	v.Seal()
	if !v.Sealed() {
		t.Fatal("Sealed() = false after Seal")
	}
	for _, p := range purposes {
		if _, err := v.Key(p); !errors.Is(err, keys.ErrSealed) {
			t.Errorf("Key(%s) while sealed = %v, want ErrSealed", p, err)
		}
	}
	if _, err := v.Key("corridor/v1/unknown"); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("Key(unknown) while sealed = %v, want ErrSealed", err)
	}
	if _, err := v.WrapDataKey("r1", keys.NewKey()); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("WrapDataKey while sealed = %v, want ErrSealed", err)
	}
	// The public parts keep working while sealed: intake goes on.
	rcpt2, err := v.IntakeRecipient()
	if err != nil {
		t.Fatalf("IntakeRecipient while sealed: %v", err)
	}
	if rcpt2.(*age.X25519Recipient).String() != rcpt.(*age.X25519Recipient).String() {
		t.Fatal("intake recipient changed on Seal")
	}
	person2, err := v.Person("4471-2290-1185")
	if err != nil {
		t.Fatalf("Person while sealed: %v", err)
	}
	if !bytes.Equal(person.LookupID, person2.LookupID) || !bytes.Equal(person.Key, person2.Key) {
		t.Fatal("Person changed on Seal")
	}

	if err := v.Unseal(ctx, []byte("wrong horse")); !errors.Is(err, keys.ErrWrongPassphrase) {
		t.Fatalf("Unseal(wrong) = %v, want ErrWrongPassphrase", err)
	}
	if !v.Sealed() {
		t.Fatal("a wrong passphrase unsealed the vault")
	}
	if err := v.Unseal(ctx, []byte("")); !errors.Is(err, keys.ErrWrongPassphrase) {
		t.Fatalf("Unseal(empty) = %v, want ErrWrongPassphrase", err)
	}
	if err := v.Unseal(ctx, []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	if v.Sealed() {
		t.Fatal("Sealed() = true after Unseal")
	}
	if !sameKeys(before, subkeys(t, v)) {
		t.Fatal("subkeys differ after Seal/Unseal")
	}
	if _, err := v.Key("corridor/v1/unknown"); err == nil || errors.Is(err, keys.ErrSealed) {
		t.Fatalf("Key(unknown) while unsealed = %v, want an unknown-purpose error", err)
	}

	// A second process opening the same store sees the same installation.
	w, err := keys.Open(ctx, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Initialised() || !w.Sealed() {
		t.Fatalf("reopened: Initialised=%v Sealed=%v", w.Initialised(), w.Sealed())
	}
	person3, err := w.Person("4471-2290-1185")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(person.LookupID, person3.LookupID) {
		t.Fatal("person keys differ between processes")
	}
	if err := w.Unseal(ctx, []byte("correct horse")); err != nil {
		t.Fatal(err)
	}
	if !sameKeys(before, subkeys(t, w)) {
		t.Fatal("subkeys differ in a reopened vault")
	}
}

func TestVaultNotInitialised(t *testing.T) {
	ctx := context.Background()
	v, err := keys.Open(ctx, newMemMeta(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Initialised() || !v.Sealed() {
		t.Fatalf("Initialised=%v Sealed=%v", v.Initialised(), v.Sealed())
	}
	if err := v.Unseal(ctx, []byte("x")); !errors.Is(err, keys.ErrNotInitialised) {
		t.Errorf("Unseal = %v", err)
	}
	if _, err := v.IntakeRecipient(); !errors.Is(err, keys.ErrNotInitialised) {
		t.Errorf("IntakeRecipient = %v", err)
	}
	if _, err := v.Person("x"); !errors.Is(err, keys.ErrNotInitialised) {
		t.Errorf("Person = %v", err)
	}
	if _, err := v.Key(keys.PurposeStaff); !errors.Is(err, keys.ErrSealed) {
		t.Errorf("Key = %v", err)
	}
}

func TestInitialiseRejectsWeakParameters(t *testing.T) {
	ctx := context.Background()
	meta := newMemMeta()
	v, err := keys.Open(ctx, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	weak := keys.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	if err := v.Initialise(ctx, meta, []byte("p"), weak, keys.TestKDF); err == nil {
		t.Error("weak root KDF accepted")
	}
	if err := v.Initialise(ctx, meta, []byte("p"), keys.TestKDF, weak); err == nil {
		t.Error("weak receipt KDF accepted")
	}
	if len(meta.snapshot()) != 0 {
		t.Error("a refused Initialise wrote to the store")
	}
}

func TestInitialiseTwice(t *testing.T) {
	ctx := context.Background()
	meta := newMemMeta()
	v := newVault(t, meta, "first", nil)
	want := subkeys(t, v)
	stored := meta.snapshot()

	if err := v.Initialise(ctx, meta, []byte("second"), keys.TestKDF, keys.TestKDF); !errors.Is(err, keys.ErrAlreadyInitialised) {
		t.Fatalf("second Initialise on the same vault = %v, want ErrAlreadyInitialised", err)
	}
	// Another process that had not seen the first initialisation.
	w, err := keys.Open(ctx, newMemMeta(), nil) // opened before, on an empty view…
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Initialise(ctx, meta, []byte("second"), keys.TestKDF, keys.TestKDF); !errors.Is(err, keys.ErrAlreadyInitialised) {
		t.Fatalf("Initialise over an initialised store = %v, want ErrAlreadyInitialised", err)
	}
	if !maps.EqualFunc(stored, meta.snapshot(), bytes.Equal) {
		t.Fatal("a refused Initialise changed stored values")
	}
	if v.Sealed() || !sameKeys(want, subkeys(t, v)) {
		t.Fatal("a refused Initialise changed the vault's keys")
	}
	v.Seal()
	if err := v.Unseal(ctx, []byte("second")); !errors.Is(err, keys.ErrWrongPassphrase) {
		t.Fatalf("the second passphrase unseals: %v", err)
	}
	if err := v.Unseal(ctx, []byte("first")); err != nil {
		t.Fatal(err)
	}
}

func TestChangePassphrase(t *testing.T) {
	ctx := context.Background()
	meta := newMemMeta()
	v := newVault(t, meta, "old passphrase", nil)
	before := subkeys(t, v)
	staffKey, err := v.Key(keys.PurposeStaff)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := keys.Encrypt(staffKey, []byte("encrypted before the change"), "user", "1", "username")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := v.WrapDataKey("r1", bytes.Repeat([]byte{7}, keys.KeySize))
	if err != nil {
		t.Fatal(err)
	}

	if err := v.ChangePassphrase(ctx, []byte("not the old one"), []byte("new passphrase"), keys.TestKDF); !errors.Is(err, keys.ErrWrongPassphrase) {
		t.Fatalf("ChangePassphrase with a wrong old passphrase = %v", err)
	}
	if err := v.ChangePassphrase(ctx, []byte("old passphrase"), []byte("new passphrase"), keys.KDFParams{}); err == nil {
		t.Fatal("ChangePassphrase accepted invalid KDF parameters")
	}
	if err := v.ChangePassphrase(ctx, []byte("old passphrase"), []byte("new passphrase"), keys.TestKDF); err != nil {
		t.Fatal(err)
	}

	v.Seal()
	if err := v.Unseal(ctx, []byte("old passphrase")); !errors.Is(err, keys.ErrWrongPassphrase) {
		t.Fatalf("old passphrase after change: %v", err)
	}
	if err := v.Unseal(ctx, []byte("new passphrase")); err != nil {
		t.Fatalf("new passphrase: %v", err)
	}
	if !sameKeys(before, subkeys(t, v)) {
		t.Fatal("subkeys changed with the passphrase")
	}
	k, _ := v.Key(keys.PurposeStaff)
	pt, err := keys.Decrypt(k, ct, "user", "1", "username")
	if err != nil || string(pt) != "encrypted before the change" {
		t.Fatalf("data from before the change: %q, %v", pt, err)
	}
	dk, err := v.UnwrapDataKey("r1", wrapped)
	if err != nil || !bytes.Equal(dk, bytes.Repeat([]byte{7}, keys.KeySize)) {
		t.Fatalf("data key from before the change: %v", err)
	}

	// Changing the passphrase works while sealed too (it needs only the
	// old passphrase), and leaves the vault sealed.
	v.Seal()
	if err := v.ChangePassphrase(ctx, []byte("new passphrase"), []byte("third"), keys.TestKDF); err != nil {
		t.Fatal(err)
	}
	if !v.Sealed() {
		t.Fatal("ChangePassphrase unsealed the vault")
	}
	if err := v.Unseal(ctx, []byte("third")); err != nil {
		t.Fatal(err)
	}
}

func TestSealIfIdle(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	v := newVault(t, newMemMeta(), "pass", clk.Now)
	const idle = 15 * time.Minute

	if v.SealIfIdle(idle) {
		t.Fatal("sealed at once")
	}
	clk.Advance(idle - time.Second)
	if v.SealIfIdle(idle) {
		t.Fatal("sealed before idle elapsed")
	}
	v.Touch()
	clk.Advance(idle - time.Second)
	if v.SealIfIdle(idle) {
		t.Fatal("Touch did not postpone sealing")
	}
	if v.SealIfIdle(0) || v.SealIfIdle(-time.Minute) {
		t.Fatal("a non-positive idle time sealed the vault")
	}
	clk.Advance(time.Second)
	if !v.SealIfIdle(idle) {
		t.Fatal("not sealed after idle elapsed")
	}
	if !v.Sealed() {
		t.Fatal("SealIfIdle reported sealing but the vault is unsealed")
	}
	if _, err := v.Key(keys.PurposeStaff); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("Key after auto-seal = %v", err)
	}
	if v.SealIfIdle(idle) {
		t.Fatal("SealIfIdle reported sealing an already sealed vault")
	}
	// Unsealing counts as activity: the idle clock starts again.
	clk.Advance(24 * time.Hour)
	if err := v.Unseal(ctx, []byte("pass")); err != nil {
		t.Fatal(err)
	}
	if v.SealIfIdle(idle) {
		t.Fatal("sealed right after Unseal")
	}
}

func TestOpenIntakeKey(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, newMemMeta(), "pass", nil)
	rcpt, err := v.IntakeRecipient()
	if err != nil {
		t.Fatal(err)
	}
	dk := keys.NewKey()
	sealed, err := keys.SealToRecipients(dk, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.OpenIntakeKey("r1", sealed)
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("OpenIntakeKey = %x, %v", got, err)
	}
	// A caller wiping its copy must not corrupt the vault's cache.
	keys.Wipe(got)
	again, err := v.OpenIntakeKey("r1", sealed)
	if err != nil || !bytes.Equal(again, dk) {
		t.Fatalf("after the caller wiped its copy: %x, %v", again, err)
	}

	v.Seal()
	if _, err := v.OpenIntakeKey("r1", sealed); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("OpenIntakeKey while sealed (cached before) = %v, want ErrSealed", err)
	}
	// Intake keeps sealing to the recipient while the server is sealed…
	rcpt, err = v.IntakeRecipient()
	if err != nil {
		t.Fatal(err)
	}
	dk2 := keys.NewKey()
	sealed2, err := keys.SealToRecipients(dk2, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenIntakeKey("r2", sealed2); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("OpenIntakeKey while sealed = %v, want ErrSealed", err)
	}
	// …and staff read it once unsealed.
	if err := v.Unseal(ctx, []byte("pass")); err != nil {
		t.Fatal(err)
	}
	if got, err := v.OpenIntakeKey("r2", sealed2); err != nil || !bytes.Equal(got, dk2) {
		t.Fatalf("after Unseal: %x, %v", got, err)
	}

	// Sealed to someone else, altered, or the wrong size: ErrDecrypt.
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := keys.SealToRecipients(dk, other.Recipient())
	altered := bytes.Clone(sealed)
	altered[len(altered)-1] ^= 1
	short, _ := keys.SealToRecipients(dk[:16], rcpt)
	long, _ := keys.SealToRecipients(append(bytes.Clone(dk), 0), rcpt)
	for name, ct := range map[string][]byte{"foreign": foreign, "altered": altered, "short": short, "long": long, "garbage": []byte("garbage")} {
		if _, err := v.OpenIntakeKey("x-"+name, ct); !errors.Is(err, keys.ErrDecrypt) {
			t.Errorf("%s: %v, want ErrDecrypt", name, err)
		}
	}

	// ForgetDataKey drops the cache: a shredded record's key is gone.
	v.ForgetDataKey("r2")
	if _, err := v.OpenIntakeKey("r2", foreign); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("after ForgetDataKey the cached key was still served: %v", err)
	}
}

func TestWrapDataKey(t *testing.T) {
	v := newVault(t, newMemMeta(), "pass", nil)
	dk := keys.NewKey()
	w, err := v.WrapDataKey("r1", dk)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(w, dk) {
		t.Fatal("wrapped key contains the key")
	}
	got, err := v.UnwrapDataKey("r1", w)
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("UnwrapDataKey = %x, %v", got, err)
	}
	if _, err := v.UnwrapDataKey("r2", w); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("unwrapped under another record id: %v", err)
	}
	v.Seal()
	if _, err := v.UnwrapDataKey("r1", w); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("UnwrapDataKey while sealed = %v", err)
	}
}

// TestKeyReturnsCopy guards against callers and Seal sharing key memory:
// a key handed out before Seal must stay intact (or a concurrent request
// would go on under an all-zero key), and a caller wiping its key must not
// wipe the vault's.
func TestKeyReturnsCopy(t *testing.T) {
	v := newVault(t, newMemMeta(), "pass", nil)
	k1, err := v.Key(keys.PurposeStaff)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(k1)
	keys.Wipe(k1)
	k2, _ := v.Key(keys.PurposeStaff)
	if !bytes.Equal(k2, want) {
		t.Fatal("wiping a returned key wiped the vault's")
	}
	v.Seal()
	if !bytes.Equal(k2, want) {
		t.Fatal("Seal wiped a key a caller was still using")
	}
}

func TestVaultConcurrentUse(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, newMemMeta(), "pass", nil)
	rcpt, _ := v.IntakeRecipient()
	sealed, err := keys.SealToRecipients(keys.NewKey(), rcpt)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := v.Key(keys.PurposeStaff)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if k, err := v.Key(keys.PurposeStaff); err == nil && !bytes.Equal(k, want) {
					t.Error("got a wrong or wiped key")
					return
				}
				_, _ = v.OpenIntakeKey("r1", sealed)
				_ = v.Sealed()
				v.Touch()
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			v.Seal()
			if err := v.Unseal(ctx, []byte("pass")); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
}

// TestCanary checks what a seized database would hold after Initialise:
// neither the passphrase nor the root key (nor anything derived from it)
// in any common encoding.
func TestCanary(t *testing.T) {
	const pass = "CANARY-pass-Щ"
	meta := newMemMeta()
	v := newVault(t, meta, pass, nil)
	stored := meta.snapshot()
	if len(stored) == 0 {
		t.Fatal("Initialise stored nothing")
	}
	root := recoverRoot(t, stored, pass)
	// Prove the recovered bytes are the vault's root, so the scan below
	// looks for the right thing.
	for p, k := range subkeys(t, v) {
		if !bytes.Equal(k, keys.Subkey(root, p)) {
			t.Fatalf("recovered root does not derive the vault's %s key", p)
		}
	}

	secrets := map[string][]byte{"passphrase": []byte(pass), "root key": root}
	for p, k := range subkeys(t, v) {
		secrets[p] = k
	}
	for name, s := range secrets {
		for _, enc := range encodings(s) {
			for k, val := range stored {
				if bytes.Contains(val, enc) || bytes.Contains(bytes.ToLower(val), bytes.ToLower(enc)) {
					t.Errorf("meta %q contains the %s (%q)", k, name, enc)
				}
			}
		}
	}
	for k, val := range stored {
		if bytes.Contains(bytes.ToUpper(val), []byte("AGE-SECRET-KEY-")) {
			t.Errorf("meta %q contains the intake identity in clear", k)
		}
		if bytes.Contains(val, []byte("CANARY")) {
			t.Errorf("meta %q contains part of the passphrase", k)
		}
	}
}

func encodings(b []byte) [][]byte {
	return [][]byte{
		b,
		[]byte(hex.EncodeToString(b)),
		[]byte(base64.StdEncoding.EncodeToString(b)),
		[]byte(base64.RawStdEncoding.EncodeToString(b)),
		[]byte(base64.URLEncoding.EncodeToString(b)),
		[]byte(base64.RawURLEncoding.EncodeToString(b)),
	}
}

// recoverRoot unwraps the stored root key the way an attacker holding the
// passphrase would, using only the documented format (JSON with the salt,
// argon2id parameters and the AEAD ciphertext under "root-key").
func recoverRoot(t *testing.T, stored map[string][]byte, pass string) []byte {
	t.Helper()
	var w struct {
		Version int            `json:"v"`
		Salt    []byte         `json:"salt"`
		Params  keys.KDFParams `json:"kdf"`
		CT      []byte         `json:"ct"`
	}
	raw, ok := stored["keys.root"]
	if !ok {
		t.Fatalf("no keys.root in %v", slices.Sorted(maps.Keys(stored)))
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	if w.Params != keys.TestKDF {
		t.Fatalf("stored KDF parameters %+v, want %+v", w.Params, keys.TestKDF)
	}
	root, err := keys.Decrypt(w.Params.Derive([]byte(pass), w.Salt, keys.KeySize), w.CT, "root-key")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), pass) {
		t.Fatal("wrapped root contains the passphrase")
	}
	return root
}

// TestVaultSQLite runs the vault over the real SQLite store: initialised
// in a transaction as first-run set-up does, reopened by a new process,
// a refused second initialisation, a rolled-back one, and a scan of the
// database files for the passphrase and the root key.
func TestVaultSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "corridor.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const pass = "CANARY-pass-Щ"

	// A set-up that fails after Initialise leaves nothing behind.
	v0, err := keys.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	errAbort := errors.New("abort")
	err = st.Tx(ctx, func(tx store.Store) error {
		if err := v0.Initialise(ctx, tx, []byte(pass), keys.TestKDF, keys.TestKDF); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	if _, err := st.GetMeta(ctx, "keys.root"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back Initialise left keys.root: %v", err)
	}

	v, err := keys.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Tx(ctx, func(tx store.Store) error {
		return v.Initialise(ctx, tx, []byte(pass), keys.TestKDF, keys.TestKDF)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := subkeys(t, v)
	rcpt, _ := v.IntakeRecipient()
	dk := keys.NewKey()
	sealed, err := keys.SealToRecipients(dk, rcpt)
	if err != nil {
		t.Fatal(err)
	}

	err = st.Tx(ctx, func(tx store.Store) error {
		return v.Initialise(ctx, tx, []byte("other"), keys.TestKDF, keys.TestKDF)
	})
	if !errors.Is(err, keys.ErrAlreadyInitialised) {
		t.Fatalf("second Initialise = %v", err)
	}

	w, err := keys.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Initialised() || !w.Sealed() {
		t.Fatalf("reopened: Initialised=%v Sealed=%v", w.Initialised(), w.Sealed())
	}
	if err := w.Unseal(ctx, []byte("other")); !errors.Is(err, keys.ErrWrongPassphrase) {
		t.Fatalf("Unseal(wrong) = %v", err)
	}
	if err := w.Unseal(ctx, []byte(pass)); err != nil {
		t.Fatal(err)
	}
	if !sameKeys(want, subkeys(t, w)) {
		t.Fatal("subkeys differ after reopening")
	}
	if got, err := w.OpenIntakeKey("r1", sealed); err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("OpenIntakeKey after reopening: %v", err)
	}
	if err := w.ChangePassphrase(ctx, []byte(pass), []byte("CANARY-second-Щ"), keys.TestKDF); err != nil {
		t.Fatal(err)
	}
	w.Seal()
	if err := w.Unseal(ctx, []byte("CANARY-second-Щ")); err != nil {
		t.Fatal(err)
	}

	stored := map[string][]byte{}
	for _, k := range []string{"keys.root", "keys.install_salt", "keys.receipt_kdf", "keys.intake_recipient", "keys.intake_identity"} {
		val, err := st.GetMeta(ctx, k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		stored[k] = val
	}
	root := recoverRoot(t, stored, "CANARY-second-Щ")
	if !bytes.Equal(keys.Subkey(root, keys.PurposeStaff), want[keys.PurposeStaff]) {
		t.Fatal("recovered root is not the vault's")
	}
	scan := func(when string) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(path + suffix)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, enc := range slices.Concat(encodings([]byte(pass)), encodings([]byte("CANARY-second-Щ")), encodings(root)) {
				if bytes.Contains(b, enc) {
					t.Errorf("%s: %s%s contains the passphrase or root key (%q)", when, filepath.Base(path), suffix, enc)
				}
			}
			if bytes.Contains(b, []byte("CANARY")) || bytes.Contains(b, []byte("AGE-SECRET-KEY-")) {
				t.Errorf("%s: %s%s contains a secret in clear", when, filepath.Base(path), suffix)
			}
		}
	}
	scan("open")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	scan("closed")
}
