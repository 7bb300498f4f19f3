package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var taskTests = []test{
	{"CreateGet", testTaskCreateGet},
	{"Done", testTaskDone},
	{"CaseTasksOrder", testCaseTasksOrder},
	{"ListTasks", testListTasks},
	{"Expenses", testExpenses},
	{"ExpenseTotals", testExpenseTotals},
	{"QuietCases", testQuietCases},
	{"MessageIsContact", testMessageIsContact},
	{"Erase", testEraseTasksExpenses},
	{"TxRollback", testTaskTxRollback},
}

func newTask(id, caseID string, created time.Time) *store.Task {
	return &store.Task{ID: id, CaseID: caseID, Class: "identity", Title: randomBytes(40), AssigneeID: 5,
		CreatedBy: 6, CreatedAt: created}
}

func createTask(t *testing.T, s store.Store, tk *store.Task) {
	t.Helper()
	must(t, s.CreateTask(t.Context(), tk))
}

func taskIDs(ts []*store.Task) []string {
	out := make([]string, len(ts))
	for i, tk := range ts {
		out[i] = tk.ID
	}
	return out
}

func testTaskCreateGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	tk := newTask("t1", "c1", t0.Add(time.Nanosecond).In(time.FixedZone("x", 3600)))
	tk.Due = at(48*time.Hour + time.Nanosecond)
	createTask(t, s, tk)
	want := *tk
	want.CreatedAt, want.UpdatedAt, want.Due = t0, t0, at(48*time.Hour)
	checkEqual(t, &want, tk)
	got, err := s.GetTask(ctx, "t1")
	must(t, err)
	checkEqual(t, &want, got)

	// No due date, no title.
	bare := &store.Task{ID: "t2", CaseID: "c1", CreatedAt: t0}
	createTask(t, s, bare)
	got, err = s.GetTask(ctx, "t2")
	must(t, err)
	if !got.Due.IsZero() || got.Title != nil || got.Done || !got.DoneAt.IsZero() {
		t.Errorf("bare task read back as %+v", got)
	}

	wantErr(t, s.CreateTask(ctx, newTask("t1", "c1", t0)), store.ErrConflict)
	wantErr(t, s.CreateTask(ctx, newTask("t3", "nope", t0)), store.ErrNotFound)
	_, err = s.GetTask(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.CaseTasks(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	if list, err := s.CaseTasks(ctx, "c1"); err != nil || len(list) != 2 {
		t.Errorf("CaseTasks: %d tasks, %v", len(list), err)
	}
	createCase(t, s, newCase("c2", t0))
	if list, err := s.CaseTasks(ctx, "c2"); err != nil || len(list) != 0 {
		t.Errorf("CaseTasks of a case without tasks: %v, %v", list, err)
	}
}

func testTaskDone(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createTask(t, s, newTask("t1", "c1", t0))
	must(t, s.SetTaskDone(ctx, "t1", true, at(time.Hour)))
	got, _ := s.GetTask(ctx, "t1")
	if !got.Done || !got.DoneAt.Equal(at(time.Hour)) || !got.UpdatedAt.Equal(at(time.Hour)) {
		t.Errorf("done: %+v", got)
	}
	// Reopened with an earlier clock: not done, UpdatedAt kept.
	must(t, s.SetTaskDone(ctx, "t1", false, at(time.Minute)))
	got, _ = s.GetTask(ctx, "t1")
	if got.Done || !got.DoneAt.IsZero() || !got.UpdatedAt.Equal(at(time.Hour)) {
		t.Errorf("reopened: %+v", got)
	}
	wantErr(t, s.SetTaskDone(ctx, "nope", true, t0), store.ErrNotFound)
}

func testCaseTasksOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	mk := func(id string, due time.Duration, created time.Duration) {
		tk := newTask(id, "c1", at(created))
		if due != 0 {
			tk.Due = at(due)
		}
		createTask(t, s, tk)
	}
	mk("ta", 0, 0)           // no due date
	mk("tb", 3*time.Hour, 0) // due later
	mk("tc", time.Hour, 0)   // due first
	mk("td", time.Hour, -1)  // same due, created earlier
	mk("te", 2*time.Hour, 0) // done below
	mk("tf", 0, -time.Hour)  // no due date, created earlier
	must(t, s.SetTaskDone(ctx, "te", true, at(time.Minute)))
	list, err := s.CaseTasks(ctx, "c1")
	must(t, err)
	if got, want := taskIDs(list), []string{"td", "tc", "tb", "tf", "ta", "te"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func testListTasks(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	createCase(t, s, newCase("gone", t0))
	mk := func(id, caseID string, assignee int64, due time.Duration) {
		tk := newTask(id, caseID, t0)
		tk.AssigneeID = assignee
		if due != 0 {
			tk.Due = at(due)
		}
		createTask(t, s, tk)
	}
	mk("t1", "c1", 5, time.Hour)
	mk("t2", "c2", 5, 3*time.Hour)
	mk("t3", "c2", 7, time.Hour)
	mk("t4", "c1", 5, 0)
	mk("t5", "c1", 5, 30*time.Minute) // done
	mk("t6", "gone", 5, time.Minute)  // erased case
	must(t, s.SetTaskDone(ctx, "t5", true, at(time.Minute)))
	must(t, s.EraseCase(ctx, "gone", at(time.Minute)))
	for _, tt := range []struct {
		f    store.TaskFilter
		want []string
	}{
		{store.TaskFilter{}, []string{"t1", "t3", "t2", "t4", "t5"}},
		{store.TaskFilter{AssigneeID: 5}, []string{"t1", "t2", "t4", "t5"}},
		{store.TaskFilter{AssigneeID: 5, OpenOnly: true}, []string{"t1", "t2", "t4"}},
		{store.TaskFilter{DueBefore: at(2 * time.Hour)}, []string{"t1", "t3"}},
		{store.TaskFilter{DueBefore: at(2 * time.Hour), AssigneeID: 7}, []string{"t3"}},
		{store.TaskFilter{DueBefore: at(time.Hour)}, nil},
		{store.TaskFilter{Limit: 2}, []string{"t1", "t3"}},
	} {
		list, err := s.ListTasks(ctx, tt.f)
		must(t, err)
		if got := taskIDs(list); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("ListTasks(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
}

func newExpense(id, caseID, category string, amount int64, currency string, day time.Time) *store.Expense {
	return &store.Expense{ID: id, CaseID: caseID, Category: category, Amount: amount, Currency: currency,
		Date: day, Note: randomBytes(30), CreatedBy: 5, CreatedAt: day.Add(time.Hour)}
}

func testExpenses(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	e1 := newExpense("x1", "c1", "housing", 45000, "EUR", day.AddDate(0, 0, 1))
	e2 := newExpense("x2", "c1", "food", 1250, "RUB", day)
	e2.Note = nil
	e2.CreatedAt = e2.CreatedAt.Add(time.Nanosecond)
	must(t, s.AddExpense(ctx, e1))
	must(t, s.AddExpense(ctx, e2))
	if !e2.CreatedAt.Equal(day.Add(time.Hour)) {
		t.Errorf("CreatedAt as stored: %v", e2.CreatedAt)
	}
	wantErr(t, s.AddExpense(ctx, newExpense("x1", "c2", "food", 1, "EUR", day)), store.ErrConflict)
	wantErr(t, s.AddExpense(ctx, newExpense("x3", "nope", "food", 1, "EUR", day)), store.ErrNotFound)
	list, err := s.CaseExpenses(ctx, "c1")
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("%d expenses, want 2", len(list))
	}
	checkEqual(t, e2, list[0])
	checkEqual(t, e1, list[1])
	if list, err := s.CaseExpenses(ctx, "c2"); err != nil || len(list) != 0 {
		t.Errorf("CaseExpenses of a case without any: %v, %v", list, err)
	}
	_, err = s.CaseExpenses(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
}

func testExpenseTotals(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"c1", "c2", "c3"} {
		createCase(t, s, newCase(id, t0))
	}
	d := func(day int) time.Time { return time.Date(2026, 3, day, 0, 0, 0, 0, time.UTC) }
	for _, e := range []*store.Expense{
		newExpense("x1", "c1", "housing", 100, "EUR", d(1)),
		newExpense("x2", "c2", "housing", 250, "EUR", d(5)),
		newExpense("x3", "c2", "housing", 50, "EUR", d(6)),
		newExpense("x4", "c1", "housing", 7000, "RUB", d(6)),
		newExpense("x5", "c3", "documents", 900, "EUR", d(9)),
		newExpense("x6", "c3", "food", 1, "EUR", d(10)), // to is exclusive
		newExpense("x7", "c1", "food", 1, "EUR", d(1).Add(-time.Hour*24)),
	} {
		must(t, s.AddExpense(ctx, e))
	}
	// Erased cases still count: amounts are not personal.
	must(t, s.EraseCase(ctx, "c3", at(time.Hour)))
	totals, n, err := s.ExpenseTotals(ctx, d(1), d(10))
	must(t, err)
	want := []store.ExpenseTotal{
		{Category: "documents", Currency: "EUR", Amount: 900, Count: 1, Cases: 1},
		{Category: "housing", Currency: "EUR", Amount: 400, Count: 3, Cases: 2},
		{Category: "housing", Currency: "RUB", Amount: 7000, Count: 1, Cases: 1},
	}
	if len(totals) != len(want) {
		t.Fatalf("%d totals, want %d: %+v", len(totals), len(want), totals)
	}
	for i := range want {
		checkEqual(t, &want[i], totals[i])
	}
	if n != 3 {
		t.Errorf("%d cases, want 3", n)
	}
	totals, n, err = s.ExpenseTotals(ctx, d(20), d(30))
	must(t, err)
	if len(totals) != 0 || n != 0 {
		t.Errorf("empty period: %v, %d", totals, n)
	}
}

func testQuietCases(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(id string, risk int, created, contact time.Duration) *store.Case {
		c := newCase(id, at(created))
		c.Risk = risk
		if contact != 0 {
			c.LastContactAt = at(contact)
		}
		c.AssigneeID = 5
		createCase(t, s, c)
		return c
	}
	mk("quiet", 2, 0, time.Hour)            // last contact 1h
	mk("never", 4, 30*time.Minute, 0)       // never contacted, opened 30m
	mk("recent", 4, 0, 10*time.Hour)        // contacted lately
	mk("closed", 2, 0, 0)                   // closed below
	mk("erased", 2, 0, 0)                   // erased below
	other := mk("other", 3, 0, 2*time.Hour) // someone else's, shared with 9
	other.AssigneeID = 7
	other.UpdatedAt = at(time.Hour)
	must(t, s.UpdateCase(ctx, other))
	must(t, s.ShareCase(ctx, "other", 9))
	must(t, s.EnterStage(ctx, "closed", stageClosed, "resettled", at(time.Minute)))
	must(t, s.EraseCase(ctx, "erased", at(time.Minute)))

	for _, tt := range []struct {
		f    store.QuietFilter
		want []string
	}{
		{store.QuietFilter{Before: at(5 * time.Hour)}, []string{"never", "quiet", "other"}},
		{store.QuietFilter{Before: at(5 * time.Hour), MinRisk: 3}, []string{"never", "other"}},
		{store.QuietFilter{Before: at(5 * time.Hour), MinRisk: 4}, []string{"never"}},
		{store.QuietFilter{Before: at(90 * time.Minute)}, []string{"never", "quiet"}},
		{store.QuietFilter{Before: at(5 * time.Hour), VisibleTo: 5}, []string{"never", "quiet"}},
		{store.QuietFilter{Before: at(5 * time.Hour), VisibleTo: 9}, []string{"other"}},
		{store.QuietFilter{Before: at(5 * time.Hour), Limit: 1}, []string{"never"}},
	} {
		list, err := s.QuietCases(ctx, tt.f)
		must(t, err)
		if got := caseIDs(list); !slices.Equal(got, tt.want) {
			t.Errorf("QuietCases(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
}

// A message in the conversation of a request with a case is contact with
// the case's people; LastContactAt never moves backwards.
func testMessageIsContact(t *testing.T, s store.Store) {
	ctx := t.Context()
	createRequest(t, s, newRequest("r1", t0))
	createRequest(t, s, newRequest("r2", t0))
	c := newCase("c1", t0)
	c.RequestID = "r1"
	createCase(t, s, c)
	createCase(t, s, newCase("c2", t0)) // opened by hand
	must(t, s.AddMessage(ctx, &store.Message{ID: "m1", RequestID: "r1", CreatedAt: at(time.Hour), Author: store.AuthorPerson, Body: []byte("x")}))
	if got := getCase(t, s, "c1").LastContactAt; !got.Equal(at(time.Hour)) {
		t.Errorf("after the person's message: LastContactAt %v", got)
	}
	must(t, s.AddMessage(ctx, &store.Message{ID: "m2", RequestID: "r1", CreatedAt: at(3 * time.Hour), Author: store.AuthorStaff, StaffID: 5, Body: []byte("x")}))
	must(t, s.AddMessage(ctx, &store.Message{ID: "m3", RequestID: "r1", CreatedAt: at(2 * time.Hour), Author: store.AuthorPerson, Body: []byte("x")}))
	if got := getCase(t, s, "c1").LastContactAt; !got.Equal(at(3 * time.Hour)) {
		t.Errorf("after the staff reply: LastContactAt %v", got)
	}
	must(t, s.AddMessage(ctx, &store.Message{ID: "m4", RequestID: "r2", CreatedAt: at(4 * time.Hour), Author: store.AuthorPerson, Body: []byte("x")}))
	if got := getCase(t, s, "c2").LastContactAt; !got.IsZero() {
		t.Errorf("a case opened by hand took another request's contact: %v", got)
	}
}

// EraseCase destroys task titles and expense notes with the rest, and
// keeps what is clear.
func testEraseTasksExpenses(t *testing.T, s store.Store) {
	ctx := t.Context()
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"c1", "c2"} {
		createCase(t, s, newCase(id, t0))
		tk := newTask(id+"-t", id, t0)
		tk.Due = at(time.Hour)
		createTask(t, s, tk)
		must(t, s.AddExpense(ctx, newExpense(id+"-x", id, "housing", 100, "EUR", day)))
	}
	keepTasks, _ := s.CaseTasks(ctx, "c2")
	keepExp, _ := s.CaseExpenses(ctx, "c2")
	beforeTasks, _ := s.CaseTasks(ctx, "c1")
	beforeExp, _ := s.CaseExpenses(ctx, "c1")

	must(t, s.EraseCase(ctx, "c1", at(time.Hour)))

	tasks, err := s.CaseTasks(ctx, "c1")
	must(t, err)
	if len(tasks) != 1 {
		t.Fatalf("%d tasks after erasure", len(tasks))
	}
	w := *beforeTasks[0]
	w.Title, w.Class = nil, ""
	checkEqual(t, &w, tasks[0])
	exps, err := s.CaseExpenses(ctx, "c1")
	must(t, err)
	if len(exps) != 1 {
		t.Fatalf("%d expenses after erasure", len(exps))
	}
	we := *beforeExp[0]
	we.Note = nil
	checkEqual(t, &we, exps[0])
	// The other case is untouched.
	if got, _ := s.CaseTasks(ctx, "c2"); len(got) != 1 {
		t.Fatalf("other case: %d tasks", len(got))
	} else {
		checkEqual(t, keepTasks[0], got[0])
	}
	if got, _ := s.CaseExpenses(ctx, "c2"); len(got) != 1 {
		t.Fatalf("other case: %d expenses", len(got))
	} else {
		checkEqual(t, keepExp[0], got[0])
	}
	// No new ciphertext for an erased case; bare rows still go in.
	wantErr(t, s.CreateTask(ctx, newTask("late", "c1", at(2*time.Hour))), store.ErrNotFound)
	wantErr(t, s.AddExpense(ctx, newExpense("late", "c1", "food", 1, "EUR", day)), store.ErrNotFound)
	late := newExpense("late", "c1", "food", 1, "EUR", day)
	late.Note = nil
	must(t, s.AddExpense(ctx, late))
}

func testTaskTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	err := s.Tx(ctx, func(tx store.Store) error {
		createTask(t, tx, newTask("t1", "c1", t0))
		wantErr(t, tx.CreateTask(ctx, newTask("t1", "c1", t0)), store.ErrConflict)
		must(t, tx.AddExpense(ctx, newExpense("x1", "c1", "food", 5, "EUR", t0)))
		return errRollback
	})
	wantErr(t, err, errRollback)
	if list, _ := s.CaseTasks(ctx, "c1"); len(list) != 0 {
		t.Errorf("%d tasks after rollback", len(list))
	}
	if list, _ := s.CaseExpenses(ctx, "c1"); len(list) != 0 {
		t.Errorf("%d expenses after rollback", len(list))
	}
}
