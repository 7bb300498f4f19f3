package storetest

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var caseTests = []test{
	{"CreateGet", testCaseCreateGet},
	{"NotFound", testCaseNotFound},
	{"Conflict", testCaseConflict},
	{"Update", testUpdateCase},
	{"ListOrder", testCaseListOrder},
	{"ListFilters", testCaseListFilters},
	{"ListDefaultLimit", testCaseListDefaultLimit},
	{"CaseForRequest", testCaseForRequest},
	{"Sections", testCaseSections},
	{"Events", testCaseEvents},
	{"EnterStage", testEnterStage},
	{"EnterStageEarlier", testEnterStageEarlier},
	{"EnterStageConcurrent", testEnterStageConcurrent},
	{"PeriodsSince", testPeriodsSince},
	{"StageStayStats", testStageStayStats},
	{"StageMonthlyEntries", testStageMonthlyEntries},
	{"CountByStage", testCountByStage},
	{"Shares", testCaseShares},
	{"Access", testCaseAccess},
	{"UpdatedAt", testCaseUpdatedAt},
	{"Erase", testEraseCase},
	{"EraseRacesWriters", testEraseRacesWriters},
	{"TxCommit", testCaseTxCommit},
	{"TxRollback", testCaseTxRollback},
	{"TxUsableAfterErrors", testCaseTxUsableAfterErrors},
	{"Times", testCaseTimes},
	{"Blobs", testCaseBlobs},
}

// Stages of a workflow, as the store sees them: opaque ids.
const (
	stageTriage   = "triage"
	stageVerify   = "verification"
	stageRelocate = "relocation"
	stageClosed   = "closed"
)

func newCase(id string, created time.Time) *store.Case {
	return &store.Case{
		ID:         id,
		CreatedAt:  created,
		Stage:      stageTriage,
		StageSince: created,
		Risk:       2,
		WrappedKey: randomBytes(72),
	}
}

func createCase(t *testing.T, s store.Store, c *store.Case) {
	t.Helper()
	must(t, s.CreateCase(t.Context(), c))
}

func getCase(t *testing.T, s store.Store, id string) *store.Case {
	t.Helper()
	c, err := s.GetCase(t.Context(), id)
	must(t, err)
	return c
}

func caseIDs(cs []*store.Case) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func listCaseIDs(t *testing.T, s store.Store, f store.CaseFilter) ([]string, int) {
	t.Helper()
	list, total, err := s.ListCases(t.Context(), f)
	must(t, err)
	return caseIDs(list), total
}

func sections(t *testing.T, s store.Store, caseID string) []*store.CaseSection {
	t.Helper()
	list, err := s.Sections(t.Context(), caseID)
	must(t, err)
	return list
}

func caseEvents(t *testing.T, s store.Store, caseID string) []*store.CaseEvent {
	t.Helper()
	list, err := s.CaseEvents(t.Context(), caseID)
	must(t, err)
	return list
}

func stagePeriods(t *testing.T, s store.Store, caseID string) []*store.StagePeriod {
	t.Helper()
	list, err := s.StagePeriods(t.Context(), caseID)
	must(t, err)
	return list
}

func checkPeriods(t *testing.T, what string, want, got []*store.StagePeriod) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d periods %s, want %d %s", what, len(got), fmtPeriods(got), len(want), fmtPeriods(want))
		return
	}
	for i := range want {
		for _, d := range diff(want[i], got[i]) {
			t.Errorf("%s: period %d: %s", what, i, d)
		}
	}
}

func fmtPeriods(ps []*store.StagePeriod) string {
	var b strings.Builder
	for _, p := range ps {
		left := "…"
		if !p.Left.IsZero() {
			left = p.Left.Sub(t0).String()
		}
		fmt.Fprintf(&b, "[%s %s %s→%s]", p.CaseID, p.Stage, p.Entered.Sub(t0), left)
	}
	return b.String()
}

func testCaseCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	created := time.Date(2026, 3, 1, 15, 4, 5, 123456789, time.FixedZone("MSK", 3*3600))
	c := &store.Case{
		ID:            "c1",
		CreatedAt:     created,
		UpdatedAt:     created.Add(time.Hour), // must be reset
		Stage:         stageVerify,
		StageSince:    created.Add(-time.Minute - time.Nanosecond),
		CloseReason:   "",
		Risk:          4,
		Verified:      true,
		Flagged:       true,
		AssigneeID:    7,
		RequestID:     "r1",
		WrappedKey:    randomBytes(72),
		LastContactAt: created.Add(30 * time.Second),
	}
	createCase(t, s, c)
	want := *c
	want.CreatedAt = time.Date(2026, 3, 1, 12, 4, 5, 123456000, time.UTC)
	want.UpdatedAt = want.CreatedAt
	want.StageSince = micro(created.Add(-time.Minute - time.Nanosecond))
	want.LastContactAt = micro(created.Add(30 * time.Second))
	// The caller's c holds the values as stored.
	checkEqual(t, &want, c)
	checkEqual(t, &want, getCase(t, s, "c1"))

	checkPeriods(t, "first period", []*store.StagePeriod{
		{CaseID: "c1", Stage: stageVerify, Entered: want.StageSince},
	}, stagePeriods(t, s, "c1"))

	// A minimal case: zero StageSince means CreatedAt; no key, no contact.
	bare := &store.Case{ID: "c2", CreatedAt: t0, Stage: stageTriage, CloseReason: "declined"}
	createCase(t, s, bare)
	wantBare := store.Case{ID: "c2", CreatedAt: t0, UpdatedAt: t0, Stage: stageTriage, StageSince: t0, CloseReason: "declined"}
	checkEqual(t, &wantBare, getCase(t, s, "c2"))
	checkPeriods(t, "first period of bare case", []*store.StagePeriod{
		{CaseID: "c2", Stage: stageTriage, Entered: t0},
	}, stagePeriods(t, s, "c2"))

	// Created erased (an import, say): ErasedAt reads back.
	gone := newCase("c3", t0)
	gone.WrappedKey, gone.ErasedAt = nil, at(time.Hour)
	createCase(t, s, gone)
	if got := getCase(t, s, "c3"); !got.ErasedAt.Equal(at(time.Hour)) || got.WrappedKey != nil {
		t.Errorf("case created erased: ErasedAt %v, WrappedKey %s", got.ErasedAt, short(got.WrappedKey))
	}

	// A new case has no sections, events or shares, and that is no error.
	for _, id := range []string{"c1", "c2"} {
		secs, err := s.Sections(ctx, id)
		must(t, err)
		evs, err := s.CaseEvents(ctx, id)
		must(t, err)
		shares, err := s.CaseShares(ctx, id)
		must(t, err)
		if len(secs) != 0 || len(evs) != 0 || len(shares) != 0 {
			t.Errorf("new case %s: %d sections, %d events, %d shares", id, len(secs), len(evs), len(shares))
		}
	}
}

func testCaseNotFound(t *testing.T, s store.Store) {
	exists := newCase("exists", t0)
	exists.RequestID = "r-exists"
	createCase(t, s, exists)
	before := getCase(t, s, "exists")
	tests := []struct {
		name string
		call func() error
	}{
		{"GetCase", func() error { _, err := s.GetCase(t.Context(), "missing"); return err }},
		{"GetCaseEmptyID", func() error { _, err := s.GetCase(t.Context(), ""); return err }},
		{"UpdateCase", func() error { return s.UpdateCase(t.Context(), newCase("missing", at(time.Hour))) }},
		{"CaseForRequest", func() error { _, err := s.CaseForRequest(t.Context(), "r-missing"); return err }},
		{"CaseForRequestEmpty", func() error { _, err := s.CaseForRequest(t.Context(), ""); return err }},
		{"PutSection", func() error {
			return s.PutSection(t.Context(), &store.CaseSection{CaseID: "missing", Class: "identity", Data: []byte("x"), UpdatedAt: at(time.Hour)})
		}},
		{"Sections", func() error { _, err := s.Sections(t.Context(), "missing"); return err }},
		{"AddCaseEvent", func() error {
			return s.AddCaseEvent(t.Context(), &store.CaseEvent{ID: "e", CaseID: "missing", At: at(time.Hour), Kind: "note"})
		}},
		{"CaseEvents", func() error { _, err := s.CaseEvents(t.Context(), "missing"); return err }},
		{"EnterStage", func() error { return s.EnterStage(t.Context(), "missing", stageVerify, "", at(time.Hour)) }},
		{"StagePeriods", func() error { _, err := s.StagePeriods(t.Context(), "missing"); return err }},
		{"ShareCase", func() error { return s.ShareCase(t.Context(), "missing", 1) }},
		{"UnshareCaseMissingCase", func() error { return s.UnshareCase(t.Context(), "missing", 1) }},
		{"UnshareCaseNotShared", func() error { return s.UnshareCase(t.Context(), "exists", 1) }},
		{"CaseShares", func() error { _, err := s.CaseShares(t.Context(), "missing"); return err }},
		{"GrantAccess", func() error { return s.GrantAccess(t.Context(), "missing", 1, at(time.Hour)) }},
		{"AccessUntilMissingCase", func() error { _, err := s.AccessUntil(t.Context(), "missing", 1); return err }},
		{"AccessUntilNoGrant", func() error { _, err := s.AccessUntil(t.Context(), "exists", 1); return err }},
		{"EraseCase", func() error { return s.EraseCase(t.Context(), "missing", at(time.Hour)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.call(), store.ErrNotFound) })
	}
	// The failed writes left nothing behind.
	checkEqual(t, before, getCase(t, s, "exists"))
	if _, err := s.GetCase(t.Context(), "missing"); !isNotFound(err) {
		t.Errorf("GetCase after failed writes: %v, want ErrNotFound", err)
	}
	ps, err := s.PeriodsSince(t.Context(), time.Time{})
	must(t, err)
	checkPeriods(t, "all periods after failed writes", []*store.StagePeriod{
		{CaseID: "exists", Stage: stageTriage, Entered: t0},
	}, ps)
	_, total, err := s.ListCases(t.Context(), store.CaseFilter{IncludeErased: true})
	must(t, err)
	if total != 1 {
		t.Errorf("%d cases after failed writes, want 1", total)
	}
}

func testCaseConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newCase("c1", t0)
	orig.RequestID = "r1"
	createCase(t, s, orig)
	want := getCase(t, s, "c1")

	sameID := newCase("c1", at(time.Hour))
	sameID.Stage = stageVerify
	wantErr(t, s.CreateCase(ctx, sameID), store.ErrConflict)

	sameRequest := newCase("c2", at(time.Hour))
	sameRequest.RequestID = "r1"
	wantErr(t, s.CreateCase(ctx, sameRequest), store.ErrConflict)
	_, err := s.GetCase(ctx, "c2")
	wantErr(t, err, store.ErrNotFound)

	checkEqual(t, want, getCase(t, s, "c1"))
	checkPeriods(t, "periods after conflicts", []*store.StagePeriod{
		{CaseID: "c1", Stage: stageTriage, Entered: t0},
	}, stagePeriods(t, s, "c1"))
	ps, err := s.PeriodsSince(ctx, time.Time{})
	must(t, err)
	if len(ps) != 1 {
		t.Errorf("%d periods in all after conflicts, want 1: %s", len(ps), fmtPeriods(ps))
	}

	// Any number of cases opened by hand.
	for _, id := range []string{"h1", "h2", "h3"} {
		createCase(t, s, newCase(id, t0))
	}
	// Another request is another case.
	other := newCase("c3", t0)
	other.RequestID = "r2"
	createCase(t, s, other)

	// Event ids are unique across cases.
	must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: "e1", CaseID: "c1", At: at(time.Minute), Kind: "note", Class: "testimony", Body: []byte("one")}))
	for _, caseID := range []string{"c1", "h1"} {
		dup := &store.CaseEvent{ID: "e1", CaseID: caseID, At: at(time.Hour), Kind: "note", Class: "testimony", Body: []byte("two")}
		wantErr(t, s.AddCaseEvent(ctx, dup), store.ErrConflict)
	}
	evs := caseEvents(t, s, "c1")
	if len(evs) != 1 || string(evs[0].Body) != "one" {
		t.Errorf("events after duplicate: %d, first body %q", len(evs), evs[0].Body)
	}
	if n := len(caseEvents(t, s, "h1")); n != 0 {
		t.Errorf("duplicate event landed in another case: %d events", n)
	}
	// The duplicates did not touch UpdatedAt.
	for id, want := range map[string]time.Time{"c1": at(time.Minute), "h1": t0} {
		if got := getCase(t, s, id); !got.UpdatedAt.Equal(want) {
			t.Errorf("case %s: UpdatedAt %v after duplicate events, want %v", id, got.UpdatedAt, want)
		}
	}
}

func testUpdateCase(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newCase("c1", t0)
	c.RequestID = "r1"
	c.LastContactAt = at(time.Minute)
	createCase(t, s, c)
	must(t, s.EnterStage(ctx, "c1", stageVerify, "", at(time.Hour)))
	other := newCase("c2", t0)
	createCase(t, s, other)
	wantOther := getCase(t, s, "c2")

	steps := []struct {
		name    string
		change  func(c *store.Case)
		updated time.Time // UpdatedAt expected afterwards
	}{
		{"every field", func(c *store.Case) {
			c.Risk, c.Verified, c.Flagged, c.AssigneeID = 4, true, true, 9
			c.LastContactAt = time.Date(2026, 3, 1, 14, 0, 0, 123456789, time.FixedZone("X", 3600))
			c.UpdatedAt = at(2*time.Hour + time.Nanosecond)
		}, at(2 * time.Hour)},
		{"back to zero values", func(c *store.Case) {
			c.Risk, c.Verified, c.Flagged, c.AssigneeID = 0, false, false, 0
			c.LastContactAt = time.Time{}
			c.UpdatedAt = at(3 * time.Hour)
		}, at(3 * time.Hour)},
		{"an earlier time", func(c *store.Case) {
			c.Risk = 1
			c.UpdatedAt = at(time.Minute)
		}, at(3 * time.Hour)},
		{"no time", func(c *store.Case) {
			c.Flagged = true
			c.UpdatedAt = time.Time{}
		}, at(3 * time.Hour)},
	}
	cur := getCase(t, s, "c1")
	for _, st := range steps {
		next := *cur
		st.change(&next)
		want := next
		want.LastContactAt = micro(next.LastContactAt)
		want.UpdatedAt = st.updated

		// Fields UpdateCase must not write: a stale or forged copy
		// cannot change them.
		next.CreatedAt = at(-time.Hour)
		next.RequestID = "r-forged"
		next.Stage, next.StageSince, next.CloseReason = stageClosed, at(-time.Hour), "forged"
		next.WrappedKey = nil
		next.ErasedAt = at(time.Minute)
		must(t, s.UpdateCase(ctx, &next))

		got := getCase(t, s, "c1")
		for _, d := range diff(&want, got) {
			t.Errorf("%s: %s", st.name, d)
		}
		// The caller's copy is the case as stored.
		for _, d := range diff(&want, &next) {
			t.Errorf("%s: caller's copy: %s", st.name, d)
		}
		cur = got
	}
	checkEqual(t, wantOther, getCase(t, s, "c2"))
	if _, err := s.CaseForRequest(ctx, "r-forged"); !isNotFound(err) {
		t.Errorf("CaseForRequest of a forged request id: %v", err)
	}
	checkPeriods(t, "periods after updates", []*store.StagePeriod{
		{CaseID: "c1", Stage: stageTriage, Entered: t0, Left: at(time.Hour)},
		{CaseID: "c1", Stage: stageVerify, Entered: at(time.Hour)},
	}, stagePeriods(t, s, "c1"))
}

// caseLess is the reference order the store must implement.
func caseLess(a, b *store.Case) int {
	ac, bc := a.CloseReason != "", b.CloseReason != ""
	switch {
	case ac != bc:
		if !ac {
			return -1
		}
		return 1
	case a.Risk != b.Risk:
		return b.Risk - a.Risk
	case !a.StageSince.Equal(b.StageSince):
		return a.StageSince.Compare(b.StageSince)
	}
	return strings.Compare(a.ID, b.ID)
}

func testCaseListOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, c := range []struct {
		id     string
		closed string
		risk   int
		since  time.Duration
	}{
		{"a", "", 1, 1 * time.Minute},
		{"b", "arrived", 4, 1 * time.Minute},
		{"c", "", 4, 5 * time.Minute},
		{"d", "", 4, 2 * time.Minute},
		{"e", "lost contact", 0, 0},
		{"f", "", 0, 0},
		{"g", "", 4, 2 * time.Minute}, // ties with d: id decides
		{"h", "declined", 4, 0},
	} {
		k := newCase(c.id, t0)
		k.CloseReason, k.Risk, k.StageSince = c.closed, c.risk, at(c.since)
		createCase(t, s, k)
	}
	// Activity and creation time must not reorder.
	must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: "e1", CaseID: "f", At: at(time.Hour), Kind: "note"}))

	got, total := listCaseIDs(t, s, store.CaseFilter{})
	want := []string{"d", "g", "c", "a", "f", "h", "b", "e"}
	if !slices.Equal(got, want) || total != len(want) {
		t.Errorf("cases %v (total %d), want %v (total %d)", got, total, want, len(want))
	}

	// Entering a stage moves a case: to the end of its risk group (now
	// the shortest in its stage), and to the closed ones when closed.
	must(t, s.EnterStage(ctx, "d", stageVerify, "", at(time.Hour)))
	must(t, s.EnterStage(ctx, "a", stageClosed, "arrived", at(time.Hour)))
	must(t, s.EnterStage(ctx, "b", stageTriage, "", at(time.Hour)))
	got, _ = listCaseIDs(t, s, store.CaseFilter{})
	want = []string{"g", "c", "b", "d", "f", "h", "a", "e"}
	if !slices.Equal(got, want) {
		t.Errorf("after EnterStage: cases %v, want %v", got, want)
	}
}

func testCaseListFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	stages := []string{stageTriage, stageVerify, stageRelocate}
	closeReasons := []string{"", "", "arrived", "", "declined"}
	var all []*store.Case
	for i := range 40 {
		c := newCase(fmt.Sprintf("c%02d", i), t0)
		c.Stage = stages[i%3]
		c.StageSince = at(time.Duration(i%7) * time.Minute)
		c.CloseReason = closeReasons[i%5]
		c.Risk = i % 5
		c.AssigneeID = int64(i % 4 % 3) // 0 (unassigned), 1, 2
		createCase(t, s, c)
	}
	// Shares: user 7 sees cases only through shares; user 1 both ways
	// (c01 is assigned to and shared with 1); user 2 through one share.
	for _, sh := range []struct {
		caseID string
		user   int64
	}{
		{"c03", 7}, {"c10", 7}, {"c20", 7}, {"c35", 7},
		{"c01", 1}, {"c02", 1}, {"c14", 1},
		{"c03", 2},
	} {
		must(t, s.ShareCase(ctx, sh.caseID, sh.user))
	}
	// Erased cases: one assigned to 1, one shared with 7, one closed.
	for _, id := range []string{"c05", "c20", "c22"} {
		must(t, s.EraseCase(ctx, id, at(time.Hour)))
	}
	shared := map[int64][]string{7: {"c03", "c10", "c20", "c35"}, 1: {"c01", "c02", "c14"}, 2: {"c03"}}
	for i := range 40 {
		all = append(all, getCase(t, s, fmt.Sprintf("c%02d", i)))
	}
	slices.SortFunc(all, caseLess)

	tests := []struct {
		name string
		f    store.CaseFilter
	}{
		{"All", store.CaseFilter{}},
		{"Stage", store.CaseFilter{Stage: stageVerify}},
		{"Assignee", store.CaseFilter{AssigneeID: 1}},
		{"StageAndAssignee", store.CaseFilter{Stage: stageTriage, AssigneeID: 2}},
		{"VisibleToAssigneeAndShares", store.CaseFilter{VisibleTo: 1}},
		{"VisibleToSharesOnly", store.CaseFilter{VisibleTo: 7}},
		{"VisibleToNothing", store.CaseFilter{VisibleTo: 99}},
		{"VisibleToAndStage", store.CaseFilter{VisibleTo: 1, Stage: stageRelocate}},
		{"VisibleToAndAssignee", store.CaseFilter{VisibleTo: 7, AssigneeID: 2}},
		{"IncludeErased", store.CaseFilter{IncludeErased: true}},
		{"IncludeErasedStage", store.CaseFilter{IncludeErased: true, Stage: stageRelocate}},
		{"IncludeErasedAssignee", store.CaseFilter{IncludeErased: true, AssigneeID: 1}},
		{"IncludeErasedVisibleTo", store.CaseFilter{IncludeErased: true, VisibleTo: 7}},
		{"UnknownAssignee", store.CaseFilter{AssigneeID: 99}},
		{"UnknownStage", store.CaseFilter{Stage: "nonsense"}},
		{"FirstPage", store.CaseFilter{Limit: 7}},
		{"SecondPage", store.CaseFilter{Limit: 7, Offset: 7}},
		{"LastPartialPage", store.CaseFilter{Limit: 7, Offset: 35}},
		{"PastTheEnd", store.CaseFilter{Limit: 7, Offset: 100}},
		{"NegativeOffset", store.CaseFilter{Limit: 3, Offset: -5}},
		{"FilteredPage", store.CaseFilter{Stage: stageTriage, Limit: 4, Offset: 4}},
		{"VisibleToPage", store.CaseFilter{VisibleTo: 1, Limit: 3, Offset: 3}},
		{"IncludeErasedPage", store.CaseFilter{IncludeErased: true, Limit: 10, Offset: 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var match []*store.Case
			for _, c := range all {
				visible := c.AssigneeID == tt.f.VisibleTo || slices.Contains(shared[tt.f.VisibleTo], c.ID)
				if (tt.f.Stage == "" || c.Stage == tt.f.Stage) &&
					(tt.f.AssigneeID <= 0 || c.AssigneeID == tt.f.AssigneeID) &&
					(tt.f.VisibleTo <= 0 || visible) &&
					(tt.f.IncludeErased || c.ErasedAt.IsZero()) {
					match = append(match, c)
				}
			}
			limit, offset := tt.f.Limit, max(tt.f.Offset, 0)
			if limit <= 0 {
				limit = 50
			}
			want := match[min(offset, len(match)):min(offset+limit, len(match))]

			got, total, err := s.ListCases(ctx, tt.f)
			must(t, err)
			if total != len(match) {
				t.Errorf("total %d, want %d", total, len(match))
			}
			if !slices.Equal(caseIDs(got), caseIDs(want)) {
				t.Fatalf("page %v, want %v", caseIDs(got), caseIDs(want))
			}
			// Full records come back, not just ids.
			for i := range want {
				checkEqual(t, want[i], got[i])
			}
		})
	}

	// Paging through everything visits every case exactly once.
	var seen []string
	for off := 0; ; off += 6 {
		page, _ := listCaseIDs(t, s, store.CaseFilter{IncludeErased: true, Limit: 6, Offset: off})
		if len(page) == 0 {
			break
		}
		seen = append(seen, page...)
	}
	if want := caseIDs(all); !slices.Equal(seen, want) {
		t.Errorf("paged through %v, want %v", seen, want)
	}

	// Unsharing takes a case out of the user's view at once.
	must(t, s.UnshareCase(ctx, "c10", 7))
	got, total := listCaseIDs(t, s, store.CaseFilter{VisibleTo: 7})
	if slices.Contains(got, "c10") || total != 2 {
		t.Errorf("VisibleTo 7 after unsharing c10: %v (total %d)", got, total)
	}
}

func testCaseListDefaultLimit(t *testing.T, s store.Store) {
	for i := range 60 {
		createCase(t, s, newCase(fmt.Sprintf("c%02d", i), at(time.Duration(i)*time.Second)))
	}
	for _, limit := range []int{0, -1} {
		got, total := listCaseIDs(t, s, store.CaseFilter{Limit: limit})
		if len(got) != 50 || total != 60 {
			t.Errorf("Limit %d: %d cases (total %d), want 50 (total 60)", limit, len(got), total)
		}
	}
}

func testCaseForRequest(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, c := range []struct{ id, request string }{
		{"c1", "r1"}, {"c2", "r2"}, {"h1", ""}, {"h2", ""}, {"c3", "R1"},
	} {
		k := newCase(c.id, t0)
		k.RequestID = c.request
		createCase(t, s, k)
	}
	must(t, s.EraseCase(ctx, "c2", at(time.Hour)))
	for _, tt := range []struct{ request, want string }{
		{"r1", "c1"},
		{"r2", "c2"}, // erased, still the case opened from r2
		{"R1", "c3"}, // ids are compared byte for byte
	} {
		got, err := s.CaseForRequest(ctx, tt.request)
		must(t, err)
		checkEqual(t, getCase(t, s, tt.want), got)
	}
	for _, request := range []string{"", "r3", "r"} {
		_, err := s.CaseForRequest(ctx, request)
		wantErr(t, err, store.ErrNotFound)
	}
}

func testCaseSections(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))

	put := func(caseID, class string, data []byte, updated time.Time) *store.CaseSection {
		t.Helper()
		sec := &store.CaseSection{CaseID: caseID, Class: class, Data: data, UpdatedAt: updated}
		must(t, s.PutSection(ctx, sec))
		if !sec.UpdatedAt.Equal(micro(updated)) || sec.UpdatedAt.Location() != time.UTC {
			t.Errorf("PutSection set UpdatedAt %v, want %v", sec.UpdatedAt, micro(updated))
		}
		return sec
	}
	location := put("c1", "location", randomBytes(100), at(2*time.Minute+time.Nanosecond))
	identity := put("c1", "identity", randomBytes(80), at(time.Minute))
	testimony := put("c1", "testimony", randomBytes(5000), at(3*time.Minute))
	other := put("c2", "identity", randomBytes(80), at(time.Minute))

	check := func(step, caseID string, want ...*store.CaseSection) {
		t.Helper()
		got := sections(t, s, caseID)
		if len(got) != len(want) {
			t.Fatalf("%s: %d sections, want %d", step, len(got), len(want))
		}
		for i := range want {
			for _, d := range diff(want[i], got[i]) {
				t.Errorf("%s: section %d: %s", step, i, d)
			}
		}
	}
	check("three sections", "c1", identity, location, testimony)
	check("other case", "c2", other)
	if got := getCase(t, s, "c1"); !got.UpdatedAt.Equal(at(3 * time.Minute)) {
		t.Errorf("UpdatedAt %v after sections, want %v", got.UpdatedAt, at(3*time.Minute))
	}

	// Replacing, with an earlier time: the section takes the time given,
	// the case's UpdatedAt stays.
	newLocation := put("c1", "location", randomBytes(120), at(30*time.Second))
	check("replaced", "c1", identity, newLocation, testimony)
	if got := getCase(t, s, "c1"); !got.UpdatedAt.Equal(at(3 * time.Minute)) {
		t.Errorf("UpdatedAt %v after an earlier section, want %v", got.UpdatedAt, at(3*time.Minute))
	}
	newIdentity := put("c1", "identity", nil, at(time.Hour))
	check("replaced with nil", "c1", newIdentity, newLocation, testimony)
	if got := getCase(t, s, "c1"); !got.UpdatedAt.Equal(at(time.Hour)) {
		t.Errorf("UpdatedAt %v after a later section, want %v", got.UpdatedAt, at(time.Hour))
	}
	check("other case untouched", "c2", other)
	if got := getCase(t, s, "c2"); !got.UpdatedAt.Equal(at(time.Minute)) {
		t.Errorf("other case: UpdatedAt %v, want %v", got.UpdatedAt, at(time.Minute))
	}
	// Classes are compared byte for byte.
	upper := put("c2", "Identity", []byte("x"), at(time.Minute))
	check("classes differing in case", "c2", upper, other)
}

func testCaseEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	add := []*store.CaseEvent{
		{ID: "e-b", CaseID: "c1", At: at(2 * time.Minute), ActorID: 9, Kind: "note", Class: "testimony", Body: randomBytes(40)},
		{ID: "e-a", CaseID: "c1", At: at(time.Minute + time.Nanosecond), ActorID: 3, Kind: "stage", Stage: stageVerify},
		{ID: "x", CaseID: "c2", At: at(time.Minute), Kind: "opened"},
		// Same instant: insertion order decides, not the id.
		{ID: "e-z", CaseID: "c1", At: at(3 * time.Minute), Kind: "note", Class: "location", Body: randomBytes(5)},
		{ID: "e-y", CaseID: "c1", At: at(3 * time.Minute), Kind: "risk"},
		// Stamped in the past: kept in time order, UpdatedAt stays.
		{ID: "e-0", CaseID: "c1", At: at(30 * time.Second), Kind: "assign", ActorID: 1},
	}
	for _, e := range add {
		at := e.At
		must(t, s.AddCaseEvent(ctx, e))
		if !e.At.Equal(micro(at)) || e.At.Location() != time.UTC {
			t.Errorf("AddCaseEvent set At %v, want %v", e.At, micro(at))
		}
	}
	got := caseEvents(t, s, "c1")
	want := []*store.CaseEvent{add[5], add[1], add[0], add[3], add[4]}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		for _, d := range diff(want[i], got[i]) {
			t.Errorf("event %d: %s", i, d)
		}
	}
	if c := getCase(t, s, "c1"); !c.UpdatedAt.Equal(at(3 * time.Minute)) {
		t.Errorf("UpdatedAt %v after events, want %v", c.UpdatedAt, at(3*time.Minute))
	}
	if got := caseEvents(t, s, "c2"); len(got) != 1 || got[0].ID != "x" {
		t.Errorf("other case: %d events", len(got))
	}
}

func testEnterStage(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newCase("c1", t0)
	c.Risk, c.AssigneeID, c.Verified = 3, 5, true
	createCase(t, s, c)
	createCase(t, s, newCase("c2", t0))
	wantOther := getCase(t, s, "c2")

	steps := []struct {
		stage, reason string
		at            time.Time
	}{
		{stageVerify, "", at(time.Hour + time.Nanosecond)},
		{stageRelocate, "", at(3 * time.Hour)},
		{stageClosed, "arrived", at(5 * time.Hour)},
		{stageTriage, "", at(6 * time.Hour)},     // reopened
		{stageTriage, "", at(6 * time.Hour)},     // the same stage again, at the same instant
		{stageClosed, "lost", at(7 * time.Hour)}, // closed again, another reason
	}
	want := []*store.StagePeriod{{CaseID: "c1", Stage: stageTriage, Entered: t0}}
	for _, st := range steps {
		must(t, s.EnterStage(ctx, "c1", st.stage, st.reason, st.at))
		when := micro(st.at)
		want[len(want)-1].Left = when
		want = append(want, &store.StagePeriod{CaseID: "c1", Stage: st.stage, Entered: when})
		name := fmt.Sprintf("enter %s (%q) at %v", st.stage, st.reason, st.at.Sub(t0))
		checkPeriods(t, name, want, stagePeriods(t, s, "c1"))
		got := getCase(t, s, "c1")
		if got.Stage != st.stage || !got.StageSince.Equal(when) || got.CloseReason != st.reason || !got.UpdatedAt.Equal(when) {
			t.Errorf("%s: Stage %q, StageSince %v, CloseReason %q, UpdatedAt %v", name, got.Stage, got.StageSince, got.CloseReason, got.UpdatedAt)
		}
		if got.Risk != 3 || got.AssigneeID != 5 || !got.Verified || got.WrappedKey == nil {
			t.Errorf("%s: other fields changed: %+v", name, got)
		}
	}
	checkEqual(t, wantOther, getCase(t, s, "c2"))
	checkPeriods(t, "other case", []*store.StagePeriod{{CaseID: "c2", Stage: stageTriage, Entered: t0}}, stagePeriods(t, s, "c2"))
}

// A stage is never entered before the current one was.
func testEnterStageEarlier(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	must(t, s.EnterStage(ctx, "c1", stageVerify, "", at(time.Hour)))
	must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: "e", CaseID: "c1", At: at(2 * time.Hour), Kind: "note"}))
	must(t, s.EnterStage(ctx, "c1", stageRelocate, "", at(30*time.Minute)))
	checkPeriods(t, "periods", []*store.StagePeriod{
		{CaseID: "c1", Stage: stageTriage, Entered: t0, Left: at(time.Hour)},
		{CaseID: "c1", Stage: stageVerify, Entered: at(time.Hour), Left: at(time.Hour)},
		{CaseID: "c1", Stage: stageRelocate, Entered: at(time.Hour)},
	}, stagePeriods(t, s, "c1"))
	got := getCase(t, s, "c1")
	if got.Stage != stageRelocate || !got.StageSince.Equal(at(time.Hour)) || !got.UpdatedAt.Equal(at(2*time.Hour)) {
		t.Errorf("Stage %q, StageSince %v, UpdatedAt %v; want %q, %v, %v",
			got.Stage, got.StageSince, got.UpdatedAt, stageRelocate, at(time.Hour), at(2*time.Hour))
	}
}

// Concurrent stage changes of one case are serialised: the periods still
// form one unbroken chain with exactly one current period.
func testEnterStageConcurrent(t *testing.T, s store.Store) {
	createCase(t, s, newCase("c1", t0))
	const racers = 16
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			if err := s.EnterStage(t.Context(), "c1", fmt.Sprintf("s%02d", i), "", at(time.Duration(i+1)*time.Minute)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ps := stagePeriods(t, s, "c1")
	if len(ps) != racers+1 {
		t.Fatalf("%d periods, want %d: %s", len(ps), racers+1, fmtPeriods(ps))
	}
	for i, p := range ps {
		last := i == len(ps)-1
		if last != p.Left.IsZero() {
			t.Errorf("period %d: Left %v", i, p.Left)
		}
		if !last && (!p.Left.Equal(ps[i+1].Entered) || p.Left.Before(p.Entered)) {
			t.Errorf("period %d: %s does not run into the next %s", i, fmtPeriods(ps[i:i+1]), fmtPeriods(ps[i+1:i+2]))
		}
	}
	c := getCase(t, s, "c1")
	if cur := ps[len(ps)-1]; c.Stage != cur.Stage || !c.StageSince.Equal(cur.Entered) {
		t.Errorf("case in %q since %v, current period %s", c.Stage, c.StageSince, fmtPeriods(ps[len(ps)-1:]))
	}
}

func testPeriodsSince(t *testing.T, s store.Store) {
	ctx := t.Context()
	since := at(10 * time.Hour)
	// a: left triage before since, verification across since, relocation after.
	createCase(t, s, newCase("a", t0))
	must(t, s.EnterStage(ctx, "a", stageVerify, "", at(2*time.Hour)))
	must(t, s.EnterStage(ctx, "a", stageRelocate, "", at(12*time.Hour)))
	// b: in triage since long before, never moved.
	createCase(t, s, newCase("b", at(-48*time.Hour)))
	// c: left triage exactly at since; then a zero-length period at since.
	createCase(t, s, newCase("c", at(time.Hour)))
	must(t, s.EnterStage(ctx, "c", stageVerify, "", since))
	must(t, s.EnterStage(ctx, "c", stageRelocate, "", since))
	// d: every period before since, but the current one.
	createCase(t, s, newCase("d", t0))
	must(t, s.EnterStage(ctx, "d", stageVerify, "", at(time.Hour)))
	must(t, s.EnterStage(ctx, "d", stageClosed, "arrived", at(3*time.Hour)))
	// e: created after since, erased: its periods count too.
	createCase(t, s, newCase("e", at(11*time.Hour)))
	must(t, s.EnterStage(ctx, "e", stageVerify, "", at(13*time.Hour)))
	must(t, s.EraseCase(ctx, "e", at(14*time.Hour)))

	p := func(caseID, stage string, entered, left time.Duration) *store.StagePeriod {
		sp := &store.StagePeriod{CaseID: caseID, Stage: stage, Entered: at(entered)}
		if left >= 0 {
			sp.Left = at(left)
		}
		return sp
	}
	const open = -1
	tests := []struct {
		name  string
		since time.Time
		want  []*store.StagePeriod
	}{
		{"since", since, []*store.StagePeriod{
			p("b", stageTriage, -48*time.Hour, open),
			p("a", stageVerify, 2*time.Hour, 12*time.Hour),
			p("d", stageClosed, 3*time.Hour, open),
			p("c", stageVerify, 10*time.Hour, 10*time.Hour),
			p("c", stageRelocate, 10*time.Hour, open),
			p("e", stageTriage, 11*time.Hour, 13*time.Hour),
			p("a", stageRelocate, 12*time.Hour, open),
			p("e", stageVerify, 13*time.Hour, open),
		}},
		{"everything", time.Time{}, []*store.StagePeriod{
			p("b", stageTriage, -48*time.Hour, open),
			p("a", stageTriage, 0, 2*time.Hour),
			p("d", stageTriage, 0, time.Hour),
			p("c", stageTriage, time.Hour, 10*time.Hour),
			p("d", stageVerify, time.Hour, 3*time.Hour),
			p("a", stageVerify, 2*time.Hour, 12*time.Hour),
			p("d", stageClosed, 3*time.Hour, open),
			p("c", stageVerify, 10*time.Hour, 10*time.Hour),
			p("c", stageRelocate, 10*time.Hour, open),
			p("e", stageTriage, 11*time.Hour, 13*time.Hour),
			p("a", stageRelocate, 12*time.Hour, open),
			p("e", stageVerify, 13*time.Hour, open),
		}},
		{"just after since", since.Add(time.Microsecond), []*store.StagePeriod{
			p("b", stageTriage, -48*time.Hour, open),
			p("a", stageVerify, 2*time.Hour, 12*time.Hour),
			p("d", stageClosed, 3*time.Hour, open),
			p("c", stageRelocate, 10*time.Hour, open),
			p("e", stageTriage, 11*time.Hour, 13*time.Hour),
			p("a", stageRelocate, 12*time.Hour, open),
			p("e", stageVerify, 13*time.Hour, open),
		}},
		{"future: current periods only", at(1000 * time.Hour), []*store.StagePeriod{
			p("b", stageTriage, -48*time.Hour, open),
			p("d", stageClosed, 3*time.Hour, open),
			p("c", stageRelocate, 10*time.Hour, open),
			p("a", stageRelocate, 12*time.Hour, open),
			p("e", stageVerify, 13*time.Hour, open),
		}},
	}
	for _, tt := range tests {
		got, err := s.PeriodsSince(ctx, tt.since)
		must(t, err)
		checkPeriods(t, tt.name, tt.want, got)
	}
}

// randomPeriods fills s with cases moving at random through a few stages
// (some at the same instant, some erased) over about two years around t0,
// and returns all their periods as stored.
func randomPeriods(t *testing.T, s store.Store, rng *rand.Rand) []*store.StagePeriod {
	t.Helper()
	ctx := t.Context()
	stages := []string{stageTriage, stageVerify, stageRelocate, stageClosed, "other"}
	for i := range 60 {
		id := fmt.Sprintf("r%02d", i)
		when := at(-time.Duration(rng.IntN(400*24)) * time.Hour)
		createCase(t, s, newCase(id, when))
		for range rng.IntN(8) {
			switch rng.IntN(4) {
			case 0: // same instant: a zero-length stay
			case 1: // sub-second steps, whole microseconds
				when = when.Add(time.Duration(rng.IntN(1_000_000)) * time.Microsecond)
			default:
				when = when.Add(time.Duration(rng.IntN(90*24)) * time.Hour)
			}
			must(t, s.EnterStage(ctx, id, stages[rng.IntN(len(stages))], "", when))
		}
		if rng.IntN(5) == 0 {
			must(t, s.EraseCase(ctx, id, when.Add(time.Hour)))
		}
	}
	ps, err := s.PeriodsSince(ctx, time.Time{})
	must(t, err)
	return ps
}

// nearestRank is the p-th percentile of sorted by the nearest-rank method.
func nearestRank(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	return sorted[min(max((p*n+99)/100, 1), n)-1]
}

func testStageStayStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.StageStayStats(ctx, time.Time{})
	must(t, err)
	if len(got) != 0 {
		t.Errorf("empty store: %+v", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ps := randomPeriods(t, s, rng)
	// Bounds: arbitrary ones, whole microseconds or not, and exactly the
	// ends of periods (which decide whether a stay ending there counts).
	bounds := []time.Time{{}, at(-500 * 24 * time.Hour), at(-200 * 24 * time.Hour), at(time.Nanosecond), at(1000 * 24 * time.Hour)}
	for range 8 {
		p := ps[rng.IntN(len(ps))]
		if !p.Left.IsZero() {
			bounds = append(bounds, p.Left, p.Left.Add(-time.Nanosecond), p.Left.Add(time.Nanosecond), p.Left.Add(-time.Microsecond))
		}
	}
	for _, x := range bounds {
		durations := map[string][]time.Duration{}
		for _, p := range ps {
			if p.Left.IsZero() || p.Left.Before(x) || (p.Left.Equal(x) && p.Entered.Before(x)) {
				continue
			}
			durations[p.Stage] = append(durations[p.Stage], max(p.Left.Sub(p.Entered), 0))
		}
		var want []store.StageStayStat
		for _, stage := range slices.Sorted(maps.Keys(durations)) {
			ds := durations[stage]
			slices.Sort(ds)
			want = append(want, store.StageStayStat{Stage: stage, Count: len(ds),
				Median: nearestRank(ds, 50), P90: nearestRank(ds, 90)})
		}
		got, err := s.StageStayStats(ctx, x)
		must(t, err)
		if !slices.Equal(got, want) {
			t.Errorf("ended after %v:\n got %+v\nwant %+v", x, got, want)
		}
	}
}

func testStageMonthlyEntries(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.StageMonthlyEntries(ctx, []string{stageVerify}, time.Time{}, at(time.Hour))
	must(t, err)
	if len(got) != 0 {
		t.Errorf("empty store: %+v", got)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	ps := randomPeriods(t, s, rng)
	month := func(t time.Time) time.Time {
		t = t.UTC()
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	first := month(at(-300 * 24 * time.Hour))
	for _, tc := range []struct {
		stages      []string
		from, until time.Time
	}{
		{[]string{stageVerify, stageClosed}, first, first.AddDate(0, 12, 0)},
		{[]string{stageRelocate}, first.AddDate(0, -3, 0), first.AddDate(0, 12, 0)},
		{[]string{stageTriage, "other", "none"}, time.Time{}, at(1000 * 24 * time.Hour)},
		{[]string{stageVerify}, ps[len(ps)/2].Entered, ps[len(ps)-1].Entered},
		{[]string{stageVerify}, ps[len(ps)/2].Entered.Add(time.Nanosecond), ps[len(ps)-1].Entered.Add(time.Nanosecond)},
		{nil, time.Time{}, at(1000 * 24 * time.Hour)},
	} {
		type key struct {
			stage string
			month time.Time
		}
		cases := map[key]map[string]bool{}
		for _, p := range ps {
			if !slices.Contains(tc.stages, p.Stage) || p.Entered.Before(tc.from) || !p.Entered.Before(tc.until) {
				continue
			}
			k := key{p.Stage, month(p.Entered)}
			if cases[k] == nil {
				cases[k] = map[string]bool{}
			}
			cases[k][p.CaseID] = true
		}
		var want []store.StageMonthCount
		for k, ids := range cases {
			want = append(want, store.StageMonthCount{Stage: k.stage, Month: k.month, Cases: len(ids)})
		}
		slices.SortFunc(want, func(a, b store.StageMonthCount) int {
			return cmp.Or(strings.Compare(a.Stage, b.Stage), a.Month.Compare(b.Month))
		})
		got, err := s.StageMonthlyEntries(ctx, tc.stages, tc.from, tc.until)
		must(t, err)
		eq := func(a, b store.StageMonthCount) bool {
			return a.Stage == b.Stage && a.Month.Equal(b.Month) && a.Month.Location() == time.UTC && a.Cases == b.Cases
		}
		if !slices.EqualFunc(got, want, eq) {
			t.Errorf("%v from %v until %v:\n got %+v\nwant %+v", tc.stages, tc.from, tc.until, got, want)
		}
	}
}

func testCountByStage(t *testing.T, s store.Store) {
	ctx := t.Context()
	counts, err := s.CountByStage(ctx)
	must(t, err)
	if len(counts) != 0 {
		t.Errorf("empty store: %v", counts)
	}
	for i, stage := range []string{stageTriage, stageTriage, stageTriage, stageVerify, stageVerify, stageClosed} {
		c := newCase(fmt.Sprintf("c%d", i), t0)
		c.Stage = stage
		createCase(t, s, c)
	}
	check := func(step string, want map[string]int) {
		t.Helper()
		got, err := s.CountByStage(ctx)
		must(t, err)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", step, got, want)
		}
	}
	check("created", map[string]int{stageTriage: 3, stageVerify: 2, stageClosed: 1})
	must(t, s.EnterStage(ctx, "c0", stageRelocate, "", at(time.Hour)))
	check("moved", map[string]int{stageTriage: 2, stageVerify: 2, stageRelocate: 1, stageClosed: 1})
	must(t, s.EraseCase(ctx, "c5", at(time.Hour)))
	must(t, s.EraseCase(ctx, "c3", at(time.Hour)))
	check("erased", map[string]int{stageTriage: 2, stageVerify: 1, stageRelocate: 1})
}

func testCaseShares(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	check := func(step, caseID string, want ...int64) {
		t.Helper()
		got, err := s.CaseShares(ctx, caseID)
		must(t, err)
		if !slices.Equal(got, want) {
			t.Errorf("%s: shares of %s %v, want %v", step, caseID, got, want)
		}
	}
	for _, u := range []int64{9, 2, 5, 2} {
		must(t, s.ShareCase(ctx, "c1", u))
	}
	must(t, s.ShareCase(ctx, "c2", 5))
	check("shared", "c1", 2, 5, 9)
	must(t, s.ShareCase(ctx, "c1", 5)) // idempotent
	check("shared again", "c1", 2, 5, 9)
	must(t, s.UnshareCase(ctx, "c1", 5))
	check("unshared", "c1", 2, 9)
	wantErr(t, s.UnshareCase(ctx, "c1", 5), store.ErrNotFound)
	check("unshared twice", "c1", 2, 9)
	check("other case", "c2", 5)
	must(t, s.UnshareCase(ctx, "c1", 2))
	must(t, s.UnshareCase(ctx, "c1", 9))
	check("none left", "c1")

	// Shares are not break-glass grants, nor the other way round.
	must(t, s.ShareCase(ctx, "c1", 3))
	_, err := s.AccessUntil(ctx, "c1", 3)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.GrantAccess(ctx, "c2", 4, at(time.Hour)))
	check("after a grant", "c2", 5)
	got, _ := listCaseIDs(t, s, store.CaseFilter{VisibleTo: 4})
	if len(got) != 0 {
		t.Errorf("a grant made cases visible: %v", got)
	}
}

func testCaseAccess(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	check := func(step, caseID string, user int64, want time.Time) {
		t.Helper()
		got, err := s.AccessUntil(ctx, caseID, user)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s: until %v, want %v", step, got, want)
		}
	}
	until := time.Date(2026, 3, 1, 16, 0, 0, 999999999, time.FixedZone("X", 3600))
	must(t, s.GrantAccess(ctx, "c1", 3, until))
	check("granted", "c1", 3, micro(until))
	must(t, s.GrantAccess(ctx, "c1", 3, at(time.Hour)))
	check("replaced by an earlier end", "c1", 3, at(time.Hour))
	must(t, s.GrantAccess(ctx, "c1", 3, at(4*time.Hour)))
	check("replaced by a later end", "c1", 3, at(4*time.Hour))
	must(t, s.GrantAccess(ctx, "c1", 4, at(-time.Hour)))
	check("a past grant", "c1", 4, at(-time.Hour))
	check("first user untouched", "c1", 3, at(4*time.Hour))
	for _, k := range []struct {
		caseID string
		user   int64
	}{{"c2", 3}, {"c1", 5}} {
		_, err := s.AccessUntil(ctx, k.caseID, k.user)
		wantErr(t, err, store.ErrNotFound)
	}
}

// Every change to a case, its sections or events moves UpdatedAt
// forward, never back.
func testCaseUpdatedAt(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	n := 0
	event := func(when time.Time, body []byte) func() error {
		return func() error {
			n++
			return s.AddCaseEvent(ctx, &store.CaseEvent{ID: fmt.Sprint("e", n), CaseID: "c1", At: when, Kind: "note", Body: body})
		}
	}
	section := func(when time.Time) func() error {
		return func() error {
			return s.PutSection(ctx, &store.CaseSection{CaseID: "c1", Class: "identity", Data: []byte("x"), UpdatedAt: when})
		}
	}
	update := func(when time.Time) func() error {
		return func() error {
			c := getCase(t, s, "c1")
			c.Risk++
			c.UpdatedAt = when
			return s.UpdateCase(ctx, c)
		}
	}
	steps := []struct {
		name string
		do   func() error
		want time.Time
	}{
		{"event", event(at(time.Minute), []byte("b")), at(time.Minute)},
		{"earlier event", event(at(time.Second), nil), at(time.Minute)},
		{"section", section(at(2 * time.Minute)), at(2 * time.Minute)},
		{"earlier section", section(at(time.Second)), at(2 * time.Minute)},
		{"update", update(at(3 * time.Minute)), at(3 * time.Minute)},
		{"earlier update", update(at(time.Second)), at(3 * time.Minute)},
		{"stage", func() error { return s.EnterStage(ctx, "c1", stageVerify, "", at(4*time.Minute)) }, at(4 * time.Minute)},
		{"earlier stage", func() error { return s.EnterStage(ctx, "c1", stageRelocate, "", at(time.Second)) }, at(4 * time.Minute)},
		{"share", func() error { return s.ShareCase(ctx, "c1", 3) }, at(4 * time.Minute)},
		{"grant", func() error { return s.GrantAccess(ctx, "c1", 3, at(time.Hour)) }, at(4 * time.Minute)},
		{"erase", func() error { return s.EraseCase(ctx, "c1", at(5*time.Minute)) }, at(5 * time.Minute)},
		{"earlier erase", func() error { return s.EraseCase(ctx, "c1", at(time.Second)) }, at(5 * time.Minute)},
		{"event after erasure", event(at(6*time.Minute), nil), at(6 * time.Minute)},
	}
	for _, st := range steps {
		must(t, st.do())
		if got := getCase(t, s, "c1"); !got.UpdatedAt.Equal(st.want) {
			t.Errorf("%s: UpdatedAt %v, want %v", st.name, got.UpdatedAt, st.want)
		}
	}
}

func testEraseCase(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newCase("c1", t0)
	c.RequestID, c.AssigneeID, c.Risk, c.Verified, c.LastContactAt = "r1", 5, 4, true, at(time.Minute)
	createCase(t, s, c)
	keep := newCase("c2", t0)
	keep.AssigneeID = 5
	createCase(t, s, keep)
	for _, id := range []string{"c1", "c2"} {
		for _, class := range []string{"identity", "location", "testimony"} {
			must(t, s.PutSection(ctx, &store.CaseSection{CaseID: id, Class: class, Data: randomBytes(300), UpdatedAt: at(time.Minute)}))
		}
		must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: id + "-opened", CaseID: id, At: t0, ActorID: 5, Kind: "opened"}))
		must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: id + "-note", CaseID: id, At: at(time.Minute), ActorID: 5, Kind: "note", Class: "testimony", Body: randomBytes(200)}))
		must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: id + "-stage", CaseID: id, At: at(2 * time.Minute), ActorID: 6, Kind: "stage", Stage: stageVerify, Class: "logistics", Body: randomBytes(50)}))
		must(t, s.EnterStage(ctx, id, stageVerify, "", at(2*time.Minute)))
		must(t, s.ShareCase(ctx, id, 8))
		must(t, s.GrantAccess(ctx, id, 9, at(time.Hour)))
	}
	before := getCase(t, s, "c1")
	eventsBefore := caseEvents(t, s, "c1")
	periodsBefore := stagePeriods(t, s, "c1")
	keepBefore := getCase(t, s, "c2")
	keepSections, keepEvents := sections(t, s, "c2"), caseEvents(t, s, "c2")

	must(t, s.EraseCase(ctx, "c1", at(time.Hour+time.Nanosecond)))

	// The case: no key, ErasedAt set, the rest as it was.
	want := *before
	want.WrappedKey, want.ErasedAt, want.UpdatedAt = nil, at(time.Hour), at(time.Hour)
	checkEqual(t, &want, getCase(t, s, "c1"))
	// No sections; events kept without bodies or classes.
	if secs := sections(t, s, "c1"); len(secs) != 0 {
		t.Errorf("%d sections after erasure", len(secs))
	}
	evs := caseEvents(t, s, "c1")
	if len(evs) != len(eventsBefore) {
		t.Fatalf("%d events after erasure, want %d", len(evs), len(eventsBefore))
	}
	for i, e := range eventsBefore {
		w := *e
		w.Body, w.Class = nil, ""
		for _, d := range diff(&w, evs[i]) {
			t.Errorf("event %s after erasure: %s", e.ID, d)
		}
	}
	// Periods, shares and grants stay: they hold no ciphertext.
	checkPeriods(t, "periods after erasure", periodsBefore, stagePeriods(t, s, "c1"))
	if shares, err := s.CaseShares(ctx, "c1"); err != nil || !slices.Equal(shares, []int64{8}) {
		t.Errorf("shares after erasure: %v, %v", shares, err)
	}
	if until, err := s.AccessUntil(ctx, "c1", 9); err != nil || !until.Equal(at(time.Hour)) {
		t.Errorf("grant after erasure: %v, %v", until, err)
	}
	// The other case is untouched.
	checkEqual(t, keepBefore, getCase(t, s, "c2"))
	for i, sec := range sections(t, s, "c2") {
		checkEqual(t, keepSections[i], sec)
	}
	for i, e := range caseEvents(t, s, "c2") {
		checkEqual(t, keepEvents[i], e)
	}

	// Lists leave it out unless asked.
	for _, tt := range []struct {
		f    store.CaseFilter
		want []string
	}{
		{store.CaseFilter{}, []string{"c2"}},
		{store.CaseFilter{AssigneeID: 5}, []string{"c2"}},
		{store.CaseFilter{VisibleTo: 8}, []string{"c2"}},
		{store.CaseFilter{Stage: stageVerify}, []string{"c2"}},
		{store.CaseFilter{IncludeErased: true}, []string{"c1", "c2"}},
		{store.CaseFilter{IncludeErased: true, VisibleTo: 5}, []string{"c1", "c2"}},
	} {
		got, total := listCaseIDs(t, s, tt.f)
		if !slices.Equal(got, tt.want) || total != len(tt.want) {
			t.Errorf("ListCases(%+v): %v (total %d), want %v", tt.f, got, total, tt.want)
		}
	}
	if got, err := s.CaseForRequest(ctx, "r1"); err != nil || got.ID != "c1" {
		t.Errorf("CaseForRequest after erasure: %v, %v", got, err)
	}

	// Erasing again keeps the first ErasedAt.
	must(t, s.EraseCase(ctx, "c1", at(2*time.Hour)))
	if got := getCase(t, s, "c1"); !got.ErasedAt.Equal(at(time.Hour)) || !got.UpdatedAt.Equal(at(2*time.Hour)) {
		t.Errorf("erased again: ErasedAt %v, UpdatedAt %v", got.ErasedAt, got.UpdatedAt)
	}

	// An erased case takes no new ciphertext, and an update cannot bring
	// a key back; workflow changes and bodiless events still work.
	wantErr(t, s.PutSection(ctx, &store.CaseSection{CaseID: "c1", Class: "identity", Data: []byte("new"), UpdatedAt: at(3 * time.Hour)}), store.ErrNotFound)
	wantErr(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: "late-note", CaseID: "c1", At: at(3 * time.Hour), Kind: "note", Class: "testimony", Body: []byte("new")}), store.ErrNotFound)
	if secs := sections(t, s, "c1"); len(secs) != 0 {
		t.Errorf("%d sections after PutSection on an erased case", len(secs))
	}
	must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: "erased", CaseID: "c1", At: at(3 * time.Hour), ActorID: 1, Kind: "erase"}))
	must(t, s.EnterStage(ctx, "c1", stageClosed, "erased", at(3*time.Hour)))
	stale := *before
	stale.Risk, stale.UpdatedAt = 1, at(4*time.Hour)
	must(t, s.UpdateCase(ctx, &stale))
	got := getCase(t, s, "c1")
	if got.WrappedKey != nil || !got.ErasedAt.Equal(at(time.Hour)) || got.Risk != 1 || got.Stage != stageClosed {
		t.Errorf("erased case after update: WrappedKey %s, ErasedAt %v, Risk %d, Stage %q",
			short(got.WrappedKey), got.ErasedAt, got.Risk, got.Stage)
	}
	if evs := caseEvents(t, s, "c1"); len(evs) != len(eventsBefore)+1 {
		t.Errorf("%d events, want %d", len(evs), len(eventsBefore)+1)
	}
}

// Writers racing an erasure either finish before it, and their
// ciphertext is erased with the rest, or fail after it: none is left.
func testEraseRacesWriters(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				sec := &store.CaseSection{CaseID: "c1", Class: fmt.Sprintf("class%d", i%3), Data: randomBytes(64), UpdatedAt: at(time.Minute)}
				if err := s.PutSection(ctx, sec); err != nil {
					if !isNotFound(err) {
						t.Error(err)
					}
					return
				}
				e := &store.CaseEvent{ID: fmt.Sprintf("e%d-%d", w, i), CaseID: "c1", At: at(time.Minute), Kind: "note", Class: "testimony", Body: randomBytes(32)}
				if err := s.AddCaseEvent(ctx, e); err != nil {
					if !isNotFound(err) {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	close(start)
	time.Sleep(20 * time.Millisecond)
	must(t, s.EraseCase(ctx, "c1", at(time.Hour)))
	wg.Wait()
	if secs := sections(t, s, "c1"); len(secs) != 0 {
		t.Errorf("%d sections survived the erasure", len(secs))
	}
	evs := caseEvents(t, s, "c1")
	for _, e := range evs {
		if e.Body != nil || e.Class != "" {
			t.Errorf("event %s kept its body or class", e.ID)
		}
	}
	if getCase(t, s, "c1").WrappedKey != nil {
		t.Error("the key survived the erasure")
	}
}

// writeCases makes one write through every writing method of store.Cases,
// to case "c1" (created) and "c0" (which must exist).
func writeCases(t *testing.T, tx store.Store) {
	t.Helper()
	ctx := t.Context()
	c := newCase("c1", t0)
	c.RequestID = "r1"
	createCase(t, tx, c)
	must(t, tx.PutSection(ctx, &store.CaseSection{CaseID: "c1", Class: "identity", Data: []byte("x"), UpdatedAt: at(time.Minute)}))
	must(t, tx.AddCaseEvent(ctx, &store.CaseEvent{ID: "e1", CaseID: "c1", At: at(time.Minute), Kind: "opened"}))
	must(t, tx.EnterStage(ctx, "c1", stageVerify, "", at(time.Hour)))
	must(t, tx.ShareCase(ctx, "c1", 3))
	must(t, tx.GrantAccess(ctx, "c1", 4, at(time.Hour)))
	c.Risk, c.UpdatedAt = 4, at(2*time.Hour)
	must(t, tx.UpdateCase(ctx, c))

	must(t, tx.PutSection(ctx, &store.CaseSection{CaseID: "c0", Class: "identity", Data: []byte("y"), UpdatedAt: at(time.Minute)}))
	must(t, tx.EnterStage(ctx, "c0", stageVerify, "", at(time.Hour)))
	must(t, tx.EraseCase(ctx, "c0", at(3*time.Hour)))
}

func testCaseTxCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	c0 := newCase("c0", t0)
	createCase(t, s, c0)
	must(t, s.Tx(ctx, func(tx store.Store) error {
		writeCases(t, tx)
		// Reads inside see the writes.
		got := getCase(t, tx, "c1")
		if got.Stage != stageVerify || got.Risk != 4 {
			t.Errorf("inside tx: Stage %q, Risk %d", got.Stage, got.Risk)
		}
		if ids, total := listCaseIDs(t, tx, store.CaseFilter{VisibleTo: 3}); total != 1 || ids[0] != "c1" {
			t.Errorf("inside tx: visible to 3: %v", ids)
		}
		if len(sections(t, tx, "c1")) != 1 || len(caseEvents(t, tx, "c1")) != 1 || len(stagePeriods(t, tx, "c1")) != 2 {
			t.Error("inside tx: sections, events or periods missing")
		}
		if _, err := tx.CaseForRequest(ctx, "r1"); err != nil {
			t.Errorf("inside tx: CaseForRequest: %v", err)
		}
		if sec := sections(t, tx, "c0"); len(sec) != 0 {
			t.Error("inside tx: erased case has sections")
		}
		return nil
	}))
	got := getCase(t, s, "c1")
	if got.Stage != stageVerify || got.Risk != 4 || !got.UpdatedAt.Equal(at(2*time.Hour)) {
		t.Errorf("after commit: Stage %q, Risk %d, UpdatedAt %v", got.Stage, got.Risk, got.UpdatedAt)
	}
	if shares, err := s.CaseShares(ctx, "c1"); err != nil || len(shares) != 1 {
		t.Errorf("after commit: shares %v, %v", shares, err)
	}
	if _, err := s.AccessUntil(ctx, "c1", 4); err != nil {
		t.Errorf("after commit: AccessUntil: %v", err)
	}
	if c0 := getCase(t, s, "c0"); c0.ErasedAt.IsZero() || c0.WrappedKey != nil || c0.Stage != stageVerify {
		t.Errorf("after commit: c0 not erased: %+v", c0)
	}
}

func testCaseTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c0", t0))
	must(t, s.PutSection(ctx, &store.CaseSection{CaseID: "c0", Class: "location", Data: []byte("kept"), UpdatedAt: t0}))
	c0 := getCase(t, s, "c0")
	c0Sections := sections(t, s, "c0")
	c0Periods := stagePeriods(t, s, "c0")

	err := s.Tx(ctx, func(tx store.Store) error {
		writeCases(t, tx)
		return errRollback
	})
	wantErr(t, err, errRollback)

	_, err = s.GetCase(ctx, "c1")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.CaseForRequest(ctx, "r1")
	wantErr(t, err, store.ErrNotFound)
	checkEqual(t, c0, getCase(t, s, "c0"))
	got := sections(t, s, "c0")
	if len(got) != len(c0Sections) {
		t.Fatalf("c0: %d sections after rollback, want %d", len(got), len(c0Sections))
	}
	for i := range got {
		checkEqual(t, c0Sections[i], got[i])
	}
	checkPeriods(t, "c0 after rollback", c0Periods, stagePeriods(t, s, "c0"))
	ps, err := s.PeriodsSince(ctx, time.Time{})
	must(t, err)
	checkPeriods(t, "all periods after rollback", c0Periods, ps)
	counts, err := s.CountByStage(ctx)
	must(t, err)
	if fmt.Sprint(counts) != fmt.Sprint(map[string]int{stageTriage: 1}) {
		t.Errorf("CountByStage after rollback: %v", counts)
	}
	// The store is usable afterwards.
	must(t, s.Tx(ctx, func(tx store.Store) error {
		writeCases(t, tx)
		return nil
	}))
}

// A conflict or a missing case inside Tx leaves the transaction usable and
// what was written before it in place.
func testCaseTxUsableAfterErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newCase("c1", t0)
	c.RequestID = "r1"
	createCase(t, s, c)
	must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: "e1", CaseID: "c1", At: t0, Kind: "opened"}))
	createCase(t, s, newCase("gone", t0))
	must(t, s.EraseCase(ctx, "gone", t0))

	must(t, s.Tx(ctx, func(tx store.Store) error {
		must(t, tx.PutSection(ctx, &store.CaseSection{CaseID: "c1", Class: "identity", Data: []byte("before"), UpdatedAt: at(time.Minute)}))
		wantErr(t, tx.CreateCase(ctx, newCase("c1", t0)), store.ErrConflict)
		dup := newCase("c2", t0)
		dup.RequestID = "r1"
		wantErr(t, tx.CreateCase(ctx, dup), store.ErrConflict)
		wantErr(t, tx.AddCaseEvent(ctx, &store.CaseEvent{ID: "e1", CaseID: "c1", At: at(time.Hour), Kind: "note"}), store.ErrConflict)
		wantErr(t, tx.AddCaseEvent(ctx, &store.CaseEvent{ID: "e2", CaseID: "missing", At: at(time.Hour), Kind: "note"}), store.ErrNotFound)
		wantErr(t, tx.AddCaseEvent(ctx, &store.CaseEvent{ID: "e3", CaseID: "gone", At: at(time.Hour), Kind: "note", Body: []byte("x")}), store.ErrNotFound)
		wantErr(t, tx.PutSection(ctx, &store.CaseSection{CaseID: "missing", Class: "identity", UpdatedAt: at(time.Hour)}), store.ErrNotFound)
		wantErr(t, tx.PutSection(ctx, &store.CaseSection{CaseID: "gone", Class: "identity", Data: []byte("x"), UpdatedAt: at(time.Hour)}), store.ErrNotFound)
		wantErr(t, tx.EnterStage(ctx, "missing", stageVerify, "", at(time.Hour)), store.ErrNotFound)
		wantErr(t, tx.UpdateCase(ctx, newCase("missing", t0)), store.ErrNotFound)
		wantErr(t, tx.ShareCase(ctx, "missing", 1), store.ErrNotFound)
		wantErr(t, tx.UnshareCase(ctx, "c1", 1), store.ErrNotFound)
		wantErr(t, tx.GrantAccess(ctx, "missing", 1, at(time.Hour)), store.ErrNotFound)
		wantErr(t, tx.EraseCase(ctx, "missing", at(time.Hour)), store.ErrNotFound)
		_, err := tx.GetCase(ctx, "missing")
		wantErr(t, err, store.ErrNotFound)
		_, err = tx.AccessUntil(ctx, "c1", 1)
		wantErr(t, err, store.ErrNotFound)
		return tx.EnterStage(ctx, "c1", stageVerify, "", at(2*time.Hour))
	}))
	got := getCase(t, s, "c1")
	if got.Stage != stageVerify || !got.UpdatedAt.Equal(at(2*time.Hour)) {
		t.Errorf("after the transaction: Stage %q, UpdatedAt %v", got.Stage, got.UpdatedAt)
	}
	if secs := sections(t, s, "c1"); len(secs) != 1 || string(secs[0].Data) != "before" {
		t.Errorf("write before the errors lost: %d sections", len(secs))
	}
	if evs := caseEvents(t, s, "c1"); len(evs) != 1 {
		t.Errorf("%d events, want 1", len(evs))
	}
}

// testCaseTimes sends each time through every time column of the case
// tables and expects it back in UTC, truncated to the microsecond.
func testCaseTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, tc := range timeValues() {
		t.Run(tc.name, func(t *testing.T) {
			want := micro(tc.t)
			check := func(what string, got, want time.Time) {
				t.Helper()
				if !got.Equal(want) || got.Location() != time.UTC {
					t.Errorf("%s: got %v, want %v", what, got, want)
				}
			}
			id := fmt.Sprintf("c%d", i)
			c := &store.Case{ID: id, CreatedAt: tc.t, Stage: stageTriage, StageSince: tc.t,
				LastContactAt: tc.t, WrappedKey: []byte("k")}
			createCase(t, s, c)
			got := getCase(t, s, id)
			check("Case.CreatedAt", got.CreatedAt, want)
			check("Case.UpdatedAt", got.UpdatedAt, want)
			check("Case.StageSince", got.StageSince, want)
			check("Case.LastContactAt", got.LastContactAt, want)

			got.LastContactAt, got.UpdatedAt = tc.t.Add(time.Minute), tc.t.Add(time.Minute)
			must(t, s.UpdateCase(ctx, got))
			got = getCase(t, s, id)
			check("Case.LastContactAt after UpdateCase", got.LastContactAt, micro(tc.t.Add(time.Minute)))
			check("Case.UpdatedAt after UpdateCase", got.UpdatedAt, micro(tc.t.Add(time.Minute)))

			must(t, s.PutSection(ctx, &store.CaseSection{CaseID: id, Class: "identity", Data: []byte("x"), UpdatedAt: tc.t}))
			secs := sections(t, s, id)
			check("CaseSection.UpdatedAt", secs[0].UpdatedAt, want)

			must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: id, CaseID: id, At: tc.t, Kind: "note"}))
			evs := caseEvents(t, s, id)
			check("CaseEvent.At", evs[0].At, want)

			must(t, s.EnterStage(ctx, id, stageVerify, "", tc.t.Add(time.Hour)))
			ps := stagePeriods(t, s, id)
			check("StagePeriod.Entered", ps[0].Entered, want)
			check("StagePeriod.Left", ps[0].Left, micro(tc.t.Add(time.Hour)))
			check("StagePeriod.Entered of the next", ps[1].Entered, micro(tc.t.Add(time.Hour)))
			since, err := s.PeriodsSince(ctx, tc.t.Add(time.Hour))
			must(t, err)
			found := false
			for _, p := range since {
				if p.CaseID == id {
					found = true
					check("PeriodsSince: Entered", p.Entered, micro(tc.t.Add(time.Hour)))
				}
			}
			if !found {
				t.Error("PeriodsSince left out the current period")
			}

			must(t, s.GrantAccess(ctx, id, 1, tc.t))
			until, err := s.AccessUntil(ctx, id, 1)
			must(t, err)
			check("AccessUntil", until, want)

			must(t, s.EraseCase(ctx, id, tc.t.Add(2*time.Hour)))
			got = getCase(t, s, id)
			check("Case.ErasedAt", got.ErasedAt, micro(tc.t.Add(2*time.Hour)))
			check("Case.UpdatedAt after EraseCase", got.UpdatedAt, micro(tc.t.Add(2*time.Hour)))

			e := &store.Case{ID: id + "e", CreatedAt: tc.t, Stage: stageTriage, ErasedAt: tc.t}
			createCase(t, s, e)
			check("Case.ErasedAt on create", getCase(t, s, e.ID).ErasedAt, want)
		})
	}
	// Zero LastContactAt and ErasedAt mean "never" and read back as zero.
	createCase(t, s, &store.Case{ID: "zero", CreatedAt: t0, Stage: stageTriage})
	got := getCase(t, s, "zero")
	if !got.LastContactAt.IsZero() || !got.ErasedAt.IsZero() {
		t.Errorf("zero times read back as %v, %v", got.LastContactAt, got.ErasedAt)
	}
}

// testCaseBlobs sends each value through every blob column of the case
// tables.
func testCaseBlobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, tc := range blobValues() {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("c%d", i)
			c := newCase(id, t0)
			c.WrappedKey = tc.v
			createCase(t, s, c)
			if got := getCase(t, s, id); !bytesEqualNil(got.WrappedKey, tc.want) {
				t.Errorf("WrappedKey: got %s, want %s", short(got.WrappedKey), short(tc.want))
			}
			must(t, s.PutSection(ctx, &store.CaseSection{CaseID: id, Class: "testimony", Data: tc.v, UpdatedAt: t0}))
			if got := sections(t, s, id); !bytesEqualNil(got[0].Data, tc.want) {
				t.Errorf("Section.Data: got %s, want %s", short(got[0].Data), short(tc.want))
			}
			must(t, s.AddCaseEvent(ctx, &store.CaseEvent{ID: id, CaseID: id, At: t0, Kind: "note", Class: "testimony", Body: tc.v}))
			if got := caseEvents(t, s, id); !bytesEqualNil(got[0].Body, tc.want) {
				t.Errorf("CaseEvent.Body: got %s, want %s", short(got[0].Body), short(tc.want))
			}
			// Listing returns the same bytes as getting.
			list, _, err := s.ListCases(ctx, store.CaseFilter{Limit: 1000})
			must(t, err)
			for _, got := range list {
				if got.ID == id && !bytesEqualNil(got.WrappedKey, tc.want) {
					t.Errorf("ListCases WrappedKey: got %s, want %s", short(got.WrappedKey), short(tc.want))
				}
			}
		})
	}
}

// bytesEqualNil reports whether got is want byte for byte, and nil when
// want is nil.
func bytesEqualNil(got, want []byte) bool {
	if want == nil {
		return got == nil
	}
	return string(got) == string(want)
}
