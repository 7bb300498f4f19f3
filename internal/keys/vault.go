package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/store"
)

// MetaStore is the part of the store the vault needs.
type MetaStore interface {
	GetMeta(ctx context.Context, key string) ([]byte, error)
	SetMeta(ctx context.Context, key string, value []byte) error
	CreateMeta(ctx context.Context, key string, value []byte) error
}

// Meta keys the vault owns.
const (
	metaRoot            = "keys.root"
	metaInstallSalt     = "keys.install_salt"
	metaReceiptKDF      = "keys.receipt_kdf"
	metaIntakeRecipient = "keys.intake_recipient"
	metaIntakeIdentity  = "keys.intake_identity"
	// The evidence key pair: the recipient in clear, so that evidence can
	// be sealed while the vault is sealed; the identity wrapped like the
	// intake identity. Installations from before evidence existed have
	// neither until their first unseal.
	metaEvidenceRecipient = "keys.evidence_recipient"
	metaEvidenceIdentity  = "keys.evidence_identity"
)

// PurposeLogSigning derives the seed of the transparency log's Ed25519
// signing key. It is fixed forever, like the labels in crypto.go: a new
// label would be a new log key.
const PurposeLogSigning = "corridor/v1/log-signing"

// ErrNoEvidenceKey reports an installation that has no evidence key pair
// yet: it was initialised before evidence existed and has not been
// unsealed since.
var ErrNoEvidenceKey = errors.New("keys: no evidence key yet (unseal once to create it)")

// wrappedRoot is the root key as stored: encrypted under
// argon2id(passphrase, Salt) with the stored parameters.
type wrappedRoot struct {
	Version    int       `json:"v"`
	Salt       []byte    `json:"salt"`
	Params     KDFParams `json:"kdf"`
	Ciphertext []byte    `json:"ct"`
}

func wrapRoot(root, passphrase []byte, p KDFParams) ([]byte, error) {
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return nil, fmt.Errorf("keys: salt: %w", err)
	}
	kek := p.Derive(passphrase, salt, KeySize)
	defer Wipe(kek)
	ct, err := Encrypt(kek, root, "root-key")
	if err != nil {
		return nil, err
	}
	return json.Marshal(wrappedRoot{Version: 1, Salt: salt, Params: p, Ciphertext: ct})
}

func unwrapRoot(stored, passphrase []byte) ([]byte, error) {
	var w wrappedRoot
	if err := json.Unmarshal(stored, &w); err != nil || w.Version != 1 {
		return nil, fmt.Errorf("keys: stored root key is unreadable")
	}
	if err := w.Params.Validate(); err != nil {
		return nil, err
	}
	kek := w.Params.Derive(passphrase, w.Salt, KeySize)
	defer Wipe(kek)
	root, err := Decrypt(kek, w.Ciphertext, "root-key")
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	return root, nil
}

// Vault holds the installation's public key material always, and the root
// key with everything derived from it only while unsealed.
type Vault struct {
	meta MetaStore
	now  func() time.Time

	// Public parts, loaded by Open; needed while sealed.
	recipient   *age.X25519Recipient
	evidenceTo  *age.X25519Recipient // nil until the evidence key exists
	installSalt []byte
	receiptKDF  KDFParams
	initialised bool

	mu       sync.RWMutex
	root     []byte
	subkeys  map[string][]byte
	intake   *age.X25519Identity
	evidence *age.X25519Identity
	dataKeys map[string][]byte
	lastUsed time.Time
	onSeal   []func()
}

// Open loads the public parts of the key hierarchy. An uninitialised
// installation is not an error: Initialised reports it.
func Open(ctx context.Context, meta MetaStore, now func() time.Time) (*Vault, error) {
	if now == nil {
		now = time.Now
	}
	v := &Vault{meta: meta, now: now}
	if err := v.load(ctx); err != nil && !errors.Is(err, ErrNotInitialised) {
		return nil, err
	}
	return v, nil
}

func (v *Vault) load(ctx context.Context) error {
	if _, err := v.meta.GetMeta(ctx, metaRoot); errors.Is(err, store.ErrNotFound) {
		return ErrNotInitialised
	} else if err != nil {
		return fmt.Errorf("keys: root: %w", err)
	}
	rcpt, err := v.meta.GetMeta(ctx, metaIntakeRecipient)
	if err != nil {
		return fmt.Errorf("keys: intake recipient: %w", err)
	}
	r, err := age.ParseX25519Recipient(string(rcpt))
	if err != nil {
		return fmt.Errorf("keys: intake recipient: %w", err)
	}
	salt, err := v.meta.GetMeta(ctx, metaInstallSalt)
	if err != nil {
		return fmt.Errorf("keys: installation salt: %w", err)
	}
	kdf, err := v.meta.GetMeta(ctx, metaReceiptKDF)
	if err != nil {
		return fmt.Errorf("keys: receipt kdf: %w", err)
	}
	var p KDFParams
	if err := json.Unmarshal(kdf, &p); err != nil {
		return fmt.Errorf("keys: receipt kdf: %w", err)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	var ev *age.X25519Recipient
	if text, err := v.meta.GetMeta(ctx, metaEvidenceRecipient); err == nil {
		if ev, err = age.ParseX25519Recipient(string(text)); err != nil {
			return fmt.Errorf("keys: evidence recipient: %w", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("keys: evidence recipient: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.recipient, v.installSalt, v.receiptKDF, v.initialised = r, salt, p, true
	v.evidenceTo = ev
	return nil
}

// Initialised reports whether the installation has keys.
func (v *Vault) Initialised() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.initialised
}

// Initialise creates the key hierarchy: a random root key wrapped by the
// passphrase, the installation salt, the intake and the evidence key
// pairs. meta should
// be a transaction so a crash leaves either everything or nothing. The
// vault is left unsealed.
func (v *Vault) Initialise(ctx context.Context, meta MetaStore, passphrase []byte, rootKDF, receiptKDF KDFParams) error {
	if err := rootKDF.Validate(); err != nil {
		return err
	}
	if err := receiptKDF.Validate(); err != nil {
		return err
	}
	root := NewKey()
	wrapped, err := wrapRoot(root, passphrase, rootKDF)
	if err != nil {
		return err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return fmt.Errorf("keys: intake identity: %w", err)
	}
	sealedID, err := Encrypt(Subkey(root, PurposeWrap), []byte(id.String()), "intake-identity")
	if err != nil {
		return err
	}
	ev, sealedEv, err := newEvidenceIdentity(root)
	if err != nil {
		return err
	}
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return fmt.Errorf("keys: salt: %w", err)
	}
	kdf, _ := json.Marshal(receiptKDF)
	if err := meta.CreateMeta(ctx, metaRoot, wrapped); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: %w", ErrAlreadyInitialised, err)
		}
		return fmt.Errorf("keys: store root: %w", err)
	}
	for _, kv := range []struct {
		k string
		v []byte
	}{
		{metaIntakeRecipient, []byte(id.Recipient().String())},
		{metaIntakeIdentity, sealedID},
		{metaEvidenceRecipient, []byte(ev.Recipient().String())},
		{metaEvidenceIdentity, sealedEv},
		{metaInstallSalt, salt},
		{metaReceiptKDF, kdf},
	} {
		if err := meta.SetMeta(ctx, kv.k, kv.v); err != nil {
			return fmt.Errorf("keys: store %s: %w", kv.k, err)
		}
	}
	v.mu.Lock()
	v.recipient, v.installSalt, v.receiptKDF, v.initialised = id.Recipient(), salt, receiptKDF, true
	v.evidenceTo = ev.Recipient()
	v.mu.Unlock()
	v.setUnsealed(root, id, ev)
	return nil
}

// newEvidenceIdentity makes an evidence key pair and returns it with the
// identity wrapped by the root key's wrapping subkey.
func newEvidenceIdentity(root []byte) (*age.X25519Identity, []byte, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, nil, fmt.Errorf("keys: evidence identity: %w", err)
	}
	sealed, err := Encrypt(Subkey(root, PurposeWrap), []byte(id.String()), "evidence-identity")
	if err != nil {
		return nil, nil, err
	}
	return id, sealed, nil
}

// openEvidenceIdentity unwraps the evidence identity, creating it first if
// the installation has none. Creation goes through CreateMeta, so that two
// processes unsealing at once agree on one key: the loser of the race
// reads the winner's. The clear recipient is written after the identity
// and checked against it on every unseal, so a crash between the two
// writes is repaired by the next unseal.
func (v *Vault) openEvidenceIdentity(ctx context.Context, root []byte) (*age.X25519Identity, error) {
	sealed, err := v.meta.GetMeta(ctx, metaEvidenceIdentity)
	if errors.Is(err, store.ErrNotFound) {
		_, fresh, ferr := newEvidenceIdentity(root)
		if ferr != nil {
			return nil, ferr
		}
		if err := v.meta.CreateMeta(ctx, metaEvidenceIdentity, fresh); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("keys: store evidence identity: %w", err)
		}
		sealed, err = v.meta.GetMeta(ctx, metaEvidenceIdentity)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: evidence identity: %w", err)
	}
	text, err := Decrypt(Subkey(root, PurposeWrap), sealed, "evidence-identity")
	if err != nil {
		return nil, fmt.Errorf("keys: evidence identity: %w", err)
	}
	id, err := age.ParseX25519Identity(string(text))
	Wipe(text)
	if err != nil {
		return nil, fmt.Errorf("keys: evidence identity: %w", err)
	}
	want := id.Recipient().String()
	stored, err := v.meta.GetMeta(ctx, metaEvidenceRecipient)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := v.meta.SetMeta(ctx, metaEvidenceRecipient, []byte(want)); err != nil {
			return nil, fmt.Errorf("keys: store evidence recipient: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("keys: evidence recipient: %w", err)
	case string(stored) != want:
		// Someone replaced the clear recipient: evidence sealed to it
		// would be readable by them and not by this vault.
		return nil, errors.New("keys: the stored evidence recipient does not match the evidence identity")
	}
	v.mu.Lock()
	v.evidenceTo = id.Recipient()
	v.mu.Unlock()
	return id, nil
}

// Abandon forgets an initialisation whose transaction did not commit, so
// the vault does not hold a root key that was never stored.
func (v *Vault) Abandon() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.wipeLocked()
	v.recipient, v.evidenceTo, v.installSalt, v.initialised = nil, nil, nil, false
}

// Unseal unwraps the root key with the passphrase and keeps it in memory.
func (v *Vault) Unseal(ctx context.Context, passphrase []byte) error {
	if !v.Initialised() {
		if err := v.load(ctx); err != nil {
			return err
		}
	}
	stored, err := v.meta.GetMeta(ctx, metaRoot)
	if err != nil {
		return fmt.Errorf("keys: root: %w", err)
	}
	root, err := unwrapRoot(stored, passphrase)
	if err != nil {
		return err
	}
	sealedID, err := v.meta.GetMeta(ctx, metaIntakeIdentity)
	if err != nil {
		Wipe(root)
		return fmt.Errorf("keys: intake identity: %w", err)
	}
	idText, err := Decrypt(Subkey(root, PurposeWrap), sealedID, "intake-identity")
	if err != nil {
		Wipe(root)
		return fmt.Errorf("keys: intake identity: %w", err)
	}
	id, err := age.ParseX25519Identity(string(idText))
	Wipe(idText)
	if err != nil {
		Wipe(root)
		return fmt.Errorf("keys: intake identity: %w", err)
	}
	ev, err := v.openEvidenceIdentity(ctx, root)
	if err != nil {
		Wipe(root)
		return err
	}
	v.setUnsealed(root, id, ev)
	return nil
}

func (v *Vault) setUnsealed(root []byte, id, evidence *age.X25519Identity) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.wipeLocked()
	v.root = root
	v.intake = id
	v.evidence = evidence
	v.subkeys = map[string][]byte{}
	for _, p := range []string{PurposeWrap, PurposeBlindIndex, PurposeStaff, PurposeSession} {
		v.subkeys[p] = Subkey(root, p)
	}
	v.dataKeys = map[string][]byte{}
	v.lastUsed = v.now()
}

// Seal drops the root key and everything derived from it from memory,
// then runs the OnSeal hooks.
func (v *Vault) Seal() {
	v.mu.Lock()
	v.wipeLocked()
	hooks := v.onSeal
	v.mu.Unlock()
	for _, f := range hooks {
		f()
	}
}

// OnSeal registers f to run after every seal (by hand or after
// inactivity), so other holders of keys in memory can drop them too.
func (v *Vault) OnSeal(f func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.onSeal = append(v.onSeal, f)
}

func (v *Vault) wipeLocked() {
	Wipe(v.root)
	for _, k := range v.subkeys {
		Wipe(k)
	}
	for _, k := range v.dataKeys {
		Wipe(k)
	}
	v.root, v.subkeys, v.dataKeys, v.intake, v.evidence = nil, nil, nil, nil, nil
}

// Sealed reports whether the root key is absent from memory.
func (v *Vault) Sealed() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.root == nil
}

// Touch records staff activity for auto-seal.
func (v *Vault) Touch() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastUsed = v.now()
}

// SealIfIdle seals when nothing touched the vault for idle, and reports
// whether it did.
func (v *Vault) SealIfIdle(idle time.Duration) bool {
	v.mu.Lock()
	if v.root == nil || idle <= 0 || v.now().Sub(v.lastUsed) < idle {
		v.mu.Unlock()
		return false
	}
	v.mu.Unlock()
	v.Seal()
	return true
}

// ChangePassphrase re-wraps the root key under a new passphrase; no data
// is re-encrypted.
func (v *Vault) ChangePassphrase(ctx context.Context, oldPass, newPass []byte, p KDFParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	stored, err := v.meta.GetMeta(ctx, metaRoot)
	if err != nil {
		return fmt.Errorf("keys: root: %w", err)
	}
	root, err := unwrapRoot(stored, oldPass)
	if err != nil {
		return err
	}
	defer Wipe(root)
	wrapped, err := wrapRoot(root, newPass, p)
	if err != nil {
		return err
	}
	if err := v.meta.SetMeta(ctx, metaRoot, wrapped); err != nil {
		return fmt.Errorf("keys: store root: %w", err)
	}
	return nil
}

// Key returns a copy of the subkey for a purpose, or ErrSealed.
//
// It returns a copy because Seal wipes the vault's keys in place: a caller
// holding the vault's own slice while another goroutine seals would go on
// encrypting or indexing under an all-zero key, silently, and a caller
// that wipes its key after use would corrupt the vault's.
func (v *Vault) Key(purpose string) ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, ok := v.subkeys[purpose]
	if !ok {
		if v.root == nil {
			return nil, ErrSealed
		}
		return nil, fmt.Errorf("keys: unknown purpose %q", purpose)
	}
	return bytes.Clone(k), nil
}

// IntakeRecipient is the public key new requests are sealed to; available
// while sealed.
func (v *Vault) IntakeRecipient() (age.Recipient, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.recipient == nil {
		return nil, ErrNotInitialised
	}
	return v.recipient, nil
}

// EvidenceRecipient is the vault's own public key that evidence is sealed
// to when in-app viewing is allowed; available while sealed.
// ErrNotInitialised before initialisation, ErrNoEvidenceKey on an older
// installation not unsealed since it gained evidence.
func (v *Vault) EvidenceRecipient() (age.Recipient, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	switch {
	case !v.initialised:
		return nil, ErrNotInitialised
	case v.evidenceTo == nil:
		return nil, ErrNoEvidenceKey
	}
	return v.evidenceTo, nil
}

// EvidenceIdentity is the private half of EvidenceRecipient, held only
// while unsealed (ErrSealed otherwise).
func (v *Vault) EvidenceIdentity() (age.Identity, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.evidence == nil {
		return nil, ErrSealed
	}
	return v.evidence, nil
}

// LogSeed returns the 32-byte seed of the transparency log's signing key,
// derived from the root key (so a seized, sealed server cannot sign
// checkpoints). The caller should Wipe it once the signer is made.
func (v *Vault) LogSeed() ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.root == nil {
		return nil, ErrSealed
	}
	return Subkey(v.root, PurposeLogSigning), nil
}

// Person derives a person's keys from a normalised receipt. It is
// deliberately slow (argon2id); callers cap how many run at once.
func (v *Vault) Person(normalisedReceipt string) (PersonKeys, error) {
	v.mu.RLock()
	salt, p, ok := v.installSalt, v.receiptKDF, v.initialised
	v.mu.RUnlock()
	if !ok {
		return PersonKeys{}, ErrNotInitialised
	}
	return DerivePerson(normalisedReceipt, salt, p), nil
}

// ReceiptKDF returns the stored receipt KDF parameters.
func (v *Vault) ReceiptKDF() KDFParams {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.receiptKDF
}

// OpenIntakeKey returns the data key of a record whose key was sealed to
// the intake recipient, caching it until the vault is sealed. Like Key, it
// returns a copy, since Seal and ForgetDataKey wipe the cached key in place.
func (v *Vault) OpenIntakeKey(recordID string, sealed []byte) ([]byte, error) {
	v.mu.RLock()
	dk, ok := v.dataKeys[recordID]
	if ok {
		dk = bytes.Clone(dk)
	}
	id := v.intake
	v.mu.RUnlock()
	if ok {
		return dk, nil
	}
	if id == nil {
		return nil, ErrSealed
	}
	dk, err := OpenWithIdentity(sealed, KeySize, id)
	if err != nil {
		return nil, err
	}
	if len(dk) != KeySize {
		return nil, ErrDecrypt
	}
	v.mu.Lock()
	if v.dataKeys != nil {
		v.dataKeys[recordID] = bytes.Clone(dk)
	}
	v.mu.Unlock()
	return dk, nil
}

// ForgetDataKey drops a cached data key (after crypto-shredding a record).
func (v *Vault) ForgetDataKey(recordID string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if dk, ok := v.dataKeys[recordID]; ok {
		Wipe(dk)
		delete(v.dataKeys, recordID)
	}
}

// WrapDataKey wraps a record's data key with the root-derived wrapping
// key, bound to the record id.
func (v *Vault) WrapDataKey(recordID string, dk []byte) ([]byte, error) {
	k, err := v.Key(PurposeWrap)
	if err != nil {
		return nil, err
	}
	return Encrypt(k, dk, "data-key", recordID)
}

// UnwrapDataKey reverses WrapDataKey.
func (v *Vault) UnwrapDataKey(recordID string, wrapped []byte) ([]byte, error) {
	k, err := v.Key(PurposeWrap)
	if err != nil {
		return nil, err
	}
	return Decrypt(k, wrapped, "data-key", recordID)
}
