package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// Class lists are stored as comma-separated names: class names are
// identifiers without commas, and the lists are only ever read whole.
func joinClasses(classes []string) string { return strings.Join(classes, ",") }

func splitClasses(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func checkClasses(classes []string, what string) error {
	if len(classes) == 0 {
		return fmt.Errorf("sqlite: %s: empty class list", what)
	}
	for _, c := range classes {
		if c == "" || strings.Contains(c, ",") {
			return fmt.Errorf("sqlite: %s: invalid class %q", what, c)
		}
	}
	return nil
}

const partnerColumns = `id, country, recipient, active, wrapped_key, name, created_at, updated_at`

func scanPartner(sc scanner) (*store.Partner, error) {
	var (
		p                store.Partner
		created, updated int64
	)
	if err := sc.Scan(&p.ID, &p.Country, &p.Recipient, &p.Active, &p.WrappedKey, &p.Name, &created, &updated); err != nil {
		return nil, err
	}
	p.WrappedKey, p.Name = normBlob(p.WrappedKey), normBlob(p.Name)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &p, nil
}

// CreatePartner inserts p; ErrConflict if the id exists.
func (s *DB) CreatePartner(ctx context.Context, p *store.Partner) error {
	created := normTime(p.CreatedAt)
	res, err := s.writer().ExecContext(ctx, `
		INSERT INTO partners (`+partnerColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		p.ID, p.Country, p.Recipient, p.Active, blob(p.WrappedKey), blob(p.Name), micros(created), micros(created))
	if err != nil {
		return fmt.Errorf("sqlite: create partner: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: create partner: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create partner: %w", store.ErrConflict)
	}
	p.CreatedAt, p.UpdatedAt = created, created
	return nil
}

// SetPartnerActive marks a partner in use or not; UpdatedAt never moves
// backwards.
func (s *DB) SetPartnerActive(ctx context.Context, id string, active bool, at time.Time) error {
	res, err := s.writer().ExecContext(ctx, `
		UPDATE partners SET active = ?, updated_at = max(updated_at, ?) WHERE id = ?`, active, micros(at), id)
	if err != nil {
		return fmt.Errorf("sqlite: set partner active: %w", err)
	}
	return affectedOne(res, "set partner active")
}

func (s *DB) GetPartner(ctx context.Context, id string) (*store.Partner, error) {
	p, err := scanPartner(s.reader().QueryRowContext(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "get partner")
	}
	return p, nil
}

// ListPartners returns every partner by country, then CreatedAt, then id.
func (s *DB) ListPartners(ctx context.Context) ([]*store.Partner, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+partnerColumns+` FROM partners ORDER BY country, created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list partners: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanPartner)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list partners: %w", err)
	}
	return list, nil
}

func partnerExists(ctx context.Context, q querier, id, what string) error {
	var one int
	if err := q.QueryRowContext(ctx, `SELECT 1 FROM partners WHERE id = ?`, id).Scan(&one); err != nil {
		return notFound(err, what+": partner")
	}
	return nil
}

// AddConsent inserts c. An erased case takes no new consent: ErrNotFound.
func (s *DB) AddConsent(ctx context.Context, c *store.Consent) error {
	if err := checkClasses(c.Classes, "add consent"); err != nil {
		return err
	}
	created, until, withdrawn := normTime(c.CreatedAt), normTime(c.Until), normTime(c.WithdrawnAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, c.CaseID, "add consent")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("sqlite: add consent: case erased: %w", store.ErrNotFound)
		}
		if err := partnerExists(ctx, q, c.PartnerID, "add consent"); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, `
			INSERT INTO case_consents (id, case_id, partner_id, classes, until_at, method, note,
				recorded_by, created_at, withdrawn_at, withdrawn_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			c.ID, c.CaseID, c.PartnerID, joinClasses(c.Classes), micros(until), c.Method, blob(c.Note),
			c.RecordedBy, micros(created), nullMicros(withdrawn), c.WithdrawnBy)
		if err != nil {
			return fmt.Errorf("sqlite: add consent: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add consent: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: add consent: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.CreatedAt, c.Until, c.WithdrawnAt = created, until, withdrawn
	return nil
}

// WithdrawConsent records a withdrawal; a second one changes nothing.
func (s *DB) WithdrawConsent(ctx context.Context, caseID, consentID string, by int64, at time.Time) error {
	res, err := s.writer().ExecContext(ctx, `
		UPDATE case_consents
		SET withdrawn_by = CASE WHEN withdrawn_at IS NULL THEN ? ELSE withdrawn_by END,
			withdrawn_at = coalesce(withdrawn_at, ?)
		WHERE id = ? AND case_id = ?`, by, micros(at), consentID, caseID)
	if err != nil {
		return fmt.Errorf("sqlite: withdraw consent: %w", err)
	}
	return affectedOne(res, "withdraw consent")
}

// CaseConsents returns a case's consents, or ErrNotFound if there is no
// such case.
func (s *DB) CaseConsents(ctx context.Context, caseID string) ([]*store.Consent, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `
		SELECT id, case_id, partner_id, classes, until_at, method, note, recorded_by, created_at,
			withdrawn_at, withdrawn_by
		FROM case_consents WHERE case_id = ? ORDER BY created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case consents: %w", err)
	}
	defer rows.Close()
	var list []*store.Consent
	for rows.Next() {
		var (
			c              store.Consent
			classes        string
			until, created int64
			withdrawn      sql.NullInt64
		)
		if err := rows.Scan(&c.ID, &c.CaseID, &c.PartnerID, &classes, &until, &c.Method, &c.Note,
			&c.RecordedBy, &created, &withdrawn, &c.WithdrawnBy); err != nil {
			return nil, fmt.Errorf("sqlite: case consents: %w", err)
		}
		c.Classes, c.Note = splitClasses(classes), normBlob(c.Note)
		c.Until, c.CreatedAt, c.WithdrawnAt = fromMicros(until), fromMicros(created), fromNullMicros(withdrawn)
		list = append(list, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: case consents: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "case consents"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

const referralColumns = `id, case_id, partner_id, consent_id, classes, status, package, created_by, created_at, updated_at`

func scanReferral(sc scanner) (*store.Referral, error) {
	var (
		r                store.Referral
		classes          string
		created, updated int64
	)
	if err := sc.Scan(&r.ID, &r.CaseID, &r.PartnerID, &r.ConsentID, &classes, &r.Status, &r.Package,
		&r.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	r.Classes, r.Package = splitClasses(classes), normBlob(r.Package)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
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
			return fmt.Errorf("sqlite: add referral: case erased: %w", store.ErrNotFound)
		}
		if err := partnerExists(ctx, q, r.PartnerID, "add referral"); err != nil {
			return err
		}
		var one int
		if err := q.QueryRowContext(ctx, `SELECT 1 FROM case_consents WHERE id = ? AND case_id = ?`,
			r.ConsentID, r.CaseID).Scan(&one); err != nil {
			return notFound(err, "add referral: consent")
		}
		res, err := q.ExecContext(ctx, `
			INSERT INTO case_referrals (`+referralColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			r.ID, r.CaseID, r.PartnerID, r.ConsentID, joinClasses(r.Classes), r.Status, blob(r.Package),
			r.CreatedBy, micros(created), micros(created))
		if err != nil {
			return fmt.Errorf("sqlite: add referral: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add referral: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: add referral: %w", store.ErrConflict)
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
	res, err := s.writer().ExecContext(ctx, `
		UPDATE case_referrals SET status = ?, updated_at = max(updated_at, ?) WHERE id = ? AND case_id = ?`,
		status, micros(at), id, caseID)
	if err != nil {
		return fmt.Errorf("sqlite: set referral status: %w", err)
	}
	return affectedOne(res, "set referral status")
}

func (s *DB) GetReferral(ctx context.Context, caseID, id string) (*store.Referral, error) {
	r, err := scanReferral(s.reader().QueryRowContext(ctx,
		`SELECT `+referralColumns+` FROM case_referrals WHERE id = ? AND case_id = ?`, id, caseID))
	if err != nil {
		return nil, notFound(err, "get referral")
	}
	return r, nil
}

// CaseReferrals returns a case's referrals without their packages, or
// ErrNotFound if there is no such case.
func (s *DB) CaseReferrals(ctx context.Context, caseID string) ([]*store.Referral, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `
		SELECT id, case_id, partner_id, consent_id, classes, status, NULL, created_by, created_at, updated_at
		FROM case_referrals WHERE case_id = ? ORDER BY created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case referrals: %w", err)
	}
	defer rows.Close()
	var list []*store.Referral
	for rows.Next() {
		r, err := scanReferral(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: case referrals: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: case referrals: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "case referrals"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

var _ store.Referrals = (*DB)(nil)
