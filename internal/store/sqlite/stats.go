package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// PutStatsConsent records a consent to statistical use, replacing the
// case's earlier one.
func (s *DB) PutStatsConsent(ctx context.Context, c *store.StatsConsent) error {
	given, withdrawn := normTime(c.GivenAt), normTime(c.WithdrawnAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, c.CaseID, "put stats consent")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("sqlite: put stats consent: case erased: %w", store.ErrNotFound)
		}
		if _, err := q.ExecContext(ctx, `
			INSERT INTO stats_consents (case_id, method, given_at, recorded_by, withdrawn_at, withdrawn_by)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (case_id) DO UPDATE SET method = excluded.method, given_at = excluded.given_at,
				recorded_by = excluded.recorded_by, withdrawn_at = excluded.withdrawn_at,
				withdrawn_by = excluded.withdrawn_by`,
			c.CaseID, c.Method, micros(given), c.RecordedBy, nullMicros(withdrawn), c.WithdrawnBy); err != nil {
			return fmt.Errorf("sqlite: put stats consent: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.GivenAt, c.WithdrawnAt = given, withdrawn
	return nil
}

// WithdrawStatsConsent records a withdrawal; the first one stands.
func (s *DB) WithdrawStatsConsent(ctx context.Context, caseID string, by int64, at time.Time) error {
	return s.atomically(ctx, func(q querier) error {
		if err := caseExists(ctx, q, caseID, "withdraw stats consent"); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, `
			UPDATE stats_consents SET withdrawn_at = coalesce(withdrawn_at, ?),
				withdrawn_by = CASE WHEN withdrawn_at IS NULL THEN ? ELSE withdrawn_by END
			WHERE case_id = ?`, micros(at), by, caseID)
		if err != nil {
			return fmt.Errorf("sqlite: withdraw stats consent: %w", err)
		}
		return affectedOne(res, "withdraw stats consent")
	})
}

// GetStatsConsent returns a case's consent to statistical use.
func (s *DB) GetStatsConsent(ctx context.Context, caseID string) (*store.StatsConsent, error) {
	q := s.reader()
	if err := caseExists(ctx, q, caseID, "get stats consent"); err != nil {
		return nil, err
	}
	var (
		c         store.StatsConsent
		given     int64
		withdrawn sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `
		SELECT case_id, method, given_at, recorded_by, withdrawn_at, withdrawn_by
		FROM stats_consents WHERE case_id = ?`, caseID).
		Scan(&c.CaseID, &c.Method, &given, &c.RecordedBy, &withdrawn, &c.WithdrawnBy)
	if err != nil {
		return nil, notFound(err, "get stats consent")
	}
	c.GivenAt, c.WithdrawnAt = fromMicros(given), fromNullMicros(withdrawn)
	return &c, nil
}

const violationColumns = `id, case_id, type, perpetrator, region, month, note, recorded_by, created_at, release_version`

func scanViolation(sc scanner) (*store.Violation, error) {
	var (
		v              store.Violation
		month, created int64
	)
	if err := sc.Scan(&v.ID, &v.CaseID, &v.Type, &v.Perpetrator, &v.Region, &month, &v.Note, &v.RecordedBy,
		&created, &v.ReleaseVersion); err != nil {
		return nil, err
	}
	v.Note = normBlob(v.Note)
	v.Month, v.CreatedAt = fromMicros(month), fromMicros(created)
	return &v, nil
}

// AddViolation inserts a violation record of a case that is not erased.
func (s *DB) AddViolation(ctx context.Context, v *store.Violation) error {
	month, created := normTime(v.Month), normTime(v.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, v.CaseID, "add violation")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("sqlite: add violation: case erased: %w", store.ErrNotFound)
		}
		res, err := q.ExecContext(ctx, `
			INSERT INTO stats_violations (`+violationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
			ON CONFLICT DO NOTHING`,
			v.ID, v.CaseID, v.Type, v.Perpetrator, v.Region, micros(month), blob(v.Note), v.RecordedBy, micros(created))
		if err != nil {
			return fmt.Errorf("sqlite: add violation: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add violation: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: add violation: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	v.Month, v.CreatedAt, v.ReleaseVersion = month, created, 0
	return nil
}

// DeleteViolation deletes one violation record of a case.
func (s *DB) DeleteViolation(ctx context.Context, caseID, id string) error {
	res, err := s.writer().ExecContext(ctx, `DELETE FROM stats_violations WHERE case_id = ? AND id = ?`, caseID, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete violation: %w", err)
	}
	return affectedOne(res, "delete violation")
}

// CaseViolations lists a case's violation records.
func (s *DB) CaseViolations(ctx context.Context, caseID string) ([]*store.Violation, error) {
	q := s.reader()
	if err := caseExists(ctx, q, caseID, "case violations"); err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT `+violationColumns+` FROM stats_violations
		WHERE case_id = ? ORDER BY month, created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case violations: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanViolation)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case violations: %w", err)
	}
	if list == nil {
		list = []*store.Violation{}
	}
	return list, nil
}

// consentedCases is the join every aggregate starts from: cases that are
// not erased and whose consent stands.
const consentedCases = `FROM cases c JOIN stats_consents k ON k.case_id = c.id
	WHERE c.erased_at IS NULL AND k.withdrawn_at IS NULL`

// EachStatsViolation streams the violations that may be counted.
func (s *DB) EachStatsViolation(ctx context.Context, fn func(*store.Violation) error) error {
	return eachStatsViolation(ctx, s.reader(), fn)
}

func eachStatsViolation(ctx context.Context, q querier, fn func(*store.Violation) error) error {
	rows, err := q.QueryContext(ctx, `
		SELECT v.id, v.case_id, v.type, v.perpetrator, v.region, v.month, NULL, v.recorded_by, v.created_at, v.release_version
		FROM stats_violations v
		JOIN cases c ON c.id = v.case_id
		JOIN stats_consents k ON k.case_id = v.case_id
		WHERE c.erased_at IS NULL AND k.withdrawn_at IS NULL
		ORDER BY v.case_id, v.id`)
	if err != nil {
		return fmt.Errorf("sqlite: stats violations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scanViolation(rows)
		if err != nil {
			return fmt.Errorf("sqlite: stats violations: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: stats violations: %w", err)
	}
	return nil
}

// StatsSubjects lists the cases whose people consented to statistical use.
func (s *DB) StatsSubjects(ctx context.Context) ([]*store.StatsSubject, error) {
	rows, err := s.reader().QueryContext(ctx, `
		SELECT c.id, c.created_at, c.stage, c.stage_since, c.close_reason, k.given_at
		`+consentedCases+` ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stats subjects: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, func(sc scanner) (*store.StatsSubject, error) {
		var (
			x                      store.StatsSubject
			opened, since, consent int64
		)
		if err := sc.Scan(&x.CaseID, &opened, &x.Stage, &since, &x.CloseReason, &consent); err != nil {
			return nil, err
		}
		x.OpenedAt, x.StageSince, x.ConsentAt = fromMicros(opened), fromMicros(since), fromMicros(consent)
		return &x, nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: stats subjects: %w", err)
	}
	return list, nil
}

// CountedOutcomes lists every outcome a published release counted.
func (s *DB) CountedOutcomes(ctx context.Context) ([]store.CountedOutcome, error) {
	rows, err := s.reader().QueryContext(ctx, `
		SELECT case_id, outcome, release_version FROM stats_counted_outcomes ORDER BY case_id, outcome`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: counted outcomes: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, func(sc scanner) (store.CountedOutcome, error) {
		var o store.CountedOutcome
		err := sc.Scan(&o.CaseID, &o.Outcome, &o.ReleaseVersion)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: counted outcomes: %w", err)
	}
	return list, nil
}

const draftColumns = `id, created_at, created_by, cutoff, fingerprint, document, approved_by, approved_at`

func scanDraft(sc scanner) (*store.StatsDraft, error) {
	var (
		d               store.StatsDraft
		created, cutoff int64
		approved        sql.NullInt64
	)
	if err := sc.Scan(&d.ID, &created, &d.CreatedBy, &cutoff, &d.Fingerprint, &d.Document, &d.ApprovedBy, &approved); err != nil {
		return nil, err
	}
	d.Fingerprint, d.Document = normBlob(d.Fingerprint), normBlob(d.Document)
	d.CreatedAt, d.Cutoff, d.ApprovedAt = fromMicros(created), fromMicros(cutoff), fromNullMicros(approved)
	return &d, nil
}

// CreateStatsDraft inserts a draft release.
func (s *DB) CreateStatsDraft(ctx context.Context, d *store.StatsDraft) error {
	created, cutoff, approved := normTime(d.CreatedAt), normTime(d.Cutoff), normTime(d.ApprovedAt)
	res, err := s.writer().ExecContext(ctx, `
		INSERT INTO stats_drafts (`+draftColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		d.ID, micros(created), d.CreatedBy, micros(cutoff), d.Fingerprint, d.Document, d.ApprovedBy, nullMicros(approved))
	if err != nil {
		return fmt.Errorf("sqlite: create stats draft: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: create stats draft: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create stats draft: %w", store.ErrConflict)
	}
	d.CreatedAt, d.Cutoff, d.ApprovedAt = created, cutoff, approved
	return nil
}

func (s *DB) GetStatsDraft(ctx context.Context, id string) (*store.StatsDraft, error) {
	d, err := scanDraft(s.reader().QueryRowContext(ctx, `SELECT `+draftColumns+` FROM stats_drafts WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "get stats draft")
	}
	return d, nil
}

// ListStatsDrafts lists drafts newest first, without documents.
func (s *DB) ListStatsDrafts(ctx context.Context) ([]*store.StatsDraft, error) {
	rows, err := s.reader().QueryContext(ctx, `
		SELECT id, created_at, created_by, cutoff, fingerprint, NULL, approved_by, approved_at
		FROM stats_drafts ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list stats drafts: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanDraft)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list stats drafts: %w", err)
	}
	return list, nil
}

// ApproveStatsDraft records who approved a draft, and when.
func (s *DB) ApproveStatsDraft(ctx context.Context, id string, by int64, at time.Time) error {
	res, err := s.writer().ExecContext(ctx, `UPDATE stats_drafts SET approved_by = ?, approved_at = ? WHERE id = ?`,
		by, micros(at), id)
	if err != nil {
		return fmt.Errorf("sqlite: approve stats draft: %w", err)
	}
	return affectedOne(res, "approve stats draft")
}

// DeleteStatsDraft deletes a draft.
func (s *DB) DeleteStatsDraft(ctx context.Context, id string) error {
	res, err := s.writer().ExecContext(ctx, `DELETE FROM stats_drafts WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete stats draft: %w", err)
	}
	return affectedOne(res, "delete stats draft")
}

// markBatch bounds the ids in one UPDATE … WHERE id IN (…), well under
// SQLite's limit on parameters.
const markBatch = 500

// PublishStatsRelease publishes a release and records what it counted.
func (s *DB) PublishStatsRelease(ctx context.Context, r *store.StatsRelease, draftID string,
	violationIDs []string, outcomes []store.CountedOutcome) error {
	published, cutoff := normTime(r.PublishedAt), normTime(r.Cutoff)
	sum := sha256.Sum256(r.Document)
	var version int
	err := s.atomically(ctx, func(q querier) error {
		// Everything is checked before anything is written, so that a
		// refusal inside the caller's transaction changes nothing.
		var one int
		if err := q.QueryRowContext(ctx, `SELECT 1 FROM stats_drafts WHERE id = ?`, draftID).Scan(&one); err != nil {
			return notFound(err, "publish stats release: draft")
		}
		if err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) + 1 FROM stats_releases`).Scan(&version); err != nil {
			return fmt.Errorf("sqlite: publish stats release: %w", err)
		}
		if r.Version != 0 && r.Version != version {
			return fmt.Errorf("sqlite: publish stats release: version %d is not the next one: %w", r.Version, store.ErrConflict)
		}
		if err := checkUncounted(ctx, q, violationIDs); err != nil {
			return err
		}
		for _, o := range outcomes {
			err := q.QueryRowContext(ctx, `SELECT 1 FROM stats_counted_outcomes WHERE case_id = ? AND outcome = ?`,
				o.CaseID, o.Outcome).Scan(&one)
			if err == nil {
				return fmt.Errorf("sqlite: publish stats release: outcome already counted: %w", store.ErrConflict)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlite: publish stats release: %w", err)
			}
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM stats_drafts WHERE id = ?`, draftID); err != nil {
			return fmt.Errorf("sqlite: publish stats release: %w", err)
		}
		if _, err := q.ExecContext(ctx, `
			INSERT INTO stats_releases (version, published_at, published_by, approved_by, cutoff, document, sha256)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			version, micros(published), r.PublishedBy, r.ApprovedBy, micros(cutoff), r.Document, sum[:]); err != nil {
			return fmt.Errorf("sqlite: publish stats release: %w", err)
		}
		for start := 0; start < len(violationIDs); start += markBatch {
			batch := violationIDs[start:min(start+markBatch, len(violationIDs))]
			args := make([]any, 0, len(batch)+1)
			args = append(args, version)
			for _, id := range batch {
				args = append(args, id)
			}
			if _, err := q.ExecContext(ctx, `UPDATE stats_violations SET release_version = ?
				WHERE id IN (?`+strings.Repeat(", ?", len(batch)-1)+`)`, args...); err != nil {
				return fmt.Errorf("sqlite: publish stats release: %w", err)
			}
		}
		for _, o := range outcomes {
			if _, err := q.ExecContext(ctx, `
				INSERT INTO stats_counted_outcomes (case_id, outcome, release_version) VALUES (?, ?, ?)`,
				o.CaseID, o.Outcome, version); err != nil {
				return fmt.Errorf("sqlite: publish stats release: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Version, r.PublishedAt, r.Cutoff, r.SHA256 = version, published, cutoff, sum[:]
	return nil
}

// checkUncounted reports ErrConflict unless every id names a violation
// not yet counted, each once.
func checkUncounted(ctx context.Context, q querier, ids []string) error {
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("sqlite: publish stats release: violation listed twice: %w", store.ErrConflict)
		}
		seen[id] = true
	}
	for start := 0; start < len(ids); start += markBatch {
		batch := ids[start:min(start+markBatch, len(ids))]
		args := make([]any, 0, len(batch))
		for _, id := range batch {
			args = append(args, id)
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM stats_violations
			WHERE release_version = 0 AND id IN (?`+strings.Repeat(", ?", len(batch)-1)+`)`, args...).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: publish stats release: %w", err)
		}
		if n != len(batch) {
			return fmt.Errorf("sqlite: publish stats release: a violation is missing or already counted: %w", store.ErrConflict)
		}
	}
	return nil
}

const releaseColumns = `version, published_at, published_by, approved_by, cutoff, document, sha256`

func scanRelease(sc scanner) (*store.StatsRelease, error) {
	var (
		r                 store.StatsRelease
		published, cutoff int64
	)
	if err := sc.Scan(&r.Version, &published, &r.PublishedBy, &r.ApprovedBy, &cutoff, &r.Document, &r.SHA256); err != nil {
		return nil, err
	}
	r.Document, r.SHA256 = normBlob(r.Document), normBlob(r.SHA256)
	r.PublishedAt, r.Cutoff = fromMicros(published), fromMicros(cutoff)
	return &r, nil
}

func (s *DB) GetStatsRelease(ctx context.Context, version int) (*store.StatsRelease, error) {
	r, err := scanRelease(s.reader().QueryRowContext(ctx, `SELECT `+releaseColumns+` FROM stats_releases WHERE version = ?`, version))
	if err != nil {
		return nil, notFound(err, "get stats release")
	}
	return r, nil
}

// ListStatsReleases lists published releases, newest first, without
// documents.
func (s *DB) ListStatsReleases(ctx context.Context) ([]*store.StatsRelease, error) {
	rows, err := s.reader().QueryContext(ctx, `
		SELECT version, published_at, published_by, approved_by, cutoff, NULL, sha256
		FROM stats_releases ORDER BY version DESC`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list stats releases: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanRelease)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list stats releases: %w", err)
	}
	return list, nil
}
