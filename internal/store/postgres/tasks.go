package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-org/corridor/internal/store"
)

const taskColumns = `t.id, t.case_id, t.class, t.title, t.assignee_id, t.due_at, t.done, t.done_at,
	t.created_by, t.created_at, t.updated_at`

// taskOrder: not done first, then by due date with undated tasks last.
const taskOrder = ` ORDER BY t.done, (t.due_at IS NULL), t.due_at, t.created_at, t.id`

func scanTask(row pgx.Row) (*store.Task, error) {
	var (
		t           store.Task
		due, doneAt *time.Time
	)
	if err := row.Scan(&t.ID, &t.CaseID, &t.Class, &t.Title, &t.AssigneeID, &due, &t.Done, &doneAt,
		&t.CreatedBy, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, err
	}
	t.Title, t.Due, t.DoneAt = normBlob(t.Title), fromNullTime(due), fromNullTime(doneAt)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return &t, nil
}

func collectTasks(rows pgx.Rows) ([]*store.Task, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Task, error) { return scanTask(row) })
}

// CreateTask inserts t. An erased case takes no new title: ErrNotFound.
func (s *DB) CreateTask(ctx context.Context, t *store.Task) error {
	created := normTime(t.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, t.CaseID, "create task")
		if err != nil {
			return err
		}
		if erased && len(t.Title) > 0 {
			return fmt.Errorf("postgres: create task: case erased: %w", store.ErrNotFound)
		}
		// DO NOTHING rather than a unique violation, which would abort a
		// surrounding transaction.
		tag, err := q.Exec(ctx, `
			INSERT INTO case_tasks (id, case_id, class, title, assignee_id, due_at, done, done_at,
				created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
			ON CONFLICT DO NOTHING`,
			t.ID, t.CaseID, t.Class, blob(t.Title), t.AssigneeID, nullTime(t.Due), t.Done, nullTime(t.DoneAt),
			t.CreatedBy, created)
		if err != nil {
			return fmt.Errorf("postgres: create task: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: create task: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.CreatedAt, t.UpdatedAt, t.Due, t.DoneAt = created, created, normTime(t.Due), normTime(t.DoneAt)
	return nil
}

func (s *DB) GetTask(ctx context.Context, id string) (*store.Task, error) {
	t, err := scanTask(s.q.QueryRow(ctx, `SELECT `+taskColumns+` FROM case_tasks t WHERE t.id = $1`, id))
	if err != nil {
		return nil, notFound(err, "get task")
	}
	return t, nil
}

// SetTaskDone marks a task done at at, or not done; UpdatedAt never moves
// backwards.
func (s *DB) SetTaskDone(ctx context.Context, id string, done bool, at time.Time) error {
	at = normTime(at)
	var doneAt any
	if done {
		doneAt = at
	}
	tag, err := s.q.Exec(ctx, `
		UPDATE case_tasks SET done = $1, done_at = $2, updated_at = GREATEST(updated_at, $3) WHERE id = $4`,
		done, doneAt, at, id)
	if err != nil {
		return fmt.Errorf("postgres: set task done: %w", err)
	}
	return affectedOne(tag, "set task done")
}

// CaseTasks returns a case's tasks, or ErrNotFound if there is no such case.
func (s *DB) CaseTasks(ctx context.Context, caseID string) ([]*store.Task, error) {
	rows, err := s.q.Query(ctx, `SELECT `+taskColumns+` FROM case_tasks t WHERE t.case_id = $1`+taskOrder, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case tasks: %w", err)
	}
	list, err := collectTasks(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: case tasks: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "case tasks"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// ListTasks returns tasks across cases, leaving out those of erased cases.
func (s *DB) ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error) {
	conds := []string{"c.erased_at IS NULL"}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.AssigneeID > 0 {
		conds = append(conds, "t.assignee_id = "+arg(f.AssigneeID))
	}
	if f.OpenOnly || !f.DueBefore.IsZero() {
		conds = append(conds, "NOT t.done")
	}
	if !f.DueBefore.IsZero() {
		conds = append(conds, "t.due_at < "+arg(normTime(f.DueBefore)))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 200
	}
	rows, err := s.q.Query(ctx, `SELECT `+taskColumns+`
		FROM case_tasks t JOIN cases c ON c.id = t.case_id
		WHERE `+strings.Join(conds, " AND ")+taskOrder+` LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tasks: %w", err)
	}
	list, err := collectTasks(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: list tasks: %w", err)
	}
	return list, nil
}

// AddExpense inserts e. An erased case takes no new note: ErrNotFound.
func (s *DB) AddExpense(ctx context.Context, e *store.Expense) error {
	created, date := normTime(e.CreatedAt), normTime(e.Date)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, e.CaseID, "add expense")
		if err != nil {
			return err
		}
		if erased && len(e.Note) > 0 {
			return fmt.Errorf("postgres: add expense: case erased: %w", store.ErrNotFound)
		}
		tag, err := q.Exec(ctx, `
			INSERT INTO case_expenses (id, case_id, category, amount, currency, spent_on, note, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT DO NOTHING`,
			e.ID, e.CaseID, e.Category, e.Amount, e.Currency, date, blob(e.Note), e.CreatedBy, created)
		if err != nil {
			return fmt.Errorf("postgres: add expense: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: add expense: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.CreatedAt, e.Date = created, date
	return nil
}

// CaseExpenses returns a case's expenses, or ErrNotFound if there is no
// such case.
func (s *DB) CaseExpenses(ctx context.Context, caseID string) ([]*store.Expense, error) {
	rows, err := s.q.Query(ctx, `
		SELECT id, case_id, category, amount, currency, spent_on, note, created_by, created_at
		FROM case_expenses WHERE case_id = $1 ORDER BY spent_on, created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case expenses: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Expense, error) {
		var e store.Expense
		if err := row.Scan(&e.ID, &e.CaseID, &e.Category, &e.Amount, &e.Currency, &e.Date, &e.Note,
			&e.CreatedBy, &e.CreatedAt); err != nil {
			return nil, err
		}
		e.Date, e.Note, e.CreatedAt = e.Date.UTC(), normBlob(e.Note), e.CreatedAt.UTC()
		return &e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: case expenses: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "case expenses"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// ExpenseTotals adds up the expenses dated in [from, to).
func (s *DB) ExpenseTotals(ctx context.Context, from, to time.Time) ([]*store.ExpenseTotal, int, error) {
	from, to = normTime(from), normTime(to)
	// sum(bigint) is numeric in PostgreSQL; the cast brings it back to
	// int64 (an overflow fails loudly rather than wrapping).
	rows, err := s.q.Query(ctx, `
		SELECT category, currency, sum(amount)::bigint, count(*), count(DISTINCT case_id)
		FROM case_expenses WHERE spent_on >= $1 AND spent_on < $2
		GROUP BY category, currency ORDER BY category, currency`, from, to)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: expense totals: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.ExpenseTotal, error) {
		var t store.ExpenseTotal
		err := row.Scan(&t.Category, &t.Currency, &t.Amount, &t.Count, &t.Cases)
		return &t, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: expense totals: %w", err)
	}
	var n int
	if err := s.q.QueryRow(ctx, `
		SELECT count(DISTINCT case_id) FROM case_expenses WHERE spent_on >= $1 AND spent_on < $2`,
		from, to).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("postgres: expense totals: %w", err)
	}
	return list, n, nil
}

// QuietCases returns open cases without contact since f.Before.
func (s *DB) QuietCases(ctx context.Context, f store.QuietFilter) ([]*store.Case, error) {
	args := []any{f.MinRisk, normTime(f.Before)}
	visible := ""
	if f.VisibleTo > 0 {
		visible = ` AND (assignee_id = $3 OR id IN (SELECT case_id FROM case_shares WHERE user_id = $3))`
		args = append(args, f.VisibleTo)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 200
	}
	args = append(args, limit)
	rows, err := s.q.Query(ctx, `SELECT `+caseColumns+` FROM cases
		WHERE close_reason = '' AND erased_at IS NULL AND risk >= $1
			AND coalesce(last_contact_at, created_at) < $2`+visible+`
		ORDER BY coalesce(last_contact_at, created_at), id LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: quiet cases: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Case, error) { return scanCase(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: quiet cases: %w", err)
	}
	return list, nil
}
