package cases

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Placements, documents, visas and trips of a case.
//
// A placement is clear metadata (case, house, dates) in the store, but it
// is shown only as part of the case's logistics class: to those with
// access to the case whose role reads logistics, once the case is
// verified. Documents, visas and trips are case records: their details are
// encrypted under the case's data key, documents as identity (names and
// numbers of papers), visas and trips as logistics (where the people are
// going, and how, is the plan the people hunting them want).

// Event kinds of the timeline added by logistics.
const (
	KindPlacement    = "placement"
	KindPlacementEnd = "placement_end"
	KindRecord       = "record"
)

// Record kinds.
const (
	RecordDocument = "document"
	RecordVisa     = "visa"
	RecordTrip     = "trip"
	// RecordPerson is another person the case holds besides its main
	// person (a partner, a child: a couple, a family), in the identity
	// class.
	RecordPerson = "person"
	// RecordAttestation is a partner organisation's attestation (full or
	// co-verification), in the testimony class: that a partner vouches
	// for someone says what happened to them and who knows them.
	RecordAttestation = "attestation"
)

// RecordKinds lists the kinds of case record, in display order.
func RecordKinds() []string {
	return []string{RecordDocument, RecordVisa, RecordTrip, RecordPerson, RecordAttestation}
}

// RecordClass is the sensitivity class of a record kind's details.
func RecordClass(kind string) string {
	switch kind {
	case RecordDocument, RecordPerson:
		return ClassIdentity
	case RecordAttestation:
		return ClassTestimony
	}
	return ClassLogistics
}

// RecordStatuses lists the statuses of a record kind, in workflow order;
// the first is where a new record starts unless told otherwise.
func RecordStatuses(kind string) []string {
	switch kind {
	case RecordDocument:
		return []string{"needed", "requested", "obtained"}
	case RecordVisa:
		return []string{"planned", "submitted", "granted", "refused", "withdrawn"}
	case RecordTrip:
		return []string{"planned", "booked", "completed", "cancelled"}
	case RecordPerson:
		return []string{"in_case", "left_case"}
	case RecordAttestation:
		return []string{"requested", "attested", "withdrawn"}
	}
	return nil
}

// Relations lists how another person of a case is related to its main
// person.
func Relations() []string { return []string{"partner", "child", "parent", "sibling", "other"} }

// Attestation types: a partner verified the person on its own (full), or
// took part in the case's own verification (co-verification).
const (
	AttestFull     = "full"
	AttestCoVerify = "co_verification"
)

// AttestationTypes lists the types of attestation.
//
// An attested full verification by a partner does not verify the case by
// itself: the checklist (interview, references, documents) recorded by
// the case's own staff stays the one rule that opens logistics, because
// verification is what keeps safe houses and routes from someone posing
// as a victim, and a partner's word reaches us through channels that can
// be spoofed. Attestations are shown beside the checklist, for whoever
// records it to weigh.
func AttestationTypes() []string { return []string{AttestFull, AttestCoVerify} }

// DocumentTypes lists the types of document a case may need.
func DocumentTypes() []string {
	return []string{"passport", "internal_passport", "birth_certificate", "other"}
}

// TravelModes lists how a leg of a trip may be travelled.
func TravelModes() []string { return []string{"car", "bus", "train", "plane", "other"} }

// MaxLegs caps the legs of one trip.
const MaxLegs = 10

// Leg is one leg of a trip.
type Leg struct {
	From string `json:"from"`
	To   string `json:"to"`
	Date string `json:"date"` // YYYY-MM-DD
	Mode string `json:"mode"`
}

// RecordBody is what a record's ciphertext holds; which fields are used
// depends on the kind. Dates are calendar dates (YYYY-MM-DD): what a
// consulate writes on a decision, with no time zone to get wrong.
type RecordBody struct {
	DocType   string `json:"doc_type,omitempty"`   // document
	Country   string `json:"country,omitempty"`    // visa: host country
	Programme string `json:"programme,omitempty"`  // visa: e.g. emergency humanitarian visa
	Submitted string `json:"submitted,omitempty"`  // visa
	Decided   string `json:"decided,omitempty"`    // visa
	Decision  string `json:"decision,omitempty"`   // visa: what was decided, reference
	Legs      []Leg  `json:"legs,omitempty"`       // trip
	Partner   string `json:"partner,omitempty"`    // trip: receiving partner organisation; attestation: a partner not registered
	Name      string `json:"name,omitempty"`       // person
	BirthYear string `json:"birth_year,omitempty"` // person: four digits
	Relation  string `json:"relation,omitempty"`   // person: one of Relations
	RequestID string `json:"request_id,omitempty"` // conversation: a linked hotline request
	Contact   string `json:"contact,omitempty"`    // person: phone, messenger, e-mail
	PartnerID string `json:"partner_id,omitempty"` // attestation: a registered partner
	AttType   string `json:"att_type,omitempty"`   // attestation: one of AttestationTypes
	Date      string `json:"date,omitempty"`       // attestation
	Note      string `json:"note,omitempty"`
}

// RecordInput is a new record.
type RecordInput struct {
	Kind   string
	Status string // "" means the kind's first status
	Body   RecordBody
}

const dateLayout = "2006-01-02"

func cleanDate(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if _, err := time.Parse(dateLayout, s); err != nil {
		return "", fmt.Errorf("%w: dates are YYYY-MM-DD", ErrInvalid)
	}
	return s, nil
}

// clean checks a record body for its kind, dropping fields the kind does
// not use.
func (b RecordBody) clean(kind string) (RecordBody, error) {
	var out RecordBody
	var err error
	short := func(s string) (string, error) { return cleanText(s, MaxReasonRunes) }
	if out.Note, err = cleanText(b.Note, MaxNoteRunes); err != nil {
		return out, err
	}
	switch kind {
	case RecordDocument:
		if !slices.Contains(DocumentTypes(), b.DocType) {
			return out, fmt.Errorf("%w: unknown document type", ErrInvalid)
		}
		out.DocType = b.DocType
	case RecordVisa:
		for _, f := range []struct {
			dst *string
			src string
		}{
			{&out.Country, b.Country}, {&out.Programme, b.Programme}, {&out.Decision, b.Decision},
		} {
			if *f.dst, err = short(f.src); err != nil {
				return out, err
			}
		}
		if out.Country == "" {
			return out, fmt.Errorf("%w: a visa application names the host country", ErrInvalid)
		}
		if out.Submitted, err = cleanDate(b.Submitted); err != nil {
			return out, err
		}
		if out.Decided, err = cleanDate(b.Decided); err != nil {
			return out, err
		}
	case RecordTrip:
		if out.Partner, err = short(b.Partner); err != nil {
			return out, err
		}
		if len(b.Legs) > MaxLegs {
			return out, fmt.Errorf("%w: at most %d legs", ErrInvalid, MaxLegs)
		}
		for _, l := range b.Legs {
			var c Leg
			if c.From, err = short(l.From); err != nil {
				return out, err
			}
			if c.To, err = short(l.To); err != nil {
				return out, err
			}
			if c.Date, err = cleanDate(l.Date); err != nil {
				return out, err
			}
			if l.Mode != "" && !slices.Contains(TravelModes(), l.Mode) {
				return out, fmt.Errorf("%w: unknown travel mode", ErrInvalid)
			}
			c.Mode = l.Mode
			if c.From == "" && c.To == "" {
				continue // an empty row of the form
			}
			out.Legs = append(out.Legs, c)
		}
		if len(out.Legs) == 0 {
			return out, fmt.Errorf("%w: a trip has at least one leg", ErrInvalid)
		}
	case RecordPerson:
		if out.Name, err = short(b.Name); err != nil {
			return out, err
		}
		if out.Name == "" {
			return out, fmt.Errorf("%w: a person has a name", ErrInvalid)
		}
		if out.Contact, err = short(b.Contact); err != nil {
			return out, err
		}
		if out.BirthYear = strings.TrimSpace(b.BirthYear); out.BirthYear != "" {
			if y, err := strconv.Atoi(out.BirthYear); err != nil || len(out.BirthYear) != 4 || y < 1900 || y > 2100 {
				return out, fmt.Errorf("%w: a birth year is four digits", ErrInvalid)
			}
		}
		if !slices.Contains(Relations(), b.Relation) {
			return out, fmt.Errorf("%w: unknown relation", ErrInvalid)
		}
		out.Relation = b.Relation
	case RecordAttestation:
		if !slices.Contains(AttestationTypes(), b.AttType) {
			return out, fmt.Errorf("%w: unknown attestation type", ErrInvalid)
		}
		out.AttType = b.AttType
		if out.Date, err = cleanDate(b.Date); err != nil {
			return out, err
		}
		// A registered partner is named by its id (AddRecord checks it
		// exists), its name staying sealed in the registry; free text only
		// for a partner not registered.
		if out.PartnerID = strings.TrimSpace(b.PartnerID); out.PartnerID == "" {
			if out.Partner, err = short(b.Partner); err != nil {
				return out, err
			}
			if out.Partner == "" {
				return out, fmt.Errorf("%w: an attestation names the partner", ErrInvalid)
			}
		}
	default:
		return out, fmt.Errorf("%w: unknown record kind", ErrInvalid)
	}
	return out, nil
}

func adRecord(caseID, recordID, class string) []string {
	return []string{"case", caseID, "record", recordID, class}
}

func sealRecord(dk []byte, r *store.CaseRecord, b RecordBody) error {
	plain, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("cases: %w", err)
	}
	r.Body, err = keys.Encrypt(dk, plain, adRecord(r.CaseID, r.ID, r.Class)...)
	clear(plain)
	if err != nil {
		return fmt.Errorf("cases: encrypt record: %w", err)
	}
	return nil
}

func openRecord(dk []byte, r *store.CaseRecord) (RecordBody, error) {
	var b RecordBody
	plain, err := keys.Decrypt(dk, r.Body, adRecord(r.CaseID, r.ID, r.Class)...)
	if err != nil {
		return b, fmt.Errorf("cases: record %s of %s: %w", r.ID, r.CaseID, err)
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, &b); err != nil {
		return b, fmt.Errorf("cases: record %s of %s: %w", r.ID, r.CaseID, err)
	}
	return b, nil
}

// writable checks that actor may write class on c now: the role writes
// the class, and logistics waits for verification.
func (s *Service) writable(actor *store.User, c *store.Case, class string) error {
	if !s.pol.CanWrite(actor.Role, class) {
		return fmt.Errorf("%w: class %s", ErrForbidden, class)
	}
	if class == ClassLogistics && !c.Verified {
		return ErrUnverified
	}
	return nil
}

// Place puts a case in a safe house from from (zero: now) until until
// (zero: open-ended). The actor needs access to the case and a role that
// writes logistics, and the case must be verified (ErrUnverified); the
// house must be in use (ErrHouseInactive) and have a free place for the
// whole stay (ErrHouseFull), which the store checks in the same
// transaction as it adds the placement.
func (s *Service) Place(ctx context.Context, actor *store.User, caseID, houseID string, from, until time.Time) (*store.Placement, error) {
	if !validID(houseID) {
		return nil, ErrNoHouse
	}
	var p *store.Placement
	err := s.change(ctx, actor, caseID, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if err := s.writable(actor, c, ClassLogistics); err != nil {
			return err
		}
		start := from
		if start.IsZero() {
			start = now
		}
		if !until.IsZero() && !until.After(start) {
			return fmt.Errorf("%w: a stay ends after it begins", ErrInvalid)
		}
		h, err := tx.GetHouse(ctx, houseID)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoHouse
		}
		if err != nil {
			return fmt.Errorf("cases: house: %w", err)
		}
		p = &store.Placement{ID: newID("p"), CaseID: c.ID, HouseID: h.ID, From: start, Until: until, CreatedAt: now}
		switch err := tx.AddPlacement(ctx, p); {
		case errors.Is(err, store.ErrHouseFull):
			return ErrHouseFull
		case errors.Is(err, store.ErrHouseInactive):
			return ErrHouseInactive
		case err != nil:
			return fmt.Errorf("cases: placement: %w", err)
		}
		// The code, not the address: the timeline is read by everyone on
		// the case whose role reads logistics.
		if err := s.addEvent(ctx, tx, c, actor, now, KindPlacement, "", ClassLogistics, &eventBody{Text: h.Code, Until: until}); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.place", c.ID)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// EndPlacement ends a placement of the case now (or keeps an earlier
// planned end). Unlike other logistics writes it does not wait for
// verification: when doubts arise and verification is withdrawn, getting
// the person out of the house is exactly what must still be possible.
func (s *Service) EndPlacement(ctx context.Context, actor *store.User, caseID, placementID string) error {
	if !validID(placementID) {
		return fmt.Errorf("%w: no such placement", ErrInvalid)
	}
	return s.change(ctx, actor, caseID, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !s.pol.CanWrite(actor.Role, ClassLogistics) {
			return fmt.Errorf("%w: class %s", ErrForbidden, ClassLogistics)
		}
		ps, err := tx.CasePlacements(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("cases: placements: %w", err)
		}
		i := slices.IndexFunc(ps, func(p *store.Placement) bool { return p.ID == placementID })
		if i < 0 {
			return fmt.Errorf("%w: no such placement", ErrInvalid)
		}
		if err := tx.EndPlacement(ctx, c.ID, placementID, now); err != nil {
			return fmt.Errorf("cases: end placement: %w", err)
		}
		code := ""
		if h, err := tx.GetHouse(ctx, ps[i].HouseID); err == nil {
			code = h.Code
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindPlacementEnd, "", ClassLogistics, &eventBody{Text: code}); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.place_end", c.ID)
	})
}

// AddRecord adds a document, visa application, trip, person or
// attestation to a case. The
// actor needs access and a role that writes the kind's class; visas and
// trips wait for verification.
func (s *Service) AddRecord(ctx context.Context, actor *store.User, caseID string, in RecordInput) (*store.CaseRecord, error) {
	statuses := RecordStatuses(in.Kind)
	if statuses == nil {
		return nil, fmt.Errorf("%w: unknown record kind", ErrInvalid)
	}
	status := in.Status
	if status == "" {
		status = statuses[0]
	}
	if !slices.Contains(statuses, status) {
		return nil, fmt.Errorf("%w: unknown status", ErrInvalid)
	}
	body, err := in.Body.clean(in.Kind)
	if err != nil {
		return nil, err
	}
	class := RecordClass(in.Kind)
	var r *store.CaseRecord
	err = s.change(ctx, actor, caseID, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if err := s.writable(actor, c, class); err != nil {
			return err
		}
		if body.PartnerID != "" {
			if _, err := activePartner(ctx, tx, body.PartnerID); err != nil {
				return err
			}
		}
		r = &store.CaseRecord{ID: newID("r"), CaseID: c.ID, Kind: in.Kind, Status: status, Class: class, CreatedAt: now}
		return s.withKey(c, func(dk []byte) error {
			if err := sealRecord(dk, r, body); err != nil {
				return err
			}
			if err := tx.AddRecord(ctx, r); err != nil {
				return fmt.Errorf("cases: record: %w", err)
			}
			e, err := newEvent(dk, c, actor.ID, now, KindRecord, "", class, &eventBody{Fields: []string{in.Kind, status}})
			if err != nil {
				return err
			}
			if err := tx.AddCaseEvent(ctx, e); err != nil {
				return fmt.Errorf("cases: event: %w", err)
			}
			if err := s.record(ctx, tx, actor, "case.record", c.ID); err != nil {
				return err
			}
			if in.Kind == RecordPerson {
				// The person's identifiers join the case's blind indexes
				// (duplicates.go).
				return s.reindex(ctx, tx, c, dk, now)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// SetRecordStatus moves a record to another status of its kind. For a
// visa, decision (optional) records what was decided, and a decision
// status (granted, refused) dates the decision today unless a date was
// already recorded.
func (s *Service) SetRecordStatus(ctx context.Context, actor *store.User, caseID, recordID, status, decision string) error {
	decision, err := cleanText(decision, MaxReasonRunes)
	if err != nil {
		return err
	}
	if !validID(recordID) {
		return fmt.Errorf("%w: no such record", ErrInvalid)
	}
	return s.change(ctx, actor, caseID, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		list, err := tx.CaseRecords(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("cases: records: %w", err)
		}
		i := slices.IndexFunc(list, func(r *store.CaseRecord) bool { return r.ID == recordID })
		if i < 0 {
			return fmt.Errorf("%w: no such record", ErrInvalid)
		}
		r := list[i]
		if err := s.writable(actor, c, r.Class); err != nil {
			return err
		}
		if !slices.Contains(RecordStatuses(r.Kind), status) {
			return fmt.Errorf("%w: unknown status", ErrInvalid)
		}
		return s.withKey(c, func(dk []byte) error {
			body, err := openRecord(dk, r)
			if err != nil {
				return err
			}
			if r.Kind == RecordVisa {
				if decision != "" {
					body.Decision = decision
				}
				if (status == "granted" || status == "refused") && body.Decided == "" {
					body.Decided = now.Format(dateLayout)
				}
			}
			r.Status, r.UpdatedAt = status, now
			if err := sealRecord(dk, r, body); err != nil {
				return err
			}
			if err := tx.UpdateRecord(ctx, r); err != nil {
				return fmt.Errorf("cases: record: %w", err)
			}
			e, err := newEvent(dk, c, actor.ID, now, KindRecord, "", r.Class, &eventBody{Fields: []string{r.Kind, status}})
			if err != nil {
				return err
			}
			if err := tx.AddCaseEvent(ctx, e); err != nil {
				return fmt.Errorf("cases: event: %w", err)
			}
			return s.record(ctx, tx, actor, "case.record", c.ID)
		})
	})
}

// PlacementView is a placement as one viewer may see it.
type PlacementView struct {
	ID        string
	HouseID   string
	HouseCode string
	From      time.Time
	Until     time.Time
	Current   bool
	// Address is the house's address, for CanSeeAddress roles only.
	Address string
}

// RecordView is a decrypted case record.
type RecordView struct {
	ID        string
	Kind      string
	Status    string
	Statuses  []string // the statuses it may be moved to (all of its kind)
	CreatedAt time.Time
	UpdatedAt time.Time
	Body      RecordBody
	// PartnerName is the registered partner's name, for an attestation
	// that names one by id.
	PartnerName string
}

// PartnerOption is a partner offered for an attestation.
type PartnerOption struct {
	ID   string
	Name string
}

// HouseOption is a house offered for a placement: code and free places
// now, nothing that says where it is.
type HouseOption struct {
	ID   string
	Code string
	Free int
}

// LogisticsView is what one viewer may see of a case's placements,
// documents, visas and trips.
type LogisticsView struct {
	// Withheld says why logistics (placements, visas, trips) is hidden
	// ("" when shown): WithheldRole or WithheldUnverified.
	Withheld string
	// DocumentsWithheld, likewise, for documents (identity).
	DocumentsWithheld string
	Placements        []PlacementView
	Documents         []RecordView
	Visas             []RecordView
	Trips             []RecordView
	// People are the other people of the case (identity, shown with
	// documents: DocumentsWithheld applies).
	People []RecordView
	// AttestationsWithheld says why attestations (testimony) are hidden.
	AttestationsWithheld string
	Attestations         []RecordView
	// CanWriteAttestations: the viewer may add attestations; Partners
	// are then the partners in use, for the form.
	CanWriteAttestations bool
	Partners             []PartnerOption
	// CanWrite is true when the viewer may add placements, visas and
	// trips; CanWriteDocuments, documents.
	CanWrite          bool
	CanWriteDocuments bool
	// AddressShown: the viewer's role is shown addresses.
	AddressShown bool
	// Houses are the houses in use, for the placement form (empty
	// unless CanWrite).
	Houses []HouseOption
}

// Logistics opens a case's placements, documents, visas and trips for a
// viewer with access to its contents. It is audited on its own
// (case.logistics_read) before anything is decrypted, so that every
// showing of a safe-house address can be traced to one person and time.
func (s *Service) Logistics(ctx context.Context, actor *store.User, caseID string) (*LogisticsView, error) {
	c, _, err := s.contentAccess(ctx, actor, caseID)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	v := &LogisticsView{
		Withheld:          s.pol.withheld(actor.Role, ClassLogistics, c),
		DocumentsWithheld: s.pol.withheld(actor.Role, ClassIdentity, c),
	}
	v.CanWrite = v.Withheld == "" && s.pol.CanWrite(actor.Role, ClassLogistics)
	v.CanWriteDocuments = v.DocumentsWithheld == "" && s.pol.CanWrite(actor.Role, ClassIdentity)
	v.AddressShown = v.Withheld == "" && CanSeeAddress(actor.Role)
	v.AttestationsWithheld = s.pol.withheld(actor.Role, ClassTestimony, c)
	v.CanWriteAttestations = v.AttestationsWithheld == "" && s.pol.CanWrite(actor.Role, ClassTestimony)
	if v.Withheld != "" && v.DocumentsWithheld != "" && v.AttestationsWithheld != "" {
		return v, nil // nothing to decrypt, nothing read
	}
	dk, err := s.dataKey(c)
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(dk)
	if err := s.audit.Record(ctx, actor.ID, "case.logistics_read", object(caseID)); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}

	records, err := s.st.CaseRecords(ctx, caseID)
	if err != nil {
		return nil, fmt.Errorf("cases: records: %w", err)
	}
	for _, r := range records {
		if s.pol.withheld(actor.Role, r.Class, c) != "" {
			continue
		}
		body, err := openRecord(dk, r)
		if err != nil {
			return nil, err
		}
		rv := RecordView{ID: r.ID, Kind: r.Kind, Status: r.Status, Statuses: RecordStatuses(r.Kind),
			CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Body: body}
		switch r.Kind {
		case RecordDocument:
			v.Documents = append(v.Documents, rv)
		case RecordVisa:
			v.Visas = append(v.Visas, rv)
		case RecordTrip:
			v.Trips = append(v.Trips, rv)
		case RecordPerson:
			v.People = append(v.People, rv)
		case RecordAttestation:
			v.Attestations = append(v.Attestations, rv)
		}
	}
	if err := s.partnerNames(ctx, v); err != nil {
		return nil, err
	}
	if v.Withheld != "" {
		return v, nil
	}

	ps, err := s.st.CasePlacements(ctx, caseID)
	if err != nil {
		return nil, fmt.Errorf("cases: placements: %w", err)
	}
	houses, err := s.st.ListHouses(ctx)
	if err != nil {
		return nil, fmt.Errorf("cases: houses: %w", err)
	}
	byID := map[string]*store.House{}
	for _, h := range houses {
		byID[h.ID] = h
	}
	for _, p := range ps {
		pv := PlacementView{ID: p.ID, HouseID: p.HouseID, From: p.From, Until: p.Until, Current: p.ActiveAt(now)}
		h := byID[p.HouseID]
		if h != nil {
			pv.HouseCode = h.Code
			if v.AddressShown {
				// Only through a placement of this case, which the
				// viewer has access to, and only for logistics.
				hv, err := s.houseView(h, 0, true)
				if err != nil {
					return nil, err
				}
				pv.Address = hv.Address
			}
		}
		v.Placements = append(v.Placements, pv)
	}
	if v.CanWrite {
		occ, err := s.st.Occupancy(ctx, now)
		if err != nil {
			return nil, fmt.Errorf("cases: occupancy: %w", err)
		}
		for _, h := range houses {
			if h.Active {
				v.Houses = append(v.Houses, HouseOption{ID: h.ID, Code: h.Code, Free: max(h.Capacity-occ[h.ID], 0)})
			}
		}
	}
	return v, nil
}

// partnerNames names the registered partners of v's attestations and,
// when v may add attestations, lists the partners in use for the form.
// Names are decrypted from the registry, as on the Partners page.
func (s *Service) partnerNames(ctx context.Context, v *LogisticsView) error {
	if len(v.Attestations) == 0 && !v.CanWriteAttestations {
		return nil
	}
	list, err := s.st.ListPartners(ctx)
	if err != nil {
		return fmt.Errorf("cases: partners: %w", err)
	}
	names := map[string]string{}
	for _, p := range list {
		pv := s.openPartner(p)
		names[p.ID] = pv.Name
		if v.CanWriteAttestations && p.Active && !pv.Unreadable {
			v.Partners = append(v.Partners, PartnerOption{ID: p.ID, Name: pv.Name})
		}
	}
	for i := range v.Attestations {
		if id := v.Attestations[i].Body.PartnerID; id != "" {
			v.Attestations[i].PartnerName = names[id]
		}
	}
	return nil
}
