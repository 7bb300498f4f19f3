package store

import (
	"context"
	"time"
)

// Kinds of blind index: what an IndexEntry is the keyed HMAC of. The
// normalisation behind each is the domain's (internal/cases); the store
// only compares bytes.
const (
	IndexPhone    = "phone"     // a phone number, digits with country code
	IndexHandle   = "handle"    // a messenger handle (Telegram, Signal username, …)
	IndexEmail    = "email"     // an e-mail address
	IndexNameYear = "name_year" // a name together with a birth year
)

// IndexKinds lists every kind, in display order.
func IndexKinds() []string {
	return []string{IndexPhone, IndexHandle, IndexEmail, IndexNameYear}
}

// IndexEntry is one blind index value: a keyed HMAC of a normalised
// identifier, never the identifier itself.
type IndexEntry struct {
	Kind  string
	Value []byte
}

// IndexMatch says that a case holds an entry of a kind.
type IndexMatch struct {
	CaseID string
	Kind   string
}

// WatchEntry is one known hostile identifier (a phone number, handle or
// e-mail address that police or informers used), stored only as its blind
// index, with an optional note encrypted under a root-derived key.
type WatchEntry struct {
	ID        string // random, opaque ("w…")
	Kind      string
	Value     []byte
	Note      []byte // ciphertext, or nil
	CreatedAt time.Time
	CreatedBy int64 // staff user id
}

// Index stores the blind indexes of cases and the watch list.
//
// Methods that take entries treat them as a set: an entry given twice
// counts once.
type Index interface {
	// SetCaseIndex replaces every entry of a case with entries (none
	// removes them all). ErrNotFound if there is no such case, or it is
	// erased: an erased case is in no index.
	SetCaseIndex(ctx context.Context, caseID string, entries []IndexEntry) error
	// CaseIndex returns a case's entries, ordered by kind, then value
	// (byte order); ErrNotFound if there is no such case.
	CaseIndex(ctx context.Context, caseID string) ([]IndexEntry, error)
	// FindCases returns the cases that hold any of entries, as one match
	// per case and kind, ordered by case id, then kind; at most limit
	// matches (<= 0 means 100).
	FindCases(ctx context.Context, entries []IndexEntry, limit int) ([]IndexMatch, error)

	// AddWatch inserts w; w.CreatedAt is set to the time as stored.
	// ErrConflict if the id exists or the same kind and value are listed.
	AddWatch(ctx context.Context, w *WatchEntry) error
	// ListWatch returns the whole watch list, oldest first (ties by id).
	ListWatch(ctx context.Context) ([]*WatchEntry, error)
	// DeleteWatch removes an entry; ErrNotFound if there is none.
	DeleteWatch(ctx context.Context, id string) error
	// MatchWatch returns the watch entries equal (kind and value) to any
	// of entries, oldest first (ties by id).
	MatchWatch(ctx context.Context, entries []IndexEntry) ([]*WatchEntry, error)
}
