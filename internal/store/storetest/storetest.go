// Package storetest is the one conformance suite every store.Store
// implementation must pass. Each backend's tests call Run with a function
// that opens a new, empty, migrated store.
//
// Beyond the interface comments in package store, the suite pins down what
// callers may rely on whichever database is behind the store:
//
//   - Times come back in UTC, truncated to whole microseconds.
//   - A nil or empty blob comes back as nil.
//   - Requests that tie on status, urgency and creation time are ordered by
//     id, descending, so pages never overlap; "newest" means CreatedAt.
//   - UpdatedAt never moves backwards: AddMessage, SetStatus and SetAssignee
//     with an earlier time leave it as it is.
//   - AddMessage by staff leaves UnreadStaff as it is.
//   - Messages that share a timestamp come back in insertion order.
//   - DeleteSession and TouchSession of an unknown token, and CreateSession
//     for an unknown user, report ErrNotFound; DeleteUserSessions does not.
//   - ListMessages of an unknown request reports ErrNotFound.
//   - AuditRange with limit <= 0 means 100, as AuditFilter.Limit does.
//   - AppendAudit stores At truncated to the microsecond and calls hash with
//     that value, so the hash can be recomputed from what is read back.
//   - An ErrConflict or ErrNotFound inside Tx leaves the transaction usable.
//   - Cases that tie on openness, risk and StageSince are ordered by id,
//     ascending; sections by class, byte for byte; case events that share a
//     timestamp, and stage periods that share an entry time, in insertion
//     order.
//   - A case's UpdatedAt never moves backwards: UpdateCase, PutSection,
//     AddCaseEvent, EnterStage and EraseCase with an earlier time leave it
//     as it is. Shares and break-glass grants do not move it.
//   - Sections, CaseEvents, StagePeriods and CaseShares of an unknown case
//     report ErrNotFound; of a case without any, an empty list.
package storetest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// Run runs the conformance suite. open is called once per subtest and must
// return a new, empty store at the current schema version; it should close
// the store with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Requests", requestTests},
		{"Users", userTests},
		{"Sessions", sessionTests},
		{"Audit", auditTests},
		{"Meta", metaTests},
		{"Cases", caseTests},
		{"Tasks", taskTests},
		{"Referrals", referralTests},
		{"Logistics", logisticsTests},
		{"Evidence", evidenceTests},
		{"Stats", statsTests},
		{"Index", indexTests},
		{"Tx", txTests},
		{"Values", valueTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.fn(t, open(t))
				})
			}
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// t0 is a fixed instant so that expected values are easy to read.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newRequest(id string, created time.Time) *store.Request {
	return &store.Request{
		ID:        id,
		LookupID:  randomBytes(32),
		CreatedAt: created,
		Urgency:   1,
		Status:    store.StatusNew,
		KeyIntake: randomBytes(80),
		KeyPerson: randomBytes(60),
		Answers:   randomBytes(200),
	}
}

func newUser(name string) *store.User {
	return &store.User{
		UsernameIndex: []byte("index:" + name),
		Username:      []byte("ciphertext:" + name),
		Role:          store.RoleOperator,
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt:     t0,
	}
}

func createRequest(t *testing.T, s store.Store, r *store.Request) {
	t.Helper()
	must(t, s.CreateRequest(t.Context(), r))
}

func createUser(t *testing.T, s store.Store, u *store.User) {
	t.Helper()
	must(t, s.CreateUser(t.Context(), u))
}

func getRequest(t *testing.T, s store.Store, id string) *store.Request {
	t.Helper()
	r, err := s.GetRequest(t.Context(), id)
	must(t, err)
	return r
}

// checkEqual compares two structs field by field: times with Equal and a
// check that got is in UTC, blobs byte for byte with empty required to be
// nil, everything else with ==.
func checkEqual(t *testing.T, want, got any) {
	t.Helper()
	for _, d := range diff(want, got) {
		t.Error(d)
	}
}

func diff(want, got any) []string {
	wv, gv := reflect.Indirect(reflect.ValueOf(want)), reflect.Indirect(reflect.ValueOf(got))
	if !gv.IsValid() {
		return []string{"got nil"}
	}
	var out []string
	for i := range wv.NumField() {
		name := wv.Type().Field(i).Name
		w, g := wv.Field(i).Interface(), gv.Field(i).Interface()
		switch w := w.(type) {
		case time.Time:
			g := g.(time.Time)
			if !w.Equal(g) {
				out = append(out, fmt.Sprintf("%s: got %v, want %v", name, g, w))
			} else if g.Location() != time.UTC {
				out = append(out, fmt.Sprintf("%s: got location %v, want UTC", name, g.Location()))
			}
		case []byte:
			g := g.([]byte)
			if !bytes.Equal(w, g) {
				out = append(out, fmt.Sprintf("%s: got %s, want %s", name, short(g), short(w)))
			} else if g != nil && len(g) == 0 {
				out = append(out, fmt.Sprintf("%s: got empty non-nil slice, want nil", name))
			}
		default:
			if w != g {
				out = append(out, fmt.Sprintf("%s: got %v, want %v", name, g, w))
			}
		}
	}
	return out
}

func short(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 16 {
		return fmt.Sprintf("%x… (%d bytes)", b[:16], len(b))
	}
	return fmt.Sprintf("%x", b)
}

// micro is what the store gives back for t.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// auditHash hashes every field of an entry, At to the nanosecond, so a
// store that changed At after hashing would be caught.
func auditHash(e *store.AuditEntry) []byte {
	h := sha256.New()
	var buf [8]byte
	for _, v := range []int64{e.Seq, e.At.UnixNano(), e.ActorID} {
		binary.BigEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	for _, s := range []string{e.Action, e.Object} {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	h.Write(e.PrevHash)
	return h.Sum(nil)
}

func appendAudit(t *testing.T, s store.Store, actor int64, action string) *store.AuditEntry {
	t.Helper()
	e := &store.AuditEntry{At: time.Now(), ActorID: actor, Action: action, Object: "request:x"}
	must(t, s.AppendAudit(t.Context(), e, auditHash))
	return e
}

// checkChain verifies that entries are consecutive from first, linked, and
// that each Hash can be recomputed from what was stored.
func checkChain(t *testing.T, entries []*store.AuditEntry, first int64) {
	t.Helper()
	for i, e := range entries {
		if want := first + int64(i); e.Seq != want {
			t.Fatalf("entry %d: Seq %d, want %d", i, e.Seq, want)
		}
		if i > 0 && !bytes.Equal(e.PrevHash, entries[i-1].Hash) {
			t.Fatalf("entry %d: PrevHash %x, want Hash of previous entry %x", e.Seq, e.PrevHash, entries[i-1].Hash)
		}
		if e.Seq == 1 && e.PrevHash != nil {
			t.Fatalf("entry 1: PrevHash %x, want nil", e.PrevHash)
		}
		if got := auditHash(e); !bytes.Equal(got, e.Hash) {
			t.Fatalf("entry %d: stored Hash %x, recomputed %x", e.Seq, e.Hash, got)
		}
	}
}

var errRollback = errors.New("storetest: roll back")

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
