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

const caseColumns = `id, created_at, updated_at, stage, stage_since, close_reason, risk,
	verified, flagged, assignee_id, request_id, wrapped_key, erased_at, last_contact_at`

func scanCase(row pgx.Row) (*store.Case, error) {
	var (
		c               store.Case
		erased, contact *time.Time
	)
	err := row.Scan(&c.ID, &c.CreatedAt, &c.UpdatedAt, &c.Stage, &c.StageSince, &c.CloseReason, &c.Risk,
		&c.Verified, &c.Flagged, &c.AssigneeID, &c.RequestID, &c.WrappedKey, &erased, &contact)
	if err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt, c.StageSince = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.StageSince.UTC()
	c.WrappedKey, c.ErasedAt, c.LastContactAt = normBlob(c.WrappedKey), fromNullTime(erased), fromNullTime(contact)
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
	err := s.atomically(ctx, func(q querier) error {
		// DO NOTHING rather than a unique violation: it covers the id and
		// the request id, and an error would abort a surrounding
		// transaction.
		tag, err := q.Exec(ctx, `
			INSERT INTO cases (id, created_at, updated_at, stage, stage_since, close_reason, risk,
				verified, flagged, assignee_id, request_id, wrapped_key, erased_at, last_contact_at)
			VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT DO NOTHING`,
			c.ID, created, c.Stage, since, c.CloseReason, c.Risk,
			c.Verified, c.Flagged, c.AssigneeID, c.RequestID, blob(c.WrappedKey),
			nullTime(c.ErasedAt), nullTime(c.LastContactAt))
		if err != nil {
			return fmt.Errorf("postgres: create case: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: create case: %w", store.ErrConflict)
		}
		if _, err := q.Exec(ctx, `
			INSERT INTO case_stage_periods (case_id, stage, entered_at) VALUES ($1, $2, $3)`,
			c.ID, c.Stage, since); err != nil {
			return fmt.Errorf("postgres: create case: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt, c.StageSince = created, created, since
	c.ErasedAt, c.LastContactAt = normTime(c.ErasedAt), normTime(c.LastContactAt)
	return nil
}

func (s *DB) GetCase(ctx context.Context, id string) (*store.Case, error) {
	c, err := scanCase(s.q.QueryRow(ctx, `SELECT `+caseColumns+` FROM cases WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "get case")
	}
	return c, nil
}

// UpdateCase writes Risk, Verified, Flagged, AssigneeID and LastContactAt,
// and moves UpdatedAt to c.UpdatedAt unless it already is later. It then
// sets *c to the case as stored.
func (s *DB) UpdateCase(ctx context.Context, c *store.Case) error {
	got, err := scanCase(s.q.QueryRow(ctx, `
		UPDATE cases SET risk = $1, verified = $2, flagged = $3, assignee_id = $4,
			last_contact_at = $5, updated_at = GREATEST(updated_at, $6)
		WHERE id = $7
		RETURNING `+caseColumns,
		c.Risk, c.Verified, c.Flagged, c.AssigneeID,
		nullTime(c.LastContactAt), normTime(c.UpdatedAt), c.ID))
	if err != nil {
		return notFound(err, "update case")
	}
	*c = *got
	return nil
}

// caseOrder must match the indexes in 002_cases.sql.
const caseOrder = ` ORDER BY (close_reason <> ''), risk DESC, stage_since, id`

// ListCases returns one page of cases. Cases that tie on openness, risk
// and StageSince are ordered by id, ascending, so that pages never overlap.
func (s *DB) ListCases(ctx context.Context, f store.CaseFilter) ([]*store.Case, int, error) {
	countSQL, pageSQL, args, pageArgs := caseQueries(f)
	var total int
	if err := s.q.QueryRow(ctx, countSQL, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("postgres: list cases: %w", err)
	}
	rows, err := s.q.Query(ctx, pageSQL, pageArgs...)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: list cases: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Case, error) {
		return scanCase(row)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: list cases: %w", err)
	}
	return list, total, nil
}

// caseQueries builds the count and page queries for f. Conditions are
// added only when set, so that the planner can pick the index that leads
// with the filtered column, and a partial index whose WHERE the query
// implies.
//
// VisibleTo looks up the few cases a user may see by id, through
// cases_list_assignee and case_shares_user, and sorts them; walking the list
// index and testing each case would read every case in the worst case.
func caseQueries(f store.CaseFilter) (countSQL, pageSQL string, args, pageArgs []any) {
	var conds []string
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Stage != "" {
		conds = append(conds, "stage = "+param(f.Stage))
	}
	if f.AssigneeID > 0 {
		conds = append(conds, "assignee_id = "+param(f.AssigneeID))
	}
	if f.VisibleTo > 0 {
		p := param(f.VisibleTo)
		conds = append(conds, `id IN (SELECT id FROM cases WHERE assignee_id = `+p+`
			UNION ALL SELECT case_id FROM case_shares WHERE user_id = `+p+`)`)
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
	n := len(args)
	countSQL = `SELECT count(*) FROM cases` + where
	pageSQL = `SELECT ` + caseColumns + ` FROM cases` + where + caseOrder +
		` LIMIT $` + strconv.Itoa(n+1) + ` OFFSET $` + strconv.Itoa(n+2)
	pageArgs = append(append([]any(nil), args...), limit, offset)
	return countSQL, pageSQL, args, pageArgs
}

// CaseForRequest returns the case opened from a request. Cases opened by
// hand have no request: CaseForRequest("") reports ErrNotFound.
func (s *DB) CaseForRequest(ctx context.Context, requestID string) (*store.Case, error) {
	c, err := scanCase(s.q.QueryRow(ctx,
		`SELECT `+caseColumns+` FROM cases WHERE request_id <> '' AND request_id = $1`, requestID))
	if err != nil {
		return nil, notFound(err, "case for request")
	}
	return c, nil
}

// lockCase locks a case that a write is about to change, until the
// transaction ends, and reads what the write needs to know about it;
// ErrNotFound if there is no such case.
//
// The lock orders the write with EraseCase, which takes the same lock
// first: a section or body written by a transaction that locked the case
// before the erasure is deleted by it, and one that locks it after sees
// the case erased. FOR NO KEY UPDATE, the lock an UPDATE of non-key
// columns takes, leaves foreign-key checks (inserts naming the case) free.
func lockCase(ctx context.Context, q querier, id, what string) (erased bool, stageSince time.Time, err error) {
	err = q.QueryRow(ctx,
		`SELECT erased_at IS NOT NULL, stage_since FROM cases WHERE id = $1 FOR NO KEY UPDATE`, id).
		Scan(&erased, &stageSince)
	if err != nil {
		return false, time.Time{}, notFound(err, what)
	}
	return erased, stageSince.UTC(), nil
}

// bumpCase moves a case's UpdatedAt to at unless it already is later.
func bumpCase(ctx context.Context, q querier, id string, at time.Time, what string) error {
	if _, err := q.Exec(ctx,
		`UPDATE cases SET updated_at = GREATEST(updated_at, $1) WHERE id = $2`, at, id); err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	return nil
}

func caseExists(ctx context.Context, q querier, id, what string) error {
	var one int
	if err := q.QueryRow(ctx, `SELECT 1 FROM cases WHERE id = $1`, id).Scan(&one); err != nil {
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
			return fmt.Errorf("postgres: put section: case erased: %w", store.ErrNotFound)
		}
		if _, err := q.Exec(ctx, `
			INSERT INTO case_sections (case_id, class, data, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (case_id, class) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			sec.CaseID, sec.Class, blob(sec.Data), updated); err != nil {
			return fmt.Errorf("postgres: put section: %w", err)
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
	rows, err := s.q.Query(ctx, `
		SELECT case_id, class, data, updated_at FROM case_sections
		WHERE case_id = $1 ORDER BY class`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: sections: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.CaseSection, error) {
		var sec store.CaseSection
		if err := row.Scan(&sec.CaseID, &sec.Class, &sec.Data, &sec.UpdatedAt); err != nil {
			return nil, err
		}
		sec.Data, sec.UpdatedAt = normBlob(sec.Data), sec.UpdatedAt.UTC()
		return &sec, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: sections: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "sections"); err != nil {
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
			return fmt.Errorf("postgres: add case event: case erased: %w", store.ErrNotFound)
		}
		// The insert comes before the case is touched and writes nothing
		// on a conflict; DO NOTHING keeps a surrounding transaction usable.
		tag, err := q.Exec(ctx, `
			INSERT INTO case_events (id, case_id, at, actor_id, kind, stage, class, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT DO NOTHING`,
			e.ID, e.CaseID, when, e.ActorID, e.Kind, e.Stage, e.Class, blob(e.Body))
		if err != nil {
			return fmt.Errorf("postgres: add case event: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: add case event: %w", store.ErrConflict)
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
	rows, err := s.q.Query(ctx, `
		SELECT id, case_id, at, actor_id, kind, stage, class, body FROM case_events
		WHERE case_id = $1 ORDER BY at, seq`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case events: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.CaseEvent, error) {
		var e store.CaseEvent
		if err := row.Scan(&e.ID, &e.CaseID, &e.At, &e.ActorID, &e.Kind, &e.Stage, &e.Class, &e.Body); err != nil {
			return nil, err
		}
		e.At, e.Body = e.At.UTC(), normBlob(e.Body)
		return &e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: case events: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "case events"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// EnterStage ends the current stage period and opens the next, in one
// transaction, holding the case's row lock so that concurrent stage
// changes of one case run one after the other. A stage is never entered
// before the current one was: an at earlier than StageSince (clocks of two
// servers disagreeing) is taken as StageSince, so periods never overlap
// nor run backwards. UpdatedAt moves to at unless it already is later.
func (s *DB) EnterStage(ctx context.Context, caseID, stage, closeReason string, at time.Time) error {
	at = normTime(at)
	return s.atomically(ctx, func(q querier) error {
		_, since, err := lockCase(ctx, q, caseID, "enter stage")
		if err != nil {
			return err
		}
		entered := at
		if entered.Before(since) {
			entered = since
		}
		if _, err := q.Exec(ctx, `
			UPDATE case_stage_periods SET left_at = $1 WHERE case_id = $2 AND left_at IS NULL`,
			entered, caseID); err != nil {
			return fmt.Errorf("postgres: enter stage: %w", err)
		}
		if _, err := q.Exec(ctx, `
			INSERT INTO case_stage_periods (case_id, stage, entered_at) VALUES ($1, $2, $3)`,
			caseID, stage, entered); err != nil {
			return fmt.Errorf("postgres: enter stage: %w", err)
		}
		if _, err := q.Exec(ctx, `
			UPDATE cases SET stage = $1, stage_since = $2, close_reason = $3,
				updated_at = GREATEST(updated_at, $4)
			WHERE id = $5`,
			stage, entered, closeReason, at, caseID); err != nil {
			return fmt.Errorf("postgres: enter stage: %w", err)
		}
		return nil
	})
}

// periodColumns ends with seq, which the order of PeriodsSince's compound
// query needs among the columns.
const periodColumns = `case_id, stage, entered_at, left_at, seq`

func collectPeriods(rows pgx.Rows) ([]*store.StagePeriod, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.StagePeriod, error) {
		var (
			p    store.StagePeriod
			left *time.Time
			seq  int64
		)
		if err := row.Scan(&p.CaseID, &p.Stage, &p.Entered, &left, &seq); err != nil {
			return nil, err
		}
		p.Entered, p.Left = p.Entered.UTC(), fromNullTime(left)
		return &p, nil
	})
}

// StagePeriods returns a case's stays in stages, oldest first, or
// ErrNotFound if there is no such case.
func (s *DB) StagePeriods(ctx context.Context, caseID string) ([]*store.StagePeriod, error) {
	rows, err := s.q.Query(ctx, `SELECT `+periodColumns+` FROM case_stage_periods
		WHERE case_id = $1 ORDER BY entered_at, seq`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: stage periods: %w", err)
	}
	list, err := collectPeriods(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: stage periods: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "stage periods"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// PeriodsSince returns the periods that had not ended by since (Left zero
// or after since) or that began at or after since, ordered by Entered,
// then by case and insertion order.
//
// The two halves can be read off case_stage_periods_current and
// case_stage_periods_left. Since no period ends before it begins
// (EnterStage sees to that), a period that began at or after since and
// has ended, ended at or after since too.
func (s *DB) PeriodsSince(ctx context.Context, since time.Time) ([]*store.StagePeriod, error) {
	rows, err := s.q.Query(ctx, periodsSinceSQL, normTime(since))
	if err != nil {
		return nil, fmt.Errorf("postgres: periods since: %w", err)
	}
	list, err := collectPeriods(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: periods since: %w", err)
	}
	return list, nil
}

const periodsSinceSQL = `
	SELECT ` + periodColumns + ` FROM case_stage_periods WHERE left_at IS NULL
	UNION ALL
	SELECT ` + periodColumns + ` FROM case_stage_periods
	WHERE left_at >= $1 AND (left_at > $1 OR entered_at >= $1)
	ORDER BY entered_at, case_id, seq`

// ceilMicro rounds t up to a whole microsecond, in UTC: stored times are
// whole microseconds, so stored >= t is stored >= ceilMicro(t).
func ceilMicro(t time.Time) time.Time {
	c := normTime(t)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

// StageStayStats summarises the completed stays per stage; the
// percentiles are picked by rank with window functions. The rows are
// found through case_stage_periods_left.
//
// Stored times are whole microseconds, so a stay ends after an endedAfter
// that is not one exactly when it ends at or after the next microsecond,
// and cannot end at it: left_at >= lo AND (left_at > gt OR entered_at >=
// gt) with gt endedAfter rounded down and lo rounded up.
func (s *DB) StageStayStats(ctx context.Context, endedAfter time.Time) ([]store.StageStayStat, error) {
	rows, err := s.q.Query(ctx, stayStatsSQL, ceilMicro(endedAfter), normTime(endedAfter))
	if err != nil {
		return nil, fmt.Errorf("postgres: stage stay stats: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.StageStayStat, error) {
		var (
			st          store.StageStayStat
			median, p90 int64
		)
		err := row.Scan(&st.Stage, &st.Count, &median, &p90)
		st.Median, st.P90 = time.Duration(median)*time.Microsecond, time.Duration(p90)*time.Microsecond
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: stage stay stats: %w", err)
	}
	return list, nil
}

// stayStatsSQL ranks the stays of each stage by length (in microseconds,
// exact: the difference of two timestamps is whole microseconds and days
// of 24 hours); the nearest rank of the p-th percentile of n values is
// ceil(p·n/100), (p·n+99)/100 in integers, which for n >= 1 lies in [1, n].
const stayStatsSQL = `
	WITH stays AS (
		SELECT stage, GREATEST((EXTRACT(EPOCH FROM left_at - entered_at) * 1000000)::bigint, 0) AS d
		FROM case_stage_periods
		WHERE left_at >= $1 AND (left_at > $2 OR entered_at >= $2)
	), ranked AS (
		SELECT stage, d,
			ROW_NUMBER() OVER (PARTITION BY stage ORDER BY d) AS rn,
			COUNT(*) OVER (PARTITION BY stage) AS n
		FROM stays
	)
	SELECT stage, n::bigint,
		max(d) FILTER (WHERE rn = (50 * n + 99) / 100),
		max(d) FILTER (WHERE rn = (90 * n + 99) / 100)
	FROM ranked
	WHERE rn = (50 * n + 99) / 100 OR rn = (90 * n + 99) / 100
	GROUP BY stage, n
	ORDER BY stage COLLATE "C"`

// StageMonthlyEntries counts distinct cases entering the stages per
// calendar month (UTC), through case_stage_periods_stage_entered.
func (s *DB) StageMonthlyEntries(ctx context.Context, stages []string, from, until time.Time) ([]store.StageMonthCount, error) {
	if len(stages) == 0 {
		return nil, nil
	}
	rows, err := s.q.Query(ctx, `
		SELECT stage, date_trunc('month', entered_at AT TIME ZONE 'UTC') AS month, count(DISTINCT case_id)
		FROM case_stage_periods
		WHERE stage = ANY($1) AND entered_at >= $2 AND entered_at < $3
		GROUP BY stage, month
		ORDER BY stage COLLATE "C", month`,
		stages, ceilMicro(from), ceilMicro(until))
	if err != nil {
		return nil, fmt.Errorf("postgres: stage monthly entries: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.StageMonthCount, error) {
		var c store.StageMonthCount
		err := row.Scan(&c.Stage, &c.Month, &c.Cases)
		c.Month = time.Date(c.Month.Year(), c.Month.Month(), c.Month.Day(), 0, 0, 0, 0, time.UTC)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: stage monthly entries: %w", err)
	}
	return list, nil
}

func (s *DB) CountByStage(ctx context.Context) (map[string]int, error) {
	rows, err := s.q.Query(ctx,
		`SELECT stage, count(*) FROM cases WHERE erased_at IS NULL GROUP BY stage`)
	if err != nil {
		return nil, fmt.Errorf("postgres: count by stage: %w", err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var (
			stage string
			n     int
		)
		if err := rows.Scan(&stage, &n); err != nil {
			return nil, fmt.Errorf("postgres: count by stage: %w", err)
		}
		counts[stage] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: count by stage: %w", err)
	}
	return counts, nil
}

// ShareCase shares a case with a user; sharing twice is not an error.
// ErrNotFound if there is no such case.
func (s *DB) ShareCase(ctx context.Context, caseID string, userID int64) error {
	// Checking the case in the statement, rather than letting the foreign
	// key fail, keeps a surrounding transaction usable.
	tag, err := s.q.Exec(ctx, `
		INSERT INTO case_shares (case_id, user_id)
		SELECT $1::text, $2::bigint WHERE EXISTS (SELECT 1 FROM cases WHERE id = $1::text)
		ON CONFLICT DO NOTHING`, caseID, userID)
	if err != nil {
		return fmt.Errorf("postgres: share case: %w", err)
	}
	if tag.RowsAffected() == 0 {
		// Shared already, or no such case.
		return caseExists(ctx, s.q, caseID, "share case")
	}
	return nil
}

func (s *DB) UnshareCase(ctx context.Context, caseID string, userID int64) error {
	tag, err := s.q.Exec(ctx, `DELETE FROM case_shares WHERE case_id = $1 AND user_id = $2`, caseID, userID)
	if err != nil {
		return fmt.Errorf("postgres: unshare case: %w", err)
	}
	return affectedOne(tag, "unshare case")
}

// CaseShares lists the users a case is shared with, ascending, or
// ErrNotFound if there is no such case.
func (s *DB) CaseShares(ctx context.Context, caseID string) ([]int64, error) {
	rows, err := s.q.Query(ctx,
		`SELECT user_id FROM case_shares WHERE case_id = $1 ORDER BY user_id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case shares: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("postgres: case shares: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "case shares"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// GrantAccess records a break-glass grant, replacing any earlier one of
// the same user to the same case, even a later one. ErrNotFound if there
// is no such case.
func (s *DB) GrantAccess(ctx context.Context, caseID string, userID int64, until time.Time) error {
	tag, err := s.q.Exec(ctx, `
		INSERT INTO case_access (case_id, user_id, until_at)
		SELECT $1::text, $2::bigint, $3::timestamptz WHERE EXISTS (SELECT 1 FROM cases WHERE id = $1::text)
		ON CONFLICT (case_id, user_id) DO UPDATE SET until_at = excluded.until_at`,
		caseID, userID, normTime(until))
	if err != nil {
		return fmt.Errorf("postgres: grant access: %w", err)
	}
	return affectedOne(tag, "grant access")
}

// AccessUntil returns the end of the user's grant to the case, past or
// not; ErrNotFound if there never was one.
func (s *DB) AccessUntil(ctx context.Context, caseID string, userID int64) (time.Time, error) {
	var until time.Time
	err := s.q.QueryRow(ctx,
		`SELECT until_at FROM case_access WHERE case_id = $1 AND user_id = $2`, caseID, userID).Scan(&until)
	if err != nil {
		return time.Time{}, notFound(err, "access until")
	}
	return until.UTC(), nil
}

// EraseCase crypto-shreds a case in one transaction. Erasing an erased case
// again keeps the first ErasedAt. UpdatedAt moves to at unless it already
// is later. The UPDATE of the case comes first and takes its row lock, so
// that writers of sections and bodies (see lockCase) are ordered with it.
//
// What PostgreSQL cannot promise: the statements leave the old row
// versions — the wrapped key, the sections, the bodies — as dead tuples in
// the table and TOAST files until VACUUM reclaims them, and even then the
// bytes stay in free space until overwritten; the write-ahead log, any WAL
// archive or replica, and backups keep them for as long as they are kept.
// Crypto-shredding on PostgreSQL is as good as the operator's VACUUM,
// WAL-retention and backup-rotation policy; the operations guide must say
// so.
func (s *DB) EraseCase(ctx context.Context, caseID string, at time.Time) error {
	at = normTime(at)
	return s.atomically(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, `
			UPDATE cases SET wrapped_key = NULL, erased_at = coalesce(erased_at, $1),
				updated_at = GREATEST(updated_at, $1)
			WHERE id = $2`, at, caseID)
		if err != nil {
			return fmt.Errorf("postgres: erase case: %w", err)
		}
		if err := affectedOne(tag, "erase case"); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM case_sections WHERE case_id = $1`, caseID); err != nil {
			return fmt.Errorf("postgres: erase case: %w", err)
		}
		// Blind indexes too: an erased case must not turn up as a duplicate.
		if _, err := q.Exec(ctx, `DELETE FROM case_index WHERE case_id = $1`, caseID); err != nil {
			return fmt.Errorf("postgres: erase case: %w", err)
		}
		if _, err := q.Exec(ctx, `
			UPDATE case_events SET body = NULL, class = ''
			WHERE case_id = $1 AND (body IS NOT NULL OR class <> '')`, caseID); err != nil {
			return fmt.Errorf("postgres: erase case: %w", err)
		}
		// Task titles and expense notes are ciphertext under the same key.
		if _, err := q.Exec(ctx, `UPDATE case_tasks SET title = NULL, class = '' WHERE case_id = $1`, caseID); err != nil {
			return fmt.Errorf("postgres: erase case: %w", err)
		}
		if _, err := q.Exec(ctx, `UPDATE case_expenses SET note = NULL WHERE case_id = $1 AND note IS NOT NULL`, caseID); err != nil {
			return fmt.Errorf("postgres: erase case: %w", err)
		}
		// Consent notes are ciphertext under the case key; referral packages
		// are sealed to a partner, whose key may one day be taken too.
		if _, err := q.Exec(ctx, `UPDATE case_consents SET note = NULL WHERE case_id = $1 AND note IS NOT NULL`, caseID); err != nil {
			return fmt.Errorf("postgres: erase case: %w", err)
		}
		if _, err := q.Exec(ctx, `UPDATE case_referrals SET package = NULL WHERE case_id = $1 AND package IS NOT NULL`, caseID); err != nil {
			return fmt.Errorf("postgres: erase case: %w", err)
		}
		return nil
	})
}
