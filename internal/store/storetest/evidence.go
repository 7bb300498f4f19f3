package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var evidenceTests = []test{
	{"CreateGet", testEvidenceCreateGet},
	{"References", testEvidenceReferences},
	{"List", testEvidenceList},
	{"Consent", testEvidenceConsent},
	{"WorkingCopy", testWorkingCopy},
	{"Destroy", testEvidenceDestroy},
	{"CustodyChain", testCustodyChain},
	{"CustodyConcurrent", testCustodyConcurrent},
	{"Outbox", testOutbox},
	{"TxRollback", testEvidenceTxRollback},
	{"Custodians", testCustodians},
	{"Uploads", testEvidenceUploads},
}

// testEvidenceUploads: an upload key maps to one item, once; a second
// record of the same key is a conflict and rolls back its transaction.
func testEvidenceUploads(t *testing.T, s store.Store) {
	ctx := t.Context()
	createItem(t, s, newItem("vu1", t0))
	createItem(t, s, newItem("vu2", t0))
	_, err := s.UploadItem(ctx, "up1")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.RecordUpload(ctx, "up1", "vu1"))
	got, err := s.UploadItem(ctx, "up1")
	must(t, err)
	if got != "vu1" {
		t.Fatalf("UploadItem = %q, want vu1", got)
	}
	err = s.Tx(ctx, func(tx store.Store) error {
		if err := tx.CreateEvidence(ctx, newItem("vu3", t0)); err != nil {
			return err
		}
		return tx.RecordUpload(ctx, "up1", "vu3")
	})
	wantErr(t, err, store.ErrConflict)
	if _, err := s.GetEvidence(ctx, "vu3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the item of a conflicting upload survived its transaction: %v", err)
	}
	if got, _ := s.UploadItem(ctx, "up1"); got != "vu1" {
		t.Fatalf("after the conflict UploadItem = %q, want vu1", got)
	}
}

func newItem(id string, created time.Time) *store.EvidenceItem {
	return &store.EvidenceItem{ID: id, BlobID: fmt.Sprintf("%032x", randomBytes(16)), Record: randomBytes(400),
		Commitment: randomBytes(32), Consent: store.ConsentNone, CreatedAt: created}
}

func createItem(t *testing.T, s store.Store, it *store.EvidenceItem) {
	t.Helper()
	must(t, s.CreateEvidence(t.Context(), it))
}

// event returns a next function for AppendCustodyEvent that appends an
// event of type typ whose entry names the item, seq and previous entry.
func event(itemID, typ string, at time.Time) func(last *store.CustodyEvent) (*store.CustodyEvent, error) {
	return func(last *store.CustodyEvent) (*store.CustodyEvent, error) {
		seq, prev := int64(1), []byte("none")
		if last != nil {
			seq, prev = last.Seq+1, last.Entry
		}
		entry := fmt.Appendf(nil, "%s %d %s after %x", itemID, seq, typ, prev[:min(len(prev), 8)])
		return &store.CustodyEvent{ItemID: itemID, Seq: seq, Type: typ, At: at, Entry: entry, ActorSeal: randomBytes(90)}, nil
	}
}

func appendEvent(t *testing.T, s store.Store, itemID, typ string, at time.Time) *store.CustodyEvent {
	t.Helper()
	e, err := s.AppendCustodyEvent(t.Context(), itemID, event(itemID, typ, at))
	must(t, err)
	return e
}

func testEvidenceCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	it := newItem("v1", t0.Add(time.Nanosecond).In(time.FixedZone("x", 3600)))
	createItem(t, s, it)
	want := *it
	want.CreatedAt = t0
	checkEqual(t, &want, it)
	got, err := s.GetEvidence(ctx, "v1")
	must(t, err)
	checkEqual(t, &want, got)

	wantErr(t, s.CreateEvidence(ctx, newItem("v1", t0)), store.ErrConflict)
	_, err = s.GetEvidence(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	// The store refuses what would break the invariants: a live item
	// without its blob or record, a commitment of the wrong size, an
	// unknown consent, an item in both a case and a request.
	for name, bad := range map[string]func(*store.EvidenceItem){
		"no blob":         func(it *store.EvidenceItem) { it.BlobID = "" },
		"no record":       func(it *store.EvidenceItem) { it.Record = nil },
		"short commit":    func(it *store.EvidenceItem) { it.Commitment = randomBytes(31) },
		"unknown consent": func(it *store.EvidenceItem) { it.Consent = "maybe" },
	} {
		it := newItem("v-"+name[:2], t0)
		bad(it)
		if err := s.CreateEvidence(ctx, it); err == nil {
			t.Errorf("%s: CreateEvidence accepted it", name)
		}
	}
}

func testEvidenceReferences(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createRequest(t, s, newRequest("r1", t0))

	inCase := newItem("v1", t0)
	inCase.CaseID = "c1"
	createItem(t, s, inCase)
	inRequest := newItem("v2", t0)
	inRequest.RequestID = "r1"
	createItem(t, s, inRequest)
	for _, it := range []*store.EvidenceItem{inCase, inRequest} {
		got, err := s.GetEvidence(ctx, it.ID)
		must(t, err)
		checkEqual(t, it, got)
	}

	noCase := newItem("v3", t0)
	noCase.CaseID = "c404"
	wantErr(t, s.CreateEvidence(ctx, noCase), store.ErrNotFound)
	noRequest := newItem("v4", t0)
	noRequest.RequestID = "r404"
	wantErr(t, s.CreateEvidence(ctx, noRequest), store.ErrNotFound)
	both := newItem("v5", t0)
	both.CaseID, both.RequestID = "c1", "r1"
	if err := s.CreateEvidence(ctx, both); err == nil {
		t.Error("an item in both a case and a request was accepted")
	}

	// An erased case takes no new evidence.
	must(t, s.EraseCase(ctx, "c1", at(time.Hour)))
	erased := newItem("v6", t0)
	erased.CaseID = "c1"
	wantErr(t, s.CreateEvidence(ctx, erased), store.ErrNotFound)
	for _, id := range []string{"v3", "v4", "v5", "v6"} {
		if _, err := s.GetEvidence(ctx, id); !isNotFound(err) {
			t.Errorf("refused item %s was stored: %v", id, err)
		}
	}
}

func itemIDs(items []*store.EvidenceItem) []string {
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func testEvidenceList(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	createRequest(t, s, newRequest("r1", t0))
	add := func(id, caseID, reqID string, created time.Time) {
		it := newItem(id, created)
		it.CaseID, it.RequestID = caseID, reqID
		createItem(t, s, it)
	}
	add("v3", "c1", "", at(time.Minute))
	add("v1", "c1", "", at(time.Minute)) // same time: by id
	add("v2", "c1", "", at(0))
	add("v4", "c2", "", at(0))
	add("v5", "", "r1", at(0))
	add("v6", "", "", at(-time.Hour))

	for _, c := range []struct {
		f    store.EvidenceFilter
		want []string
	}{
		{store.EvidenceFilter{CaseID: "c1"}, []string{"v2", "v1", "v3"}},
		{store.EvidenceFilter{CaseID: "c2"}, []string{"v4"}},
		{store.EvidenceFilter{RequestID: "r1"}, []string{"v5"}},
		{store.EvidenceFilter{CaseID: "c404"}, nil},
		{store.EvidenceFilter{}, []string{"v6", "v2", "v4", "v5", "v1", "v3"}},
	} {
		list, err := s.ListEvidence(ctx, c.f)
		must(t, err)
		if got := itemIDs(list); !slices.Equal(got, c.want) {
			t.Errorf("ListEvidence(%+v) = %v, want %v", c.f, got, c.want)
		}
		for _, it := range list {
			full, err := s.GetEvidence(ctx, it.ID)
			must(t, err)
			checkEqual(t, full, it)
		}
	}
}

func testEvidenceConsent(t *testing.T, s store.Store) {
	ctx := t.Context()
	createItem(t, s, newItem("v1", t0))
	for _, c := range []string{store.ConsentCourt, store.ConsentPublicAnonymised, store.ConsentNone} {
		must(t, s.SetEvidenceConsent(ctx, "v1", c))
		got, err := s.GetEvidence(ctx, "v1")
		must(t, err)
		if got.Consent != c {
			t.Errorf("consent %q after setting %q", got.Consent, c)
		}
	}
	if err := s.SetEvidenceConsent(ctx, "v1", "whatever"); err == nil {
		t.Error("an unknown consent value was stored")
	}
	wantErr(t, s.SetEvidenceConsent(ctx, "v404", store.ConsentCourt), store.ErrNotFound)
	_, err := s.DestroyEvidence(ctx, "v1", at(time.Hour))
	must(t, err)
	wantErr(t, s.SetEvidenceConsent(ctx, "v1", store.ConsentCourt), store.ErrNotFound)
}

func testWorkingCopy(t *testing.T, s store.Store) {
	ctx := t.Context()
	createItem(t, s, newItem("v1", t0))
	_, err := s.GetWorkingCopy(ctx, "v1")
	wantErr(t, err, store.ErrNotFound)
	c := &store.WorkingCopy{ItemID: "v1", BlobID: "copy1", Info: randomBytes(120), CreatedAt: t0.Add(time.Nanosecond)}
	must(t, s.AddWorkingCopy(ctx, c))
	want := *c
	want.CreatedAt = t0
	checkEqual(t, &want, c)
	got, err := s.GetWorkingCopy(ctx, "v1")
	must(t, err)
	checkEqual(t, &want, got)
	wantErr(t, s.AddWorkingCopy(ctx, &store.WorkingCopy{ItemID: "v1", BlobID: "copy2", Info: randomBytes(9), CreatedAt: t0}), store.ErrConflict)
	wantErr(t, s.AddWorkingCopy(ctx, &store.WorkingCopy{ItemID: "v404", BlobID: "copy3", Info: randomBytes(9), CreatedAt: t0}), store.ErrNotFound)
	for id, want := range map[string]bool{"copy1": true, "copy2": false} {
		known, err := s.EvidenceBlobKnown(ctx, id)
		must(t, err)
		if known != want {
			t.Errorf("EvidenceBlobKnown(%s) = %v, want %v", id, known, want)
		}
	}
}

func testEvidenceDestroy(t *testing.T, s store.Store) {
	ctx := t.Context()
	it := newItem("v1", t0)
	createItem(t, s, it)
	other := newItem("v2", t0)
	createItem(t, s, other)
	must(t, s.AddWorkingCopy(ctx, &store.WorkingCopy{ItemID: "v1", BlobID: "copy1", Info: randomBytes(50), CreatedAt: t0}))
	appendEvent(t, s, "v1", "ingested", t0)

	blobs, err := s.DestroyEvidence(ctx, "v1", at(time.Hour+time.Nanosecond))
	must(t, err)
	slices.Sort(blobs)
	if want := []string{it.BlobID, "copy1"}; !slices.Equal(blobs, slices.Sorted(slices.Values(want))) {
		t.Errorf("DestroyEvidence returned %v, want %v", blobs, want)
	}
	got, err := s.GetEvidence(ctx, "v1")
	must(t, err)
	want := *it
	want.BlobID, want.Record, want.DestroyedAt = "", nil, at(time.Hour)
	checkEqual(t, &want, got)
	_, err = s.GetWorkingCopy(ctx, "v1")
	wantErr(t, err, store.ErrNotFound)
	for _, id := range []string{it.BlobID, "copy1"} {
		if known, err := s.EvidenceBlobKnown(ctx, id); err != nil || known {
			t.Errorf("EvidenceBlobKnown(%s) after destroy = %v, %v", id, known, err)
		}
	}
	if known, err := s.EvidenceBlobKnown(ctx, other.BlobID); err != nil || !known {
		t.Errorf("another item's blob unknown after destroy: %v, %v", known, err)
	}
	// The trail stays, and can be continued (the destroyed event).
	appendEvent(t, s, "v1", "destroyed", at(time.Hour))
	events, err := s.CustodyEvents(ctx, "v1")
	must(t, err)
	if len(events) != 2 {
		t.Fatalf("%d events after destroy, want 2", len(events))
	}

	_, err = s.DestroyEvidence(ctx, "v1", at(2*time.Hour))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.DestroyEvidence(ctx, "v404", at(2*time.Hour))
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.AddWorkingCopy(ctx, &store.WorkingCopy{ItemID: "v1", BlobID: "copy9", Info: randomBytes(9), CreatedAt: t0}), store.ErrNotFound)
	if got, _ := s.GetEvidence(ctx, "v1"); !got.DestroyedAt.Equal(at(time.Hour)) {
		t.Errorf("a second destroy moved DestroyedAt to %v", got.DestroyedAt)
	}
}

func testCustodyChain(t *testing.T, s store.Store) {
	ctx := t.Context()
	createItem(t, s, newItem("v1", t0))
	createItem(t, s, newItem("v2", t0))
	events, err := s.CustodyEvents(ctx, "v1")
	must(t, err)
	if events == nil || len(events) != 0 {
		t.Fatalf("CustodyEvents of an item without any = %#v, want an empty list", events)
	}
	_, err = s.CustodyEvents(ctx, "v404")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.AppendCustodyEvent(ctx, "v404", event("v404", "ingested", t0))
	wantErr(t, err, store.ErrNotFound)

	var want []*store.CustodyEvent
	for i, typ := range []string{"ingested", "viewed", "consent_changed"} {
		e := appendEvent(t, s, "v1", typ, at(time.Duration(i)*time.Second+time.Nanosecond))
		if e.Seq != int64(i+1) || e.Logged || !e.At.Equal(at(time.Duration(i)*time.Second)) {
			t.Fatalf("appended %+v", e)
		}
		want = append(want, e)
	}
	appendEvent(t, s, "v2", "ingested", t0)

	// next sees the last event as stored.
	_, err = s.AppendCustodyEvent(ctx, "v1", func(last *store.CustodyEvent) (*store.CustodyEvent, error) {
		checkEqual(t, want[2], last)
		return nil, errRollback
	})
	wantErr(t, err, errRollback)

	// A wrong seq (a gap, a repeat, another item's id) is refused.
	for name, e := range map[string]*store.CustodyEvent{
		"gap":    {ItemID: "v1", Seq: 5, Type: "viewed", At: t0, Entry: []byte("x")},
		"repeat": {ItemID: "v1", Seq: 3, Type: "viewed", At: t0, Entry: []byte("x")},
		"other":  {ItemID: "v2", Seq: 4, Type: "viewed", At: t0, Entry: []byte("x")},
	} {
		_, err := s.AppendCustodyEvent(ctx, "v1", func(*store.CustodyEvent) (*store.CustodyEvent, error) { return e, nil })
		if !isConflict(err) {
			t.Errorf("%s: %v, want ErrConflict", name, err)
		}
	}

	got, err := s.CustodyEvents(ctx, "v1")
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		checkEqual(t, want[i], got[i])
	}
	pending, err := s.OutboxPending(ctx, 100)
	must(t, err)
	if len(pending) != 4 {
		t.Fatalf("%d outbox entries, want 4 (refused appends must leave none)", len(pending))
	}
}

func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

// testCustodyConcurrent appends to one item from several goroutines: the
// store must serialise them, so the trail is 1…n without a gap or repeat.
func testCustodyConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	createItem(t, s, newItem("v1", t0))
	const workers, each = 4, 5
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := s.AppendCustodyEvent(ctx, "v1", event("v1", "viewed", t0)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	events, err := s.CustodyEvents(ctx, "v1")
	must(t, err)
	if len(events) != workers*each {
		t.Fatalf("%d events, want %d", len(events), workers*each)
	}
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		if i > 0 && !bytes.Contains(e.Entry, fmt.Appendf(nil, "after %x", events[i-1].Entry[:8])) {
			t.Fatalf("event %d was built from another event than its predecessor", e.Seq)
		}
	}
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := t.Context()
	createItem(t, s, newItem("v1", t0))
	createItem(t, s, newItem("v2", t0))
	var entries [][]byte
	for i, id := range []string{"v1", "v2", "v1", "v2", "v1"} {
		e := appendEvent(t, s, id, "viewed", at(time.Duration(i)*time.Second))
		entries = append(entries, e.Entry)
	}
	if n, err := s.OutboxLoggedCount(ctx); err != nil || n != 0 {
		t.Fatalf("OutboxLoggedCount = %d, %v before anything is logged", n, err)
	}
	pending, err := s.OutboxPending(ctx, 3)
	must(t, err)
	if len(pending) != 3 {
		t.Fatalf("OutboxPending(3) gave %d", len(pending))
	}
	for i, p := range pending {
		if !bytes.Equal(p.Entry, entries[i]) {
			t.Fatalf("outbox entry %d is not the %d-th event recorded", i, i)
		}
		if i > 0 && p.Seq <= pending[i-1].Seq {
			t.Fatalf("outbox seqs not increasing: %d after %d", p.Seq, pending[i-1].Seq)
		}
	}
	if none, err := s.OutboxPending(ctx, 0); err != nil || len(none) != 0 {
		t.Fatalf("OutboxPending(0) = %v, %v", none, err)
	}

	must(t, s.OutboxDone(ctx, pending[0].Seq, 0))
	must(t, s.OutboxDone(ctx, pending[1].Seq, 1))
	wantErr(t, s.OutboxDone(ctx, pending[0].Seq, 0), store.ErrNotFound)
	wantErr(t, s.OutboxDone(ctx, pending[2].Seq, 1), store.ErrConflict)
	wantErr(t, s.OutboxDone(ctx, 1<<40, 7), store.ErrNotFound)
	if n, err := s.OutboxLoggedCount(ctx); err != nil || n != 2 {
		t.Fatalf("OutboxLoggedCount = %d, %v, want 2", n, err)
	}
	rest, err := s.OutboxPending(ctx, 10)
	must(t, err)
	if len(rest) != 3 || rest[0].Seq != pending[2].Seq {
		t.Fatalf("after two done, pending = %v", rest)
	}
	// A big index survives the round trip.
	const big = uint64(1)<<62 + 5
	must(t, s.OutboxDone(ctx, rest[0].Seq, big))

	events, err := s.CustodyEvents(ctx, "v1")
	must(t, err)
	if !events[0].Logged || events[0].LogIndex != 0 {
		t.Errorf("v1 event 1: logged %v index %d, want index 0", events[0].Logged, events[0].LogIndex)
	}
	if !events[1].Logged || events[1].LogIndex != big {
		t.Errorf("v1 event 2: logged %v index %d, want %d", events[1].Logged, events[1].LogIndex, big)
	}
	if events[2].Logged {
		t.Errorf("v1 event 3 logged at %d, but it is still in the outbox", events[2].LogIndex)
	}
	v2, err := s.CustodyEvents(ctx, "v2")
	must(t, err)
	if !v2[0].Logged || v2[0].LogIndex != 1 || v2[1].Logged {
		t.Errorf("v2 events: %+v %+v", v2[0], v2[1])
	}

	// Seqs are never reused, even once the outbox is empty.
	for _, p := range rest[1:] {
		must(t, s.OutboxDone(ctx, p.Seq, uint64(p.Seq)+1000))
	}
	appendEvent(t, s, "v2", "viewed", at(time.Hour))
	again, err := s.OutboxPending(ctx, 10)
	must(t, err)
	if len(again) != 1 || again[0].Seq <= rest[len(rest)-1].Seq {
		t.Fatalf("after emptying the outbox, the next entry has seq %v (last was %d)", again, rest[len(rest)-1].Seq)
	}
	if n, err := s.OutboxLoggedCount(ctx); err != nil || n != 5 {
		t.Fatalf("OutboxLoggedCount = %d, %v, want 5", n, err)
	}
}

func testEvidenceTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(tx store.Store) error {
		createItem(t, tx, newItem("v1", t0))
		if _, err := tx.AppendCustodyEvent(ctx, "v1", event("v1", "ingested", t0)); err != nil {
			return err
		}
		wantErr(t, tx.CreateEvidence(ctx, newItem("v1", t0)), store.ErrConflict)
		return errRollback
	})
	wantErr(t, err, errRollback)
	_, err = s.GetEvidence(ctx, "v1")
	wantErr(t, err, store.ErrNotFound)
	if p, err := s.OutboxPending(ctx, 10); err != nil || len(p) != 0 {
		t.Fatalf("outbox after rollback: %v, %v", p, err)
	}

	// Committed together: the item, its event and the outbox entry.
	must(t, s.Tx(ctx, func(tx store.Store) error {
		if err := tx.CreateEvidence(ctx, newItem("v2", t0)); err != nil {
			return err
		}
		_, err := tx.AppendCustodyEvent(ctx, "v2", event("v2", "ingested", t0))
		return err
	}))
	if p, err := s.OutboxPending(ctx, 10); err != nil || len(p) != 1 {
		t.Fatalf("outbox after commit: %v, %v", p, err)
	}
}

func testCustodians(t *testing.T, s store.Store) {
	ctx := t.Context()
	if list, err := s.ListCustodians(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListCustodians on an empty store = %v, %v", list, err)
	}
	a := &store.Custodian{ID: "u2", Name: randomBytes(40), Recipient: "age1aaa", Active: true, CreatedAt: at(time.Second + time.Nanosecond)}
	b := &store.Custodian{ID: "u1", Name: randomBytes(40), Recipient: "age1yubikey1bbb", Active: true, CreatedAt: at(time.Second)}
	c := &store.Custodian{ID: "u0", Name: randomBytes(40), Recipient: "age1ccc", Active: true, CreatedAt: at(2 * time.Second)}
	for _, x := range []*store.Custodian{a, b, c} {
		must(t, s.AddCustodian(ctx, x))
	}
	if !a.CreatedAt.Equal(at(time.Second)) {
		t.Errorf("AddCustodian left CreatedAt %v", a.CreatedAt)
	}
	wantErr(t, s.AddCustodian(ctx, &store.Custodian{ID: "u1", Name: randomBytes(4), Recipient: "age1x", CreatedAt: t0}), store.ErrConflict)

	must(t, s.DisableCustodian(ctx, "u1", at(time.Hour)))
	must(t, s.DisableCustodian(ctx, "u1", at(2*time.Hour)))
	wantErr(t, s.DisableCustodian(ctx, "u404", at(time.Hour)), store.ErrNotFound)

	list, err := s.ListCustodians(ctx)
	must(t, err)
	if len(list) != 3 {
		t.Fatalf("%d custodians, want 3", len(list))
	}
	wantB := *b
	wantB.Active, wantB.DisabledAt = false, at(time.Hour)
	for i, want := range []*store.Custodian{&wantB, a, c} {
		checkEqual(t, want, list[i])
	}
}
