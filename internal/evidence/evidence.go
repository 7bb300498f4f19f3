// Package evidence is the evidence vault: items (testimonies, photos,
// audio, medical reports) are streamed in once, hashed, sealed with age to
// the custodians (and to the vault when in-app viewing is allowed),
// written to the blob store and recorded together with a custody event
// that goes to the transparency log through the store's outbox. Staff see
// metadata-free working copies; the original is never modified; every
// view, copy, download, export, consent change and destruction is a
// custody event and an audit entry.
//
// It holds the rules only: storage is behind store.Store and blob.Store,
// keys behind keys.Vault, and who may read a case behind CaseAccess.
package evidence

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/blob"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Sentinel errors callers branch on.
var (
	// ErrTooLarge: the file is larger than the configured limit. Nothing
	// of it is kept.
	ErrTooLarge = errors.New("evidence: file too large")
	// ErrNoRecipients: there is no active custodian and in-app viewing
	// is off, so nobody could ever open what would be stored.
	ErrNoRecipients = errors.New("evidence: nobody could open this item: add a custodian or allow in-app viewing")
	// ErrForbidden: the actor may not do this.
	ErrForbidden = errors.New("evidence: not allowed")
	// ErrNotFound: no such item (or case, request or custodian).
	ErrNotFound = errors.New("evidence: not found")
	// ErrDestroyed: the item was crypto-shredded; only its custody trail
	// is left.
	ErrDestroyed = errors.New("evidence: item destroyed")
	// ErrCustodianOnly: in-app viewing is off; items open only offline,
	// with a custodian's identity.
	ErrCustodianOnly = errors.New("evidence: in-app viewing is off: only custodians can open items, offline")
	// ErrNoWorkingCopy: no metadata-free copy can be made of this type.
	ErrNoWorkingCopy = errors.New("evidence: no working copy can be made of this type of file")
	// ErrIntegrity: what was read back does not match the SHA-256 taken
	// at ingest. The item has been altered or damaged.
	ErrIntegrity = errors.New("evidence: the original does not match the SHA-256 recorded at ingest")
	// ErrInvalid: a value is malformed or out of range.
	ErrInvalid = errors.New("evidence: invalid value")
	// ErrQuota means a person's uploads to one request have reached
	// Config.PersonQuota.
	ErrQuota = errors.New("evidence: upload allowance for this request used up")
)

// DefaultMaxSize is the size limit when Config.MaxSize is zero.
const DefaultMaxSize = 4 << 30

// CaseAccess decides who may read a case's contents. *cases.Service
// implements it: nil if actor may read class in the case; cases'
// ErrNotFound, ErrErased or ErrForbidden otherwise.
type CaseAccess interface {
	CheckContent(ctx context.Context, actor *store.User, caseID, class string) error
}

// Config configures a Service.
type Config struct {
	// MaxSize is the largest original accepted, in bytes (0: 4 GiB).
	MaxSize int64
	// PersonQuota caps what a person may upload to one request, all
	// items together, in bytes of stored (sealed) data (0: 2 × MaxSize):
	// whoever holds a receipt must not be able to fill the disk.
	PersonQuota int64
	// CustodianOnly turns in-app viewing off: items are sealed to the
	// custodians alone, so once ingested the server cannot read them, and
	// working copies, in-app downloads and decrypted records are refused.
	CustodianOnly bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logged, if set, is called after every committed change that wrote a
	// custody event to the outbox, so the log's sequencer integrates it
	// now rather than at its next poll. It must not block.
	Logged func()
}

// Service is the evidence vault's domain logic.
type Service struct {
	st    store.Store
	vault *keys.Vault
	audit *audit.Log
	blobs blob.Store
	cases CaseAccess
	cfg   Config
	// strip admits this many working copies at once: re-encoding a large
	// image can take about 20 bytes a pixel (1 GB at media.MaxPixels).
	strip chan struct{}
}

// workingCopies is how many working copies may be made at once.
const workingCopies = 2

// New returns a Service. A nil audit log means one writing to st.
func New(st store.Store, v *keys.Vault, a *audit.Log, blobs blob.Store, ca CaseAccess, cfg Config) *Service {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.PersonQuota <= 0 {
		cfg.PersonQuota = 2 * cfg.MaxSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if a == nil {
		a = audit.New(st, cfg.Now)
	}
	return &Service{st: st, vault: v, audit: a, blobs: blobs, cases: ca, cfg: cfg, strip: make(chan struct{}, workingCopies)}
}

// tx runs fn in a store transaction that writes custody events, then
// tells the sequencer.
func (s *Service) tx(ctx context.Context, fn func(tx store.Store) error) error {
	if err := s.st.Tx(ctx, fn); err != nil {
		return err
	}
	if s.cfg.Logged != nil {
		s.cfg.Logged()
	}
	return nil
}

// MaxSize is the size limit in force.
func (s *Service) MaxSize() int64 { return s.cfg.MaxSize }

// CustodianOnly reports whether in-app viewing is off.
func (s *Service) CustodianOnly() bool { return s.cfg.CustodianOnly }

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

func newID(prefix string) string {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		panic("evidence: crypto/rand failed: " + err.Error())
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func random32() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("evidence: crypto/rand failed: " + err.Error())
	}
	return b
}

func object(id string) string { return "evidence:" + id }

// Actors as the custody events commit to them.
const (
	actorPerson = "person"
	actorCLI    = "cli"
)

func staffActor(u *store.User) string { return fmt.Sprintf("staff:%d", u.ID) }

// recipients are who new ciphertexts are sealed to: every active
// custodian, and the vault's evidence key unless custodian-only.
func (s *Service) recipients(ctx context.Context, st store.Store) ([]age.Recipient, error) {
	cs, err := st.ListCustodians(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence: custodians: %w", err)
	}
	var out []age.Recipient
	for _, c := range cs {
		if !c.Active {
			continue
		}
		r, err := ParseRecipient(c.Recipient)
		if err != nil {
			return nil, fmt.Errorf("evidence: custodian %s: %w", c.ID, err)
		}
		out = append(out, r)
	}
	if !s.cfg.CustodianOnly {
		r, err := s.vault.EvidenceRecipient()
		if err != nil {
			return nil, fmt.Errorf("evidence: vault recipient: %w", err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, ErrNoRecipients
	}
	return out, nil
}

// getItem loads an item, mapping the store's not-found to ErrNotFound.
func (s *Service) getItem(ctx context.Context, st store.Store, id string) (*store.EvidenceItem, error) {
	if !validItemID(id) {
		return nil, ErrNotFound
	}
	it, err := st.GetEvidence(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return it, nil
}

// appendEvent records a custody event of it in tx: the event (with a
// fresh actor salt, its opening sealed to recips) goes to the events table
// and the outbox together. The time never goes back within an item's
// trail, so a clock stepped backwards cannot reorder it.
func (s *Service) appendEvent(ctx context.Context, tx store.Store, it *store.EvidenceItem, typ EventType, actor, consent string, recips []age.Recipient) (*Event, error) {
	salt := random32()
	var seal []byte
	if len(recips) > 0 {
		var err error
		if seal, err = sealJSON(actorOpening{Actor: actor, Salt: salt}, recips); err != nil {
			return nil, err
		}
	}
	var out Event
	now := s.now().Truncate(time.Second)
	_, err := tx.AppendCustodyEvent(ctx, it.ID, func(last *store.CustodyEvent) (*store.CustodyEvent, error) {
		e := Event{Type: typ, ItemID: it.ID, Seq: 1, Time: now, Actor: ActorCommitment(salt, actor), Consent: consent}
		copy(e.Commitment[:], it.Commitment)
		if last != nil {
			prev, err := ParseEvent(last.Entry)
			if err != nil {
				return nil, fmt.Errorf("evidence: item %s: stored event %d: %w", it.ID, last.Seq, err)
			}
			e.Seq, e.Prev = last.Seq+1, prev.Hash()
			if e.Time.Before(prev.Time) {
				e.Time = prev.Time
			}
		}
		out = e
		return &store.CustodyEvent{ItemID: it.ID, Seq: e.Seq, Type: string(typ), At: e.Time, Entry: e.Encode(), ActorSeal: seal}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("evidence: custody event: %w", err)
	}
	return &out, nil
}

// actorOpening is what a custodian needs to check an event's actor
// commitment: who, and the salt.
type actorOpening struct {
	Actor string `json:"actor"`
	Salt  []byte `json:"salt"`
}

// OpenActor opens an event's sealed actor with a custodian's (or the
// vault's) identity and checks it against the event's commitment: it
// returns who did it ("staff:3", "person", "cli", "system").
func OpenActor(e Event, seal []byte, ids ...age.Identity) (string, error) {
	var o actorOpening
	if err := openJSON(seal, &o, ids...); err != nil {
		return "", err
	}
	if ActorCommitment(o.Salt, o.Actor) != e.Actor {
		return "", fmt.Errorf("%w: the sealed actor does not match the event's commitment", ErrIntegrity)
	}
	return o.Actor, nil
}
