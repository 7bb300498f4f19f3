package cases

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Expense categories, in display order.
const (
	CategoryHousing             = "housing"
	CategoryFood                = "food"
	CategoryMedical             = "medical"
	CategoryTravelDomestic      = "travel_domestic" // travel inside the country
	CategoryDocuments           = "documents"       // documents and visas
	CategoryTravelInternational = "travel_international"
	CategoryOther               = "other"
)

// Categories lists every expense category, in display order.
func Categories() []string {
	return []string{CategoryHousing, CategoryFood, CategoryMedical, CategoryTravelDomestic,
		CategoryDocuments, CategoryTravelInternational, CategoryOther}
}

// Limits of an expense.
const (
	// MaxAmount bounds one expense (in minor units) far above any real
	// one, so that sums of many cannot overflow int64.
	MaxAmount       = 1_000_000_000_00
	MaxExpenseRunes = 2000
)

func adExpense(caseID, expenseID string) []string {
	return []string{"case", caseID, "expense", expenseID, ClassFinance}
}

// ValidCurrency reports whether cur looks like an ISO 4217 code: three
// upper-case ASCII letters. The list of codes changes over time; the shape
// is what keeps the report's columns clean.
func ValidCurrency(cur string) bool {
	if len(cur) != 3 {
		return false
	}
	for i := range 3 {
		if cur[i] < 'A' || cur[i] > 'Z' {
			return false
		}
	}
	return true
}

// ExpenseInput is a new expense.
type ExpenseInput struct {
	Category string
	Amount   int64 // minor units
	Currency string
	Date     time.Time // the day; its time of day is dropped
	Note     string
}

// day is midnight UTC of t's calendar day (in UTC).
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// AddExpense records money spent for a case. The actor needs access to
// the case and a role that writes the finance class: the note is finance,
// and so, under need-to-know, is the case's spending.
func (s *Service) AddExpense(ctx context.Context, actor *store.User, id string, in ExpenseInput) (*store.Expense, error) {
	if !slices.Contains(Categories(), in.Category) {
		return nil, fmt.Errorf("%w: unknown category", ErrInvalid)
	}
	if in.Amount <= 0 || in.Amount > MaxAmount {
		return nil, fmt.Errorf("%w: amount out of range", ErrInvalid)
	}
	if !ValidCurrency(in.Currency) {
		return nil, fmt.Errorf("%w: currency must be an ISO 4217 code such as EUR", ErrInvalid)
	}
	if in.Date.IsZero() {
		return nil, fmt.Errorf("%w: an expense needs a date", ErrInvalid)
	}
	note, err := cleanText(in.Note, MaxExpenseRunes)
	if err != nil {
		return nil, err
	}
	var e *store.Expense
	err = s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !s.pol.CanWrite(actor.Role, ClassFinance) {
			return fmt.Errorf("%w: class %s", ErrForbidden, ClassFinance)
		}
		if d := day(in.Date); d.After(day(now).AddDate(0, 0, 1)) {
			// A day of slack for time zones; further is a typo.
			return fmt.Errorf("%w: the date is in the future", ErrInvalid)
		}
		e = &store.Expense{ID: newID("x"), CaseID: c.ID, Category: in.Category, Amount: in.Amount,
			Currency: in.Currency, Date: day(in.Date), CreatedBy: actor.ID, CreatedAt: now}
		return s.withKey(c, func(dk []byte) error {
			if note != "" {
				ct, err := keys.Encrypt(dk, []byte(note), adExpense(c.ID, e.ID)...)
				if err != nil {
					return fmt.Errorf("cases: encrypt expense: %w", err)
				}
				e.Note = ct
			}
			if err := tx.AddExpense(ctx, e); err != nil {
				return fmt.Errorf("cases: expense: %w", err)
			}
			// The event carries nothing: the amount is on the expense,
			// and the note is read there.
			ev := &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: now, ActorID: actor.ID, Kind: KindExpense}
			if err := tx.AddCaseEvent(ctx, ev); err != nil {
				return fmt.Errorf("cases: event: %w", err)
			}
			return s.record(ctx, tx, actor, "case.expense", c.ID)
		})
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Expense is an expense as its viewer sees it.
type Expense struct {
	*store.Expense
	Note       string
	Unreadable bool
}

// Work is the tasks and expenses of one case, as one viewer may see them.
type Work struct {
	Tasks []Task
	// TaskClasses are the classes the viewer may give a new task's title.
	TaskClasses []string
	// Expenses is nil and ExpensesWithheld true when the viewer's role
	// does not read finance.
	Expenses         []Expense
	ExpensesWithheld bool
	CanAddExpense    bool
	// Totals sums the case's expenses per currency, in minor units.
	Totals map[string]int64
}

// Work returns the tasks and expenses of a case for a viewer with access
// to its contents, audited as case.read_work (a read apart from View, so
// that neither can be had without a trace).
func (s *Service) Work(ctx context.Context, actor *store.User, id string) (*Work, error) {
	c, how, err := s.contentAccess(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	tasks, err := s.st.CaseTasks(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("cases: tasks: %w", err)
	}
	var exps []*store.Expense
	finance := s.pol.CanRead(actor.Role, ClassFinance)
	if finance {
		if exps, err = s.st.CaseExpenses(ctx, id); err != nil {
			return nil, fmt.Errorf("cases: expenses: %w", err)
		}
	}
	if err := s.audit.Record(ctx, actor.ID, "case.read_work", object(id)); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	w := &Work{ExpensesWithheld: !finance, CanAddExpense: s.pol.CanWrite(actor.Role, ClassFinance), Totals: map[string]int64{}}
	for _, class := range Classes() {
		if s.pol.CanWrite(actor.Role, class) && s.pol.withheld(actor.Role, class, c) == "" {
			w.TaskClasses = append(w.TaskClasses, class)
		}
	}
	err = s.withKey(c, func(dk []byte) error {
		for _, t := range tasks {
			w.Tasks = append(w.Tasks, s.openTask(dk, actor.Role, how, c, t, now))
		}
		for _, e := range exps {
			v := Expense{Expense: e}
			if e.Note != nil {
				plain, err := keys.Decrypt(dk, e.Note, adExpense(c.ID, e.ID)...)
				if err != nil {
					v.Unreadable = true
				} else {
					v.Note = string(plain)
					clear(plain)
				}
			}
			w.Expenses = append(w.Expenses, v)
			w.Totals[e.Currency] += e.Amount
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// DonorReport is what a donor is told: money spent per category and
// currency over a period, and for how many cases. Nothing in it is about
// one person; it is computed from clear amounts without any case key.
type DonorReport struct {
	From, To time.Time // the period: From <= Date < To
	Rows     []*store.ExpenseTotal
	Cases    int              // distinct cases with an expense in the period
	Totals   map[string]int64 // per currency, every category
	Currency []string         // currencies in the report, sorted
}

// MaxReportSpan bounds a donor report's period.
const MaxReportSpan = 10 * 366 * 24 * time.Hour

// DonorReport adds up expenses dated from from to to, both days included.
// Admins and coordinators only; audited as report.donors.
func (s *Service) DonorReport(ctx context.Context, actor *store.User, from, to time.Time) (*DonorReport, error) {
	return s.donorReport(ctx, actor, from, to, "report.donors")
}

func (s *Service) donorReport(ctx context.Context, actor *store.User, from, to time.Time, action string) (*DonorReport, error) {
	if !active(actor) || !CanManage(actor.Role) {
		return nil, ErrForbidden
	}
	from, end := day(from), day(to).AddDate(0, 0, 1)
	if !from.Before(end) || end.Sub(from) > MaxReportSpan {
		return nil, fmt.Errorf("%w: the period must run forwards, at most ten years", ErrInvalid)
	}
	rows, n, err := s.st.ExpenseTotals(ctx, from, end)
	if err != nil {
		return nil, fmt.Errorf("cases: donor report: %w", err)
	}
	if err := s.audit.Record(ctx, actor.ID, action, "donors"); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	r := &DonorReport{From: from, To: end, Rows: rows, Cases: n, Totals: map[string]int64{}}
	for _, row := range rows {
		if _, ok := r.Totals[row.Currency]; !ok {
			r.Currency = append(r.Currency, row.Currency)
		}
		r.Totals[row.Currency] += row.Amount
	}
	slices.Sort(r.Currency)
	return r, nil
}
