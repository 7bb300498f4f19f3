package store

import (
	"context"
	"time"
)

// Consent values for an evidence item: what the person agreed it may be
// used for. ConsentNone until someone records otherwise.
const (
	ConsentNone             = "none"
	ConsentCourt            = "court"
	ConsentPublicAnonymised = "public_anonymised"
)

// EvidenceItem is one piece of evidence. The original is a blob sealed
// with age to the custodians (and the vault, when in-app viewing is
// allowed); Record is a small age ciphertext to the same recipients
// holding the file name, types, size, hash, salt and capture metadata.
// What is clear is what the access rules and the public log need: which
// case or request it belongs to, the salted commitment (public in the log
// anyway), the consent, and times.
//
// Destroying an item (crypto-shredding) removes its blobs and sets BlobID
// and Record to empty; the row stays as a tombstone for its custody trail.
type EvidenceItem struct {
	ID          string // random, opaque ("v…")
	CaseID      string // "" unless attached to a case
	RequestID   string // "" unless attached to a request
	BlobID      string // "" once destroyed
	Record      []byte // age ciphertext; nil once destroyed
	Commitment  []byte // SHA-256(salt ‖ SHA-256(original)), 32 bytes
	Consent     string // ConsentNone, ConsentCourt, ConsentPublicAnonymised
	CreatedAt   time.Time
	DestroyedAt time.Time // zero unless destroyed
}

// WorkingCopy is a metadata-free copy of an item made for viewing, sealed
// like the original and kept as its own blob. Info is an age ciphertext of
// what the copy is (its content type).
type WorkingCopy struct {
	ItemID    string
	BlobID    string
	Info      []byte
	CreatedAt time.Time
}

// CustodyEvent is one entry of an item's custody trail, as it goes to the
// transparency log: Entry is its canonical encoding (package evidence
// defines it; the store does not look inside). Type and At repeat what
// Entry says, for queries. ActorSeal is an age ciphertext opening the
// event's actor commitment (who it was, and the salt), for custodians.
type CustodyEvent struct {
	ItemID    string
	Seq       int64 // 1, 2, 3 … per item
	Type      string
	At        time.Time
	Entry     []byte
	ActorSeal []byte
	// LogIndex is the event's index in the transparency log, once
	// logged; Logged says whether it is.
	LogIndex uint64
	Logged   bool
}

// OutboxEntry is a custody event waiting to be appended to the
// transparency log.
type OutboxEntry struct {
	Seq   int64 // increasing in the order the events were recorded
	Entry []byte
}

// Custodian is an evidence custodian: someone who holds an age identity
// that every new item is sealed to. The recipient is a public key and
// clear; the name is ciphertext (who a group's lawyers are is itself
// worth protecting).
type Custodian struct {
	ID         string // random, opaque ("u…")
	Name       []byte // ciphertext
	Recipient  string // age recipient: "age1…" (X25519) or "age1<plugin>1…"
	Active     bool
	CreatedAt  time.Time
	DisabledAt time.Time // zero while active
}

// EvidenceFilter selects items. With neither set, every item.
type EvidenceFilter struct {
	CaseID    string
	RequestID string
}

// Evidence stores evidence items, their working copies, their custody
// events, the outbox of events for the transparency log, and custodians.
//
// Times are stored as everywhere else (UTC, whole microseconds), and
// methods that take a pointer set its times to the values as stored.
type Evidence interface {
	// CreateEvidence inserts an item. ErrNotFound if its case or request
	// does not exist; ErrConflict if the id exists.
	CreateEvidence(ctx context.Context, it *EvidenceItem) error
	// GetEvidence returns an item (a destroyed one too); ErrNotFound.
	GetEvidence(ctx context.Context, id string) (*EvidenceItem, error)
	// ListEvidence returns the items the filter selects, by CreatedAt,
	// then id.
	ListEvidence(ctx context.Context, f EvidenceFilter) ([]*EvidenceItem, error)
	// SetEvidenceConsent sets an item's consent. ErrNotFound if there is
	// no such item or it is destroyed.
	SetEvidenceConsent(ctx context.Context, id, consent string) error
	// DestroyEvidence crypto-shreds an item's row: Record and BlobID
	// emptied, working copies deleted, DestroyedAt set. It returns the
	// ids of the blobs that no longer belong to anything (the original's
	// and the working copies'), for the caller to delete once the
	// transaction has committed. ErrNotFound if there is no such item or
	// it is already destroyed.
	DestroyEvidence(ctx context.Context, id string, at time.Time) ([]string, error)
	// EvidenceBlobKnown reports whether an item or a working copy refers
	// to the blob (for sweeping orphans).
	EvidenceBlobKnown(ctx context.Context, blobID string) (bool, error)

	// AddWorkingCopy records an item's working copy. ErrNotFound if there
	// is no such item or it is destroyed; ErrConflict if it has one.
	AddWorkingCopy(ctx context.Context, c *WorkingCopy) error
	// GetWorkingCopy returns an item's working copy; ErrNotFound if none.
	GetWorkingCopy(ctx context.Context, itemID string) (*WorkingCopy, error)

	// AppendCustodyEvent appends the next event of an item's trail and
	// puts its Entry in the outbox, atomically. It locks the item, reads
	// its last event (nil if none) and calls next with it; next returns
	// the event to append, whose Seq must be the last one's plus one (1
	// for the first). ErrNotFound if there is no such item; ErrConflict
	// if next gives a wrong Seq. An error from next is returned as is.
	AppendCustodyEvent(ctx context.Context, itemID string, next func(last *CustodyEvent) (*CustodyEvent, error)) (*CustodyEvent, error)
	// CustodyEvents returns an item's events by Seq, with their log index
	// once logged. ErrNotFound if there is no such item.
	CustodyEvents(ctx context.Context, itemID string) ([]*CustodyEvent, error)

	// OutboxPending returns up to max outbox entries, oldest first.
	OutboxPending(ctx context.Context, max int) ([]OutboxEntry, error)
	// OutboxDone records that the outbox entry seq is in the log at index:
	// it sets its event's LogIndex and removes the entry, atomically.
	// ErrNotFound if there is no such entry (already done); ErrConflict
	// if another event already has that index.
	OutboxDone(ctx context.Context, seq int64, index uint64) error
	// OutboxLoggedCount reports how many events are recorded as logged.
	OutboxLoggedCount(ctx context.Context) (uint64, error)

	// RecordUpload notes that the upload with this key became item id;
	// ErrConflict if the key is already recorded.
	RecordUpload(ctx context.Context, key, itemID string) error
	// UploadItem returns the item an upload became; ErrNotFound if none.
	UploadItem(ctx context.Context, key string) (string, error)

	// AddCustodian inserts c. ErrConflict if the id exists.
	AddCustodian(ctx context.Context, c *Custodian) error
	// ListCustodians returns every custodian by CreatedAt, then id.
	ListCustodians(ctx context.Context) ([]*Custodian, error)
	// DisableCustodian marks a custodian inactive at at; disabling again
	// keeps the first time. ErrNotFound if there is no such custodian.
	DisableCustodian(ctx context.Context, id string, at time.Time) error
}
