package keys_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/keys"
)

// roundTrip seals a message to r and opens it with id.
func roundTrip(t *testing.T, r age.Recipient, id age.Identity) {
	t.Helper()
	ct, err := keys.SealToRecipients([]byte("evidence"), r)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := keys.OpenWithIdentity(ct, 100, id)
	if err != nil || string(pt) != "evidence" {
		t.Fatalf("opening what was sealed to the evidence recipient: %q, %v", pt, err)
	}
}

func TestEvidenceKey(t *testing.T) {
	ctx := context.Background()
	meta := newMemMeta()
	v := newVault(t, meta, "pass", nil)
	r, err := v.EvidenceRecipient()
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.EvidenceIdentity()
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, r, id)
	if intake, _ := v.IntakeRecipient(); intake.(*age.X25519Recipient).String() == r.(*age.X25519Recipient).String() {
		t.Fatal("the evidence key is the intake key")
	}

	// Sealed: the recipient stays (sealing evidence needs only it), the
	// identity goes.
	v.Seal()
	if _, err := v.EvidenceIdentity(); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("EvidenceIdentity while sealed = %v, want ErrSealed", err)
	}
	if r2, err := v.EvidenceRecipient(); err != nil || r2.(*age.X25519Recipient).String() != r.(*age.X25519Recipient).String() {
		t.Fatalf("EvidenceRecipient while sealed = %v, %v", r2, err)
	}

	// Another process opening the installation sealed can seal evidence
	// at once, and unsealed opens it with the same identity.
	w, err := keys.Open(ctx, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	r3, err := w.EvidenceRecipient()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Unseal(ctx, []byte("pass")); err != nil {
		t.Fatal(err)
	}
	id3, err := w.EvidenceIdentity()
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, r, id3)
	roundTrip(t, r3, id3)

	for k, val := range meta.snapshot() {
		if bytes.Contains(bytes.ToUpper(val), []byte("AGE-SECRET-KEY-")) {
			t.Errorf("meta %q holds an identity in clear", k)
		}
	}
}

func TestEvidenceKeyNotInitialised(t *testing.T) {
	v, err := keys.Open(context.Background(), newMemMeta(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.EvidenceRecipient(); !errors.Is(err, keys.ErrNotInitialised) {
		t.Fatalf("EvidenceRecipient = %v, want ErrNotInitialised", err)
	}
	if _, err := v.EvidenceIdentity(); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("EvidenceIdentity = %v, want ErrSealed", err)
	}
	if _, err := v.LogSeed(); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("LogSeed = %v, want ErrSealed", err)
	}
}

// olderInstallation returns meta as an installation initialised before
// evidence existed would have it: no evidence key pair.
func olderInstallation(t *testing.T, pass string) *memMeta {
	t.Helper()
	meta := newMemMeta()
	newVault(t, meta, pass, nil)
	meta.mu.Lock()
	delete(meta.m, "keys.evidence_recipient")
	delete(meta.m, "keys.evidence_identity")
	meta.mu.Unlock()
	return meta
}

func TestEvidenceKeyCreatedOnFirstUnseal(t *testing.T) {
	ctx := context.Background()
	meta := olderInstallation(t, "pass")
	v, err := keys.Open(ctx, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.EvidenceRecipient(); !errors.Is(err, keys.ErrNoEvidenceKey) {
		t.Fatalf("EvidenceRecipient before the first unseal = %v, want ErrNoEvidenceKey", err)
	}
	if err := v.Unseal(ctx, []byte("pass")); err != nil {
		t.Fatal(err)
	}
	r, err := v.EvidenceRecipient()
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.EvidenceIdentity()
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, r, id)
	stored, err := meta.GetMeta(ctx, "keys.evidence_recipient")
	if err != nil || string(stored) != r.(*age.X25519Recipient).String() {
		t.Fatalf("stored recipient %q, %v", stored, err)
	}

	// Later unseals, in this process or another, find the same key.
	v.Seal()
	if err := v.Unseal(ctx, []byte("pass")); err != nil {
		t.Fatal(err)
	}
	again, _ := v.EvidenceIdentity()
	roundTrip(t, r, again)
	w, _ := keys.Open(ctx, meta, nil)
	if err := w.Unseal(ctx, []byte("pass")); err != nil {
		t.Fatal(err)
	}
	other, _ := w.EvidenceIdentity()
	roundTrip(t, r, other)
}

// TestEvidenceKeyRace unseals several vaults over one older installation
// at once: they must all end up with one key pair.
func TestEvidenceKeyRace(t *testing.T) {
	ctx := context.Background()
	meta := olderInstallation(t, "pass")
	const n = 6
	ids := make([]age.Identity, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := keys.Open(ctx, meta, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if err := v.Unseal(ctx, []byte("pass")); err != nil {
				t.Error(err)
				return
			}
			ids[i], _ = v.EvidenceIdentity()
		})
	}
	wg.Wait()
	v, _ := keys.Open(ctx, meta, nil)
	r, err := v.EvidenceRecipient()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if id == nil {
			t.Fatal("a vault has no identity")
		}
		roundTrip(t, r, id)
	}
}

// TestEvidenceRecipientRepaired: a crash between storing the identity
// and its recipient is repaired by the next unseal; a recipient replaced
// by someone else is refused.
func TestEvidenceRecipientRepaired(t *testing.T) {
	ctx := context.Background()
	meta := newMemMeta()
	v := newVault(t, meta, "pass", nil)
	r, _ := v.EvidenceRecipient()
	meta.mu.Lock()
	delete(meta.m, "keys.evidence_recipient")
	meta.mu.Unlock()
	v.Seal()
	if err := v.Unseal(ctx, []byte("pass")); err != nil {
		t.Fatal(err)
	}
	stored, _ := meta.GetMeta(ctx, "keys.evidence_recipient")
	if string(stored) != r.(*age.X25519Recipient).String() {
		t.Fatalf("recipient restored as %q, want %q", stored, r)
	}

	attacker, _ := age.GenerateX25519Identity()
	meta.SetMeta(ctx, "keys.evidence_recipient", []byte(attacker.Recipient().String()))
	v.Seal()
	if err := v.Unseal(ctx, []byte("pass")); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("Unseal with a replaced recipient = %v, want a mismatch error", err)
	}
	if !v.Sealed() {
		t.Fatal("vault unsealed although its evidence recipient was replaced")
	}
}

func TestLogSeed(t *testing.T) {
	ctx := context.Background()
	meta := newMemMeta()
	v := newVault(t, meta, "pass", nil)
	seed, err := v.LogSeed()
	if err != nil {
		t.Fatal(err)
	}
	if len(seed) != 32 {
		t.Fatalf("seed has %d bytes, want 32", len(seed))
	}
	root := recoverRoot(t, meta.snapshot(), "pass")
	if want := keys.Subkey(root, keys.PurposeLogSigning); !bytes.Equal(seed, want) {
		t.Fatal("LogSeed is not HKDF(root, log-signing)")
	}
	for p, k := range subkeys(t, v) {
		if bytes.Equal(k, seed) {
			t.Fatalf("LogSeed equals the %s key", p)
		}
	}
	keys.Wipe(seed) // the caller's copy; the vault's next answer is unaffected
	v.Seal()
	if _, err := v.LogSeed(); !errors.Is(err, keys.ErrSealed) {
		t.Fatalf("LogSeed while sealed = %v, want ErrSealed", err)
	}
	if err := v.Unseal(ctx, []byte("pass")); err != nil {
		t.Fatal(err)
	}
	again, err := v.LogSeed()
	if err != nil || !bytes.Equal(again, keys.Subkey(root, keys.PurposeLogSigning)) {
		t.Fatalf("LogSeed after unseal differs: %v", err)
	}
}
