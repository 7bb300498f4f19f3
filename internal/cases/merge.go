package cases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// KindMerged marks, in the case merged into, where another case's
// history joined it.
const KindMerged = "merged"

// mergedField names where a conflicting field of the merged case goes,
// within the field-name pattern (at most 40 characters): name →
// name_merged, then name_merged2, … .
func mergedField(name string, taken func(string) bool) string {
	for i := 1; ; i++ {
		suffix := "_merged"
		if i > 1 {
			suffix += fmt.Sprint(i)
		}
		base := name
		if len(base)+len(suffix) > 40 {
			base = base[:40-len(suffix)]
		}
		if f := base + suffix; !taken(f) {
			return f
		}
	}
}

// Merge merges case fromID into case intoID, when both are one person (the
// same person reached out twice, through different channels). In one
// transaction:
//
//   - every section of from is merged into into's: into wins a conflict,
//     and from's value is kept as field_merged;
//   - every event of from is re-encrypted under into's key and copied into
//     its timeline with its original time and actor, followed by a
//     "merged" event;
//   - from's shares (and its assignee, as a share) are added to into; the
//     flag carries over, and the higher risk level;
//   - into's blind indexes are recomputed (and the watch list checked);
//   - from is crypto-shredded; the audit log records case.merge on into,
//     case.erase on from and case.merged_into naming both ids.
//
// Admins and coordinators with access to both cases' contents may merge.
func (s *Service) Merge(ctx context.Context, actor *store.User, intoID, fromID string) error {
	if !validID(intoID) || !validID(fromID) {
		return fmt.Errorf("%w: %w", ErrNotFound, store.ErrNotFound)
	}
	if intoID == fromID {
		return fmt.Errorf("%w: a case cannot be merged into itself", ErrInvalid)
	}
	if !active(actor) || !CanManage(actor.Role) {
		s.denied(ctx, actor, intoID)
		return ErrForbidden
	}
	var refused string
	err := s.st.Tx(ctx, func(tx store.Store) error {
		now := s.clock()
		// from first: a case id that does not exist is reported as such
		// whatever the access to into.
		from, err := s.getCase(ctx, tx, fromID)
		if err != nil {
			return err
		}
		into, err := s.getCase(ctx, tx, intoID)
		if err != nil {
			return err
		}
		if !from.ErasedAt.IsZero() || !into.ErasedAt.IsZero() {
			return ErrErased
		}
		for _, c := range []*store.Case{into, from} {
			how, err := s.accessOf(ctx, tx, actor, c, now)
			if err != nil {
				return err
			}
			if how == "" {
				refused = c.ID
				return ErrForbidden
			}
		}
		dkInto, err := s.dataKey(into)
		if err != nil {
			return err
		}
		defer keys.Wipe(dkInto)
		dkFrom, err := s.dataKey(from)
		if err != nil {
			return err
		}
		defer keys.Wipe(dkFrom)

		identity, err := s.mergeSections(ctx, tx, into, from, dkInto, dkFrom, now)
		if err != nil {
			return err
		}
		if err := s.mergeEvents(ctx, tx, into, from, dkInto, dkFrom); err != nil {
			return err
		}
		if err := s.mergeShares(ctx, tx, into, from); err != nil {
			return err
		}
		if err := s.mergeWork(ctx, tx, into, from, dkInto, dkFrom, now); err != nil {
			return err
		}
		// Placements hold places in houses: they move after from is
		// erased (which removes its own), so the capacity check does not
		// count the same stay twice.
		placements, err := tx.CasePlacements(ctx, from.ID)
		if err != nil {
			return fmt.Errorf("cases: placements: %w", err)
		}
		into.Flagged = into.Flagged || from.Flagged
		into.Risk = max(into.Risk, from.Risk)
		if from.LastContactAt.After(into.LastContactAt) {
			into.LastContactAt = from.LastContactAt
		}
		if err := updateCase(ctx, tx, into, now); err != nil {
			return err
		}
		if err := s.addEvent(ctx, tx, into, actor, now, KindMerged, "", workflowClass,
			&eventBody{Text: "merged from case " + from.ID}); err != nil {
			return err
		}
		if err := s.indexIdentity(ctx, tx, into, identity, now); err != nil {
			return err
		}
		// from keeps its clear shell (stages, dates, who did what), as any
		// erased case does; its contents now live in into.
		e := &store.CaseEvent{ID: newID("e"), CaseID: from.ID, At: now, ActorID: actor.ID, Kind: KindErase}
		if err := tx.AddCaseEvent(ctx, e); err != nil {
			return fmt.Errorf("cases: event: %w", err)
		}
		if err := tx.EraseCase(ctx, from.ID, now); err != nil {
			return fmt.Errorf("cases: erase: %w", err)
		}
		for _, pl := range placements {
			cp := *pl
			cp.ID, cp.CaseID = newID("p"), into.ID
			if err := tx.AddPlacement(ctx, &cp); err != nil {
				return fmt.Errorf("cases: placement: %w", err)
			}
			if !pl.Until.IsZero() {
				if err := tx.EndPlacement(ctx, into.ID, cp.ID, pl.Until); err != nil {
					return fmt.Errorf("cases: placement: %w", err)
				}
			}
		}
		a := audit.New(tx, s.now)
		if err := a.Record(ctx, actor.ID, "case.merge", object(into.ID)); err != nil {
			return err
		}
		if err := a.Record(ctx, actor.ID, "case.erase", object(from.ID)); err != nil {
			return err
		}
		// Ids only: which case went into which.
		return a.Record(ctx, actor.ID, "case.merged_into", "merge:"+from.ID+"-"+into.ID)
	})
	if errors.Is(err, ErrForbidden) && refused != "" {
		s.denied(ctx, actor, refused)
	}
	if err != nil {
		return err
	}
	s.vault.ForgetDataKey(fromID)
	return nil
}

// mergeSections merges from's sections into into's and returns into's
// identity fields as written.
func (s *Service) mergeSections(ctx context.Context, tx store.Store, into, from *store.Case, dkInto, dkFrom []byte, now time.Time) (map[string]string, error) {
	open := func(c *store.Case, dk []byte) (map[string]map[string]string, error) {
		secs, err := tx.Sections(ctx, c.ID)
		if err != nil {
			return nil, fmt.Errorf("cases: sections: %w", err)
		}
		out := map[string]map[string]string{}
		for _, sec := range secs {
			if out[sec.Class], err = openSection(dk, sec); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	mine, err := open(into, dkInto)
	if err != nil {
		return nil, err
	}
	theirs, err := open(from, dkFrom)
	if err != nil {
		return nil, err
	}
	for _, class := range Classes() {
		add := theirs[class]
		if len(add) == 0 {
			continue
		}
		cur := mine[class]
		if cur == nil {
			cur = map[string]string{}
			mine[class] = cur
		}
		names := make([]string, 0, len(add))
		for k := range add {
			names = append(names, k)
		}
		slices.Sort(names) // so that _merged, _merged2 … are given in a stable order
		for _, k := range names {
			v := add[k]
			old, had := cur[k]
			switch {
			case !had:
				cur[k] = v
			case old != v:
				cur[mergedField(k, func(f string) bool { _, ok := cur[f]; return ok })] = v
			}
		}
		if len(cur) > MaxFields {
			return nil, fmt.Errorf("%w: merged %s section would have more than %d fields", ErrInvalid, class, MaxFields)
		}
		sec, err := sealSection(dkInto, into.ID, class, cur, now)
		if err != nil {
			return nil, err
		}
		if err := tx.PutSection(ctx, sec); err != nil {
			return nil, fmt.Errorf("cases: section: %w", err)
		}
	}
	return mine[ClassIdentity], nil
}

// mergeEvents copies from's timeline into into's, each body re-encrypted
// under into's key and bound to its new id.
func (s *Service) mergeEvents(ctx context.Context, tx store.Store, into, from *store.Case, dkInto, dkFrom []byte) error {
	events, err := tx.CaseEvents(ctx, from.ID)
	if err != nil {
		return fmt.Errorf("cases: events: %w", err)
	}
	for _, e := range events {
		cp := &store.CaseEvent{ID: newID("e"), CaseID: into.ID, At: e.At, ActorID: e.ActorID, Kind: e.Kind, Stage: e.Stage, Class: e.Class}
		if e.Body != nil {
			plain, err := keys.Decrypt(dkFrom, e.Body, adEvent(from.ID, e.ID, e.Class)...)
			if err != nil {
				return fmt.Errorf("cases: event %s of %s: %w", e.ID, from.ID, err)
			}
			cp.Body, err = keys.Encrypt(dkInto, plain, adEvent(into.ID, cp.ID, e.Class)...)
			clear(plain)
			if err != nil {
				return fmt.Errorf("cases: encrypt event: %w", err)
			}
		}
		if err := tx.AddCaseEvent(ctx, cp); err != nil {
			return fmt.Errorf("cases: event: %w", err)
		}
	}
	return nil
}

// mergeShares gives everyone who worked on from access to into: its
// shares, and its assignee as a share (into keeps its own assignee).
func (s *Service) mergeShares(ctx context.Context, tx store.Store, into, from *store.Case) error {
	shares, err := tx.CaseShares(ctx, from.ID)
	if err != nil {
		return fmt.Errorf("cases: shares: %w", err)
	}
	if from.AssigneeID != 0 {
		shares = append(shares, from.AssigneeID)
	}
	for _, uid := range shares {
		if uid == into.AssigneeID {
			continue
		}
		if err := tx.ShareCase(ctx, into.ID, uid); err != nil {
			return fmt.Errorf("cases: share: %w", err)
		}
	}
	return nil
}

// mergeWork copies from's records (documents, visas, trips, people,
// attestations), tasks, expenses and consents into into, each ciphertext
// re-encrypted under into's key and bound to its new record id, so that
// merging keeps the whole history. Referral packages are not copied: they
// are sealed to partners and no key here opens them; the timeline keeps
// that they were sent.
func (s *Service) mergeWork(ctx context.Context, tx store.Store, into, from *store.Case, dkInto, dkFrom []byte, now time.Time) error {
	rewrap := func(ct []byte, adFrom, adInto []string) ([]byte, error) {
		if ct == nil {
			return nil, nil
		}
		plain, err := keys.Decrypt(dkFrom, ct, adFrom...)
		if err != nil {
			return nil, err
		}
		defer clear(plain)
		return keys.Encrypt(dkInto, plain, adInto...)
	}
	records, err := tx.CaseRecords(ctx, from.ID)
	if err != nil {
		return fmt.Errorf("cases: records: %w", err)
	}
	for _, r := range records {
		cp := *r
		cp.ID, cp.CaseID = newID("r"), into.ID
		if cp.Body, err = rewrap(r.Body, adRecord(from.ID, r.ID, r.Class), adRecord(into.ID, cp.ID, r.Class)); err != nil {
			return fmt.Errorf("cases: record %s of %s: %w", r.ID, from.ID, err)
		}
		if err := tx.AddRecord(ctx, &cp); err != nil {
			return fmt.Errorf("cases: record: %w", err)
		}
	}
	tasks, err := tx.CaseTasks(ctx, from.ID)
	if err != nil {
		return fmt.Errorf("cases: tasks: %w", err)
	}
	for _, t := range tasks {
		cp := *t
		cp.ID, cp.CaseID = newID("t"), into.ID
		if cp.Title, err = rewrap(t.Title, adTask(from.ID, t.ID, t.Class), adTask(into.ID, cp.ID, t.Class)); err != nil {
			return fmt.Errorf("cases: task %s of %s: %w", t.ID, from.ID, err)
		}
		if err := tx.CreateTask(ctx, &cp); err != nil {
			return fmt.Errorf("cases: task: %w", err)
		}
	}
	expenses, err := tx.CaseExpenses(ctx, from.ID)
	if err != nil {
		return fmt.Errorf("cases: expenses: %w", err)
	}
	for _, x := range expenses {
		cp := *x
		cp.ID, cp.CaseID = newID("x"), into.ID
		if cp.Note, err = rewrap(x.Note, adExpense(from.ID, x.ID), adExpense(into.ID, cp.ID)); err != nil {
			return fmt.Errorf("cases: expense %s of %s: %w", x.ID, from.ID, err)
		}
		if err := tx.AddExpense(ctx, &cp); err != nil {
			return fmt.Errorf("cases: expense: %w", err)
		}
	}
	// The conversation from was opened from becomes one of into's.
	if from.RequestID != "" && from.RequestID != into.RequestID {
		if err := s.linkConversation(ctx, tx, into, 0, from.RequestID, now); err != nil {
			return err
		}
	}
	consents, err := tx.CaseConsents(ctx, from.ID)
	if err != nil {
		return fmt.Errorf("cases: consents: %w", err)
	}
	for _, c := range consents {
		cp := *c
		cp.ID, cp.CaseID = newID("k"), into.ID
		if cp.Note, err = rewrap(c.Note, adConsent(from.ID, c.ID), adConsent(into.ID, cp.ID)); err != nil {
			return fmt.Errorf("cases: consent %s of %s: %w", c.ID, from.ID, err)
		}
		if err := tx.AddConsent(ctx, &cp); err != nil {
			return fmt.Errorf("cases: consent: %w", err)
		}
	}
	return nil
}
