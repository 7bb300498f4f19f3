package cases_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

// The overdue view follows the injected clock, and each viewer sees only
// what they may: their own tasks, and for coordinators every overdue one,
// titles only with access to the case.
func TestTaskBoardOverdue(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, nil)
	due := f.clock.Now().Add(48 * time.Hour)
	task, err := f.svc.AddTask(f.ctx, f.cw, c.ID, cases.TaskInput{Title: "Call the lawyer", AssigneeID: f.cw.ID, Due: due})
	must(t, err)
	if task.Class != cases.ClassIdentity {
		t.Errorf("default class %q, want identity", task.Class)
	}
	_, err = f.svc.AddTask(f.ctx, f.cw, c.ID, cases.TaskInput{Title: "No date", AssigneeID: f.cw.ID})
	must(t, err)

	b, err := f.svc.Tasks(f.ctx, f.cw)
	must(t, err)
	if len(b.Mine) != 2 || b.Mine[0].Title != "Call the lawyer" || b.Mine[0].Overdue || b.Overdue != nil {
		t.Fatalf("board before the due date: %+v", b)
	}
	f.clock.Advance(72 * time.Hour)
	b, err = f.svc.Tasks(f.ctx, f.cw)
	must(t, err)
	if !b.Mine[0].Overdue || b.Mine[1].Overdue {
		t.Errorf("overdue flags after the due date: %v, %v", b.Mine[0].Overdue, b.Mine[1].Overdue)
	}

	// A coordinator lists the overdue task without reading it…
	b, err = f.svc.Tasks(f.ctx, f.coord)
	must(t, err)
	if len(b.Overdue) != 1 || b.Overdue[0].Title != "" || b.Overdue[0].Withheld != cases.WithheldAccess {
		t.Fatalf("coordinator without access: %+v", b.Overdue)
	}
	// …until the glass is broken.
	must(t, f.svc.BreakGlass(f.ctx, f.coord, c.ID, "the caseworker is unreachable"))
	b, err = f.svc.Tasks(f.ctx, f.coord)
	must(t, err)
	if b.Overdue[0].Title != "Call the lawyer" {
		t.Errorf("coordinator with break-glass: %+v", b.Overdue[0])
	}
	// Others see nothing of it.
	for _, u := range []*store.User{f.op, f.cw2, f.logi} {
		b, err := f.svc.Tasks(f.ctx, u)
		must(t, err)
		if len(b.Mine)+len(b.Overdue) != 0 {
			t.Errorf("%s sees tasks of a case not theirs: %+v", u.Role, b)
		}
	}
	// Done tasks are no longer overdue.
	must(t, f.svc.SetTaskDone(f.ctx, f.cw, c.ID, task.ID, true))
	b, err = f.svc.Tasks(f.ctx, f.coord)
	must(t, err)
	if len(b.Overdue) != 0 {
		t.Errorf("done task still overdue: %+v", b.Overdue)
	}
	if n := f.countAction(t, f.coord.ID, "tasks.read", "tasks"); n != 3 {
		t.Errorf("%d tasks.read entries for the coordinator, want 3", n)
	}
	// A task taken off its case's people drops from their board.
	must(t, f.svc.Assign(f.ctx, f.coord, c.ID, f.cw2.ID))
	b, err = f.svc.Tasks(f.ctx, f.cw)
	must(t, err)
	if len(b.Mine) != 0 {
		t.Errorf("tasks of a case reassigned away still shown: %+v", b.Mine)
	}
}

// Need-to-know on tasks: who may add them, in which class, to whom, and
// who reads their titles.
func TestTaskNeedToKnow(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, nil)
	other := f.open(t, f.cw2, nil)
	must(t, f.svc.Share(f.ctx, f.coord, c.ID, f.op.ID))
	must(t, f.svc.Share(f.ctx, f.coord, c.ID, f.logi.ID))
	med, err := f.svc.AddTask(f.ctx, f.cw, c.ID, cases.TaskInput{Title: "Clinic at 10", Class: cases.ClassMedical, AssigneeID: f.op.ID})
	must(t, err)

	for _, tt := range []struct {
		name string
		u    *store.User
		id   string
		in   cases.TaskInput
		want error
	}{
		{"no access", f.op, other.ID, cases.TaskInput{Title: "x"}, cases.ErrForbidden},
		{"class not written by role", f.op, c.ID, cases.TaskInput{Title: "x", Class: cases.ClassMedical}, cases.ErrForbidden},
		{"logistics before verification", f.logi, c.ID, cases.TaskInput{Title: "x", Class: cases.ClassLogistics}, cases.ErrUnverified},
		{"assignee not on the case", f.cw, c.ID, cases.TaskInput{Title: "x", AssigneeID: f.cw2.ID}, cases.ErrInvalid},
		{"disabled assignee", f.cw, c.ID, cases.TaskInput{Title: "x", AssigneeID: f.gone.ID}, cases.ErrInvalid},
		{"unknown class", f.cw, c.ID, cases.TaskInput{Title: "x", Class: "secrets"}, cases.ErrInvalid},
		{"empty title", f.cw, c.ID, cases.TaskInput{Title: "  "}, cases.ErrInvalid},
		{"long title", f.cw, c.ID, cases.TaskInput{Title: strings.Repeat("я", cases.MaxTaskRunes+1)}, cases.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.AddTask(f.ctx, tt.u, tt.id, tt.in)
			wantErr(t, tt.name, err, tt.want)
		})
	}
	// A coordinator may be given a task without being on the case.
	_, err = f.svc.AddTask(f.ctx, f.cw, c.ID, cases.TaskInput{Title: "Approve the budget", AssigneeID: f.coord.ID})
	must(t, err)

	// The operator, shared in, sees the medical task's title withheld
	// but can still tick it off.
	w, err := f.svc.Work(f.ctx, f.op, c.ID)
	must(t, err)
	if len(w.Tasks) != 2 {
		t.Fatalf("%d tasks", len(w.Tasks))
	}
	for _, tk := range w.Tasks {
		if tk.ID == med.ID && (tk.Title != "" || tk.Withheld != cases.WithheldRole) {
			t.Errorf("operator reads a medical title: %+v", tk)
		}
	}
	if !w.ExpensesWithheld || w.CanAddExpense {
		t.Errorf("operator: expenses withheld %v, may add %v", w.ExpensesWithheld, w.CanAddExpense)
	}
	must(t, f.svc.SetTaskDone(f.ctx, f.op, c.ID, med.ID, true))
	w, err = f.svc.Work(f.ctx, f.cw, c.ID)
	must(t, err)
	if w.Tasks[len(w.Tasks)-1].ID != med.ID || !w.Tasks[len(w.Tasks)-1].Done || w.Tasks[len(w.Tasks)-1].Title != "Clinic at 10" {
		t.Errorf("caseworker's view after done: %+v", w.Tasks)
	}
	// A task id of another case is not found through this one.
	ot, err := f.svc.AddTask(f.ctx, f.cw2, other.ID, cases.TaskInput{Title: "elsewhere"})
	must(t, err)
	wantErr(t, "task of another case", f.svc.SetTaskDone(f.ctx, f.cw, c.ID, ot.ID, true), cases.ErrNoTask)
	wantErr(t, "someone else's case", f.svc.SetTaskDone(f.ctx, f.cw, other.ID, ot.ID, true), cases.ErrForbidden)
	_, err = f.svc.Work(f.ctx, f.cw, other.ID)
	wantErr(t, "work of someone else's case", err, cases.ErrForbidden)
}

func TestExpenses(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, nil)
	must(t, f.svc.Share(f.ctx, f.coord, c.ID, f.logi.ID))
	today := f.clock.Now()
	e, err := f.svc.AddExpense(f.ctx, f.cw, c.ID, cases.ExpenseInput{Category: cases.CategoryHousing, Amount: 45000, Currency: "EUR", Date: today, Note: "Flat in Moscow, 2 weeks"})
	must(t, err)
	if !e.Date.Equal(time.Date(2017, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date stored as %v, want the day", e.Date)
	}
	f.clock.Advance(time.Minute)
	_, err = f.svc.AddExpense(f.ctx, f.cw, c.ID, cases.ExpenseInput{Category: cases.CategoryFood, Amount: 120000, Currency: "RUB", Date: today})
	must(t, err)

	for _, tt := range []struct {
		name string
		u    *store.User
		in   cases.ExpenseInput
		want error
	}{
		{"role without finance", f.logi, cases.ExpenseInput{Category: "food", Amount: 1, Currency: "EUR", Date: today}, cases.ErrForbidden},
		{"no access", f.cw2, cases.ExpenseInput{Category: "food", Amount: 1, Currency: "EUR", Date: today}, cases.ErrForbidden},
		{"unknown category", f.cw, cases.ExpenseInput{Category: "bribes", Amount: 1, Currency: "EUR", Date: today}, cases.ErrInvalid},
		{"zero amount", f.cw, cases.ExpenseInput{Category: "food", Amount: 0, Currency: "EUR", Date: today}, cases.ErrInvalid},
		{"negative amount", f.cw, cases.ExpenseInput{Category: "food", Amount: -5, Currency: "EUR", Date: today}, cases.ErrInvalid},
		{"lower-case currency", f.cw, cases.ExpenseInput{Category: "food", Amount: 1, Currency: "eur", Date: today}, cases.ErrInvalid},
		{"long currency", f.cw, cases.ExpenseInput{Category: "food", Amount: 1, Currency: "EURO", Date: today}, cases.ErrInvalid},
		{"no date", f.cw, cases.ExpenseInput{Category: "food", Amount: 1, Currency: "EUR"}, cases.ErrInvalid},
		{"future", f.cw, cases.ExpenseInput{Category: "food", Amount: 1, Currency: "EUR", Date: today.AddDate(0, 0, 5)}, cases.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.AddExpense(f.ctx, tt.u, c.ID, tt.in)
			wantErr(t, tt.name, err, tt.want)
		})
	}

	w, err := f.svc.Work(f.ctx, f.cw, c.ID)
	must(t, err)
	if len(w.Expenses) != 2 || w.Expenses[0].Note != "Flat in Moscow, 2 weeks" || w.Totals["EUR"] != 45000 || w.Totals["RUB"] != 120000 {
		t.Errorf("caseworker's expenses: %+v, totals %v", w.Expenses, w.Totals)
	}
	// Logistics, shared in, sees tasks but not the spending.
	w, err = f.svc.Work(f.ctx, f.logi, c.ID)
	must(t, err)
	if !w.ExpensesWithheld || w.Expenses != nil || len(w.Totals) != 0 {
		t.Errorf("logistics sees expenses: %+v", w)
	}
	// The note is ciphertext in the store.
	list, err := f.st.CaseExpenses(f.ctx, c.ID)
	must(t, err)
	if bytes.Contains(list[0].Note, []byte("Moscow")) {
		t.Error("expense note stored in clear")
	}
}

func TestDonorReport(t *testing.T) {
	f := newFixture(t)
	c1 := f.open(t, f.cw, nil)
	c2 := f.open(t, f.cw, nil)
	d := func(month time.Month, day int) time.Time { return time.Date(2017, month, day, 15, 0, 0, 0, time.UTC) }
	f.clock.Advance(200 * 24 * time.Hour)
	for _, e := range []struct {
		id string
		in cases.ExpenseInput
	}{
		{c1.ID, cases.ExpenseInput{Category: "housing", Amount: 30000, Currency: "EUR", Date: d(4, 1)}},
		{c2.ID, cases.ExpenseInput{Category: "housing", Amount: 20000, Currency: "EUR", Date: d(4, 30)}},
		{c2.ID, cases.ExpenseInput{Category: "documents", Amount: 8000, Currency: "EUR", Date: d(4, 15)}},
		{c1.ID, cases.ExpenseInput{Category: "travel_domestic", Amount: 350000, Currency: "RUB", Date: d(4, 2)}},
		{c1.ID, cases.ExpenseInput{Category: "housing", Amount: 99999, Currency: "EUR", Date: d(5, 1)}},  // after
		{c1.ID, cases.ExpenseInput{Category: "housing", Amount: 99999, Currency: "EUR", Date: d(3, 31)}}, // before
	} {
		if _, err := f.svc.AddExpense(f.ctx, f.cw, e.id, e.in); err != nil {
			t.Fatal(err)
		}
	}
	r, err := f.svc.DonorReport(f.ctx, f.coord, d(4, 1), d(4, 30))
	must(t, err)
	type cell struct {
		cat, cur      string
		amount        int64
		count, nCases int
	}
	var got []cell
	for _, row := range r.Rows {
		got = append(got, cell{row.Category, row.Currency, row.Amount, row.Count, row.Cases})
	}
	want := []cell{{"documents", "EUR", 8000, 1, 1}, {"housing", "EUR", 50000, 2, 2}, {"travel_domestic", "RUB", 350000, 1, 1}}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if r.Cases != 2 || r.Totals["EUR"] != 58000 || r.Totals["RUB"] != 350000 || strings.Join(r.Currency, ",") != "EUR,RUB" {
		t.Errorf("cases %d, totals %v, currencies %v", r.Cases, r.Totals, r.Currency)
	}
	for _, u := range []*store.User{f.cw, f.op, f.logi, f.cust} {
		_, err := f.svc.DonorReport(f.ctx, u, d(4, 1), d(4, 30))
		wantErr(t, u.Role, err, cases.ErrForbidden)
	}
	_, err = f.svc.DonorReport(f.ctx, f.coord, d(4, 30), d(4, 1))
	wantErr(t, "backwards period", err, cases.ErrInvalid)

	var b bytes.Buffer
	r, err = f.svc.ExportDonors(f.ctx, f.admin, d(4, 1), d(4, 30))
	must(t, err)
	must(t, cases.WriteDonorsCSV(&b, r))
	wantCSV := "from,to,category,currency,amount,amount_minor,expenses,cases\n" +
		"2017-04-01,2017-04-30,documents,EUR,80.00,8000,1,1\n" +
		"2017-04-01,2017-04-30,housing,EUR,500.00,50000,2,2\n" +
		"2017-04-01,2017-04-30,travel_domestic,RUB,3500.00,350000,1,1\n" +
		"2017-04-01,2017-04-30,total,EUR,580.00,58000,,2\n" +
		"2017-04-01,2017-04-30,total,RUB,3500.00,350000,,2\n"
	if b.String() != wantCSV {
		t.Errorf("donor CSV:\n%s\nwant:\n%s", b.String(), wantCSV)
	}
	if f.countAction(t, f.admin.ID, "export.donors", "donors") != 1 || f.countAction(t, f.coord.ID, "report.donors", "donors") != 1 {
		t.Error("donor report and export not audited")
	}
}

func TestCSVCellNeutralisesFormulas(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"},
		{"+1+2", "'+1+2"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tcmd", "'\tcmd"},
		{"\rcmd", "'\rcmd"},
		{"plain", "plain"},
		{"a=b", "a=b"},
		{"", ""},
		{"Анна", "Анна"},
	} {
		if got := cases.CSVCell(tt.in); got != tt.want {
			t.Errorf("CSVCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExportCases(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, nil)
	f.open(t, f.coord, nil)
	names := map[int64]string{f.cw.ID: "=cmd|' /C calc'!A0"}
	for _, u := range []*store.User{f.cw, f.op, f.logi, f.cust} {
		_, err := f.svc.ExportCases(f.ctx, u, names)
		wantErr(t, u.Role, err, cases.ErrForbidden)
	}
	rows, err := f.svc.ExportCases(f.ctx, f.coord, names)
	must(t, err)
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	var b bytes.Buffer
	must(t, cases.WriteCasesCSV(&b, rows))
	out := b.String()
	if !strings.Contains(out, c.ID+",new,") || !strings.Contains(out, "'=cmd|") {
		t.Errorf("cases CSV not as expected:\n%s", out)
	}
	if strings.Contains(out, ",=cmd") {
		t.Error("formula not neutralised")
	}
	b.Reset()
	must(t, cases.WriteCasesJSON(&b, rows))
	if !strings.Contains(b.String(), `"assignee":"=cmd|' /C calc'!A0"`) {
		t.Errorf("JSON keeps values as they are: %s", b.String())
	}
	if f.countAction(t, f.coord.ID, "export.cases", "cases") != 1 {
		t.Error("export not audited")
	}
}

func TestAmounts(t *testing.T) {
	for _, tt := range []struct {
		minor int64
		cur   string
		want  string
	}{
		{123456, "EUR", "1234.56"}, {5, "EUR", "0.05"}, {0, "RUB", "0.00"}, {1500, "JPY", "1500"},
		{1234, "KWD", "1.234"}, {-250, "USD", "-2.50"},
	} {
		if got := cases.FormatAmount(tt.minor, tt.cur); got != tt.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tt.minor, tt.cur, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in, cur string
		want    int64
		ok      bool
	}{
		{"1234.56", "EUR", 123456, true}, {"1234,5", "EUR", 123450, true}, {"12", "EUR", 1200, true},
		{"1500", "JPY", 1500, true}, {"1.5", "JPY", 0, false}, {"1.234", "EUR", 0, false},
		{"-1", "EUR", 0, false}, {"1e5", "EUR", 0, false}, {"", "EUR", 0, false}, {".5", "EUR", 0, false},
	} {
		got, err := cases.ParseAmount(tt.in, tt.cur)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v", tt.in, tt.cur, got, err)
		}
	}
}
