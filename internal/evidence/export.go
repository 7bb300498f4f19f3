package evidence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/store"
)

// What a court export (package courtbag, `corridor export`) needs from the
// vault: which items, their originals opened with a custodian's identity,
// an exported event per item, and their custody trails with log
// positions. Whoever runs the export holds the data directory and a
// custodian's key, so, like Import and OpenWithIdentity, none of this has
// a staff access check; the export is in the audit log and, per item, in
// the custody trail.

// ErrNoConsent reports items selected for a court export for which no
// consent to court use is recorded.
var ErrNoConsent = errors.New("evidence: no consent to use in court is recorded")

// Selection picks the items of a court export: exactly one of CaseID, IDs
// and All.
type Selection struct {
	// CaseID selects a case's items and those of the request the case was
	// opened from (what the person sent before there was a case).
	CaseID string
	IDs    []string
	All    bool
	// WithoutConsent lets items whose consent is still "none" in. By
	// default they are refused (ErrNoConsent): the person has not agreed
	// to court use, or nobody recorded that they did. Destroyed items are
	// always let in: only their custody trail is exported.
	WithoutConsent bool
}

// ExportItem is an item as an export sees it.
type ExportItem struct {
	ID         string
	Commitment [32]byte
	Consent    string
	Destroyed  bool
}

// CourtConsent reports whether consent allows court use: "court", and
// "public_anonymised", which allows anonymised public use as well.
func CourtConsent(consent string) bool {
	return consent == store.ConsentCourt || consent == store.ConsentPublicAnonymised
}

// ExportItems resolves a selection, oldest item first. An unknown item or
// case is ErrNotFound.
func (s *Service) ExportItems(ctx context.Context, sel Selection) ([]ExportItem, error) {
	n := 0
	for _, set := range []bool{sel.CaseID != "", len(sel.IDs) > 0, sel.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: select a case, a list of items, or all items", ErrInvalid)
	}
	var items []*store.EvidenceItem
	switch {
	case sel.All:
		list, err := s.st.ListEvidence(ctx, store.EvidenceFilter{})
		if err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
		items = list
	case sel.CaseID != "":
		c, err := s.st.GetCase(ctx, sel.CaseID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: no case %q", ErrNotFound, sel.CaseID)
		}
		if err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
		filters := []store.EvidenceFilter{{CaseID: c.ID}}
		if c.RequestID != "" {
			filters = append(filters, store.EvidenceFilter{RequestID: c.RequestID})
		}
		for _, f := range filters {
			list, err := s.st.ListEvidence(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("evidence: %w", err)
			}
			items = append(items, list...)
		}
	default:
		seen := map[string]bool{}
		for _, id := range sel.IDs {
			if seen[id] {
				continue
			}
			seen[id] = true
			it, err := s.getItem(ctx, s.st, id)
			if errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("%w: no item %q", ErrNotFound, id)
			}
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
	}
	slices.SortFunc(items, func(a, b *store.EvidenceItem) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	items = slices.CompactFunc(items, func(a, b *store.EvidenceItem) bool { return a.ID == b.ID })

	out := make([]ExportItem, 0, len(items))
	var refused []string
	for _, it := range items {
		if len(it.Commitment) != 32 {
			return nil, fmt.Errorf("%w: item %s has no valid commitment", ErrIntegrity, it.ID)
		}
		e := ExportItem{ID: it.ID, Commitment: [32]byte(it.Commitment), Consent: it.Consent, Destroyed: !it.DestroyedAt.IsZero()}
		if !e.Destroyed && !sel.WithoutConsent && !CourtConsent(e.Consent) {
			refused = append(refused, it.ID)
		}
		out = append(out, e)
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("%w for %d item(s): %s", ErrNoConsent, len(refused), strings.Join(refused, ", "))
	}
	return out, nil
}

// OpenOriginal opens an item's sealed record and original with a
// custodian's identities, for streaming into an export. The record is
// checked against the item (its id and commitment); the reader checks the
// original against the SHA-256 taken at ingest and returns ErrIntegrity
// instead of io.EOF if it differs, so nothing read is the original until
// the reader has returned io.EOF. It records nothing: the exporter records
// an exported event with RecordExported. A destroyed item is ErrDestroyed.
func (s *Service) OpenOriginal(ctx context.Context, id string, ids ...age.Identity) (*Record, io.ReadCloser, error) {
	it, err := s.getItem(ctx, s.st, id)
	if err != nil {
		return nil, nil, err
	}
	if !it.DestroyedAt.IsZero() {
		return nil, nil, ErrDestroyed
	}
	rec, err := OpenRecord(it.Record, ids...)
	if err != nil {
		return nil, nil, err
	}
	if rec.ItemID != it.ID || rec.Commitment() != [32]byte(it.Commitment) {
		return nil, nil, fmt.Errorf("%w: the sealed record is not this item's", ErrIntegrity)
	}
	rc, err := s.openOriginal(ctx, it, rec, ids...)
	if err != nil {
		return nil, nil, err
	}
	return rec, rc, nil
}

// RecordExported appends an exported event to an item's custody trail, by
// the command line, with an evidence.export audit entry in the same
// transaction, and returns the event. A destroyed item is ErrDestroyed:
// its trail ends with its destruction.
func (s *Service) RecordExported(ctx context.Context, id string) (Event, error) {
	if _, err := s.getItem(ctx, s.st, id); err != nil {
		return Event{}, err
	}
	recips, err := s.recipients(ctx, s.st)
	if errors.Is(err, ErrNoRecipients) {
		recips = nil // recorded all the same; its actor opening is not sealed
	} else if err != nil {
		return Event{}, err
	}
	var ev Event
	err = s.tx(ctx, func(tx store.Store) error {
		cur, err := tx.GetEvidence(ctx, id)
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		if !cur.DestroyedAt.IsZero() {
			return ErrDestroyed
		}
		e, err := s.appendEvent(ctx, tx, cur, EventExported, actorCLI, cur.Consent, recips)
		if err != nil {
			return err
		}
		ev = *e
		return audit.New(tx, s.cfg.Now).Record(ctx, 0, "evidence.export", object(id))
	})
	return ev, err
}

// Trail returns an item's custody trail with each event's log position,
// oldest first, checked as a chain. It is for the command line; the staff
// site uses Events, which checks access and is audited.
func (s *Service) Trail(ctx context.Context, id string) ([]LoggedEvent, error) {
	if !validItemID(id) {
		return nil, ErrNotFound
	}
	es, err := s.trail(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return es, err
}
