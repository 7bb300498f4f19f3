package cases_test

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

func alertKinds(as []cases.Alert) map[string]string {
	out := map[string]string{}
	for _, a := range as {
		id := a.CaseID + a.RequestID
		out[id] = a.Kind
	}
	return out
}

func TestAlerts(t *testing.T) {
	f := newFixture(t)
	cfg := cases.AlertConfig{NoContact: 7 * 24 * time.Hour, Response: time.Hour}
	quiet := f.open(t, f.cw, nil)
	urgent := f.open(t, f.cw2, nil)
	must(t, f.svc.SetRisk(f.ctx, f.cw2, urgent.ID, cases.RiskImmediate, nil))
	req := &store.Request{ID: "r1", LookupID: []byte("lookup"), CreatedAt: f.clock.Now(), Urgency: 3,
		Status: store.StatusNew, KeyIntake: []byte("k"), KeyPerson: []byte("k"), Answers: []byte("a")}
	must(t, f.st.CreateRequest(f.ctx, req))
	calm := &store.Request{ID: "r2", LookupID: []byte("lookup2"), CreatedAt: f.clock.Now(), Urgency: 1,
		Status: store.StatusNew, KeyIntake: []byte("k"), KeyPerson: []byte("k"), Answers: []byte("a")}
	must(t, f.st.CreateRequest(f.ctx, calm))

	as, err := f.svc.Alerts(f.ctx, f.coord, cfg)
	must(t, err)
	if len(as) != 0 {
		t.Fatalf("alerts at once: %+v", as)
	}

	f.clock.Advance(2 * time.Hour)
	as, err = f.svc.Alerts(f.ctx, f.coord, cfg)
	must(t, err)
	if got := alertKinds(as); len(got) != 2 || got["r1"] != cases.AlertRequestResponse || got[urgent.ID] != cases.AlertCaseResponse {
		t.Fatalf("after two hours: %v", got)
	}
	if as[0].RequestID != "r1" || as[0].For != 2*time.Hour {
		t.Errorf("first alert %+v, want the request, two hours", as[0])
	}
	// A staff reply answers the request; contact answers the case.
	must(t, f.st.AddMessage(f.ctx, &store.Message{ID: "m1", RequestID: "r1", CreatedAt: f.clock.Now(), Author: store.AuthorStaff, StaffID: f.op.ID, Body: []byte("x")}))
	must(t, f.svc.RecordContact(f.ctx, f.cw2, urgent.ID, "called, safe for tonight"))
	as, err = f.svc.Alerts(f.ctx, f.coord, cfg)
	must(t, err)
	if len(as) != 0 {
		t.Fatalf("alerts after answers: %+v", as)
	}

	f.clock.Advance(8 * 24 * time.Hour)
	as, err = f.svc.Alerts(f.ctx, f.coord, cfg)
	must(t, err)
	got := alertKinds(as)
	if got[quiet.ID] != cases.AlertNoContact || got[urgent.ID] != cases.AlertCaseResponse || len(got) != 2 {
		t.Fatalf("after eight days: %v", got)
	}
	// Each caseworker sees their own cases only; request alerts are for
	// those who triage the inbox.
	as, err = f.svc.Alerts(f.ctx, f.cw, cfg)
	must(t, err)
	if got := alertKinds(as); len(got) != 1 || got[quiet.ID] != cases.AlertNoContact {
		t.Errorf("caseworker's alerts: %v", got)
	}
	as, err = f.svc.Alerts(f.ctx, f.op, cfg)
	must(t, err)
	if len(as) != 0 {
		t.Errorf("operator's alerts: %+v", as)
	}
	// Closed cases raise none.
	must(t, f.svc.Move(f.ctx, f.cw, quiet.ID, "closed", "withdrew", ""))
	as, err = f.svc.Alerts(f.ctx, f.cw, cfg)
	must(t, err)
	if len(as) != 0 {
		t.Errorf("alerts on a closed case: %+v", as)
	}
	// Defaults fill in zero thresholds: eight days is over seven.
	as, err = f.svc.Alerts(f.ctx, f.coord, cases.AlertConfig{})
	must(t, err)
	if len(as) != 1 {
		t.Errorf("alerts with defaults: %+v", as)
	}
}

// Erasing a case destroys its task titles and expense notes, and its
// tasks leave every board.
func TestEraseDestroysTasksAndExpenses(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, nil)
	_, err := f.svc.AddTask(f.ctx, f.cw, c.ID, cases.TaskInput{Title: canaryLatin + " task", AssigneeID: f.cw.ID, Due: f.clock.Now()})
	must(t, err)
	_, err = f.svc.AddExpense(f.ctx, f.cw, c.ID, cases.ExpenseInput{Category: "housing", Amount: 100, Currency: "EUR", Date: f.clock.Now(), Note: canaryCyrillic})
	must(t, err)
	// The ciphertexts' heads, to look for on disk after the erasure: the
	// plaintext never was there.
	before, err := f.st.CaseTasks(f.ctx, c.ID)
	must(t, err)
	beforeExp, err := f.st.CaseExpenses(f.ctx, c.ID)
	must(t, err)
	needles := []needle{
		{"task title ciphertext", bytes.Clone(before[0].Title[:32])},
		{"expense note ciphertext", bytes.Clone(beforeExp[0].Note[:32])},
	}
	// The scan below would find them before the erasure: it is not
	// vacuous.
	checkpoint(t, f.path)
	if found := scan(t, filepath.Dir(f.path), needles); len(found) != len(needles) {
		t.Fatalf("before erasure, found only %v", found)
	}
	f.clock.Advance(time.Hour)
	must(t, f.svc.BreakGlass(f.ctx, f.coord, c.ID, "retention rule fired"))
	must(t, f.svc.Erase(f.ctx, f.coord, c.ID, "retention"))

	tasks, err := f.st.CaseTasks(f.ctx, c.ID)
	must(t, err)
	exps, err := f.st.CaseExpenses(f.ctx, c.ID)
	must(t, err)
	if len(tasks) != 1 || tasks[0].Title != nil || len(exps) != 1 || exps[0].Note != nil {
		t.Fatalf("after erasure: tasks %+v, expenses %+v", tasks, exps)
	}
	if exps[0].Amount != 100 {
		t.Errorf("amount lost: %d", exps[0].Amount)
	}
	_, err = f.svc.Work(f.ctx, f.cw, c.ID)
	wantErr(t, "work of an erased case", err, cases.ErrErased)
	b, err := f.svc.Tasks(f.ctx, f.coord)
	must(t, err)
	if len(b.Overdue) != 0 {
		t.Errorf("erased case's task still overdue: %+v", b.Overdue)
	}
	_, err = f.svc.AddTask(f.ctx, f.cw, c.ID, cases.TaskInput{Title: "late"})
	wantErr(t, "task on an erased case", err, cases.ErrErased)

	checkpoint(t, f.path)
	if found := scan(t, filepath.Dir(f.path), needles); len(found) > 0 {
		t.Errorf("after erasure, still on disk: %v", found)
	}
}
