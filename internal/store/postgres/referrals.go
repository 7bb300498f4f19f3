package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-org/corridor/internal/store"
)

// Class lists are stored as comma-separated names, as in SQLite: class
// names are identifiers without commas, and the lists are only ever read
// whole.
func joinClasses(classes []string) string { return strings.Join(classes, ",") }

func splitClasses(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func checkClasses(classes []string, what string) error {
	if len(classes) == 0 {
		return fmt.Errorf("postgres: %s: empty class list", what)
	}
	for _, c := range classes {
		if c == "" || strings.Contains(c, ",") {
			return fmt.Errorf("postgres: %s: invalid class %q", what, c)
		}
	}
	return nil
}

const partnerColumns = `id, country, recipient, active, wrapped_key, name, created_at, updated_at`

func scanPartner(row pgx.Row) (*store.Partner, error) {
	var p store.Partner
	if err := row.Scan(&p.ID, &p.Country, &p.Recipient, &p.Active, &p.WrappedKey, &p.Name, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	p.WrappedKey, p.Name = normBlob(p.WrappedKey), normBlob(p.Name)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

// CreatePartner inserts p; ErrConflict if the id exists.
func (s *DB) CreatePartner(ctx context.Context, p *store.Partner) error {
	created := normTime(p.CreatedAt)
	// DO NOTHING rather than a unique violation, which would abort a
	// surrounding transaction.
	tag, err := s.q.Exec(ctx, `
		INSERT INTO partners (`+partnerColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
		ON CONFLICT DO NOTHING`,
		p.ID, p.Country, p.Recipient, p.Active, blob(p.WrappedKey), blob(p.Name), created)
	if err != nil {
		return fmt.Errorf("postgres: create partner: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create partner: %w", store.ErrConflict)
	}
	p.CreatedAt, p.UpdatedAt = created, created
	return nil
}

// SetPartnerActive marks a partner in use or not; UpdatedAt never moves
// backwards.
func (s *DB) SetPartnerActive(ctx context.Context, id string, active bool, at time.Time) error {
	tag, err := s.q.Exec(ctx, `
		UPDATE partners SET active = $1, updated_at = GREATEST(updated_at, $2) WHERE id = $3`,
		active, normTime(at), id)
	if err != nil {
		return fmt.Errorf("postgres: set partner active: %w", err)
	}
	return affectedOne(tag, "set partner active")
}

func (s *DB) GetPartner(ctx context.Context, id string) (*store.Partner, error) {
	p, err := scanPartner(s.q.QueryRow(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "get partner")
	}
	return p, nil
}

// ListPartners returns every partner by country, then CreatedAt, then id.
func (s *DB) ListPartners(ctx context.Context) ([]*store.Partner, error) {
	rows, err := s.q.Query(ctx, `SELECT `+partnerColumns+` FROM partners ORDER BY country, created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list partners: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Partner, error) { return scanPartner(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list partners: %w", err)
	}
	return list, nil
}

func partnerExists(ctx context.Context, q querier, id, what string) error {
	var one int
	if err := q.QueryRow(ctx, `SELECT 1 FROM partners WHERE id = $1`, id).Scan(&one); err != nil {
		return notFound(err, what+": partner")
	}
	return nil
}

// AddConsent inserts c. An erased case takes no new consent: ErrNotFound.
func (s *DB) AddConsent(ctx context.Context, c *store.Consent) error {
	if err := checkClasses(c.Classes, "add consent"); err != nil {
		return err
	}
	created, until := normTime(c.CreatedAt), normTime(c.Until)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, c.CaseID, "add consent")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("postgres: add consent: case erased: %w", store.ErrNotFound)
		}
		if err := partnerExists(ctx, q, c.PartnerID, "add consent"); err != nil {
			return err
		}
		tag, err := q.Exec(ctx, `
			INSERT INTO case_consents (id, case_id, partner_id, classes, until_at, method, note,
				recorded_by, created_at, withdrawn_at, withdrawn_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT DO NOTHING`,
			c.ID, c.CaseID, c.PartnerID, joinClasses(c.Classes), until, c.Method, blob(c.Note),
			c.RecordedBy, created, nullTime(c.WithdrawnAt), c.WithdrawnBy)
		if err != nil {
			return fmt.Errorf("postgres: add consent: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: add consent: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.CreatedAt, c.Until, c.WithdrawnAt = created, until, normTime(c.WithdrawnAt)
	return nil
}

// WithdrawConsent records a withdrawal; a second one changes nothing.
func (s *DB) WithdrawConsent(ctx context.Context, caseID, consentID string, by int64, at time.Time) error {
	tag, err := s.q.Exec(ctx, `
		UPDATE case_consents
		SET withdrawn_by = CASE WHEN withdrawn_at IS NULL THEN $1 ELSE withdrawn_by END,
			withdrawn_at = coalesce(withdrawn_at, $2)
		WHERE id = $3 AND case_id = $4`, by, normTime(at), consentID, caseID)
	if err != nil {
		return fmt.Errorf("postgres: withdraw consent: %w", err)
	}
	return affectedOne(tag, "withdraw consent")
}

// CaseConsents returns a case's consents, or ErrNotFound if there is no
// such case.
func (s *DB) CaseConsents(ctx context.Context, caseID string) ([]*store.Consent, error) {
	rows, err := s.q.Query(ctx, `
		SELECT id, case_id, partner_id, classes, until_at, method, note, recorded_by, created_at,
			withdrawn_at, withdrawn_by
		FROM case_consents WHERE case_id = $1 ORDER BY created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case consents: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Consent, error) {
		var (
			c         store.Consent
			classes   string
			withdrawn *time.Time
		)
		if err := row.Scan(&c.ID, &c.CaseID, &c.PartnerID, &classes, &c.Until, &c.Method, &c.Note,
			&c.RecordedBy, &c.CreatedAt, &withdrawn, &c.WithdrawnBy); err != nil {
			return nil, err
		}
		c.Classes, c.Note = splitClasses(classes), normBlob(c.Note)
		c.Until, c.CreatedAt, c.WithdrawnAt = c.Until.UTC(), c.CreatedAt.UTC(), fromNullTime(withdrawn)
		return &c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: case consents: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "case consents"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

const referralColumns = `id, case_id, partner_id, consent_id, classes, status, package, created_by, created_at, updated_at`

func scanReferral(row pgx.Row) (*store.Referral, error) {
	var (
		r       store.Referral
		classes string
	)
	if err := row.Scan(&r.ID, &r.CaseID, &r.PartnerID, &r.ConsentID, &classes, &r.Status, &r.Package,
		&r.CreatedBy, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.Classes, r.Package = splitClasses(classes), normBlob(r.Package)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

// AddReferral inserts r. An erased case takes no new package: ErrNotFound.
func (s *DB) AddReferral(ctx context.Context, r *store.Referral) error {
	if err := checkClasses(r.Classes, "add referral"); err != nil {
		return err
	}
	created := normTime(r.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, r.CaseID, "add referral")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("postgres: add referral: case erased: %w", store.ErrNotFound)
		}
		if err := partnerExists(ctx, q, r.PartnerID, "add referral"); err != nil {
			return err
		}
		var one int
		if err := q.QueryRow(ctx, `SELECT 1 FROM case_consents WHERE id = $1 AND case_id = $2`,
			r.ConsentID, r.CaseID).Scan(&one); err != nil {
			return notFound(err, "add referral: consent")
		}
		tag, err := q.Exec(ctx, `
			INSERT INTO case_referrals (`+referralColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
			ON CONFLICT DO NOTHING`,
			r.ID, r.CaseID, r.PartnerID, r.ConsentID, joinClasses(r.Classes), r.Status, blob(r.Package),
			r.CreatedBy, created)
		if err != nil {
			return fmt.Errorf("postgres: add referral: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: add referral: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.CreatedAt, r.UpdatedAt = created, created
	return nil
}

// SetReferralStatus sets a referral's status; UpdatedAt never moves
// backwards.
func (s *DB) SetReferralStatus(ctx context.Context, caseID, id, status string, at time.Time) error {
	tag, err := s.q.Exec(ctx, `
		UPDATE case_referrals SET status = $1, updated_at = GREATEST(updated_at, $2) WHERE id = $3 AND case_id = $4`,
		status, normTime(at), id, caseID)
	if err != nil {
		return fmt.Errorf("postgres: set referral status: %w", err)
	}
	return affectedOne(tag, "set referral status")
}

func (s *DB) GetReferral(ctx context.Context, caseID, id string) (*store.Referral, error) {
	r, err := scanReferral(s.q.QueryRow(ctx,
		`SELECT `+referralColumns+` FROM case_referrals WHERE id = $1 AND case_id = $2`, id, caseID))
	if err != nil {
		return nil, notFound(err, "get referral")
	}
	return r, nil
}

// CaseReferrals returns a case's referrals without their packages, or
// ErrNotFound if there is no such case.
func (s *DB) CaseReferrals(ctx context.Context, caseID string) ([]*store.Referral, error) {
	rows, err := s.q.Query(ctx, `
		SELECT id, case_id, partner_id, consent_id, classes, status, NULL::bytea, created_by, created_at, updated_at
		FROM case_referrals WHERE case_id = $1 ORDER BY created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case referrals: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Referral, error) { return scanReferral(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: case referrals: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "case referrals"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

var _ store.Referrals = (*DB)(nil)
