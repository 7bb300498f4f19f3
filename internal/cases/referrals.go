package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Referrals to partner organisations.
//
// A case is referred to a partner only with the person's recorded consent:
// which sections (sensitivity classes), to which partner, until when, and
// how it was given. A referral is a JSON document holding only the
// requested sections — each of them covered by one valid consent to that
// partner — and the case's stage and risk level, decrypted by the referrer
// (who must be able to read every class sent) and sealed at once with age
// to the partner's X25519 recipient. The server keeps the sealed package so
// that staff can download it and pass it on over a safe channel, but it
// cannot read it back: only the partner's identity opens it.
//
// A partner's name is encrypted under the partner's own data key, wrapped
// by the root wrapping key (keys.Vault.WrapDataKey, bound to the partner
// id), as a safe house's city is: the list of organisations a group hands
// people to is worth a raid on its own. Country and recipient are clear:
// the recipient is a public key, and staff choose partners by country.

// Event kinds of consents and referrals.
const (
	KindConsent          = "consent"           // consent recorded; its note, class identity
	KindConsentWithdrawn = "consent_withdrawn" // consent withdrawn; the reason, class identity
	KindReferral         = "referral"          // a package was sealed to a partner
	// A status change is recorded as "referral_" + the new status:
	// referral_accepted, referral_declined, referral_completed.
	KindReferralPrefix = "referral_"
)

// Errors of referrals.
var (
	// ErrNoConsent refuses a referral no valid consent covers: none to that
	// partner, expired, withdrawn, or not covering every class asked for.
	ErrNoConsent = fmt.Errorf("%w: no valid consent of the person covers this referral", ErrForbidden)
	// ErrNoPartner: no such partner organisation. It is an ErrInvalid
	// (a form named it) and wraps store.ErrNotFound.
	ErrNoPartner = fmt.Errorf("%w: no such partner organisation: %w", ErrInvalid, store.ErrNotFound)
	// ErrNoReferral: no such referral of the case. It wraps store.ErrNotFound.
	ErrNoReferral = fmt.Errorf("cases: no such referral: %w", store.ErrNotFound)
)

// Ways consent is given.
const (
	ConsentInPerson = "in_person"
	ConsentMessage  = "message"
	ConsentPhone    = "phone"
)

// ConsentMethods lists the ways consent may be given, in display order.
func ConsentMethods() []string { return []string{ConsentInPerson, ConsentMessage, ConsentPhone} }

// Limits of consents, partners and packages.
const (
	MaxConsentFor     = 5 * 366 * 24 * time.Hour // a consent lasts at most this long
	MaxPartnerRunes   = 200
	MaxConsentRunes   = 2000
	MaxPackageBytes   = 32 << 20 // a package's plaintext, for whoever opens one
	PackageFormat     = "corridor-referral/1"
	PackageMediaType  = "application/octet-stream"
	PackageFileSuffix = ".age"
)

// CanRefer reports whether a role may record consent and refer cases
// (given access to the case): the people who run a case or look after its
// consent (custodians), not operators, logistics or anyone only triaging.
func CanRefer(role string) bool {
	return CanManage(role) || role == store.RoleCaseworker || role == store.RoleCustodian
}

// CanManagePartners reports whether a role may register and deactivate
// partner organisations.
func CanManagePartners(role string) bool { return CanManage(role) }

func partnerObject(id string) string { return "partner:" + id }

func adPartner(id string) []string { return []string{"partner", id, "name"} }

func adConsent(caseID, consentID string) []string {
	return []string{"case", caseID, "consent", consentID, workflowClass}
}

// validCountry reports whether c looks like an ISO 3166-1 alpha-2 code.
func validCountry(c string) bool {
	return len(c) == 2 && 'A' <= c[0] && c[0] <= 'Z' && 'A' <= c[1] && c[1] <= 'Z'
}

// PartnerInput registers a partner.
type PartnerInput struct {
	Name      string
	Country   string // ISO 3166-1 alpha-2; case does not matter
	Recipient string // age1…
}

// Partner is a partner as staff see it.
type Partner struct {
	ID        string
	Name      string
	Country   string
	Recipient string
	Active    bool
	// Unreadable: the name did not decrypt (altered or moved).
	Unreadable bool
}

// CreatePartner registers a partner organisation. Admins and coordinators
// only; audited as partner.create.
func (s *Service) CreatePartner(ctx context.Context, actor *store.User, in PartnerInput) (*Partner, error) {
	if !active(actor) || !CanManagePartners(actor.Role) {
		return nil, ErrForbidden
	}
	name, err := cleanText(in.Name, MaxPartnerRunes)
	if err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	if name == "" {
		return nil, fmt.Errorf("%w: a partner needs a name", ErrInvalid)
	}
	country := strings.ToUpper(strings.TrimSpace(in.Country))
	if !validCountry(country) {
		return nil, fmt.Errorf("%w: the country is a two-letter ISO code such as CA", ErrInvalid)
	}
	recipient := strings.TrimSpace(in.Recipient)
	if _, err := age.ParseX25519Recipient(recipient); err != nil {
		return nil, fmt.Errorf("%w: not an age public key (age1…): %w", ErrInvalid, err)
	}
	now := s.clock()
	p := &store.Partner{ID: newID("o"), Country: country, Recipient: recipient, Active: true, CreatedAt: now}
	dk := keys.NewKey()
	defer keys.Wipe(dk)
	if p.WrappedKey, err = s.vault.WrapDataKey(p.ID, dk); err != nil {
		return nil, fmt.Errorf("cases: wrap partner key: %w", err)
	}
	if p.Name, err = keys.Encrypt(dk, []byte(name), adPartner(p.ID)...); err != nil {
		return nil, fmt.Errorf("cases: encrypt partner name: %w", err)
	}
	err = s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.CreatePartner(ctx, p); err != nil {
			return fmt.Errorf("cases: partner: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, actor.ID, "partner.create", partnerObject(p.ID))
	})
	if err != nil {
		return nil, err
	}
	return &Partner{ID: p.ID, Name: name, Country: country, Recipient: recipient, Active: true}, nil
}

// SetPartnerActive takes a partner out of use (no new consent or referral
// names it) or back in. Admins and coordinators only; audited.
func (s *Service) SetPartnerActive(ctx context.Context, actor *store.User, id string, on bool) error {
	if !active(actor) || !CanManagePartners(actor.Role) {
		return ErrForbidden
	}
	if !validID(id) {
		return ErrNoPartner
	}
	action := "partner.deactivate"
	if on {
		action = "partner.activate"
	}
	return s.st.Tx(ctx, func(tx store.Store) error {
		err := tx.SetPartnerActive(ctx, id, on, s.clock())
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoPartner
		}
		if err != nil {
			return fmt.Errorf("cases: partner: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, actor.ID, action, partnerObject(id))
	})
}

// Partners lists partner organisations with their names. Anyone who may
// refer cases needs the list to choose from; names are not about any
// person, so listing is not audited.
func (s *Service) Partners(ctx context.Context, actor *store.User) ([]Partner, error) {
	if !active(actor) || !(CanManagePartners(actor.Role) || CanRefer(actor.Role)) {
		return nil, ErrForbidden
	}
	list, err := s.st.ListPartners(ctx)
	if err != nil {
		return nil, fmt.Errorf("cases: partners: %w", err)
	}
	out := make([]Partner, 0, len(list))
	for _, p := range list {
		out = append(out, s.openPartner(p))
	}
	return out, nil
}

func (s *Service) openPartner(p *store.Partner) Partner {
	v := Partner{ID: p.ID, Country: p.Country, Recipient: p.Recipient, Active: p.Active}
	dk, err := s.vault.UnwrapDataKey(p.ID, p.WrappedKey)
	if err != nil {
		v.Unreadable = true
		return v
	}
	defer keys.Wipe(dk)
	name, err := keys.Decrypt(dk, p.Name, adPartner(p.ID)...)
	if err != nil {
		v.Unreadable = true
		return v
	}
	v.Name = string(name)
	return v
}

// cleanClasses checks a list of classes and returns it in Classes order,
// without repeats.
func cleanClasses(classes []string) ([]string, error) {
	var out []string
	for _, c := range Classes() {
		if slices.Contains(classes, c) {
			out = append(out, c)
		}
	}
	for _, c := range classes {
		if !ValidClass(c) {
			return nil, fmt.Errorf("%w: unknown class", ErrInvalid)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: choose at least one section", ErrInvalid)
	}
	return out, nil
}

// activePartner reads a partner that may be named by a new consent or
// referral.
func activePartner(ctx context.Context, st store.Store, id string) (*store.Partner, error) {
	if !validID(id) {
		return nil, ErrNoPartner
	}
	p, err := st.GetPartner(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoPartner
	}
	if err != nil {
		return nil, fmt.Errorf("cases: partner: %w", err)
	}
	if !p.Active {
		return nil, fmt.Errorf("%w: the partner organisation is not active", ErrInvalid)
	}
	return p, nil
}

// ConsentInput is a consent being recorded.
type ConsentInput struct {
	PartnerID string
	Classes   []string
	Until     time.Time
	Method    string // one of ConsentMethods
	Note      string // what was said, by whom; encrypted
}

// RecordConsent records the person's consent to share some sections of
// their case with a partner. The actor needs access to the case and a role
// that refers (CanRefer); the role and access are checked before the input,
// so that a refusal says nothing about what the input was.
func (s *Service) RecordConsent(ctx context.Context, actor *store.User, id string, in ConsentInput) (*store.Consent, error) {
	if !active(actor) || !CanRefer(actor.Role) {
		s.denied(ctx, actor, id)
		return nil, ErrForbidden
	}
	var k *store.Consent
	err := s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		classes, err := cleanClasses(in.Classes)
		if err != nil {
			return err
		}
		if !slices.Contains(ConsentMethods(), in.Method) {
			return fmt.Errorf("%w: say how the consent was given", ErrInvalid)
		}
		until := in.Until.UTC().Truncate(time.Microsecond)
		if !until.After(now) || until.Sub(now) > MaxConsentFor {
			return fmt.Errorf("%w: a consent ends in the future, within five years", ErrInvalid)
		}
		note, err := cleanText(in.Note, MaxConsentRunes)
		if err != nil {
			return err
		}
		if _, err := activePartner(ctx, tx, in.PartnerID); err != nil {
			return err
		}
		k = &store.Consent{ID: newID("k"), CaseID: c.ID, PartnerID: in.PartnerID, Classes: classes,
			Until: until, Method: in.Method, RecordedBy: actor.ID, CreatedAt: now}
		return s.withKey(c, func(dk []byte) error {
			if note != "" {
				if k.Note, err = keys.Encrypt(dk, []byte(note), adConsent(c.ID, k.ID)...); err != nil {
					return fmt.Errorf("cases: encrypt consent: %w", err)
				}
			}
			if err := tx.AddConsent(ctx, k); err != nil {
				return fmt.Errorf("cases: consent: %w", err)
			}
			var body *eventBody
			if note != "" {
				body = &eventBody{Text: note}
			}
			ev, err := newEvent(dk, c, actor.ID, now, KindConsent, "", workflowClass, body)
			if err != nil {
				return err
			}
			if err := tx.AddCaseEvent(ctx, ev); err != nil {
				return fmt.Errorf("cases: event: %w", err)
			}
			return s.record(ctx, tx, actor, "case.consent", c.ID)
		})
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// WithdrawConsent records that the person withdrew a consent. From then on
// no referral may rest on it; packages already sent are the partner's to
// destroy, which staff must ask for over the safe channel.
func (s *Service) WithdrawConsent(ctx context.Context, actor *store.User, id, consentID, reason string) error {
	if !active(actor) || !CanRefer(actor.Role) {
		s.denied(ctx, actor, id)
		return ErrForbidden
	}
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		text, err := cleanText(reason, MaxReasonRunes)
		if err != nil {
			return err
		}
		if !validID(consentID) {
			return fmt.Errorf("%w: no such consent", ErrInvalid)
		}
		err = tx.WithdrawConsent(ctx, c.ID, consentID, actor.ID, now)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: no such consent", ErrInvalid)
		}
		if err != nil {
			return fmt.Errorf("cases: withdraw consent: %w", err)
		}
		var body *eventBody
		if text != "" {
			body = &eventBody{Text: text}
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindConsentWithdrawn, "", workflowClass, body); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.consent_withdraw", c.ID)
	})
}

// coveringConsent returns a consent to partnerID, valid at now, that
// covers every class, or ErrNoConsent. One consent must cover the whole
// referral: a consent is one decision of the person, and two narrower ones
// together are not the same decision.
func coveringConsent(list []*store.Consent, partnerID string, classes []string, now time.Time) (*store.Consent, error) {
	for _, k := range list {
		if k.PartnerID != partnerID || !k.ValidAt(now) {
			continue
		}
		covers := true
		for _, c := range classes {
			if !slices.Contains(k.Classes, c) {
				covers = false
				break
			}
		}
		if covers {
			return k, nil
		}
	}
	return nil, ErrNoConsent
}

// Package is the document a partner decrypts: the consented sections and
// nothing else of the case, with what the partner needs to act on it.
type Package struct {
	Format     string                       `json:"format"`
	ReferralID string                       `json:"referral_id"`
	CaseID     string                       `json:"case_id"`
	CreatedAt  time.Time                    `json:"created_at"`
	Country    string                       `json:"partner_country"`
	Stage      string                       `json:"stage"`
	Risk       int                          `json:"risk"`
	Consent    PackageConsent               `json:"consent"`
	Sections   map[string]map[string]string `json:"sections"`
}

// PackageConsent is what the partner is told of the consent.
type PackageConsent struct {
	Classes []string  `json:"classes"`
	Until   time.Time `json:"until"`
	Method  string    `json:"method"`
	Given   time.Time `json:"recorded_at"`
}

// ReferralInput is a referral being made.
type ReferralInput struct {
	PartnerID string
	Classes   []string
}

// CreateReferral seals the requested sections of a case to a partner.
// The actor needs access, a role that refers, and to read every requested
// class now (so logistics of an unverified case is never sent); a valid
// consent to that partner must cover every class (ErrNoConsent). The
// package is sealed inside the transaction that records it, with an event
// and the audit entry.
func (s *Service) CreateReferral(ctx context.Context, actor *store.User, id string, in ReferralInput) (*store.Referral, error) {
	if !active(actor) || !CanRefer(actor.Role) {
		s.denied(ctx, actor, id)
		return nil, ErrForbidden
	}
	var ref *store.Referral
	err := s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		classes, err := cleanClasses(in.Classes)
		if err != nil {
			return err
		}
		for _, class := range classes {
			if why := s.pol.withheld(actor.Role, class, c); why != "" {
				return fmt.Errorf("%w: you cannot read the %s section (%s)", ErrForbidden, class, why)
			}
		}
		p, err := activePartner(ctx, tx, in.PartnerID)
		if err != nil {
			return err
		}
		recipient, err := age.ParseX25519Recipient(p.Recipient)
		if err != nil {
			return fmt.Errorf("cases: partner %s has an unusable key: %w", p.ID, err)
		}
		consents, err := tx.CaseConsents(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("cases: consents: %w", err)
		}
		k, err := coveringConsent(consents, p.ID, classes, now)
		if err != nil {
			return err
		}
		secs, err := tx.Sections(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("cases: sections: %w", err)
		}
		ref = &store.Referral{ID: newID("f"), CaseID: c.ID, PartnerID: p.ID, ConsentID: k.ID, Classes: classes,
			Status: store.ReferralSent, CreatedBy: actor.ID, CreatedAt: now}
		pkg := Package{Format: PackageFormat, ReferralID: ref.ID, CaseID: c.ID, CreatedAt: now, Country: p.Country,
			Stage: c.Stage, Risk: c.Risk, Sections: map[string]map[string]string{},
			Consent: PackageConsent{Classes: classes, Until: k.Until, Method: k.Method, Given: k.CreatedAt}}
		for _, class := range classes {
			pkg.Sections[class] = map[string]string{}
		}
		return s.withKey(c, func(dk []byte) error {
			for _, sec := range secs {
				if !slices.Contains(classes, sec.Class) {
					continue // not consented: not even decrypted
				}
				fields, err := openSection(dk, sec)
				if err != nil {
					return err
				}
				pkg.Sections[sec.Class] = fields
			}
			plain, err := json.MarshalIndent(pkg, "", "  ")
			if err != nil {
				return fmt.Errorf("cases: package: %w", err)
			}
			ref.Package, err = keys.SealToRecipients(plain, recipient)
			clear(plain)
			if err != nil {
				return fmt.Errorf("cases: seal package: %w", err)
			}
			if err := tx.AddReferral(ctx, ref); err != nil {
				return fmt.Errorf("cases: referral: %w", err)
			}
			ev := &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: now, ActorID: actor.ID, Kind: KindReferral}
			if err := tx.AddCaseEvent(ctx, ev); err != nil {
				return fmt.Errorf("cases: event: %w", err)
			}
			return s.record(ctx, tx, actor, "case.referral", c.ID)
		})
	})
	if err != nil {
		return nil, err
	}
	return ref, nil
}

// referralMoves are the allowed status changes.
var referralMoves = map[string][]string{
	store.ReferralSent:     {store.ReferralAccepted, store.ReferralDeclined},
	store.ReferralAccepted: {store.ReferralCompleted},
}

// NextReferralStatuses lists the statuses a referral may move to.
func NextReferralStatuses(status string) []string { return slices.Clone(referralMoves[status]) }

// SetReferralStatus records the partner's answer: sent → accepted or
// declined, accepted → completed. Each change is a timeline event and
// audited.
func (s *Service) SetReferralStatus(ctx context.Context, actor *store.User, id, referralID, status string) error {
	if !active(actor) || !CanRefer(actor.Role) {
		s.denied(ctx, actor, id)
		return ErrForbidden
	}
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !validID(referralID) {
			return fmt.Errorf("%w: %w", ErrInvalid, ErrNoReferral)
		}
		r, err := tx.GetReferral(ctx, c.ID, referralID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrInvalid, ErrNoReferral)
		}
		if err != nil {
			return fmt.Errorf("cases: referral: %w", err)
		}
		if !slices.Contains(referralMoves[r.Status], status) {
			return fmt.Errorf("%w: a %s referral cannot become %q", ErrInvalid, r.Status, status)
		}
		if err := tx.SetReferralStatus(ctx, c.ID, r.ID, status, now); err != nil {
			return fmt.Errorf("cases: referral status: %w", err)
		}
		ev := &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: now, ActorID: actor.ID, Kind: KindReferralPrefix + status}
		if err := tx.AddCaseEvent(ctx, ev); err != nil {
			return fmt.Errorf("cases: event: %w", err)
		}
		return s.record(ctx, tx, actor, "case.referral_status", c.ID)
	})
}

// DownloadReferral returns a referral with its sealed package, for staff
// to pass on to the partner. Same rule as making one: access and a role
// that refers. Audited as referral.download before it is returned.
func (s *Service) DownloadReferral(ctx context.Context, actor *store.User, id, referralID string) (*store.Referral, error) {
	if !active(actor) || !CanRefer(actor.Role) {
		s.denied(ctx, actor, id)
		return nil, ErrForbidden
	}
	var ref *store.Referral
	// change() checks access inside a transaction and audits refusals; the
	// download itself writes only its audit entry.
	err := s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !validID(referralID) {
			return ErrNoReferral
		}
		r, err := tx.GetReferral(ctx, c.ID, referralID)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoReferral
		}
		if err != nil {
			return fmt.Errorf("cases: referral: %w", err)
		}
		if r.Package == nil {
			return ErrErased
		}
		ref = r
		return audit.New(tx, s.now).Record(ctx, actor.ID, "referral.download", "referral:"+r.ID)
	})
	if err != nil {
		return nil, err
	}
	return ref, nil
}

// Consent is a consent as its viewer sees it.
type Consent struct {
	*store.Consent
	Note       string
	Withheld   bool // the viewer's role does not read the note's class
	Unreadable bool
	Valid      bool // may be relied on now
}

// Referral is a referral as its viewer sees it (never with its package).
type Referral struct {
	*store.Referral
	Next []string // statuses it may move to
}

// ReferralsView is the consent and referral section of a case page.
type ReferralsView struct {
	Consents  []Consent
	Referrals []Referral
	// Partners are every partner, for names; Active those that new
	// consents and referrals may name. Both nil unless CanRefer.
	Partners map[string]Partner
	Active   []Partner
	CanRefer bool
	// Classes the viewer may put in a referral now.
	Classes []string
	Methods []string
}

// Referrals returns a case's consents and referrals for a viewer with
// access to its contents, audited as case.read_referrals.
func (s *Service) Referrals(ctx context.Context, actor *store.User, id string) (*ReferralsView, error) {
	c, _, err := s.contentAccess(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	consents, err := s.st.CaseConsents(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("cases: consents: %w", err)
	}
	refs, err := s.st.CaseReferrals(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("cases: referrals: %w", err)
	}
	if err := s.audit.Record(ctx, actor.ID, "case.read_referrals", object(id)); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	v := &ReferralsView{CanRefer: CanRefer(actor.Role), Methods: ConsentMethods()}
	if v.CanRefer {
		ps, err := s.Partners(ctx, actor)
		if err != nil {
			return nil, err
		}
		v.Partners = map[string]Partner{}
		for _, p := range ps {
			v.Partners[p.ID] = p
			if p.Active {
				v.Active = append(v.Active, p)
			}
		}
		for _, class := range Classes() {
			if s.pol.withheld(actor.Role, class, c) == "" {
				v.Classes = append(v.Classes, class)
			}
		}
	}
	readNotes := s.pol.withheld(actor.Role, workflowClass, c) == ""
	err = s.withKey(c, func(dk []byte) error {
		for _, k := range consents {
			cv := Consent{Consent: k, Valid: k.ValidAt(now)}
			switch {
			case k.Note == nil:
			case !readNotes:
				cv.Withheld = true
			default:
				plain, err := keys.Decrypt(dk, k.Note, adConsent(c.ID, k.ID)...)
				if err != nil {
					cv.Unreadable = true
				} else {
					cv.Note = string(plain)
					clear(plain)
				}
			}
			v.Consents = append(v.Consents, cv)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		rv := Referral{Referral: r}
		if v.CanRefer {
			rv.Next = NextReferralStatuses(r.Status)
		}
		v.Referrals = append(v.Referrals, rv)
	}
	return v, nil
}
