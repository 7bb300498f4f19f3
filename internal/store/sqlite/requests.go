package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

const requestColumns = `id, lookup_id, created_at, updated_at, urgency, status,
	assignee_id, key_intake, key_person, answers, unread_staff, message_count`

func scanRequest(sc scanner) (*store.Request, error) {
	var (
		r                  store.Request
		created, updated   int64
		keyIntake, keyPers []byte
		answers            []byte
	)
	err := sc.Scan(&r.ID, &r.LookupID, &created, &updated, &r.Urgency, &r.Status,
		&r.AssigneeID, &keyIntake, &keyPers, &answers, &r.UnreadStaff, &r.MessageCount)
	if err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	r.KeyIntake, r.KeyPerson, r.Answers = normBlob(keyIntake), normBlob(keyPers), normBlob(answers)
	return &r, nil
}

// CreateRequest inserts r. It sets r.CreatedAt and r.UpdatedAt to the
// creation time as stored (UTC, whole microseconds) and r.MessageCount to 0.
func (s *DB) CreateRequest(ctx context.Context, r *store.Request) error {
	created := normTime(r.CreatedAt)
	// DO NOTHING rather than an error: it covers both the id and the lookup
	// id, and leaves a surrounding transaction usable.
	res, err := s.writer().ExecContext(ctx, `
		INSERT INTO requests (id, lookup_id, created_at, updated_at, urgency, status,
			assignee_id, key_intake, key_person, answers, unread_staff, message_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
		ON CONFLICT DO NOTHING`,
		r.ID, blob(r.LookupID), micros(created), micros(created), r.Urgency, r.Status,
		r.AssigneeID, blob(r.KeyIntake), blob(r.KeyPerson), blob(r.Answers), r.UnreadStaff)
	if err != nil {
		return fmt.Errorf("sqlite: create request: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: create request: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create request: %w", store.ErrConflict)
	}
	r.CreatedAt, r.UpdatedAt, r.MessageCount = created, created, 0
	return nil
}

func (s *DB) GetRequest(ctx context.Context, id string) (*store.Request, error) {
	r, err := scanRequest(s.reader().QueryRowContext(ctx,
		`SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "get request")
	}
	return r, nil
}

func (s *DB) GetRequestByLookup(ctx context.Context, lookupID []byte) (*store.Request, error) {
	r, err := scanRequest(s.reader().QueryRowContext(ctx,
		`SELECT `+requestColumns+` FROM requests WHERE lookup_id = ?`, blob(lookupID)))
	if err != nil {
		return nil, notFound(err, "get request by lookup")
	}
	return r, nil
}

// inboxOrder must match the indexes in 001_initial.sql exactly; it is the
// same whatever the filter, and the indexes lead with the filtered columns.
const inboxOrder = ` ORDER BY (status = 'closed'), urgency DESC, created_at DESC, id DESC`

// ListInbox returns one page of the inbox. Requests that share status,
// urgency and creation time are ordered by id, descending, so that pages
// never overlap.
func (s *DB) ListInbox(ctx context.Context, f store.InboxFilter) ([]*store.Request, int, error) {
	countSQL, pageSQL, args, pageArgs := inboxQueries(f)
	q := s.reader()
	var total int
	if err := q.QueryRowContext(ctx, countSQL, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: list inbox: %w", err)
	}
	rows, err := q.QueryContext(ctx, pageSQL, pageArgs...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: list inbox: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanRequest)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: list inbox: %w", err)
	}
	return list, total, nil
}

// inboxQueries builds the count and page queries for f. Conditions are
// added only when set, rather than as "? = 0 OR …", so that the planner
// can pick the index that leads with the filtered column.
func inboxQueries(f store.InboxFilter) (countSQL, pageSQL string, args, pageArgs []any) {
	var conds []string
	if f.AssigneeID > 0 {
		conds = append(conds, "assignee_id = ?")
		args = append(args, f.AssigneeID)
	}
	if f.Status != "" {
		conds = append(conds, "status = ?")
		args = append(args, f.Status)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit, offset := f.Limit, max(f.Offset, 0)
	if limit <= 0 {
		limit = 50
	}
	countSQL = `SELECT count(*) FROM requests` + where
	pageSQL = `SELECT ` + requestColumns + ` FROM requests` + where + inboxOrder + ` LIMIT ? OFFSET ?`
	pageArgs = append(append([]any(nil), args...), limit, offset)
	return countSQL, pageSQL, args, pageArgs
}

// SetStatus sets the status and moves UpdatedAt to at, unless it already is
// later: UpdatedAt never moves backwards.
func (s *DB) SetStatus(ctx context.Context, id, status string, at time.Time) error {
	res, err := s.writer().ExecContext(ctx,
		`UPDATE requests SET status = ?, updated_at = max(updated_at, ?) WHERE id = ?`, status, micros(at), id)
	if err != nil {
		return fmt.Errorf("sqlite: set status: %w", err)
	}
	return affectedOne(res, "set status")
}

// SetAssignee assigns the request to userID (0 unassigns it) and moves
// UpdatedAt to at, unless it already is later.
func (s *DB) SetAssignee(ctx context.Context, id string, userID int64, at time.Time) error {
	res, err := s.writer().ExecContext(ctx,
		`UPDATE requests SET assignee_id = ?, updated_at = max(updated_at, ?) WHERE id = ?`, userID, micros(at), id)
	if err != nil {
		return fmt.Errorf("sqlite: set assignee: %w", err)
	}
	return affectedOne(res, "set assignee")
}

func (s *DB) MarkRead(ctx context.Context, id string) error {
	res, err := s.writer().ExecContext(ctx,
		`UPDATE requests SET unread_staff = 0 WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: mark read: %w", err)
	}
	return affectedOne(res, "mark read")
}

// AddMessage appends m and updates its request. UpdatedAt never moves
// backwards: a message stamped earlier than the request's last change
// (clocks of two servers disagreeing) leaves it as it is. m.CreatedAt is
// set to the time as stored.
func (s *DB) AddMessage(ctx context.Context, m *store.Message) error {
	created := normTime(m.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		// The insert comes first and writes nothing on failure, so an
		// ErrNotFound or ErrConflict inside a caller's transaction leaves
		// no half-done change behind.
		res, err := q.ExecContext(ctx, `
			INSERT INTO messages (id, request_id, created_at, author, staff_id, body)
			SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM requests WHERE id = ?)
			ON CONFLICT DO NOTHING`,
			m.ID, m.RequestID, micros(created), m.Author, m.StaffID, blob(m.Body), m.RequestID)
		if err != nil {
			return fmt.Errorf("sqlite: add message: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add message: %w", err)
		} else if n == 0 {
			if err := requestExists(ctx, q, m.RequestID, "add message"); err != nil {
				return err
			}
			return fmt.Errorf("sqlite: add message: %w", store.ErrConflict)
		}
		_, err = q.ExecContext(ctx, `
			UPDATE requests SET
				message_count = message_count + 1,
				updated_at = max(updated_at, ?),
				unread_staff = (unread_staff OR ?)
			WHERE id = ?`,
			micros(created), m.Author == store.AuthorPerson, m.RequestID)
		if err != nil {
			return fmt.Errorf("sqlite: add message: %w", err)
		}
		// A message either way is contact with the people of the case
		// opened from the request: the "no contact" alert reads it.
		if _, err := q.ExecContext(ctx, `
			UPDATE cases SET last_contact_at = max(coalesce(last_contact_at, ?), ?)
			WHERE request_id <> '' AND request_id = ?`,
			micros(created), micros(created), m.RequestID); err != nil {
			return fmt.Errorf("sqlite: add message: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.CreatedAt = created
	return nil
}

func requestExists(ctx context.Context, q querier, id, what string) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM requests WHERE id = ?`, id).Scan(&one)
	if err != nil {
		return notFound(err, what)
	}
	return nil
}

// ListMessages returns the messages of a request, oldest first, or
// store.ErrNotFound if there is no such request.
func (s *DB) ListMessages(ctx context.Context, requestID string) ([]*store.Message, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `
		SELECT id, request_id, created_at, author, staff_id, body
		FROM messages WHERE request_id = ? ORDER BY created_at, seq`, requestID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list messages: %w", err)
	}
	defer rows.Close()
	var list []*store.Message
	for rows.Next() {
		var (
			m       store.Message
			created int64
			body    []byte
		)
		if err := rows.Scan(&m.ID, &m.RequestID, &created, &m.Author, &m.StaffID, &body); err != nil {
			return nil, fmt.Errorf("sqlite: list messages: %w", err)
		}
		m.CreatedAt, m.Body = fromMicros(created), normBlob(body)
		list = append(list, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list messages: %w", err)
	}
	if len(list) == 0 {
		if err := requestExists(ctx, q, requestID, "list messages"); err != nil {
			return nil, err
		}
	}
	return list, nil
}
