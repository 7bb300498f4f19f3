package store

import (
	"context"
	"time"
)

// Task is one thing to do for a case. Who does it, by when, and whether it
// is done are clear, so that the overdue view and the dashboard work
// without the case key; the title, which may well name a person or a
// place, is ciphertext under the case's data key, in the sensitivity class
// its author chose.
type Task struct {
	ID         string // random, opaque ("t…")
	CaseID     string
	Class      string // sensitivity class of Title
	Title      []byte // ciphertext; nil once the case is erased
	AssigneeID int64  // staff user; 0 = nobody yet
	Due        time.Time
	Done       bool
	DoneAt     time.Time // zero while not done
	CreatedBy  int64
	CreatedAt  time.Time
	UpdatedAt  time.Time // maintained by the store; never moves backwards
}

// TaskFilter selects tasks across cases. Tasks of erased cases are never
// listed. The order is fixed: not done before done, then due date (tasks
// without one last), then CreatedAt, then ID.
type TaskFilter struct {
	AssigneeID int64     // > 0: only tasks assigned to this user
	DueBefore  time.Time // non-zero: only tasks not done, with a due date before this (overdue)
	OpenOnly   bool      // only tasks not done
	Limit      int       // <= 0 means 200
}

// Expense is money spent for a case. Category, amount, currency and date
// are clear so that the donor report can add them up without any case key
// (see docs/threat-model.md); the note, which may say who was paid for
// what, is ciphertext under the case's data key, class finance.
type Expense struct {
	ID        string // random, opaque ("x…")
	CaseID    string
	Category  string    // housing, food, medical, travel_domestic, documents, travel_international, other
	Amount    int64     // in minor units of Currency (cents, kopecks); > 0
	Currency  string    // ISO 4217, three upper-case letters
	Date      time.Time // the day it was spent, as midnight UTC
	Note      []byte    // ciphertext; nil if none or once the case is erased
	CreatedBy int64
	CreatedAt time.Time
}

// ExpenseTotal is one cell of the donor report.
type ExpenseTotal struct {
	Category string
	Currency string
	Amount   int64 // sum of amounts, minor units
	Count    int   // expenses
	Cases    int   // distinct cases
}

// QuietFilter selects open cases nobody has been in contact with lately.
type QuietFilter struct {
	// Before: the case's LastContactAt — or, without any contact yet, its
	// CreatedAt — is before this.
	Before    time.Time
	MinRisk   int   // only cases with Risk >= MinRisk
	VisibleTo int64 // > 0: only cases assigned to or shared with this user
	Limit     int   // <= 0 means 200
}

// Tasks stores tasks and expenses of cases, and answers the questions
// alerts ask of cases.
//
// Methods that take a case id report ErrNotFound when there is no such
// case. Tasks and expenses go with their case: an erased case takes no new
// ciphertext (ErrNotFound for a task or an expense with a title or note),
// and EraseCase sets the titles and notes it holds to NULL. Times are
// stored as for Cases (UTC, whole microseconds), and methods that take a
// *Task or *Expense set its times to the values as stored.
type Tasks interface {
	// CreateTask inserts t; t.UpdatedAt is set to t.CreatedAt. ErrConflict
	// if the id exists.
	CreateTask(ctx context.Context, t *Task) error
	// GetTask returns a task; ErrNotFound if none.
	GetTask(ctx context.Context, id string) (*Task, error)
	// SetTaskDone marks a task done at the given time, or not done
	// (DoneAt cleared), and moves its UpdatedAt to at unless it already is
	// later. ErrNotFound if no such task.
	SetTaskDone(ctx context.Context, id string, done bool, at time.Time) error
	// CaseTasks returns a case's tasks in TaskFilter's order.
	CaseTasks(ctx context.Context, caseID string) ([]*Task, error)
	// ListTasks returns tasks across cases (erased ones left out).
	ListTasks(ctx context.Context, f TaskFilter) ([]*Task, error)

	// AddExpense inserts e. ErrConflict if the id exists.
	AddExpense(ctx context.Context, e *Expense) error
	// CaseExpenses returns a case's expenses by Date, then CreatedAt, then ID.
	CaseExpenses(ctx context.Context, caseID string) ([]*Expense, error)
	// ExpenseTotals adds up the expenses dated from <= Date < to, erased
	// cases included (amounts are not personal), per category and
	// currency, ordered by category then currency (byte order); cases is
	// the number of distinct cases among them.
	ExpenseTotals(ctx context.Context, from, to time.Time) (totals []*ExpenseTotal, cases int, err error)

	// QuietCases returns open (CloseReason ""), unerased cases matching
	// f, the longest without contact first (then by id).
	QuietCases(ctx context.Context, f QuietFilter) ([]*Case, error)
}
