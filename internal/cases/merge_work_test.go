package cases_test

import (
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
)

// Merging keeps what was recorded on the merged case besides its sections
// and timeline: people and other records, tasks and expenses, re-encrypted
// under the surviving case's key.
func TestMergeKeepsRecordsTasksExpenses(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, f.cw, map[string]map[string]string{cases.ClassIdentity: {"name": "A"}})
	b := f.open(t, f.cw, map[string]map[string]string{cases.ClassIdentity: {"name": "B"}})
	if _, err := f.svc.AddRecord(f.ctx, f.cw, b.ID, cases.RecordInput{Kind: cases.RecordPerson,
		Body: cases.RecordBody{Name: "Partner of B", Relation: "partner"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddTask(f.ctx, f.cw, b.ID, cases.TaskInput{Title: "call the consulate", Due: f.clock.Now().Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddExpense(f.ctx, f.cw, b.ID, cases.ExpenseInput{Category: cases.CategoryHousing, Amount: 4500, Currency: "EUR",
		Date: f.clock.Now(), Note: "two nights"}); err != nil {
		t.Fatal(err)
	}
	must(t, f.svc.BreakGlass(f.ctx, f.coord, a.ID, "merging duplicate reports"))
	must(t, f.svc.BreakGlass(f.ctx, f.coord, b.ID, "merging duplicate reports"))
	must(t, f.svc.Merge(f.ctx, f.coord, a.ID, b.ID))

	lg, err := f.svc.Logistics(f.ctx, f.cw, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(lg.People) != 1 || lg.People[0].Body.Name != "Partner of B" {
		t.Errorf("people after merge = %+v", lg.People)
	}
	w, err := f.svc.Work(f.ctx, f.cw, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Tasks) != 1 || w.Tasks[0].Title != "call the consulate" || w.Tasks[0].Unreadable {
		t.Errorf("tasks after merge = %+v", w.Tasks)
	}
	if len(w.Expenses) != 1 || w.Expenses[0].Note != "two nights" || w.Expenses[0].Amount != 4500 {
		t.Errorf("expenses after merge = %+v", w.Expenses)
	}
	// Nothing of b can be read any more.
	if _, err := f.svc.Work(f.ctx, f.cw, b.ID); err == nil {
		t.Error("the merged-away case still answers")
	}
}
