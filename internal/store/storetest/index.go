package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var indexTests = []test{
	{"SetAndGet", testSetCaseIndex},
	{"NotFound", testCaseIndexNotFound},
	{"FindCases", testFindCases},
	{"EraseRemoves", testEraseRemovesIndex},
	{"TxRollback", testIndexTxRollback},
	{"Watch", testWatch},
	{"MatchWatch", testMatchWatch},
}

func entry(kind, value string) store.IndexEntry {
	return store.IndexEntry{Kind: kind, Value: []byte(value)}
}

func caseIndex(t *testing.T, s store.Store, id string) []store.IndexEntry {
	t.Helper()
	got, err := s.CaseIndex(t.Context(), id)
	must(t, err)
	return got
}

func checkEntries(t *testing.T, what string, got, want []store.IndexEntry) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: got nil, want an empty list", what)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d entries %v, want %d", what, len(got), got, len(want))
	}
	for i := range want {
		if got[i].Kind != want[i].Kind || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("%s: entry %d = %s/%q, want %s/%q", what, i, got[i].Kind, got[i].Value, want[i].Kind, want[i].Value)
		}
	}
}

func testSetCaseIndex(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", at(0)))
	checkEntries(t, "new case", caseIndex(t, s, "c1"), nil)

	// Given out of order and with a repeat; read back by kind, then value.
	must(t, s.SetCaseIndex(ctx, "c1", []store.IndexEntry{
		entry(store.IndexPhone, "p2"), entry(store.IndexEmail, "e1"), entry(store.IndexPhone, "p1"), entry(store.IndexPhone, "p2"),
	}))
	checkEntries(t, "set", caseIndex(t, s, "c1"), []store.IndexEntry{
		entry(store.IndexEmail, "e1"), entry(store.IndexPhone, "p1"), entry(store.IndexPhone, "p2"),
	})
	// The same value under two kinds is two entries.
	must(t, s.SetCaseIndex(ctx, "c1", []store.IndexEntry{entry(store.IndexHandle, "x"), entry(store.IndexEmail, "x")}))
	checkEntries(t, "replaced", caseIndex(t, s, "c1"), []store.IndexEntry{entry(store.IndexEmail, "x"), entry(store.IndexHandle, "x")})
	must(t, s.SetCaseIndex(ctx, "c1", nil))
	checkEntries(t, "cleared", caseIndex(t, s, "c1"), nil)

	if err := s.SetCaseIndex(ctx, "c1", []store.IndexEntry{{Kind: store.IndexPhone}}); err == nil {
		t.Error("an empty value was accepted")
	}
	// Setting the index does not touch the case.
	before := getCase(t, s, "c1")
	must(t, s.SetCaseIndex(ctx, "c1", []store.IndexEntry{entry(store.IndexPhone, "p")}))
	checkEqual(t, before, getCase(t, s, "c1"))
}

func testCaseIndexNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantErr(t, s.SetCaseIndex(ctx, "nope", []store.IndexEntry{entry(store.IndexPhone, "p")}), store.ErrNotFound)
	_, err := s.CaseIndex(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	got, err := s.FindCases(ctx, []store.IndexEntry{entry(store.IndexPhone, "p")}, 0)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("FindCases in an empty index = %v", got)
	}
	got, err = s.FindCases(ctx, nil, 0)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("FindCases of nothing = %v", got)
	}
}

func testFindCases(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"c3", "c1", "c2", "c4"} {
		createCase(t, s, newCase(id, at(0)))
	}
	must(t, s.SetCaseIndex(ctx, "c1", []store.IndexEntry{entry(store.IndexPhone, "79123456789"), entry(store.IndexEmail, "a@b")}))
	must(t, s.SetCaseIndex(ctx, "c2", []store.IndexEntry{entry(store.IndexEmail, "a@b")}))
	must(t, s.SetCaseIndex(ctx, "c3", []store.IndexEntry{entry(store.IndexPhone, "79123456789"), entry(store.IndexEmail, "a@b")}))
	// The same bytes under another kind do not match.
	must(t, s.SetCaseIndex(ctx, "c4", []store.IndexEntry{entry(store.IndexHandle, "a@b")}))

	got, err := s.FindCases(ctx, []store.IndexEntry{
		entry(store.IndexEmail, "a@b"), entry(store.IndexPhone, "79123456789"), entry(store.IndexEmail, "a@b"),
	}, 0)
	must(t, err)
	want := []store.IndexMatch{
		{CaseID: "c1", Kind: store.IndexEmail}, {CaseID: "c1", Kind: store.IndexPhone}, {CaseID: "c2", Kind: store.IndexEmail},
		{CaseID: "c3", Kind: store.IndexEmail}, {CaseID: "c3", Kind: store.IndexPhone},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FindCases = %v, want %v", got, want)
	}
	got, err = s.FindCases(ctx, []store.IndexEntry{entry(store.IndexEmail, "a@b"), entry(store.IndexPhone, "79123456789")}, 2)
	must(t, err)
	if fmt.Sprint(got) != fmt.Sprint(want[:2]) {
		t.Errorf("FindCases limit 2 = %v, want %v", got, want[:2])
	}
	got, err = s.FindCases(ctx, []store.IndexEntry{entry(store.IndexPhone, "0000")}, 0)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("FindCases of an unknown value = %v", got)
	}
}

func testEraseRemovesIndex(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", at(0)))
	createCase(t, s, newCase("c2", at(0)))
	e := entry(store.IndexPhone, "79123456789")
	must(t, s.SetCaseIndex(ctx, "c1", []store.IndexEntry{e}))
	must(t, s.SetCaseIndex(ctx, "c2", []store.IndexEntry{e}))
	must(t, s.EraseCase(ctx, "c1", at(time.Hour)))

	checkEntries(t, "erased case", caseIndex(t, s, "c1"), nil)
	got, err := s.FindCases(ctx, []store.IndexEntry{e}, 0)
	must(t, err)
	if fmt.Sprint(got) != fmt.Sprint([]store.IndexMatch{{CaseID: "c2", Kind: store.IndexPhone}}) {
		t.Errorf("FindCases after erasure = %v, want only c2", got)
	}
	wantErr(t, s.SetCaseIndex(ctx, "c1", []store.IndexEntry{e}), store.ErrNotFound)
	checkEntries(t, "erased case after a refused set", caseIndex(t, s, "c1"), nil)
}

func testIndexTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", at(0)))
	must(t, s.SetCaseIndex(ctx, "c1", []store.IndexEntry{entry(store.IndexPhone, "old")}))
	err := s.Tx(ctx, func(tx store.Store) error {
		must(t, tx.SetCaseIndex(ctx, "c1", []store.IndexEntry{entry(store.IndexPhone, "new")}))
		must(t, tx.AddWatch(ctx, &store.WatchEntry{ID: "w1", Kind: store.IndexPhone, Value: []byte("new"), CreatedAt: at(0)}))
		// An error inside leaves the transaction usable.
		wantErr(t, tx.SetCaseIndex(ctx, "nope", nil), store.ErrNotFound)
		wantErr(t, tx.AddWatch(ctx, &store.WatchEntry{ID: "w2", Kind: store.IndexPhone, Value: []byte("new"), CreatedAt: at(0)}), store.ErrConflict)
		checkEntries(t, "inside", caseIndex(t, tx, "c1"), []store.IndexEntry{entry(store.IndexPhone, "new")})
		return errRollback
	})
	wantErr(t, err, errRollback)
	checkEntries(t, "after rollback", caseIndex(t, s, "c1"), []store.IndexEntry{entry(store.IndexPhone, "old")})
	list, err := s.ListWatch(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Errorf("watch list after rollback: %d entries", len(list))
	}
}

func testWatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListWatch(ctx)
	must(t, err)
	if list == nil || len(list) != 0 {
		t.Fatalf("empty watch list = %#v", list)
	}
	w2 := &store.WatchEntry{ID: "w2", Kind: store.IndexPhone, Value: []byte("p"), Note: randomBytes(40),
		CreatedAt: at(time.Second + 1234*time.Nanosecond), CreatedBy: 7}
	w1 := &store.WatchEntry{ID: "w1", Kind: store.IndexHandle, Value: []byte("h"), Note: []byte{}, CreatedAt: at(time.Second)}
	w0 := &store.WatchEntry{ID: "w0", Kind: store.IndexEmail, Value: []byte("e"), CreatedAt: at(2 * time.Second)}
	for _, w := range []*store.WatchEntry{w2, w1, w0} {
		must(t, s.AddWatch(ctx, w))
	}
	if !w2.CreatedAt.Equal(micro(at(time.Second+1234*time.Nanosecond))) || w1.Note != nil {
		t.Errorf("AddWatch did not normalise: %v %v", w2.CreatedAt, w1.Note)
	}
	wantErr(t, s.AddWatch(ctx, &store.WatchEntry{ID: "w9", Kind: store.IndexPhone, Value: []byte("p"), CreatedAt: at(0)}), store.ErrConflict)
	wantErr(t, s.AddWatch(ctx, &store.WatchEntry{ID: "w1", Kind: store.IndexPhone, Value: []byte("q"), CreatedAt: at(0)}), store.ErrConflict)
	// The same value under another kind is another entry.
	w3 := &store.WatchEntry{ID: "w3", Kind: store.IndexHandle, Value: []byte("p"), CreatedAt: at(time.Second)}
	must(t, s.AddWatch(ctx, w3))

	list, err = s.ListWatch(ctx)
	must(t, err)
	want := []*store.WatchEntry{w1, w3, w2, w0} // by time, then id
	if len(list) != len(want) {
		t.Fatalf("ListWatch: %d entries, want %d", len(list), len(want))
	}
	for i := range want {
		for _, d := range diff(want[i], list[i]) {
			t.Errorf("ListWatch entry %d: %s", i, d)
		}
	}
	must(t, s.DeleteWatch(ctx, "w3"))
	wantErr(t, s.DeleteWatch(ctx, "w3"), store.ErrNotFound)
	list, err = s.ListWatch(ctx)
	must(t, err)
	if len(list) != 3 {
		t.Errorf("after delete: %d entries, want 3", len(list))
	}
}

func testMatchWatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.AddWatch(ctx, &store.WatchEntry{ID: "wb", Kind: store.IndexPhone, Value: []byte("p"), CreatedAt: at(time.Second)}))
	must(t, s.AddWatch(ctx, &store.WatchEntry{ID: "wa", Kind: store.IndexEmail, Value: []byte("e"), CreatedAt: at(time.Second)}))
	must(t, s.AddWatch(ctx, &store.WatchEntry{ID: "w0", Kind: store.IndexHandle, Value: []byte("h"), CreatedAt: at(0)}))
	got, err := s.MatchWatch(ctx, []store.IndexEntry{
		entry(store.IndexPhone, "p"), entry(store.IndexHandle, "p"), entry(store.IndexEmail, "e"),
		entry(store.IndexHandle, "h"), entry(store.IndexPhone, "p"), entry(store.IndexPhone, "zzz"),
	})
	must(t, err)
	var ids []string
	for _, w := range got {
		ids = append(ids, w.ID)
	}
	if fmt.Sprint(ids) != "[w0 wa wb]" {
		t.Errorf("MatchWatch = %v, want [w0 wa wb]", ids)
	}
	got, err = s.MatchWatch(ctx, nil)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("MatchWatch of nothing = %v", got)
	}
}
