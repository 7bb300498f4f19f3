package postgres

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
			return fmt.Errorf("postgres: put stats consent: case erased: %w", store.ErrNotFound)
		}
		if _, err := q.Exec(ctx, `
			INSERT INTO stats_consents (case_id, method, given_at, recorded_by, withdrawn_at, withdrawn_by)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (case_id) DO UPDATE SET method = excluded.method, given_at = excluded.given_at,
				recorded_by = excluded.recorded_by, withdrawn_at = excluded.withdrawn_at,
				withdrawn_by = excluded.withdrawn_by`,
			c.CaseID, c.Method, given, c.RecordedBy, nullTime(withdrawn), c.WithdrawnBy); err != nil {
			return fmt.Errorf("postgres: put stats consent: %w", err)
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
		tag, err := q.Exec(ctx, `
			UPDATE stats_consents SET withdrawn_at = coalesce(withdrawn_at, $1),
				withdrawn_by = CASE WHEN withdrawn_at IS NULL THEN $2 ELSE withdrawn_by END
			WHERE case_id = $3`, normTime(at), by, caseID)
		if err != nil {
			return fmt.Errorf("postgres: withdraw stats consent: %w", err)
		}
		return affectedOne(tag, "withdraw stats consent")
	})
}

// GetStatsConsent returns a case's consent to statistical use.
func (s *DB) GetStatsConsent(ctx context.Context, caseID string) (*store.StatsConsent, error) {
	if err := caseExists(ctx, s.q, caseID, "get stats consent"); err != nil {
		return nil, err
	}
	var (
		c         store.StatsConsent
		withdrawn *time.Time
	)
	err := s.q.QueryRow(ctx, `
		SELECT case_id, method, given_at, recorded_by, withdrawn_at, withdrawn_by
		FROM stats_consents WHERE case_id = $1`, caseID).
		Scan(&c.CaseID, &c.Method, &c.GivenAt, &c.RecordedBy, &withdrawn, &c.WithdrawnBy)
	if err != nil {
		return nil, notFound(err, "get stats consent")
	}
	c.GivenAt, c.WithdrawnAt = c.GivenAt.UTC(), fromNullTime(withdrawn)
	return &c, nil
}

const violationColumns = `id, case_id, type, perpetrator, region, month, note, recorded_by, created_at, release_version`

func scanViolation(row pgx.Row) (*store.Violation, error) {
	var v store.Violation
	if err := row.Scan(&v.ID, &v.CaseID, &v.Type, &v.Perpetrator, &v.Region, &v.Month, &v.Note, &v.RecordedBy,
		&v.CreatedAt, &v.ReleaseVersion); err != nil {
		return nil, err
	}
	v.Note = normBlob(v.Note)
	v.Month, v.CreatedAt = v.Month.UTC(), v.CreatedAt.UTC()
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
			return fmt.Errorf("postgres: add violation: case erased: %w", store.ErrNotFound)
		}
		tag, err := q.Exec(ctx, `
			INSERT INTO stats_violations (`+violationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)
			ON CONFLICT DO NOTHING`,
			v.ID, v.CaseID, v.Type, v.Perpetrator, v.Region, month, blob(v.Note), v.RecordedBy, created)
		if err != nil {
			return fmt.Errorf("postgres: add violation: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: add violation: %w", store.ErrConflict)
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
	tag, err := s.q.Exec(ctx, `DELETE FROM stats_violations WHERE case_id = $1 AND id = $2`, caseID, id)
	if err != nil {
		return fmt.Errorf("postgres: delete violation: %w", err)
	}
	return affectedOne(tag, "delete violation")
}

// CaseViolations lists a case's violation records.
func (s *DB) CaseViolations(ctx context.Context, caseID string) ([]*store.Violation, error) {
	if err := caseExists(ctx, s.q, caseID, "case violations"); err != nil {
		return nil, err
	}
	rows, err := s.q.Query(ctx, `SELECT `+violationColumns+` FROM stats_violations
		WHERE case_id = $1 ORDER BY month, created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case violations: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Violation, error) { return scanViolation(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: case violations: %w", err)
	}
	if list == nil {
		list = []*store.Violation{}
	}
	return list, nil
}

// EachStatsViolation streams the violations that may be counted.
func (s *DB) EachStatsViolation(ctx context.Context, fn func(*store.Violation) error) error {
	rows, err := s.q.Query(ctx, `
		SELECT v.id, v.case_id, v.type, v.perpetrator, v.region, v.month, NULL::bytea, v.recorded_by, v.created_at, v.release_version
		FROM stats_violations v
		JOIN cases c ON c.id = v.case_id
		JOIN stats_consents k ON k.case_id = v.case_id
		WHERE c.erased_at IS NULL AND k.withdrawn_at IS NULL
		ORDER BY v.case_id, v.id`)
	if err != nil {
		return fmt.Errorf("postgres: stats violations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scanViolation(rows)
		if err != nil {
			return fmt.Errorf("postgres: stats violations: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: stats violations: %w", err)
	}
	return nil
}

// StatsSubjects lists the cases whose people consented to statistical use.
func (s *DB) StatsSubjects(ctx context.Context) ([]*store.StatsSubject, error) {
	rows, err := s.q.Query(ctx, `
		SELECT c.id, c.created_at, c.stage, c.stage_since, c.close_reason, k.given_at
		FROM cases c JOIN stats_consents k ON k.case_id = c.id
		WHERE c.erased_at IS NULL AND k.withdrawn_at IS NULL
		ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: stats subjects: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.StatsSubject, error) {
		var x store.StatsSubject
		if err := row.Scan(&x.CaseID, &x.OpenedAt, &x.Stage, &x.StageSince, &x.CloseReason, &x.ConsentAt); err != nil {
			return nil, err
		}
		x.OpenedAt, x.StageSince, x.ConsentAt = x.OpenedAt.UTC(), x.StageSince.UTC(), x.ConsentAt.UTC()
		return &x, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: stats subjects: %w", err)
	}
	return list, nil
}

// CountedOutcomes lists every outcome a published release counted.
func (s *DB) CountedOutcomes(ctx context.Context) ([]store.CountedOutcome, error) {
	rows, err := s.q.Query(ctx, `
		SELECT case_id, outcome, release_version FROM stats_counted_outcomes ORDER BY case_id, outcome`)
	if err != nil {
		return nil, fmt.Errorf("postgres: counted outcomes: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.CountedOutcome, error) {
		var o store.CountedOutcome
		err := row.Scan(&o.CaseID, &o.Outcome, &o.ReleaseVersion)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: counted outcomes: %w", err)
	}
	return list, nil
}

const draftColumns = `id, created_at, created_by, cutoff, fingerprint, document, approved_by, approved_at`

func scanDraft(row pgx.Row) (*store.StatsDraft, error) {
	var (
		d        store.StatsDraft
		approved *time.Time
	)
	if err := row.Scan(&d.ID, &d.CreatedAt, &d.CreatedBy, &d.Cutoff, &d.Fingerprint, &d.Document, &d.ApprovedBy, &approved); err != nil {
		return nil, err
	}
	d.Fingerprint, d.Document = normBlob(d.Fingerprint), normBlob(d.Document)
	d.CreatedAt, d.Cutoff, d.ApprovedAt = d.CreatedAt.UTC(), d.Cutoff.UTC(), fromNullTime(approved)
	return &d, nil
}

// CreateStatsDraft inserts a draft release.
func (s *DB) CreateStatsDraft(ctx context.Context, d *store.StatsDraft) error {
	created, cutoff, approved := normTime(d.CreatedAt), normTime(d.Cutoff), normTime(d.ApprovedAt)
	tag, err := s.q.Exec(ctx, `
		INSERT INTO stats_drafts (`+draftColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT DO NOTHING`,
		d.ID, created, d.CreatedBy, cutoff, d.Fingerprint, d.Document, d.ApprovedBy, nullTime(approved))
	if err != nil {
		return fmt.Errorf("postgres: create stats draft: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create stats draft: %w", store.ErrConflict)
	}
	d.CreatedAt, d.Cutoff, d.ApprovedAt = created, cutoff, approved
	return nil
}

func (s *DB) GetStatsDraft(ctx context.Context, id string) (*store.StatsDraft, error) {
	d, err := scanDraft(s.q.QueryRow(ctx, `SELECT `+draftColumns+` FROM stats_drafts WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "get stats draft")
	}
	return d, nil
}

// ListStatsDrafts lists drafts newest first, without documents.
func (s *DB) ListStatsDrafts(ctx context.Context) ([]*store.StatsDraft, error) {
	rows, err := s.q.Query(ctx, `
		SELECT id, created_at, created_by, cutoff, fingerprint, NULL::bytea, approved_by, approved_at
		FROM stats_drafts ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list stats drafts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.StatsDraft, error) { return scanDraft(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list stats drafts: %w", err)
	}
	return list, nil
}

// ApproveStatsDraft records who approved a draft, and when.
func (s *DB) ApproveStatsDraft(ctx context.Context, id string, by int64, at time.Time) error {
	tag, err := s.q.Exec(ctx, `UPDATE stats_drafts SET approved_by = $1, approved_at = $2 WHERE id = $3`,
		by, normTime(at), id)
	if err != nil {
		return fmt.Errorf("postgres: approve stats draft: %w", err)
	}
	return affectedOne(tag, "approve stats draft")
}

// DeleteStatsDraft deletes a draft.
func (s *DB) DeleteStatsDraft(ctx context.Context, id string) error {
	tag, err := s.q.Exec(ctx, `DELETE FROM stats_drafts WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("postgres: delete stats draft: %w", err)
	}
	return affectedOne(tag, "delete stats draft")
}

// lockStatsReleases serialises publications: two at once must not both
// take the same version, nor count the same records.
const lockStatsReleases = 0x636f727374617473 // "corstats"

// PublishStatsRelease publishes a release and records what it counted.
func (s *DB) PublishStatsRelease(ctx context.Context, r *store.StatsRelease, draftID string,
	violationIDs []string, outcomes []store.CountedOutcome) error {
	published, cutoff := normTime(r.PublishedAt), normTime(r.Cutoff)
	sum := sha256.Sum256(r.Document)
	var version int
	err := s.atomically(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockStatsReleases)); err != nil {
			return fmt.Errorf("postgres: publish stats release: %w", err)
		}
		// Everything is checked before anything is written, so that a
		// refusal inside the caller's transaction changes nothing.
		var one int
		if err := q.QueryRow(ctx, `SELECT 1 FROM stats_drafts WHERE id = $1`, draftID).Scan(&one); err != nil {
			return notFound(err, "publish stats release: draft")
		}
		if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM stats_releases`).Scan(&version); err != nil {
			return fmt.Errorf("postgres: publish stats release: %w", err)
		}
		if r.Version != 0 && r.Version != version {
			return fmt.Errorf("postgres: publish stats release: version %d is not the next one: %w", r.Version, store.ErrConflict)
		}
		if len(violationIDs) > 0 {
			seen := make(map[string]bool, len(violationIDs))
			for _, id := range violationIDs {
				if seen[id] {
					return fmt.Errorf("postgres: publish stats release: violation listed twice: %w", store.ErrConflict)
				}
				seen[id] = true
			}
			var n int
			if err := q.QueryRow(ctx, `SELECT count(*) FROM stats_violations WHERE release_version = 0 AND id = ANY($1)`,
				violationIDs).Scan(&n); err != nil {
				return fmt.Errorf("postgres: publish stats release: %w", err)
			}
			if n != len(violationIDs) {
				return fmt.Errorf("postgres: publish stats release: a violation is missing or already counted: %w", store.ErrConflict)
			}
		}
		for _, o := range outcomes {
			var exists bool
			if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM stats_counted_outcomes WHERE case_id = $1 AND outcome = $2)`,
				o.CaseID, o.Outcome).Scan(&exists); err != nil {
				return fmt.Errorf("postgres: publish stats release: %w", err)
			}
			if exists {
				return fmt.Errorf("postgres: publish stats release: outcome already counted: %w", store.ErrConflict)
			}
		}
		if _, err := q.Exec(ctx, `DELETE FROM stats_drafts WHERE id = $1`, draftID); err != nil {
			return fmt.Errorf("postgres: publish stats release: %w", err)
		}
		if _, err := q.Exec(ctx, `
			INSERT INTO stats_releases (version, published_at, published_by, approved_by, cutoff, document, sha256)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			version, published, r.PublishedBy, r.ApprovedBy, cutoff, r.Document, sum[:]); err != nil {
			return fmt.Errorf("postgres: publish stats release: %w", err)
		}
		if len(violationIDs) > 0 {
			if _, err := q.Exec(ctx, `UPDATE stats_violations SET release_version = $1 WHERE id = ANY($2)`,
				version, violationIDs); err != nil {
				return fmt.Errorf("postgres: publish stats release: %w", err)
			}
		}
		for _, o := range outcomes {
			if _, err := q.Exec(ctx, `
				INSERT INTO stats_counted_outcomes (case_id, outcome, release_version) VALUES ($1, $2, $3)`,
				o.CaseID, o.Outcome, version); err != nil {
				return fmt.Errorf("postgres: publish stats release: %w", err)
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

const releaseColumns = `version, published_at, published_by, approved_by, cutoff, document, sha256`

func scanRelease(row pgx.Row) (*store.StatsRelease, error) {
	var r store.StatsRelease
	if err := row.Scan(&r.Version, &r.PublishedAt, &r.PublishedBy, &r.ApprovedBy, &r.Cutoff, &r.Document, &r.SHA256); err != nil {
		return nil, err
	}
	r.Document, r.SHA256 = normBlob(r.Document), normBlob(r.SHA256)
	r.PublishedAt, r.Cutoff = r.PublishedAt.UTC(), r.Cutoff.UTC()
	return &r, nil
}

func (s *DB) GetStatsRelease(ctx context.Context, version int) (*store.StatsRelease, error) {
	r, err := scanRelease(s.q.QueryRow(ctx, `SELECT `+releaseColumns+` FROM stats_releases WHERE version = $1`, version))
	if err != nil {
		return nil, notFound(err, "get stats release")
	}
	return r, nil
}

// ListStatsReleases lists published releases, newest first, without
// documents.
func (s *DB) ListStatsReleases(ctx context.Context) ([]*store.StatsRelease, error) {
	rows, err := s.q.Query(ctx, `
		SELECT version, published_at, published_by, approved_by, cutoff, NULL::bytea, sha256
		FROM stats_releases ORDER BY version DESC`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list stats releases: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.StatsRelease, error) { return scanRelease(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list stats releases: %w", err)
	}
	return list, nil
}
