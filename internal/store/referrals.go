package store

import (
	"context"
	"time"
)

// Partner is a partner organisation cases may be referred to. Its country
// (ISO 3166-1 alpha-2) and its age X25519 recipient ("age1…") are clear:
// the recipient is a public key, and the country is what staff pick a
// partner by. Its name is ciphertext under the partner's own data key,
// wrapped by the root wrapping key as a safe house's is, because the list
// of organisations a group works with is itself worth protecting.
type Partner struct {
	ID         string // random, opaque ("o…")
	Country    string // ISO 3166-1 alpha-2, upper case
	Recipient  string // age X25519 recipient, "age1…"
	Active     bool
	WrappedKey []byte // data key wrapped by the root wrapping key
	Name       []byte // ciphertext
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Consent is a person's recorded consent to have some sections of their
// case (sensitivity classes) shared with one partner until a given time.
// Which classes, with whom, until when, how it was given and by whom it was
// recorded are clear, so that the check before a referral works inside the
// store's transaction; the note (what exactly was said, by whom) is
// ciphertext under the case's data key, set to NULL by EraseCase.
type Consent struct {
	ID          string // random, opaque ("k…")
	CaseID      string
	PartnerID   string
	Classes     []string  // sensitivity classes, in Classes order; never empty
	Until       time.Time // consent ends at this instant
	Method      string    // in_person, message, phone
	Note        []byte    // ciphertext; nil if none or once the case is erased
	RecordedBy  int64
	CreatedAt   time.Time
	WithdrawnAt time.Time // zero unless withdrawn
	WithdrawnBy int64
}

// ValidAt reports whether the consent may be relied on at t: not
// withdrawn, and not yet expired.
func (c *Consent) ValidAt(t time.Time) bool {
	return c.WithdrawnAt.IsZero() && t.Before(c.Until)
}

// Referral statuses.
const (
	ReferralSent      = "sent"
	ReferralAccepted  = "accepted"
	ReferralDeclined  = "declined"
	ReferralCompleted = "completed"
)

// Referral is a package of a case's consented sections sent to a partner.
// The package is sealed with age to the partner's recipient before it
// reaches the store, so the server cannot read it back; it is kept so that
// staff can download it and pass it on over a safe channel, and set to
// NULL by EraseCase.
type Referral struct {
	ID        string // random, opaque ("f…")
	CaseID    string
	PartnerID string
	ConsentID string   // the consent it was made under
	Classes   []string // the classes it carries
	Status    string   // ReferralSent, …
	Package   []byte   // age ciphertext; nil once the case is erased
	CreatedBy int64
	CreatedAt time.Time
	UpdatedAt time.Time // maintained by the store; never moves backwards
}

// Referrals stores partner organisations, consents and referrals.
//
// Methods that take a case id report ErrNotFound when there is no such
// case. An erased case takes no new consent or referral (ErrNotFound), and
// EraseCase sets the consent notes and referral packages it holds to NULL
// (the rows stay: that a consent or referral existed is workflow history,
// and says nothing once its contents are gone). Times are stored as
// everywhere else (UTC, whole microseconds), and methods that take a
// pointer set its times to the values as stored. Class lists come back in
// the order they were stored, nil never: an empty list is refused.
type Referrals interface {
	// CreatePartner inserts p; UpdatedAt is set to CreatedAt.
	// ErrConflict if the id exists.
	CreatePartner(ctx context.Context, p *Partner) error
	// SetPartnerActive marks a partner in use or not, moving UpdatedAt to
	// at unless it already is later. ErrNotFound if no such partner.
	SetPartnerActive(ctx context.Context, id string, active bool, at time.Time) error
	GetPartner(ctx context.Context, id string) (*Partner, error)
	// ListPartners returns every partner, by country, then CreatedAt, then id.
	ListPartners(ctx context.Context) ([]*Partner, error)

	// AddConsent inserts c. ErrNotFound if the case or the partner does
	// not exist or the case is erased; ErrConflict if the id exists.
	AddConsent(ctx context.Context, c *Consent) error
	// WithdrawConsent records that a consent of the case was withdrawn at
	// by a user. Withdrawing again keeps the first WithdrawnAt and
	// WithdrawnBy. ErrNotFound if no such consent of that case.
	WithdrawConsent(ctx context.Context, caseID, consentID string, by int64, at time.Time) error
	// CaseConsents returns a case's consents by CreatedAt, then id.
	CaseConsents(ctx context.Context, caseID string) ([]*Consent, error)

	// AddReferral inserts r; UpdatedAt is set to CreatedAt. ErrNotFound
	// if the case, the partner or the consent (of that case) does not
	// exist, or the case is erased; ErrConflict if the id exists.
	AddReferral(ctx context.Context, r *Referral) error
	// SetReferralStatus sets a referral's status, moving UpdatedAt to at
	// unless it already is later. ErrNotFound if no such referral of that
	// case. Which moves are allowed is the domain's rule.
	SetReferralStatus(ctx context.Context, caseID, id, status string, at time.Time) error
	// GetReferral returns a referral of the case, package included;
	// ErrNotFound if none.
	GetReferral(ctx context.Context, caseID, id string) (*Referral, error)
	// CaseReferrals returns a case's referrals by CreatedAt, then id,
	// without their packages (Package nil): lists never carry them.
	CaseReferrals(ctx context.Context, caseID string) ([]*Referral, error)
}
