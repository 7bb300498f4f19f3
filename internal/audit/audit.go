// Package audit keeps the hash-chained log of every read and every action by
// staff: who, what, to which object, and when. It never holds content: an
// entry that looks like it could carry a name or a message is refused before
// it reaches the store, because the audit log is kept longer and shown more
// widely (every coordinator reads it) than the data it describes.
//
// Each entry's hash covers the previous entry's hash, so deleting, inserting,
// reordering or editing an entry breaks every hash after it. Verify walks the
// chain and finds the first break. The chain alone cannot show that the
// newest entries were cut off; compare Report.Head with a head recorded
// earlier (for example in the transparency log) to detect that.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// Sentinel errors callers branch on.
var (
	// ErrInvalidAction reports an action that is not a short dotted
	// lowercase identifier such as "request.read".
	ErrInvalidAction = errors.New("audit: invalid action")
	// ErrInvalidObject reports an object that is not "kind" or "kind:id"
	// with a short opaque id, such as "request:ab12" or "user:3".
	ErrInvalidObject = errors.New("audit: invalid object")
	// ErrInvalidActor reports a negative actor id.
	ErrInvalidActor = errors.New("audit: invalid actor")
	// ErrBroken reports an audit chain that does not verify: an entry was
	// edited, removed, inserted or reordered after it was written.
	ErrBroken = errors.New("audit: chain broken")
)

// Log records audit entries. It is safe for concurrent use if its store is;
// AppendAudit makes appends atomic.
type Log struct {
	s   store.Audit
	now func() time.Time
}

// New returns a Log writing to s. now is the clock (nil means time.Now);
// tests pass a fixed one.
func New(s store.Audit, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{s: s, now: now}
}

// Record appends an entry saying that actorID (0 for the system or an
// anonymous person) did action to object, now. Call it in the same
// transaction as the action it records (New(tx, now).Record(…)), so that an
// action never happens unaudited.
//
// action must match ^[a-z][a-z0-9_.]{0,63}$ and object
// ^[a-z_]+(:[A-Za-z0-9_-]{1,64})?$. The shapes leave no room for spaces,
// Cyrillic, punctuation or long text, so that a name or a message passed by
// mistake is refused (ErrInvalidAction, ErrInvalidObject) instead of being
// kept for years in a log that many people read. The error does not repeat
// the value, for the same reason.
func (l *Log) Record(ctx context.Context, actorID int64, action, object string) error {
	if err := validate(actorID, action, object); err != nil {
		return err
	}
	e := &store.AuditEntry{
		// Microseconds, because that is what the hash covers and what
		// both databases store exactly; a finer time would not survive
		// the round trip and the entry would fail to verify.
		At:      l.now().UTC().Truncate(time.Microsecond),
		ActorID: actorID,
		Action:  action,
		Object:  object,
	}
	if err := l.s.AppendAudit(ctx, e, Hash); err != nil {
		return fmt.Errorf("audit: recording %s: %w", action, err)
	}
	return nil
}

func validate(actorID int64, action, object string) error {
	if actorID < 0 {
		return ErrInvalidActor
	}
	if !ValidAction(action) {
		return ErrInvalidAction
	}
	if !ValidObject(object) {
		return ErrInvalidObject
	}
	return nil
}

// ValidAction reports whether action matches ^[a-z][a-z0-9_.]{0,63}$.
func ValidAction(action string) bool {
	if len(action) < 1 || len(action) > 64 || !isLower(action[0]) {
		return false
	}
	for i := 1; i < len(action); i++ {
		if c := action[i]; !isLower(c) && !isDigit(c) && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// ValidObject reports whether object matches
// ^[a-z_]+(:[A-Za-z0-9_-]{1,64})?$.
func ValidObject(object string) bool {
	kind, id, hasID := cutByte(object, ':')
	if len(kind) == 0 {
		return false
	}
	for i := 0; i < len(kind); i++ {
		if c := kind[i]; !isLower(c) && c != '_' {
			return false
		}
	}
	if !hasID {
		return true
	}
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isLower(c) && !isUpper(c) && !isDigit(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// cutByte is strings.Cut on bytes, spelled out so that the validators never
// look at runes: anything outside ASCII is simply not an accepted byte.
func cutByte(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// hashPrefix separates audit hashes from every other SHA-256 in Corridor,
// and versions the encoding.
const hashPrefix = "corridor audit v1\n"

// Hash returns the SHA-256 hash of an entry; e.Hash itself is not covered.
//
// The encoding is meant to be re-implemented by an outside auditor with
// nothing but this comment. The hash is SHA-256 over the concatenation of:
//
//	the 18 ASCII bytes "corridor audit v1\n" (ending in one line feed, 0x0a)
//	field(seq)
//	field(at)
//	field(actor)
//	field(action)
//	field(object)
//	field(prev)
//
// where field(x) is the length of x in bytes as an unsigned 64-bit big-endian
// integer, followed by the bytes of x, and:
//
//   - seq is the entry's sequence number, 1, 2, 3, …, as a signed 64-bit
//     big-endian two's-complement integer (so field(seq) is 00…08 then 8
//     bytes);
//   - at is the entry's time as whole microseconds since 1970-01-01T00:00:00Z
//     (UTC, leap seconds not counted), signed 64-bit big-endian; finer
//     fractions are dropped (truncated towards the past);
//   - actor is the staff user id, signed 64-bit big-endian, 0 for the system
//     or an anonymous person;
//   - action and object are their ASCII bytes;
//   - prev is the previous entry's hash (32 bytes), and empty (length 0) for
//     entry 1.
//
// Test vectors (TestHashVectors; computed from this description alone, in
// Python, not with this code):
//
//	seq 1, at 2017-04-01T12:00:00.123456Z, actor 3, action "request.read",
//	object "request:ab12", no prev:
//	7ad278089875c309bbb024151a52d6a2f0393574e9e30e72753f27670583bf5e
//
//	seq 2, at 2017-04-01T12:00:01Z, actor 0, action "request.submit",
//	object "request:cd34", prev the hash above:
//	d80f0e1b92a9424a1d01589a6a38c00c7572142515b818e3aa46e37b833b9819
func Hash(e *store.AuditEntry) []byte {
	var n [8]byte
	h := sha256.New()
	h.Write([]byte(hashPrefix))
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	int64Field := func(v int64) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(v))
		field(b[:])
	}
	int64Field(e.Seq)
	int64Field(e.At.UnixMicro())
	int64Field(e.ActorID)
	field([]byte(e.Action))
	field([]byte(e.Object))
	field(e.PrevHash)
	return h.Sum(nil)
}

// Report is the outcome of Verify.
type Report struct {
	// Entries is the number of entries that verified, from seq 1 up to the
	// first broken one (all of them when the chain is intact).
	Entries int
	// Head is the hash of the last entry that verified (nil if none did).
	// Keep it: an attacker who deletes the newest entries leaves a chain
	// that verifies, but not one that ends at a head seen before.
	Head []byte
	// BadSeq is the sequence number where the chain breaks: the entry that
	// fails, or the one that is missing. Zero when the chain is intact.
	BadSeq int64
	// Reason says what is wrong at BadSeq, for the administrator.
	Reason string
}

// verifyPage is how many entries Verify reads at a time: enough to make the
// round trips cheap, few enough that memory stays flat on a long log.
const verifyPage = 1000

// Verify walks the whole audit log from seq 1, checking that sequence
// numbers have no gaps, that each entry links to the hash of the one
// before, that each hash is right, and that each entry is of a shape Record
// would have written. On the first failure it stops and returns a Report
// saying where and an error wrapping ErrBroken; a failure to read the store
// is returned as is (wrapped), not as ErrBroken.
func Verify(ctx context.Context, s store.Audit) (Report, error) {
	return verify(ctx, s, verifyPage)
}

func verify(ctx context.Context, s store.Audit, pageSize int) (Report, error) {
	var rep Report
	want := int64(1)
	for {
		page, err := s.AuditRange(ctx, want, pageSize)
		if err != nil {
			return rep, fmt.Errorf("audit: reading entries from %d: %w", want, err)
		}
		if len(page) == 0 {
			return rep, nil
		}
		for _, e := range page {
			if reason := check(e, want, rep.Head); reason != "" {
				rep.BadSeq = want
				rep.Reason = reason
				return rep, fmt.Errorf("%w at seq %d: %s", ErrBroken, want, reason)
			}
			rep.Entries++
			rep.Head = e.Hash
			want++
		}
		// A short page means the end; asking again would only cost a round trip.
		if len(page) < pageSize {
			return rep, nil
		}
	}
}

// check returns why e is not a valid entry number want after prev, or "".
func check(e *store.AuditEntry, want int64, prev []byte) string {
	switch {
	case e.Seq > want:
		return fmt.Sprintf("entry missing (next entry present is %d)", e.Seq)
	case e.Seq < want:
		return fmt.Sprintf("entry out of order (found %d)", e.Seq)
	case !bytes.Equal(e.PrevHash, prev):
		return "previous-hash link does not match the entry before"
	case !bytes.Equal(Hash(e), e.Hash):
		return "hash does not match the entry's contents"
	case validate(e.ActorID, e.Action, e.Object) != nil:
		// Record never writes such an entry; someone rewrote the chain.
		return "entry is not of a shape Record writes"
	}
	return ""
}
