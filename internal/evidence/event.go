package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// EventType is what happened to an item.
type EventType string

// Event types. They are part of the log format: never rename one.
const (
	EventIngested       EventType = "ingested"
	EventViewed         EventType = "viewed"
	EventWorkingCopy    EventType = "working_copy"
	EventDownloaded     EventType = "downloaded"
	EventExported       EventType = "exported"
	EventConsentChanged EventType = "consent_changed"
	EventDestroyed      EventType = "destroyed"
)

// EventTypes lists every event type.
func EventTypes() []EventType {
	return []EventType{EventIngested, EventViewed, EventWorkingCopy, EventDownloaded, EventExported,
		EventConsentChanged, EventDestroyed}
}

func validType(t EventType) bool {
	for _, v := range EventTypes() {
		if t == v {
			return true
		}
	}
	return false
}

// Consents lists the consent values, the default first.
func Consents() []string {
	return []string{store.ConsentNone, store.ConsentCourt, store.ConsentPublicAnonymised}
}

func validConsent(c string) bool {
	for _, v := range Consents() {
		if c == v {
			return true
		}
	}
	return false
}

// EventHeader is the first line of every custody event: the format's name
// and version. A later format gets a new header; this one never changes.
const EventHeader = "corridor.custody/v1"

// timeFormat is UTC with second precision: finer times would say more
// about staff habits than a court needs.
const timeFormat = "2006-01-02T15:04:05Z"

// maxEventSize bounds what ParseEvent looks at; a v1 event is under 400
// bytes.
const maxEventSize = 1024

// Event is one custody event as the transparency log records it. It holds
// no content and nothing personal: the item is named by a random id and a
// salted commitment, the actor by a salted commitment whose opening is
// sealed to the custodians.
//
// Its encoding (Encode, ParseEvent) is canonical: one field per line, in
// a fixed order, each line "name value\n", values in one spelling only
// (lower-case hex, decimal without leading zeros, UTC seconds), so that
// equal events have equal bytes and every accepted encoding re-encodes to
// itself. docs/evidence.md describes it for people checking the log.
type Event struct {
	Type       EventType
	ItemID     string    // random, opaque
	Seq        int64     // 1, 2, 3 … per item
	Time       time.Time // UTC, whole seconds
	Commitment [32]byte  // SHA-256(salt ‖ SHA-256(original))
	Prev       [32]byte  // Hash of the item's previous event; zero for Seq 1
	Actor      [32]byte  // ActorCommitment(salt, actor)
	Consent    string    // the item's consent after this event
}

// fieldNames are the lines after the header, in order.
var fieldNames = []string{"type", "item", "seq", "time", "commitment", "prev", "actor", "consent"}

// Encode returns the canonical encoding. It does not check the event; an
// invalid one encodes to bytes ParseEvent refuses.
func (e Event) Encode() []byte {
	b := make([]byte, 0, 400)
	b = append(b, EventHeader...)
	b = append(b, '\n')
	for i, v := range []string{
		string(e.Type), e.ItemID, strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(timeFormat),
		hex.EncodeToString(e.Commitment[:]), hex.EncodeToString(e.Prev[:]), hex.EncodeToString(e.Actor[:]), e.Consent,
	} {
		b = append(b, fieldNames[i]...)
		b = append(b, ' ')
		b = append(b, v...)
		b = append(b, '\n')
	}
	return b
}

// Hash is SHA-256 of the encoding: what the next event of the item names
// as Prev.
func (e Event) Hash() [32]byte { return sha256.Sum256(e.Encode()) }

// ErrMalformedEvent reports bytes that are not a canonical v1 event.
var ErrMalformedEvent = errors.New("evidence: malformed custody event")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedEvent, fmt.Sprintf(format, args...))
}

// ParseEvent parses a canonical encoding. It accepts exactly what Encode
// produces for a valid event, so Encode(ParseEvent(b)) == b.
func ParseEvent(b []byte) (Event, error) {
	var e Event
	if len(b) > maxEventSize {
		return e, malformed("longer than %d bytes", maxEventSize)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return e, malformed("does not end with a newline")
	}
	lines := bytes.Split(b[:len(b)-1], []byte("\n"))
	if len(lines) != 1+len(fieldNames) {
		return e, malformed("%d lines, want %d", len(lines), 1+len(fieldNames))
	}
	if string(lines[0]) != EventHeader {
		return e, malformed("unknown header")
	}
	vals := make([]string, len(fieldNames))
	for i, name := range fieldNames {
		k, v, ok := bytes.Cut(lines[i+1], []byte(" "))
		if !ok || string(k) != name {
			return e, malformed("line %d: want field %q", i+2, name)
		}
		vals[i] = string(v)
	}
	e.Type = EventType(vals[0])
	if !validType(e.Type) {
		return e, malformed("unknown type")
	}
	if !validItemID(vals[1]) {
		return e, malformed("bad item id")
	}
	e.ItemID = vals[1]
	seq, err := strconv.ParseInt(vals[2], 10, 64)
	if err != nil || seq < 1 || strconv.FormatInt(seq, 10) != vals[2] {
		return e, malformed("bad seq")
	}
	e.Seq = seq
	t, err := time.Parse(timeFormat, vals[3])
	if err != nil || t.Format(timeFormat) != vals[3] {
		return e, malformed("bad time")
	}
	e.Time = t.UTC()
	for i, dst := range []*[32]byte{&e.Commitment, &e.Prev, &e.Actor} {
		v := vals[4+i]
		if len(v) != 64 || !isLowerHex(v) {
			return e, malformed("bad %s", fieldNames[4+i])
		}
		hex.Decode(dst[:], []byte(v))
	}
	if (e.Seq == 1) != (e.Prev == [32]byte{}) {
		return e, malformed("prev must be zero exactly for the first event")
	}
	if !validConsent(vals[7]) {
		return e, malformed("unknown consent")
	}
	e.Consent = vals[7]
	return e, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validItemID accepts the ids newID makes and nothing that could carry
// text: 2 to 64 lower-case letters and digits.
func validItemID(id string) bool {
	if len(id) < 2 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Commitment is SHA-256(salt ‖ SHA-256(original)), the salted commitment
// to an item the log carries: nobody can test a guessed file against it
// without the salt, which stays sealed with the item; a court given the
// salt and the original can recompute it.
func Commitment(salt []byte, originalSHA256 [32]byte) [32]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(originalSHA256[:])
	return [32]byte(h.Sum(nil))
}

// actorDomain separates actor commitments from every other hash.
const actorDomain = "corridor.custody/v1 actor\n"

// ActorCommitment is SHA-256("corridor.custody/v1 actor\n" ‖ salt ‖
// actor), where actor is "staff:<id>", "person", "cli" or "system". Each
// event has its own random salt, so events by one person cannot be linked
// by their commitments; the opening (actor and salt) is sealed to the
// custodians.
func ActorCommitment(salt []byte, actor string) [32]byte {
	h := sha256.New()
	h.Write([]byte(actorDomain))
	h.Write(salt)
	h.Write([]byte(actor))
	return [32]byte(h.Sum(nil))
}

// CheckChain checks that events are one item's trail from its first
// event: consecutive Seqs from 1, each naming the previous one's Hash, the
// same item and commitment throughout, times never going backwards.
func CheckChain(events []Event) error {
	for i, e := range events {
		if e.Seq != int64(i+1) {
			return fmt.Errorf("evidence: event %d has seq %d", i+1, e.Seq)
		}
		if i == 0 {
			continue
		}
		p := events[i-1]
		switch {
		case e.ItemID != p.ItemID:
			return fmt.Errorf("evidence: event %d is of another item", e.Seq)
		case e.Commitment != p.Commitment:
			return fmt.Errorf("evidence: event %d commits to another original", e.Seq)
		case e.Prev != p.Hash():
			return fmt.Errorf("evidence: event %d does not follow event %d", e.Seq, p.Seq)
		case e.Time.Before(p.Time):
			return fmt.Errorf("evidence: event %d is dated before event %d", e.Seq, p.Seq)
		}
	}
	return nil
}
