package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

const taskColumns = `t.id, t.case_id, t.class, t.title, t.assignee_id, t.due_at, t.done, t.done_at,
	t.created_by, t.created_at, t.updated_at`

// taskOrder: not done first, then by due date with undated tasks last.
const taskOrder = ` ORDER BY t.done, (t.due_at IS NULL), t.due_at, t.created_at, t.id`

func scanTask(sc scanner) (*store.Task, error) {
	var (
		t                store.Task
		title            []byte
		due, doneAt      sql.NullInt64
		created, updated int64
	)
	if err := sc.Scan(&t.ID, &t.CaseID, &t.Class, &title, &t.AssigneeID, &due, &t.Done, &doneAt,
		&t.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	t.Title, t.Due, t.DoneAt = normBlob(title), fromNullMicros(due), fromNullMicros(doneAt)
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &t, nil
}

func scanTasks(rows *sql.Rows) ([]*store.Task, error) {
	var list []*store.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, t)
	}
	return list, rows.Err()
}

// CreateTask inserts t. An erased case takes no new title: ErrNotFound.
func (s *DB) CreateTask(ctx context.Context, t *store.Task) error {
	created := normTime(t.CreatedAt)
	due, doneAt := normTime(t.Due), normTime(t.DoneAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, t.CaseID, "create task")
		if err != nil {
			return err
		}
		if erased && len(t.Title) > 0 {
			return fmt.Errorf("sqlite: create task: case erased: %w", store.ErrNotFound)
		}
		res, err := q.ExecContext(ctx, `
			INSERT INTO case_tasks (id, case_id, class, title, assignee_id, due_at, done, done_at,
				created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			t.ID, t.CaseID, t.Class, blob(t.Title), t.AssigneeID, nullMicros(due), t.Done, nullMicros(doneAt),
			t.CreatedBy, micros(created), micros(created))
		if err != nil {
			return fmt.Errorf("sqlite: create task: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: create task: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: create task: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.CreatedAt, t.UpdatedAt, t.Due, t.DoneAt = created, created, due, doneAt
	return nil
}

func (s *DB) GetTask(ctx context.Context, id string) (*store.Task, error) {
	t, err := scanTask(s.reader().QueryRowContext(ctx,
		`SELECT `+taskColumns+` FROM case_tasks t WHERE t.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "get task")
	}
	return t, nil
}

// SetTaskDone marks a task done at at, or not done; UpdatedAt never moves
// backwards.
func (s *DB) SetTaskDone(ctx context.Context, id string, done bool, at time.Time) error {
	var doneAt any
	if done {
		doneAt = micros(at)
	}
	res, err := s.writer().ExecContext(ctx, `
		UPDATE case_tasks SET done = ?, done_at = ?, updated_at = max(updated_at, ?) WHERE id = ?`,
		done, doneAt, micros(at), id)
	if err != nil {
		return fmt.Errorf("sqlite: set task done: %w", err)
	}
	return affectedOne(res, "set task done")
}

// CaseTasks returns a case's tasks, or ErrNotFound if there is no such case.
func (s *DB) CaseTasks(ctx context.Context, caseID string) ([]*store.Task, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `SELECT `+taskColumns+` FROM case_tasks t WHERE t.case_id = ?`+taskOrder, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case tasks: %w", err)
	}
	defer rows.Close()
	list, err := scanTasks(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case tasks: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "case tasks"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// ListTasks returns tasks across cases, leaving out those of erased cases.
func (s *DB) ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error) {
	conds := []string{"c.erased_at IS NULL"}
	var args []any
	if f.AssigneeID > 0 {
		conds = append(conds, "t.assignee_id = ?")
		args = append(args, f.AssigneeID)
	}
	if f.OpenOnly || !f.DueBefore.IsZero() {
		conds = append(conds, "NOT t.done")
	}
	if !f.DueBefore.IsZero() {
		conds = append(conds, "t.due_at < ?")
		args = append(args, micros(f.DueBefore))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 200
	}
	args = append(args, limit)
	rows, err := s.reader().QueryContext(ctx, `SELECT `+taskColumns+`
		FROM case_tasks t JOIN cases c ON c.id = t.case_id
		WHERE `+strings.Join(conds, " AND ")+taskOrder+` LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tasks: %w", err)
	}
	defer rows.Close()
	list, err := scanTasks(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tasks: %w", err)
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
			return fmt.Errorf("sqlite: add expense: case erased: %w", store.ErrNotFound)
		}
		res, err := q.ExecContext(ctx, `
			INSERT INTO case_expenses (id, case_id, category, amount, currency, spent_on, note, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			e.ID, e.CaseID, e.Category, e.Amount, e.Currency, micros(date), blob(e.Note), e.CreatedBy, micros(created))
		if err != nil {
			return fmt.Errorf("sqlite: add expense: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add expense: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: add expense: %w", store.ErrConflict)
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
	q := s.reader()
	rows, err := q.QueryContext(ctx, `
		SELECT id, case_id, category, amount, currency, spent_on, note, created_by, created_at
		FROM case_expenses WHERE case_id = ? ORDER BY spent_on, created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case expenses: %w", err)
	}
	defer rows.Close()
	var list []*store.Expense
	for rows.Next() {
		var (
			e             store.Expense
			note          []byte
			date, created int64
		)
		if err := rows.Scan(&e.ID, &e.CaseID, &e.Category, &e.Amount, &e.Currency, &date, &note,
			&e.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("sqlite: case expenses: %w", err)
		}
		e.Date, e.Note, e.CreatedAt = fromMicros(date), normBlob(note), fromMicros(created)
		list = append(list, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: case expenses: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "case expenses"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// ExpenseTotals adds up the expenses dated in [from, to).
func (s *DB) ExpenseTotals(ctx context.Context, from, to time.Time) ([]*store.ExpenseTotal, int, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `
		SELECT category, currency, sum(amount), count(*), count(DISTINCT case_id)
		FROM case_expenses WHERE spent_on >= ? AND spent_on < ?
		GROUP BY category, currency ORDER BY category, currency`, micros(from), micros(to))
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: expense totals: %w", err)
	}
	defer rows.Close()
	var list []*store.ExpenseTotal
	for rows.Next() {
		var t store.ExpenseTotal
		if err := rows.Scan(&t.Category, &t.Currency, &t.Amount, &t.Count, &t.Cases); err != nil {
			return nil, 0, fmt.Errorf("sqlite: expense totals: %w", err)
		}
		list = append(list, &t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("sqlite: expense totals: %w", err)
	}
	var n int
	if err := q.QueryRowContext(ctx, `
		SELECT count(DISTINCT case_id) FROM case_expenses WHERE spent_on >= ? AND spent_on < ?`,
		micros(from), micros(to)).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("sqlite: expense totals: %w", err)
	}
	return list, n, nil
}

// QuietCases returns open cases without contact since f.Before.
func (s *DB) QuietCases(ctx context.Context, f store.QuietFilter) ([]*store.Case, error) {
	args := []any{f.MinRisk, micros(f.Before)}
	visible := ""
	if f.VisibleTo > 0 {
		visible = ` AND (assignee_id = ? OR id IN (SELECT case_id FROM case_shares WHERE user_id = ?))`
		args = append(args, f.VisibleTo, f.VisibleTo)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 200
	}
	args = append(args, limit)
	rows, err := s.reader().QueryContext(ctx, `SELECT `+caseColumns+` FROM cases
		WHERE close_reason = '' AND erased_at IS NULL AND risk >= ?
			AND coalesce(last_contact_at, created_at) < ?`+visible+`
		ORDER BY coalesce(last_contact_at, created_at), id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: quiet cases: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanCase)
	if err != nil {
		return nil, fmt.Errorf("sqlite: quiet cases: %w", err)
	}
	return list, nil
}
