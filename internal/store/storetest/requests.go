package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var requestTests = []test{
	{"CreateGet", testRequestCreateGet},
	{"NotFound", testRequestNotFound},
	{"Conflict", testRequestConflict},
	{"InboxOrder", testInboxOrder},
	{"InboxFilters", testInboxFilters},
	{"InboxDefaultLimit", testInboxDefaultLimit},
	{"AddMessage", testAddMessage},
	{"ListMessages", testListMessages},
	{"SetStatusAssignee", testSetStatusAssignee},
}

func testRequestCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	created := time.Date(2026, 3, 1, 15, 4, 5, 123456789, time.FixedZone("MSK", 3*3600))
	r := newRequest("r1", created)
	r.Urgency = 3
	r.Status = store.StatusInProgress
	r.AssigneeID = 7
	r.UnreadStaff = true
	r.MessageCount = 5                   // must be reset
	r.UpdatedAt = created.Add(time.Hour) // must be reset
	must(t, s.CreateRequest(ctx, r))
	if !r.UpdatedAt.Equal(r.CreatedAt) {
		t.Errorf("after create: UpdatedAt %v, want CreatedAt %v", r.UpdatedAt, r.CreatedAt)
	}
	if r.MessageCount != 0 {
		t.Errorf("after create: MessageCount %d, want 0", r.MessageCount)
	}

	want := *r
	want.CreatedAt = time.Date(2026, 3, 1, 12, 4, 5, 123456000, time.UTC)
	want.UpdatedAt = want.CreatedAt
	got, err := s.GetRequest(ctx, "r1")
	must(t, err)
	checkEqual(t, &want, got)

	got, err = s.GetRequestByLookup(ctx, r.LookupID)
	must(t, err)
	checkEqual(t, &want, got)
}

func testRequestNotFound(t *testing.T, s store.Store) {
	createRequest(t, s, newRequest("exists", t0))
	tests := []struct {
		name string
		call func() error
	}{
		{"GetRequest", func() error { _, err := s.GetRequest(t.Context(), "missing"); return err }},
		{"GetRequestByLookup", func() error { _, err := s.GetRequestByLookup(t.Context(), []byte("missing")); return err }},
		{"GetRequestByLookupNil", func() error { _, err := s.GetRequestByLookup(t.Context(), nil); return err }},
		{"SetStatus", func() error { return s.SetStatus(t.Context(), "missing", store.StatusClosed, t0) }},
		{"SetAssignee", func() error { return s.SetAssignee(t.Context(), "missing", 1, t0) }},
		{"MarkRead", func() error { return s.MarkRead(t.Context(), "missing") }},
		{"AddMessage", func() error {
			return s.AddMessage(t.Context(), &store.Message{ID: "m", RequestID: "missing", CreatedAt: t0, Author: store.AuthorPerson})
		}},
		{"ListMessages", func() error { _, err := s.ListMessages(t.Context(), "missing"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.call(), store.ErrNotFound) })
	}
	// The failed AddMessage must not have left a message behind.
	if _, err := s.ListMessages(t.Context(), "missing"); err == nil {
		t.Error("ListMessages of a missing request succeeded after a failed AddMessage")
	}
}

func testRequestConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newRequest("r1", t0)
	createRequest(t, s, orig)
	want := getRequest(t, s, "r1")

	sameID := newRequest("r1", at(time.Hour))
	wantErr(t, s.CreateRequest(ctx, sameID), store.ErrConflict)

	sameLookup := newRequest("r2", at(time.Hour))
	sameLookup.LookupID = append([]byte(nil), orig.LookupID...)
	wantErr(t, s.CreateRequest(ctx, sameLookup), store.ErrConflict)
	_, err := s.GetRequest(ctx, "r2")
	wantErr(t, err, store.ErrNotFound)

	checkEqual(t, want, getRequest(t, s, "r1"))
	_, total, err := s.ListInbox(ctx, store.InboxFilter{})
	must(t, err)
	if total != 1 {
		t.Errorf("total %d after conflicts, want 1", total)
	}
}

func ids(rs []*store.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testInboxOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, r := range []struct {
		id      string
		status  string
		urgency int
		created time.Duration
	}{
		{"a", store.StatusNew, 1, 1 * time.Minute},
		{"b", store.StatusClosed, 3, 5 * time.Minute},
		{"c", store.StatusInProgress, 3, 2 * time.Minute},
		{"d", store.StatusNew, 3, 3 * time.Minute},
		{"e", store.StatusClosed, 0, 6 * time.Minute},
		{"f", store.StatusNew, 0, 4 * time.Minute},
		{"g", store.StatusNew, 3, 3 * time.Minute}, // ties with d: id decides
	} {
		req := newRequest(r.id, at(r.created))
		req.Status, req.Urgency = r.status, r.urgency
		createRequest(t, s, req)
	}
	// Recent activity must not reorder: "newest" is by creation.
	must(t, s.AddMessage(ctx, &store.Message{ID: "m1", RequestID: "a", CreatedAt: at(time.Hour), Author: store.AuthorPerson}))
	must(t, s.AddMessage(ctx, &store.Message{ID: "m2", RequestID: "e", CreatedAt: at(time.Hour), Author: store.AuthorPerson}))

	got, total, err := s.ListInbox(ctx, store.InboxFilter{})
	must(t, err)
	want := []string{"g", "d", "c", "a", "f", "b", "e"}
	if !slices.Equal(ids(got), want) || total != len(want) {
		t.Errorf("inbox %v (total %d), want %v (total %d)", ids(got), total, want, len(want))
	}
}

// inboxLess is the reference order the store must implement.
func inboxLess(a, b *store.Request) int {
	ac, bc := a.Status == store.StatusClosed, b.Status == store.StatusClosed
	switch {
	case ac != bc:
		if !ac {
			return -1
		}
		return 1
	case a.Urgency != b.Urgency:
		return b.Urgency - a.Urgency
	case !a.CreatedAt.Equal(b.CreatedAt):
		return b.CreatedAt.Compare(a.CreatedAt)
	}
	return strings.Compare(b.ID, a.ID)
}

func testInboxFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	statuses := []string{store.StatusNew, store.StatusInProgress, store.StatusClosed}
	var all []*store.Request
	for i := range 40 {
		r := newRequest(fmt.Sprintf("r%02d", i), at(time.Duration(i%10)*time.Minute))
		r.Urgency = i % 4
		r.Status = statuses[i%3]
		r.AssigneeID = int64(i % 5 % 3) // 0 (unassigned), 1, 2
		createRequest(t, s, r)
		all = append(all, r)
	}
	slices.SortFunc(all, inboxLess)

	tests := []struct {
		name string
		f    store.InboxFilter
	}{
		{"All", store.InboxFilter{}},
		{"Assignee", store.InboxFilter{AssigneeID: 1}},
		{"Status", store.InboxFilter{Status: store.StatusClosed}},
		{"StatusOpen", store.InboxFilter{Status: store.StatusInProgress}},
		{"AssigneeAndStatus", store.InboxFilter{AssigneeID: 2, Status: store.StatusNew}},
		{"UnknownAssignee", store.InboxFilter{AssigneeID: 99}},
		{"UnknownStatus", store.InboxFilter{Status: "nonsense"}},
		{"FirstPage", store.InboxFilter{Limit: 7}},
		{"SecondPage", store.InboxFilter{Limit: 7, Offset: 7}},
		{"LastPartialPage", store.InboxFilter{Limit: 7, Offset: 35}},
		{"PastTheEnd", store.InboxFilter{Limit: 7, Offset: 100}},
		{"NegativeOffset", store.InboxFilter{Limit: 3, Offset: -5}},
		{"FilteredPage", store.InboxFilter{Status: store.StatusNew, Limit: 4, Offset: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var match []string
			for _, r := range all {
				if (tt.f.AssigneeID <= 0 || r.AssigneeID == tt.f.AssigneeID) && (tt.f.Status == "" || r.Status == tt.f.Status) {
					match = append(match, r.ID)
				}
			}
			limit, offset := tt.f.Limit, max(tt.f.Offset, 0)
			if limit <= 0 {
				limit = 50
			}
			want := match[min(offset, len(match)):min(offset+limit, len(match))]

			got, total, err := s.ListInbox(ctx, tt.f)
			must(t, err)
			if total != len(match) {
				t.Errorf("total %d, want %d", total, len(match))
			}
			if !slices.Equal(ids(got), want) {
				t.Errorf("page %v, want %v", ids(got), want)
			}
		})
	}

	// Paging through everything visits every request exactly once.
	var seen []string
	for off := 0; ; off += 6 {
		page, _, err := s.ListInbox(ctx, store.InboxFilter{Limit: 6, Offset: off})
		must(t, err)
		if len(page) == 0 {
			break
		}
		seen = append(seen, ids(page)...)
	}
	if want := ids(all); !slices.Equal(seen, want) {
		t.Errorf("paged through %v, want %v", seen, want)
	}

	// Full records come back, not just ids.
	page, _, err := s.ListInbox(ctx, store.InboxFilter{Limit: 1})
	must(t, err)
	want := *all[0]
	want.CreatedAt, want.UpdatedAt = micro(want.CreatedAt), micro(want.CreatedAt)
	checkEqual(t, &want, page[0])
}

func testInboxDefaultLimit(t *testing.T, s store.Store) {
	for i := range 60 {
		createRequest(t, s, newRequest(fmt.Sprintf("r%02d", i), at(time.Duration(i)*time.Second)))
	}
	for _, limit := range []int{0, -1} {
		got, total, err := s.ListInbox(t.Context(), store.InboxFilter{Limit: limit})
		must(t, err)
		if len(got) != 50 || total != 60 {
			t.Errorf("Limit %d: %d requests (total %d), want 50 (total 60)", limit, len(got), total)
		}
	}
}

func testAddMessage(t *testing.T, s store.Store) {
	ctx := t.Context()
	createRequest(t, s, newRequest("r1", t0))
	createRequest(t, s, newRequest("other", t0))

	check := func(step string, count int, updated time.Time, unread bool) {
		t.Helper()
		r := getRequest(t, s, "r1")
		if r.MessageCount != count || !r.UpdatedAt.Equal(updated) || r.UnreadStaff != unread {
			t.Errorf("%s: MessageCount %d, UpdatedAt %v, UnreadStaff %v; want %d, %v, %v",
				step, r.MessageCount, r.UpdatedAt, r.UnreadStaff, count, updated, unread)
		}
	}
	check("new request", 0, t0, false)

	steps := []struct {
		name    string
		msg     store.Message
		count   int
		updated time.Time
		unread  bool
	}{
		{"person writes", store.Message{ID: "m1", CreatedAt: at(time.Minute), Author: store.AuthorPerson}, 1, at(time.Minute), true},
		{"staff replies", store.Message{ID: "m2", CreatedAt: at(2 * time.Minute), Author: store.AuthorStaff, StaffID: 5}, 2, at(2 * time.Minute), true},
		// A message stamped in the past (another server's clock) counts but
		// does not move UpdatedAt backwards.
		{"late person message", store.Message{ID: "m3", CreatedAt: at(30 * time.Second), Author: store.AuthorPerson}, 3, at(2 * time.Minute), true},
	}
	for _, st := range steps {
		m := st.msg
		m.RequestID = "r1"
		must(t, s.AddMessage(ctx, &m))
		check(st.name, st.count, st.updated, st.unread)
	}

	must(t, s.MarkRead(ctx, "r1"))
	check("after MarkRead", 3, at(2*time.Minute), false)
	must(t, s.MarkRead(ctx, "r1")) // idempotent
	check("after second MarkRead", 3, at(2*time.Minute), false)

	must(t, s.AddMessage(ctx, &store.Message{ID: "m4", RequestID: "r1", CreatedAt: at(3 * time.Minute), Author: store.AuthorStaff, StaffID: 5}))
	check("staff writes after MarkRead", 4, at(3*time.Minute), false)

	// A duplicate id changes nothing, whichever request it names.
	dup := &store.Message{ID: "m1", RequestID: "r1", CreatedAt: at(time.Hour), Author: store.AuthorPerson}
	wantErr(t, s.AddMessage(ctx, dup), store.ErrConflict)
	dup.RequestID = "other"
	wantErr(t, s.AddMessage(ctx, dup), store.ErrConflict)
	check("after duplicates", 4, at(3*time.Minute), false)
	if o := getRequest(t, s, "other"); o.MessageCount != 0 || o.UnreadStaff {
		t.Errorf("other request: MessageCount %d, UnreadStaff %v after duplicate; want 0, false", o.MessageCount, o.UnreadStaff)
	}
}

func testListMessages(t *testing.T, s store.Store) {
	ctx := t.Context()
	createRequest(t, s, newRequest("r1", t0))
	createRequest(t, s, newRequest("r2", t0))
	createRequest(t, s, newRequest("empty", t0))

	add := []*store.Message{
		{ID: "m-b", RequestID: "r1", CreatedAt: at(2 * time.Minute), Author: store.AuthorStaff, StaffID: 9, Body: randomBytes(40)},
		{ID: "m-a", RequestID: "r1", CreatedAt: at(1 * time.Minute), Author: store.AuthorPerson, Body: randomBytes(50)},
		{ID: "x", RequestID: "r2", CreatedAt: at(1 * time.Minute), Author: store.AuthorPerson, Body: randomBytes(10)},
		// Same instant: insertion order decides, not the id.
		{ID: "m-z", RequestID: "r1", CreatedAt: at(3 * time.Minute), Author: store.AuthorPerson, Body: randomBytes(5)},
		{ID: "m-y", RequestID: "r1", CreatedAt: at(3 * time.Minute), Author: store.AuthorPerson, Body: randomBytes(5)},
	}
	for _, m := range add {
		must(t, s.AddMessage(ctx, m))
	}

	got, err := s.ListMessages(ctx, "r1")
	must(t, err)
	want := []*store.Message{add[1], add[0], add[3], add[4]}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		checkEqual(t, want[i], got[i])
	}

	got, err = s.ListMessages(ctx, "empty")
	must(t, err)
	if len(got) != 0 {
		t.Errorf("request without messages: got %d messages", len(got))
	}
}

func testSetStatusAssignee(t *testing.T, s store.Store) {
	ctx := t.Context()
	createRequest(t, s, newRequest("r1", t0))
	createRequest(t, s, newRequest("r2", t0))

	steps := []struct {
		name     string
		do       func() error
		status   string
		assignee int64
		updated  time.Time
	}{
		{"in progress", func() error { return s.SetStatus(ctx, "r1", store.StatusInProgress, at(time.Hour)) },
			store.StatusInProgress, 0, at(time.Hour)},
		{"assign", func() error { return s.SetAssignee(ctx, "r1", 7, at(2*time.Hour)) },
			store.StatusInProgress, 7, at(2 * time.Hour)},
		{"reassign", func() error { return s.SetAssignee(ctx, "r1", 8, at(3*time.Hour)) },
			store.StatusInProgress, 8, at(3 * time.Hour)},
		{"close with an earlier time", func() error { return s.SetStatus(ctx, "r1", store.StatusClosed, at(time.Minute)) },
			store.StatusClosed, 8, at(3 * time.Hour)},
		{"unassign", func() error { return s.SetAssignee(ctx, "r1", 0, at(4*time.Hour)) },
			store.StatusClosed, 0, at(4 * time.Hour)},
		{"reopen", func() error { return s.SetStatus(ctx, "r1", store.StatusNew, at(5*time.Hour)) },
			store.StatusNew, 0, at(5 * time.Hour)},
	}
	for _, st := range steps {
		must(t, st.do())
		r := getRequest(t, s, "r1")
		if r.Status != st.status || r.AssigneeID != st.assignee || !r.UpdatedAt.Equal(st.updated) {
			t.Errorf("%s: status %q, assignee %d, UpdatedAt %v; want %q, %d, %v",
				st.name, r.Status, r.AssigneeID, r.UpdatedAt, st.status, st.assignee, st.updated)
		}
	}
	if r := getRequest(t, s, "r2"); r.Status != store.StatusNew || r.AssigneeID != 0 || !r.UpdatedAt.Equal(t0) {
		t.Errorf("untouched request changed: %+v", r)
	}

	must(t, s.SetAssignee(ctx, "r2", 8, at(time.Hour)))
	got, total, err := s.ListInbox(ctx, store.InboxFilter{AssigneeID: 8})
	must(t, err)
	if !slices.Equal(ids(got), []string{"r2"}) || total != 1 {
		t.Errorf("assigned to 8: %v (total %d), want [r2]", ids(got), total)
	}
}
