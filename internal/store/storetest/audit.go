package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var auditTests = []test{
	{"Append", testAuditAppend},
	{"List", testListAudit},
	{"ListDefaultLimit", testListAuditDefaultLimit},
	{"Range", testAuditRange},
	{"Concurrent", testAuditConcurrent},
	{"InTx", testAuditInTx},
	{"EmptyHash", testAuditEmptyHash},
}

func seqs(es []*store.AuditEntry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func seqRange(from, to int64) []int64 {
	var out []int64
	if from <= to {
		for s := from; s <= to; s++ {
			out = append(out, s)
		}
	} else {
		for s := from; s >= to; s-- {
			out = append(out, s)
		}
	}
	return out
}

func testAuditAppend(t *testing.T, s store.Store) {
	ctx := t.Context()
	var appended []*store.AuditEntry
	for i := range 5 {
		var prev []byte
		if i > 0 {
			prev = appended[i-1].Hash
		}
		e := &store.AuditEntry{
			At:      time.Date(2026, 3, 1, 12, i, 0, 123456789, time.FixedZone("X", 7200)),
			ActorID: int64(i),
			Action:  "request.read",
			Object:  fmt.Sprintf("request:%d", i),
		}
		calls := 0
		must(t, s.AppendAudit(ctx, e, func(e *store.AuditEntry) []byte {
			calls++
			// The callback sees the entry as it will be stored.
			if e.Seq != int64(i+1) {
				t.Errorf("hash called with Seq %d, want %d", e.Seq, i+1)
			}
			if !bytes.Equal(e.PrevHash, prev) || (i == 0 && e.PrevHash != nil) {
				t.Errorf("hash called with PrevHash %x, want %x", e.PrevHash, prev)
			}
			if e.At.Nanosecond()%1000 != 0 {
				t.Errorf("hash called with At %v, not truncated to the microsecond", e.At)
			}
			return auditHash(e)
		}))
		if calls != 1 {
			t.Errorf("hash called %d times, want once", calls)
		}
		if e.Seq != int64(i+1) || !bytes.Equal(e.PrevHash, prev) || !bytes.Equal(e.Hash, auditHash(e)) {
			t.Errorf("after append %d: Seq %d, PrevHash %x, Hash %x", i, e.Seq, e.PrevHash, e.Hash)
		}
		appended = append(appended, e)
	}

	got, err := s.AuditRange(ctx, 1, 10)
	must(t, err)
	if len(got) != len(appended) {
		t.Fatalf("AuditRange: %d entries, want %d", len(got), len(appended))
	}
	for i := range got {
		want := *appended[i]
		want.At = micro(want.At)
		checkEqual(t, &want, got[i])
	}
	checkChain(t, got, 1)
}

func testListAudit(t *testing.T, s store.Store) {
	for i := range 10 {
		appendAudit(t, s, int64(i%2+1), "a") // odd seqs by actor 1, even by 2
	}
	tests := []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"All", store.AuditFilter{}, seqRange(10, 1)},
		{"Limit", store.AuditFilter{Limit: 3}, []int64{10, 9, 8}},
		{"BeforeSeq", store.AuditFilter{BeforeSeq: 8, Limit: 3}, []int64{7, 6, 5}},
		{"BeforeFirst", store.AuditFilter{BeforeSeq: 1}, nil},
		{"BeforePastEnd", store.AuditFilter{BeforeSeq: 100, Limit: 2}, []int64{10, 9}},
		{"Actor", store.AuditFilter{ActorID: 2}, []int64{10, 8, 6, 4, 2}},
		{"ActorBeforeSeq", store.AuditFilter{ActorID: 1, BeforeSeq: 6}, []int64{5, 3, 1}},
		{"ActorLimit", store.AuditFilter{ActorID: 1, Limit: 2}, []int64{9, 7}},
		{"UnknownActor", store.AuditFilter{ActorID: 99}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(t.Context(), tt.f)
			must(t, err)
			if !slices.Equal(seqs(got), tt.want) {
				t.Errorf("got seqs %v, want %v", seqs(got), tt.want)
			}
			for _, e := range got {
				if tt.f.ActorID > 0 && e.ActorID != tt.f.ActorID {
					t.Errorf("entry %d by actor %d", e.Seq, e.ActorID)
				}
			}
		})
	}
}

func testListAuditDefaultLimit(t *testing.T, s store.Store) {
	for range 105 {
		appendAudit(t, s, 1, "a")
	}
	for _, limit := range []int{0, -1} {
		got, err := s.ListAudit(t.Context(), store.AuditFilter{Limit: limit})
		must(t, err)
		if !slices.Equal(seqs(got), seqRange(105, 6)) {
			t.Errorf("Limit %d: got %d entries from %v, want 100 from 105 down", limit, len(got), seqs(got)[:min(3, len(got))])
		}
	}
	got, err := s.AuditRange(t.Context(), 1, 0)
	must(t, err)
	if !slices.Equal(seqs(got), seqRange(1, 100)) {
		t.Errorf("AuditRange(1, 0): got %d entries, want 1…100", len(got))
	}
}

func testAuditRange(t *testing.T, s store.Store) {
	got, err := s.AuditRange(t.Context(), 1, 10)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("empty log: %d entries", len(got))
	}
	for range 10 {
		appendAudit(t, s, 1, "a")
	}
	tests := []struct {
		from  int64
		limit int
		want  []int64
	}{
		{1, 3, []int64{1, 2, 3}},
		{4, 100, seqRange(4, 10)},
		{10, 5, []int64{10}},
		{11, 5, nil},
		{0, 4, []int64{1, 2, 3, 4}},
		{-5, 2, []int64{1, 2}},
	}
	for _, tt := range tests {
		got, err := s.AuditRange(t.Context(), tt.from, tt.limit)
		must(t, err)
		if !slices.Equal(seqs(got), tt.want) {
			t.Errorf("AuditRange(%d, %d): %v, want %v", tt.from, tt.limit, seqs(got), tt.want)
		}
		if len(got) > 0 {
			checkChain(t, got, got[0].Seq)
		}
	}
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	const workers, each = 8, 25
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  = map[int64]bool{}
		errs []error
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := &store.AuditEntry{At: time.Now(), ActorID: int64(w + 1), Action: "x", Object: fmt.Sprint(i)}
				err := s.AppendAudit(t.Context(), e, auditHash)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if got[e.Seq] {
					errs = append(errs, fmt.Errorf("seq %d handed out twice", e.Seq))
				}
				got[e.Seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	entries, err := s.AuditRange(t.Context(), 1, 2*workers*each)
	must(t, err)
	if len(entries) != workers*each {
		t.Fatalf("%d entries, want %d", len(entries), workers*each)
	}
	checkChain(t, entries, 1)
}

func testAuditInTx(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(tx store.Store) error {
		appendAudit(t, tx, 1, "rolled back")
		appendAudit(t, tx, 1, "rolled back")
		return errRollback
	})
	wantErr(t, err, errRollback)
	got, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("rolled-back appends visible: %v", seqs(got))
	}

	must(t, s.Tx(ctx, func(tx store.Store) error {
		appendAudit(t, tx, 1, "kept")
		appendAudit(t, tx, 1, "kept")
		return nil
	}))
	appendAudit(t, s, 1, "after")
	got, err = s.AuditRange(ctx, 1, 10)
	must(t, err)
	checkChain(t, got, 1)
	if len(got) != 3 || got[0].Action != "kept" {
		t.Errorf("after rollback and commit: %d entries, first %q; want 3, first \"kept\"", len(got), got[0].Action)
	}
}

func testAuditEmptyHash(t *testing.T, s store.Store) {
	e := &store.AuditEntry{At: t0, Action: "a", Object: "b"}
	if err := s.AppendAudit(t.Context(), e, func(*store.AuditEntry) []byte { return nil }); err == nil {
		t.Fatal("AppendAudit accepted an entry without a hash")
	}
	got, err := s.ListAudit(t.Context(), store.AuditFilter{})
	must(t, err)
	if len(got) != 0 {
		t.Errorf("entry without a hash was stored")
	}
	appendAudit(t, s, 1, "a")
	got, err = s.AuditRange(t.Context(), 1, 10)
	must(t, err)
	checkChain(t, got, 1)
}
