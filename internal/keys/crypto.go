// Package keys implements Corridor's key hierarchy (DESIGN.md, "Keys"):
// a random root key wrapped by argon2id(passphrase), HKDF subkeys with one
// label per purpose, per-record data keys used with an AEAD whose
// associated data names the record and field, blind indexes, the intake
// age key pair and the person keys derived from a receipt.
//
// Every primitive comes from the standard library, golang.org/x/crypto or
// filippo.io/age; this package only composes them.
package keys

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Sentinel errors.
var (
	ErrSealed             = errors.New("keys: sealed")
	ErrWrongPassphrase    = errors.New("keys: wrong passphrase")
	ErrNotInitialised     = errors.New("keys: not initialised")
	ErrAlreadyInitialised = errors.New("keys: already initialised")
	ErrDecrypt            = errors.New("keys: cannot decrypt (wrong key, or data altered or moved)")
)

// KeySize is the size of every symmetric key.
const KeySize = 32

// HKDF labels, one per purpose. Changing one makes every key derived with
// it unrecoverable, so they are fixed forever.
const (
	PurposeWrap       = "corridor/v1/wrap"        // wraps data keys and the intake identity
	PurposeBlindIndex = "corridor/v1/blind-index" // HMAC key for blind indexes
	PurposeStaff      = "corridor/v1/staff"       // encrypts staff account fields
	PurposeSession    = "corridor/v1/session"     // MACs CSRF tokens and device cookies
)

// KDFParams are argon2id parameters, stored beside what they protect so
// they can be raised later without breaking old data.
type KDFParams struct {
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
}

// Derive runs argon2id.
func (p KDFParams) Derive(secret, salt []byte, n uint32) []byte {
	return argon2.IDKey(secret, salt, p.Time, p.MemoryKiB, p.Threads, n)
}

// Validate rejects parameters too weak to mean anything or too large to run.
func (p KDFParams) Validate() error {
	if p.Time < 1 || p.Threads < 1 || p.MemoryKiB < 8*1024 || p.MemoryKiB > 4*1024*1024 {
		return fmt.Errorf("keys: argon2id parameters out of range (t=%d m=%dKiB p=%d)", p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// Default argon2id costs. The root key is unwrapped rarely, so it gets an
// expensive setting; the receipt KDF runs on every submission and return
// visit, so its cost is a balance between offline guessing and CPU a flood
// can consume (the web layer caps concurrent runs).
var (
	RootKDF    = KDFParams{Time: 3, MemoryKiB: 256 * 1024, Threads: 2}
	ReceiptKDF = KDFParams{Time: 2, MemoryKiB: 64 * 1024, Threads: 2}
	// TestKDF is cheap, for tests only.
	TestKDF = KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
)

// NewKey returns a fresh random symmetric key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, k); err != nil {
		panic("keys: crypto/rand failed: " + err.Error())
	}
	return k
}

// Subkey derives the key for one purpose from a parent key with HKDF-SHA256.
func Subkey(parent []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, parent, nil, purpose, KeySize)
	if err != nil {
		panic("keys: hkdf: " + err.Error()) // only on impossible lengths
	}
	return k
}

// associatedData encodes the record and field names unambiguously
// (length-prefixed), so that ciphertexts cannot be swapped between records
// or fields without failing authentication.
func associatedData(parts []string) []byte {
	var b bytes.Buffer
	b.WriteString("corridor/v1/ad")
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		b.Write(n[:])
		b.WriteString(p)
	}
	return b.Bytes()
}

const aeadVersion = 1

// Encrypt seals plaintext under key with XChaCha20-Poly1305 (random
// 192-bit nonces are safe at any volume). ad names where the ciphertext
// belongs, e.g. ("request", id, "answers").
// Output: version byte ‖ nonce ‖ ciphertext+tag.
func Encrypt(key, plaintext []byte, ad ...string) ([]byte, error) {
	// A wiped key is all zeros: encrypting under it would store
	// effectively plain data, so refuse.
	if isZero(key) {
		return nil, ErrSealed
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = aeadVersion
	if _, err := io.ReadFull(rand.Reader, out[1:]); err != nil {
		return nil, fmt.Errorf("keys: nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, associatedData(ad)), nil
}

// Decrypt opens what Encrypt sealed with the same key and ad.
func Decrypt(key, ciphertext []byte, ad ...string) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if len(ciphertext) < 1+aead.NonceSize()+aead.Overhead() || ciphertext[0] != aeadVersion {
		return nil, ErrDecrypt
	}
	nonce := ciphertext[1 : 1+aead.NonceSize()]
	pt, err := aead.Open(nil, nonce, ciphertext[1+aead.NonceSize():], associatedData(ad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// BlindIndex is a keyed HMAC-SHA256 of an already normalised value, with a
// domain so that equal values of different kinds (a phone number and a
// username) never collide.
func BlindIndex(key []byte, domain, normalised string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(associatedData([]string{"blind-index", domain, normalised}))
	return m.Sum(nil)
}

// MAC is HMAC-SHA256 over length-prefixed parts, for tokens the server
// issues and checks itself (CSRF tokens, device cookies).
func MAC(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(associatedData(parts))
	return m.Sum(nil)
}

// SealToRecipients encrypts a small value with age to the given recipients.
func SealToRecipients(plaintext []byte, recipients ...age.Recipient) ([]byte, error) {
	var b bytes.Buffer
	w, err := age.Encrypt(&b, recipients...)
	if err != nil {
		return nil, fmt.Errorf("keys: age: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("keys: age: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("keys: age: %w", err)
	}
	return b.Bytes(), nil
}

// OpenWithIdentity decrypts what SealToRecipients produced. maxSize bounds
// the plaintext read, since the input may come from storage an attacker
// could have altered.
func OpenWithIdentity(ciphertext []byte, maxSize int64, ids ...age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ciphertext), ids...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	pt, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	if int64(len(pt)) > maxSize {
		return nil, fmt.Errorf("%w: plaintext too large", ErrDecrypt)
	}
	return pt, nil
}

// PersonKeys are derived from a receipt. LookupID finds the request
// without revealing the receipt; Key wraps the request's data key so the
// person can read replies even while the server is sealed.
type PersonKeys struct {
	LookupID []byte
	Key      []byte
}

// DerivePerson stretches a normalised receipt with argon2id and the
// installation salt, then splits the result with HKDF.
func DerivePerson(normalisedReceipt string, installSalt []byte, p KDFParams) PersonKeys {
	seed := p.Derive([]byte(normalisedReceipt), associatedData([]string{"person", string(installSalt)}), KeySize)
	return PersonKeys{
		LookupID: Subkey(seed, "corridor/v1/person/lookup"),
		Key:      Subkey(seed, "corridor/v1/person/key"),
	}
}

// Wipe overwrites a key in memory. Go may have copied it elsewhere; this
// narrows the window rather than closing it.
func Wipe(b []byte) {
	clear(b)
}

func isZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}
