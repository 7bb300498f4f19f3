package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

const caseColumns = `id, created_at, updated_at, stage, stage_since, close_reason, risk,
	verified, flagged, assignee_id, request_id, wrapped_key, erased_at, last_contact_at`

func scanCase(sc scanner) (*store.Case, error) {
	var (
		c                       store.Case
		created, updated, since int64
		key                     []byte
		erased, contact         sql.NullInt64
	)
	err := sc.Scan(&c.ID, &created, &updated, &c.Stage, &since, &c.CloseReason, &c.Risk,
		&c.Verified, &c.Flagged, &c.AssigneeID, &c.RequestID, &key, &erased, &contact)
	if err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt, c.StageSince = fromMicros(created), fromMicros(updated), fromMicros(since)
	c.WrappedKey, c.ErasedAt, c.LastContactAt = normBlob(key), fromNullMicros(erased), fromNullMicros(contact)
	return &c, nil
}

// CreateCase inserts c and its first stage period. It sets c's times to the
// times as stored (UTC, whole microseconds), c.UpdatedAt to c.CreatedAt,
// and a zero c.StageSince to c.CreatedAt.
func (s *DB) CreateCase(ctx context.Context, c *store.Case) error {
	created, since := normTime(c.CreatedAt), normTime(c.StageSince)
	if c.StageSince.IsZero() {
		since = created
	}
	erased, contact := normTime(c.ErasedAt), normTime(c.LastContactAt)
	err := s.atomically(ctx, func(q querier) error {
		// DO NOTHING covers the id and the request id, and leaves a
		// surrounding transaction usable.
		res, err := q.ExecContext(ctx, `
			INSERT INTO cases (id, created_at, updated_at, stage, stage_since, close_reason, risk,
				verified, flagged, assignee_id, request_id, wrapped_key, erased_at, last_contact_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			c.ID, micros(created), micros(created), c.Stage, micros(since), c.CloseReason, c.Risk,
			c.Verified, c.Flagged, c.AssigneeID, c.RequestID, blob(c.WrappedKey),
			nullMicros(erased), nullMicros(contact))
		if err != nil {
			return fmt.Errorf("sqlite: create case: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: create case: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: create case: %w", store.ErrConflict)
		}
		if _, err := q.ExecContext(ctx, `
			INSERT INTO case_stage_periods (case_id, stage, entered_at) VALUES (?, ?, ?)`,
			c.ID, c.Stage, micros(since)); err != nil {
			return fmt.Errorf("sqlite: create case: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt, c.StageSince = created, created, since
	c.ErasedAt, c.LastContactAt = erased, contact
	return nil
}

func (s *DB) GetCase(ctx context.Context, id string) (*store.Case, error) {
	c, err := scanCase(s.reader().QueryRowContext(ctx,
		`SELECT `+caseColumns+` FROM cases WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "get case")
	}
	return c, nil
}

// UpdateCase writes Risk, Verified, Flagged, AssigneeID and LastContactAt,
// and moves UpdatedAt to c.UpdatedAt unless it already is later. It then
// sets *c to the case as stored.
func (s *DB) UpdateCase(ctx context.Context, c *store.Case) error {
	got, err := scanCase(s.writer().QueryRowContext(ctx, `
		UPDATE cases SET risk = ?, verified = ?, flagged = ?, assignee_id = ?,
			last_contact_at = ?, updated_at = max(updated_at, ?)
		WHERE id = ?
		RETURNING `+caseColumns,
		c.Risk, c.Verified, c.Flagged, c.AssigneeID,
		nullMicros(c.LastContactAt), micros(c.UpdatedAt), c.ID))
	if err != nil {
		return notFound(err, "update case")
	}
	*c = *got
	return nil
}

// caseOrder must match the indexes in 002_cases.sql exactly.
const caseOrder = ` ORDER BY (close_reason <> ''), risk DESC, stage_since, id`

// ListCases returns one page of cases. Cases that tie on openness, risk
// and StageSince are ordered by id, ascending, so that pages never overlap.
func (s *DB) ListCases(ctx context.Context, f store.CaseFilter) ([]*store.Case, int, error) {
	countSQL, pageSQL, args, pageArgs := caseQueries(f)
	q := s.reader()
	var total int
	if err := q.QueryRowContext(ctx, countSQL, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: list cases: %w", err)
	}
	rows, err := q.QueryContext(ctx, pageSQL, pageArgs...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: list cases: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanCase)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: list cases: %w", err)
	}
	return list, total, nil
}

// caseQueries builds the count and page queries for f. Conditions are
// added only when set, so that the planner can pick the index that leads
// with the filtered column.
//
// VisibleTo starts from the few cases a user may see, found through
// cases_list_assignee and case_shares_user, looks each up by id and sorts them.
// CROSS JOIN makes SQLite keep that order of loops: left to itself, it
// may walk a list index and test every case against the user's.
func caseQueries(f store.CaseFilter) (countSQL, pageSQL string, args, pageArgs []any) {
	from := ` FROM cases`
	if f.VisibleTo > 0 {
		from = ` FROM (SELECT id AS visible_id FROM cases WHERE assignee_id = ?
			UNION SELECT case_id FROM case_shares WHERE user_id = ?)
			CROSS JOIN cases ON cases.id = visible_id`
		args = append(args, f.VisibleTo, f.VisibleTo)
	}
	var conds []string
	if f.Stage != "" {
		conds = append(conds, "stage = ?")
		args = append(args, f.Stage)
	}
	if f.AssigneeID > 0 {
		conds = append(conds, "assignee_id = ?")
		args = append(args, f.AssigneeID)
	}
	if !f.IncludeErased {
		conds = append(conds, "erased_at IS NULL")
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit, offset := f.Limit, max(f.Offset, 0)
	if limit <= 0 {
		limit = 50
	}
	countSQL = `SELECT count(*)` + from + where
	pageSQL = `SELECT ` + caseColumns + from + where + caseOrder + ` LIMIT ? OFFSET ?`
	pageArgs = append(append([]any(nil), args...), limit, offset)
	return countSQL, pageSQL, args, pageArgs
}

// CaseForRequest returns the case opened from a request. Cases opened by
// hand have no request: CaseForRequest("") reports ErrNotFound.
func (s *DB) CaseForRequest(ctx context.Context, requestID string) (*store.Case, error) {
	// "request_id <> ''" lets SQLite use the partial unique index.
	c, err := scanCase(s.reader().QueryRowContext(ctx,
		`SELECT `+caseColumns+` FROM cases WHERE request_id <> '' AND request_id = ?`, requestID))
	if err != nil {
		return nil, notFound(err, "case for request")
	}
	return c, nil
}

// lockCase reads what a write to a case needs to know about it:
// ErrNotFound if there is no such case. Inside the write transaction
// (BEGIN IMMEDIATE) nothing else can change the case before the
// transaction ends.
func lockCase(ctx context.Context, q querier, id, what string) (erased bool, stageSince int64, err error) {
	err = q.QueryRowContext(ctx,
		`SELECT erased_at IS NOT NULL, stage_since FROM cases WHERE id = ?`, id).Scan(&erased, &stageSince)
	if err != nil {
		return false, 0, notFound(err, what)
	}
	return erased, stageSince, nil
}

// bumpCase moves a case's UpdatedAt to at unless it already is later.
func bumpCase(ctx context.Context, q querier, id string, at time.Time, what string) error {
	if _, err := q.ExecContext(ctx,
		`UPDATE cases SET updated_at = max(updated_at, ?) WHERE id = ?`, micros(at), id); err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return nil
}

func caseExists(ctx context.Context, q querier, id, what string) error {
	var one int
	if err := q.QueryRowContext(ctx, `SELECT 1 FROM cases WHERE id = ?`, id).Scan(&one); err != nil {
		return notFound(err, what)
	}
	return nil
}

// PutSection inserts or replaces a section and moves the case's UpdatedAt
// to sec.UpdatedAt unless it already is later; sec.UpdatedAt is set to the
// time as stored. An erased case takes no new ciphertext: ErrNotFound.
func (s *DB) PutSection(ctx context.Context, sec *store.CaseSection) error {
	updated := normTime(sec.UpdatedAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, sec.CaseID, "put section")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("sqlite: put section: case erased: %w", store.ErrNotFound)
		}
		if _, err := q.ExecContext(ctx, `
			INSERT INTO case_sections (case_id, class, data, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (case_id, class) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			sec.CaseID, sec.Class, blob(sec.Data), micros(updated)); err != nil {
			return fmt.Errorf("sqlite: put section: %w", err)
		}
		return bumpCase(ctx, q, sec.CaseID, updated, "put section")
	})
	if err != nil {
		return err
	}
	sec.UpdatedAt = updated
	return nil
}

// Sections returns a case's sections ordered by class (byte order), or
// ErrNotFound if there is no such case.
func (s *DB) Sections(ctx context.Context, caseID string) ([]*store.CaseSection, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `
		SELECT case_id, class, data, updated_at FROM case_sections
		WHERE case_id = ? ORDER BY class`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sections: %w", err)
	}
	defer rows.Close()
	var list []*store.CaseSection
	for rows.Next() {
		var (
			sec     store.CaseSection
			data    []byte
			updated int64
		)
		if err := rows.Scan(&sec.CaseID, &sec.Class, &data, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: sections: %w", err)
		}
		sec.Data, sec.UpdatedAt = normBlob(data), fromMicros(updated)
		list = append(list, &sec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: sections: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "sections"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// AddCaseEvent appends e to a case's timeline and moves the case's
// UpdatedAt to e.At unless it already is later; e.At is set to the time as
// stored. ErrConflict if the event id exists; ErrNotFound if the case does
// not, or if it is erased and e has a Body.
func (s *DB) AddCaseEvent(ctx context.Context, e *store.CaseEvent) error {
	when := normTime(e.At)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, e.CaseID, "add case event")
		if err != nil {
			return err
		}
		if erased && len(e.Body) > 0 {
			return fmt.Errorf("sqlite: add case event: case erased: %w", store.ErrNotFound)
		}
		// The insert comes before the case is touched and writes nothing
		// on a conflict.
		res, err := q.ExecContext(ctx, `
			INSERT INTO case_events (id, case_id, at, actor_id, kind, stage, class, body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			e.ID, e.CaseID, micros(when), e.ActorID, e.Kind, e.Stage, e.Class, blob(e.Body))
		if err != nil {
			return fmt.Errorf("sqlite: add case event: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add case event: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: add case event: %w", store.ErrConflict)
		}
		return bumpCase(ctx, q, e.CaseID, when, "add case event")
	})
	if err != nil {
		return err
	}
	e.At = when
	return nil
}

// CaseEvents returns a case's timeline, oldest first; events that share a
// timestamp come in insertion order. ErrNotFound if there is no such case.
func (s *DB) CaseEvents(ctx context.Context, caseID string) ([]*store.CaseEvent, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `
		SELECT id, case_id, at, actor_id, kind, stage, class, body FROM case_events
		WHERE case_id = ? ORDER BY at, seq`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case events: %w", err)
	}
	defer rows.Close()
	var list []*store.CaseEvent
	for rows.Next() {
		var (
			e    store.CaseEvent
			when int64
			body []byte
		)
		if err := rows.Scan(&e.ID, &e.CaseID, &when, &e.ActorID, &e.Kind, &e.Stage, &e.Class, &body); err != nil {
			return nil, fmt.Errorf("sqlite: case events: %w", err)
		}
		e.At, e.Body = fromMicros(when), normBlob(body)
		list = append(list, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: case events: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "case events"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// EnterStage ends the current stage period and opens the next, in one
// transaction. A stage is never entered before the current one was: an at
// earlier than StageSince (clocks of two servers disagreeing) is taken as
// StageSince, so periods never overlap nor run backwards. UpdatedAt moves
// to at unless it already is later.
func (s *DB) EnterStage(ctx context.Context, caseID, stage, closeReason string, at time.Time) error {
	return s.atomically(ctx, func(q querier) error {
		_, since, err := lockCase(ctx, q, caseID, "enter stage")
		if err != nil {
			return err
		}
		entered := max(micros(at), since)
		if _, err := q.ExecContext(ctx, `
			UPDATE case_stage_periods SET left_at = ? WHERE case_id = ? AND left_at IS NULL`,
			entered, caseID); err != nil {
			return fmt.Errorf("sqlite: enter stage: %w", err)
		}
		if _, err := q.ExecContext(ctx, `
			INSERT INTO case_stage_periods (case_id, stage, entered_at) VALUES (?, ?, ?)`,
			caseID, stage, entered); err != nil {
			return fmt.Errorf("sqlite: enter stage: %w", err)
		}
		if _, err := q.ExecContext(ctx, `
			UPDATE cases SET stage = ?, stage_since = ?, close_reason = ?, updated_at = max(updated_at, ?)
			WHERE id = ?`,
			stage, entered, closeReason, micros(at), caseID); err != nil {
			return fmt.Errorf("sqlite: enter stage: %w", err)
		}
		return nil
	})
}

// periodColumns ends with seq, which the order of PeriodsSince's compound
// query needs among the columns.
const periodColumns = `case_id, stage, entered_at, left_at, seq`

func scanPeriods(rows *sql.Rows) ([]*store.StagePeriod, error) {
	var list []*store.StagePeriod
	for rows.Next() {
		var (
			p            store.StagePeriod
			entered, seq int64
			left         sql.NullInt64
		)
		if err := rows.Scan(&p.CaseID, &p.Stage, &entered, &left, &seq); err != nil {
			return nil, err
		}
		p.Entered, p.Left = fromMicros(entered), fromNullMicros(left)
		list = append(list, &p)
	}
	return list, rows.Err()
}

// StagePeriods returns a case's stays in stages, oldest first, or
// ErrNotFound if there is no such case.
func (s *DB) StagePeriods(ctx context.Context, caseID string) ([]*store.StagePeriod, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `SELECT `+periodColumns+` FROM case_stage_periods
		WHERE case_id = ? ORDER BY entered_at, seq`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stage periods: %w", err)
	}
	defer rows.Close()
	list, err := scanPeriods(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stage periods: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "stage periods"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// PeriodsSince returns the periods that had not ended by since (Left zero
// or after since) or that began at or after since, ordered by Entered,
// then by case and insertion order.
//
// The two halves are read off case_stage_periods_current and
// case_stage_periods_left. Since no period ends before it begins
// (EnterStage sees to that), a period that began at or after since and
// has ended, ended at or after since too.
func (s *DB) PeriodsSince(ctx context.Context, since time.Time) ([]*store.StagePeriod, error) {
	v := micros(since)
	rows, err := s.reader().QueryContext(ctx, periodsSinceSQL, v, v, v)
	if err != nil {
		return nil, fmt.Errorf("sqlite: periods since: %w", err)
	}
	defer rows.Close()
	list, err := scanPeriods(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: periods since: %w", err)
	}
	return list, nil
}

const periodsSinceSQL = `
	SELECT ` + periodColumns + ` FROM case_stage_periods WHERE left_at IS NULL
	UNION ALL
	SELECT ` + periodColumns + ` FROM case_stage_periods
	WHERE left_at >= ? AND (left_at > ? OR entered_at >= ?)
	ORDER BY entered_at, case_id, seq`

// endedAfterBounds turns StageStayStats's endedAfter into the bounds of
// stayStatsSQL, in stored microseconds: periods are kept whose left_at is
// at least lo and either above gt or equal to it with entered_at at least
// gt. Stored times are whole microseconds, so a stay ends after an
// endedAfter that is not one exactly when it ends at or after the next
// microsecond, and cannot end at it.
func endedAfterBounds(endedAfter time.Time) (lo, gt int64) {
	gt = micros(endedAfter)
	lo = gt
	if fromMicros(gt).Before(endedAfter) {
		lo++
	}
	return lo, gt
}

// StageStayStats summarises the completed stays per stage; the
// percentiles are picked by rank with window functions. The rows are
// found through case_stage_periods_left.
func (s *DB) StageStayStats(ctx context.Context, endedAfter time.Time) ([]store.StageStayStat, error) {
	lo, gt := endedAfterBounds(endedAfter)
	rows, err := s.reader().QueryContext(ctx, stayStatsSQL, lo, gt, gt)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stage stay stats: %w", err)
	}
	defer rows.Close()
	var list []store.StageStayStat
	for rows.Next() {
		var (
			st          store.StageStayStat
			median, p90 int64
		)
		if err := rows.Scan(&st.Stage, &st.Count, &median, &p90); err != nil {
			return nil, fmt.Errorf("sqlite: stage stay stats: %w", err)
		}
		st.Median, st.P90 = time.Duration(median)*time.Microsecond, time.Duration(p90)*time.Microsecond
		list = append(list, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: stage stay stats: %w", err)
	}
	return list, nil
}

// stayStatsSQL ranks the stays of each stage by length; the nearest rank
// of the p-th percentile of n values is ceil(p·n/100), (p·n+99)/100 in
// integers, which for n >= 1 lies in [1, n].
const stayStatsSQL = `
	WITH stays AS (
		SELECT stage, max(left_at - entered_at, 0) AS d
		FROM case_stage_periods
		WHERE left_at >= ? AND (left_at > ? OR entered_at >= ?)
	), ranked AS (
		SELECT stage, d,
			ROW_NUMBER() OVER (PARTITION BY stage ORDER BY d) AS rn,
			COUNT(*) OVER (PARTITION BY stage) AS n
		FROM stays
	)
	SELECT stage, n,
		max(CASE WHEN rn = (50 * n + 99) / 100 THEN d END),
		max(CASE WHEN rn = (90 * n + 99) / 100 THEN d END)
	FROM ranked
	WHERE rn = (50 * n + 99) / 100 OR rn = (90 * n + 99) / 100
	GROUP BY stage, n
	ORDER BY stage`

// StageMonthlyEntries counts distinct cases entering the stages per
// calendar month (UTC), through case_stage_periods_stage_entered.
func (s *DB) StageMonthlyEntries(ctx context.Context, stages []string, from, until time.Time) ([]store.StageMonthCount, error) {
	if len(stages) == 0 {
		return nil, nil
	}
	// Stored microseconds are whole; entered_at >= from is entered_at >=
	// from rounded up, entered_at < until is entered_at < until rounded up.
	ceil := func(t time.Time) int64 {
		v := micros(t)
		if fromMicros(v).Before(t) {
			v++
		}
		return v
	}
	args := []any{ceil(from), ceil(until)}
	for _, st := range stages {
		args = append(args, st)
	}
	rows, err := s.reader().QueryContext(ctx, monthlyEntriesSQL(len(stages)), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stage monthly entries: %w", err)
	}
	defer rows.Close()
	var list []store.StageMonthCount
	for rows.Next() {
		var (
			c     store.StageMonthCount
			month string
		)
		if err := rows.Scan(&c.Stage, &month, &c.Cases); err != nil {
			return nil, fmt.Errorf("sqlite: stage monthly entries: %w", err)
		}
		if c.Month, err = time.Parse("2006-01", month); err != nil {
			return nil, fmt.Errorf("sqlite: stage monthly entries: %w", err)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: stage monthly entries: %w", err)
	}
	return list, nil
}

// monthlyEntriesSQL counts the distinct cases per stage and month among n
// stages; the month is that of entered_at rounded down to the second
// (floor division, also before 1970).
func monthlyEntriesSQL(n int) string {
	return `
		SELECT stage, strftime('%Y-%m', (entered_at - ((entered_at % 1000000) + 1000000) % 1000000) / 1000000, 'unixepoch') AS month,
			count(DISTINCT case_id)
		FROM case_stage_periods
		WHERE entered_at >= ? AND entered_at < ? AND stage IN (?` + strings.Repeat(", ?", n-1) + `)
		GROUP BY stage, month
		ORDER BY stage, month`
}

func (s *DB) CountByStage(ctx context.Context) (map[string]int, error) {
	rows, err := s.reader().QueryContext(ctx,
		`SELECT stage, count(*) FROM cases WHERE erased_at IS NULL GROUP BY stage`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count by stage: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var (
			stage string
			n     int
		)
		if err := rows.Scan(&stage, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count by stage: %w", err)
		}
		counts[stage] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count by stage: %w", err)
	}
	return counts, nil
}

// ShareCase shares a case with a user; sharing twice is not an error.
// ErrNotFound if there is no such case.
func (s *DB) ShareCase(ctx context.Context, caseID string, userID int64) error {
	q := s.writer()
	res, err := q.ExecContext(ctx, `
		INSERT INTO case_shares (case_id, user_id)
		SELECT ?, ? WHERE EXISTS (SELECT 1 FROM cases WHERE id = ?)
		ON CONFLICT DO NOTHING`, caseID, userID, caseID)
	if err != nil {
		return fmt.Errorf("sqlite: share case: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: share case: %w", err)
	} else if n == 0 {
		// Shared already, or no such case.
		return caseExists(ctx, q, caseID, "share case")
	}
	return nil
}

func (s *DB) UnshareCase(ctx context.Context, caseID string, userID int64) error {
	res, err := s.writer().ExecContext(ctx,
		`DELETE FROM case_shares WHERE case_id = ? AND user_id = ?`, caseID, userID)
	if err != nil {
		return fmt.Errorf("sqlite: unshare case: %w", err)
	}
	return affectedOne(res, "unshare case")
}

// CaseShares lists the users a case is shared with, ascending, or
// ErrNotFound if there is no such case.
func (s *DB) CaseShares(ctx context.Context, caseID string) ([]int64, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx,
		`SELECT user_id FROM case_shares WHERE case_id = ? ORDER BY user_id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case shares: %w", err)
	}
	defer rows.Close()
	var list []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: case shares: %w", err)
		}
		list = append(list, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: case shares: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "case shares"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// GrantAccess records a break-glass grant, replacing any earlier one of
// the same user to the same case, even a later one. ErrNotFound if there
// is no such case.
func (s *DB) GrantAccess(ctx context.Context, caseID string, userID int64, until time.Time) error {
	// The SELECT must have a WHERE clause for SQLite to read ON CONFLICT
	// as the INSERT's upsert clause; checking the case there also keeps
	// the foreign key from failing.
	res, err := s.writer().ExecContext(ctx, `
		INSERT INTO case_access (case_id, user_id, until_at)
		SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM cases WHERE id = ?)
		ON CONFLICT (case_id, user_id) DO UPDATE SET until_at = excluded.until_at`,
		caseID, userID, micros(until), caseID)
	if err != nil {
		return fmt.Errorf("sqlite: grant access: %w", err)
	}
	return affectedOne(res, "grant access")
}

// AccessUntil returns the end of the user's grant to the case, past or
// not; ErrNotFound if there never was one.
func (s *DB) AccessUntil(ctx context.Context, caseID string, userID int64) (time.Time, error) {
	var until int64
	err := s.reader().QueryRowContext(ctx,
		`SELECT until_at FROM case_access WHERE case_id = ? AND user_id = ?`, caseID, userID).Scan(&until)
	if err != nil {
		return time.Time{}, notFound(err, "access until")
	}
	return fromMicros(until), nil
}

// EraseCase crypto-shreds a case in one transaction. Erasing an erased case
// again keeps the first ErasedAt. UpdatedAt moves to at unless it already
// is later.
//
// The writer connection runs with secure_delete on, so the freed space
// that held the key, the sections and the bodies is overwritten with
// zeros, in the -wal file's new frames and, once checkpointed, in the
// database file. Older frames of the -wal file still hold them until the
// file is reset, so once the erasing transaction has committed, the -wal
// file is checkpointed and truncated (see Tx).
func (s *DB) EraseCase(ctx context.Context, caseID string, at time.Time) error {
	return s.Tx(ctx, func(tx store.Store) error {
		d := tx.(*DB)
		q := d.tx
		res, err := q.ExecContext(ctx, `
			UPDATE cases SET wrapped_key = NULL, erased_at = coalesce(erased_at, ?),
				updated_at = max(updated_at, ?)
			WHERE id = ?`, micros(at), micros(at), caseID)
		if err != nil {
			return fmt.Errorf("sqlite: erase case: %w", err)
		}
		if err := affectedOne(res, "erase case"); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM case_sections WHERE case_id = ?`, caseID); err != nil {
			return fmt.Errorf("sqlite: erase case: %w", err)
		}
		// Blind indexes too: an erased case must not turn up as a duplicate.
		if _, err := q.ExecContext(ctx, `DELETE FROM case_index WHERE case_id = ?`, caseID); err != nil {
			return fmt.Errorf("sqlite: erase case: %w", err)
		}
		if _, err := q.ExecContext(ctx, `
			UPDATE case_events SET body = NULL, class = ''
			WHERE case_id = ? AND (body IS NOT NULL OR class <> '')`, caseID); err != nil {
			return fmt.Errorf("sqlite: erase case: %w", err)
		}
		// Task titles and expense notes are ciphertext under the same key.
		if _, err := q.ExecContext(ctx, `UPDATE case_tasks SET title = NULL, class = '' WHERE case_id = ?`, caseID); err != nil {
			return fmt.Errorf("sqlite: erase case: %w", err)
		}
		if _, err := q.ExecContext(ctx, `UPDATE case_expenses SET note = NULL WHERE case_id = ? AND note IS NOT NULL`, caseID); err != nil {
			return fmt.Errorf("sqlite: erase case: %w", err)
		}
		// Consent notes are ciphertext under the case key; referral packages
		// are sealed to a partner, whose key may one day be taken too.
		if _, err := q.ExecContext(ctx, `UPDATE case_consents SET note = NULL WHERE case_id = ? AND note IS NOT NULL`, caseID); err != nil {
			return fmt.Errorf("sqlite: erase case: %w", err)
		}
		if _, err := q.ExecContext(ctx, `UPDATE case_referrals SET package = NULL WHERE case_id = ? AND package IS NOT NULL`, caseID); err != nil {
			return fmt.Errorf("sqlite: erase case: %w", err)
		}
		d.erased.Store(true)
		return nil
	})
}
