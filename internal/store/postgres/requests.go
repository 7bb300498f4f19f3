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

const requestColumns = `id, lookup_id, created_at, updated_at, urgency, status,
	assignee_id, key_intake, key_person, answers, unread_staff, message_count`

func scanRequest(row pgx.Row) (*store.Request, error) {
	var r store.Request
	err := row.Scan(&r.ID, &r.LookupID, &r.CreatedAt, &r.UpdatedAt, &r.Urgency, &r.Status,
		&r.AssigneeID, &r.KeyIntake, &r.KeyPerson, &r.Answers, &r.UnreadStaff, &r.MessageCount)
	if err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	r.KeyIntake, r.KeyPerson, r.Answers = normBlob(r.KeyIntake), normBlob(r.KeyPerson), normBlob(r.Answers)
	return &r, nil
}

// CreateRequest inserts r. It sets r.CreatedAt and r.UpdatedAt to the
// creation time as stored (UTC, whole microseconds) and r.MessageCount to 0.
func (s *DB) CreateRequest(ctx context.Context, r *store.Request) error {
	created := normTime(r.CreatedAt)
	// DO NOTHING rather than a unique violation: it covers both the id and
	// the lookup id, and an error would abort a surrounding transaction.
	tag, err := s.q.Exec(ctx, `
		INSERT INTO requests (id, lookup_id, created_at, updated_at, urgency, status,
			assignee_id, key_intake, key_person, answers, unread_staff, message_count)
		VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $10, 0)
		ON CONFLICT DO NOTHING`,
		r.ID, blob(r.LookupID), created, r.Urgency, r.Status,
		r.AssigneeID, blob(r.KeyIntake), blob(r.KeyPerson), blob(r.Answers), r.UnreadStaff)
	if err != nil {
		return fmt.Errorf("postgres: create request: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create request: %w", store.ErrConflict)
	}
	r.CreatedAt, r.UpdatedAt, r.MessageCount = created, created, 0
	return nil
}

func (s *DB) GetRequest(ctx context.Context, id string) (*store.Request, error) {
	r, err := scanRequest(s.q.QueryRow(ctx,
		`SELECT `+requestColumns+` FROM requests WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "get request")
	}
	return r, nil
}

func (s *DB) GetRequestByLookup(ctx context.Context, lookupID []byte) (*store.Request, error) {
	r, err := scanRequest(s.q.QueryRow(ctx,
		`SELECT `+requestColumns+` FROM requests WHERE lookup_id = $1`, blob(lookupID)))
	if err != nil {
		return nil, notFound(err, "get request by lookup")
	}
	return r, nil
}

// inboxOrder must match the indexes in 001_initial.sql; it is the same
// whatever the filter, and the indexes lead with the filtered columns.
const inboxOrder = ` ORDER BY (status = 'closed'), urgency DESC, created_at DESC, id DESC`

// ListInbox returns one page of the inbox. Requests that share status,
// urgency and creation time are ordered by id, descending, so that pages
// never overlap.
func (s *DB) ListInbox(ctx context.Context, f store.InboxFilter) ([]*store.Request, int, error) {
	countSQL, pageSQL, args, pageArgs := inboxQueries(f)
	var total int
	if err := s.q.QueryRow(ctx, countSQL, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: list inbox: %w", err)
	}
	rows, err := s.q.Query(ctx, pageSQL, pageArgs...)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: list inbox: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Request, error) {
		return scanRequest(row)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: list inbox: %w", err)
	}
	return list, total, nil
}

// inboxQueries builds the count and page queries for f. Conditions are
// added only when set, rather than as "$1 = 0 OR …", so that the planner
// can pick the index that leads with the filtered column.
func inboxQueries(f store.InboxFilter) (countSQL, pageSQL string, args, pageArgs []any) {
	var conds []string
	if f.AssigneeID > 0 {
		args = append(args, f.AssigneeID)
		conds = append(conds, "assignee_id = $"+strconv.Itoa(len(args)))
	}
	if f.Status != "" {
		args = append(args, f.Status)
		conds = append(conds, "status = $"+strconv.Itoa(len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit, offset := f.Limit, max(f.Offset, 0)
	if limit <= 0 {
		limit = 50
	}
	n := len(args)
	countSQL = `SELECT count(*) FROM requests` + where
	pageSQL = `SELECT ` + requestColumns + ` FROM requests` + where + inboxOrder +
		` LIMIT $` + strconv.Itoa(n+1) + ` OFFSET $` + strconv.Itoa(n+2)
	pageArgs = append(append([]any(nil), args...), limit, offset)
	return countSQL, pageSQL, args, pageArgs
}

// SetStatus sets the status and moves UpdatedAt to at, unless it already is
// later: UpdatedAt never moves backwards.
func (s *DB) SetStatus(ctx context.Context, id, status string, at time.Time) error {
	tag, err := s.q.Exec(ctx,
		`UPDATE requests SET status = $1, updated_at = GREATEST(updated_at, $2) WHERE id = $3`,
		status, normTime(at), id)
	if err != nil {
		return fmt.Errorf("postgres: set status: %w", err)
	}
	return affectedOne(tag, "set status")
}

// SetAssignee assigns the request to userID (0 unassigns it) and moves
// UpdatedAt to at, unless it already is later.
func (s *DB) SetAssignee(ctx context.Context, id string, userID int64, at time.Time) error {
	tag, err := s.q.Exec(ctx,
		`UPDATE requests SET assignee_id = $1, updated_at = GREATEST(updated_at, $2) WHERE id = $3`,
		userID, normTime(at), id)
	if err != nil {
		return fmt.Errorf("postgres: set assignee: %w", err)
	}
	return affectedOne(tag, "set assignee")
}

func (s *DB) MarkRead(ctx context.Context, id string) error {
	tag, err := s.q.Exec(ctx, `UPDATE requests SET unread_staff = false WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("postgres: mark read: %w", err)
	}
	return affectedOne(tag, "mark read")
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
		// no half-done change behind. The casts give the parameters types,
		// which a SELECT list does not.
		tag, err := q.Exec(ctx, `
			INSERT INTO messages (id, request_id, created_at, author, staff_id, body)
			SELECT $1::text, $2::text, $3::timestamptz, $4::text, $5::bigint, $6::bytea
			WHERE EXISTS (SELECT 1 FROM requests WHERE id = $2::text)
			ON CONFLICT DO NOTHING`,
			m.ID, m.RequestID, created, m.Author, m.StaffID, blob(m.Body))
		if err != nil {
			return fmt.Errorf("postgres: add message: %w", err)
		}
		if tag.RowsAffected() == 0 {
			if err := requestExists(ctx, q, m.RequestID, "add message"); err != nil {
				return err
			}
			return fmt.Errorf("postgres: add message: %w", store.ErrConflict)
		}
		_, err = q.Exec(ctx, `
			UPDATE requests SET
				message_count = message_count + 1,
				updated_at = GREATEST(updated_at, $1),
				unread_staff = (unread_staff OR $2)
			WHERE id = $3`,
			created, m.Author == store.AuthorPerson, m.RequestID)
		if err != nil {
			return fmt.Errorf("postgres: add message: %w", err)
		}
		// A message either way is contact with the people of the case
		// opened from the request: the "no contact" alert reads it.
		if _, err := q.Exec(ctx, `
			UPDATE cases SET last_contact_at = GREATEST(last_contact_at, $1)
			WHERE request_id <> '' AND request_id = $2`,
			created, m.RequestID); err != nil {
			return fmt.Errorf("postgres: add message: %w", err)
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
	if err := q.QueryRow(ctx, `SELECT 1 FROM requests WHERE id = $1`, id).Scan(&one); err != nil {
		return notFound(err, what)
	}
	return nil
}

// ListMessages returns the messages of a request, oldest first, or
// store.ErrNotFound if there is no such request.
func (s *DB) ListMessages(ctx context.Context, requestID string) ([]*store.Message, error) {
	rows, err := s.q.Query(ctx, `
		SELECT id, request_id, created_at, author, staff_id, body
		FROM messages WHERE request_id = $1 ORDER BY created_at, seq`, requestID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list messages: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Message, error) {
		var m store.Message
		if err := row.Scan(&m.ID, &m.RequestID, &m.CreatedAt, &m.Author, &m.StaffID, &m.Body); err != nil {
			return nil, err
		}
		m.CreatedAt, m.Body = m.CreatedAt.UTC(), normBlob(m.Body)
		return &m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list messages: %w", err)
	}
	if len(list) == 0 {
		if err := requestExists(ctx, s.q, requestID, "list messages"); err != nil {
			return nil, err
		}
	}
	return list, nil
}
