package cases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Risk levels, kept in clear on the case so that urgent cases rise to the
// top of every list.
const (
	RiskNotAssessed = 0
	RiskLow         = 1
	RiskMedium      = 2
	RiskHigh        = 3
	RiskImmediate   = 4 // immediate danger
	MaxRisk         = RiskImmediate
)

// Risk factors that may be given with a risk level.
const (
	FactorDetainedBefore = "detained_before"
	FactorFamilyThreat   = "family_threat"
	FactorPoliceSearch   = "police_search"
	FactorInjured        = "injured"
	FactorPhoneSeized    = "phone_seized"
	FactorMinorInvolved  = "minor_involved"
)

// RiskFactors lists every risk factor, in display order.
func RiskFactors() []string {
	return []string{FactorDetainedBefore, FactorFamilyThreat, FactorPoliceSearch, FactorInjured, FactorPhoneSeized, FactorMinorInvolved}
}

// Checklist is the verification checklist. A case is verified when all
// three are done.
type Checklist struct {
	Interview  bool `json:"interview"`  // an interview was held
	References bool `json:"references"` // references were checked
	Documents  bool `json:"documents"`  // documents were seen
}

// Complete reports whether every item is done.
func (c Checklist) Complete() bool { return c.Interview && c.References && c.Documents }

// The text that comes with an action (a move's reason, a verification
// note) is part of that action: the role rule of the action decides who
// may write it, not the class policy, and its class decides who may read
// it. Notes and sections, which are content in their own right, need the
// class to be writable.

// withKey runs fn with the case's data key, wiping it afterwards.
func (s *Service) withKey(c *store.Case, fn func(dk []byte) error) error {
	dk, err := s.dataKey(c)
	if err != nil {
		return err
	}
	defer keys.Wipe(dk)
	return fn(dk)
}

// addEvent encrypts and stores an event.
func (s *Service) addEvent(ctx context.Context, tx store.Store, c *store.Case, actor *store.User, now time.Time, kind, stage, class string, body *eventBody) error {
	return s.withKey(c, func(dk []byte) error {
		e, err := newEvent(dk, c, actor.ID, now, kind, stage, class, body)
		if err != nil {
			return err
		}
		if err := tx.AddCaseEvent(ctx, e); err != nil {
			return fmt.Errorf("cases: event: %w", err)
		}
		return nil
	})
}

// updateCase writes the clear state of c.
func updateCase(ctx context.Context, tx store.Store, c *store.Case, now time.Time) error {
	c.UpdatedAt = now
	if err := tx.UpdateCase(ctx, c); err != nil {
		return fmt.Errorf("cases: update: %w", err)
	}
	return nil
}

// UpdateSection merges fields into the section of one class: a field with
// an empty value is removed. The actor needs access to the case and a role
// that writes the class; logistics cannot be written before the case is
// verified (ErrUnverified).
func (s *Service) UpdateSection(ctx context.Context, actor *store.User, id, class string, fields map[string]string) error {
	if !ValidClass(class) {
		return fmt.Errorf("%w: unknown class", ErrInvalid)
	}
	clean, err := cleanFields(fields)
	if err != nil {
		return err
	}
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !s.pol.CanWrite(actor.Role, class) {
			return fmt.Errorf("%w: class %s", ErrForbidden, class)
		}
		if class == ClassLogistics && !c.Verified {
			return ErrUnverified
		}
		// Read, merge and write in one transaction, so that two people
		// editing different fields of a section do not undo each other.
		secs, err := tx.Sections(ctx, id)
		if err != nil {
			return fmt.Errorf("cases: sections: %w", err)
		}
		return s.withKey(c, func(dk []byte) error {
			current := map[string]string{}
			for _, sec := range secs {
				if sec.Class == class {
					if current, err = openSection(dk, sec); err != nil {
						return err
					}
				}
			}
			var changed []string
			for k, v := range clean {
				old, had := current[k]
				switch {
				case v == "" && had:
					delete(current, k)
				case v != "" && v != old:
					current[k] = v
				default:
					continue
				}
				changed = append(changed, k)
			}
			if len(changed) == 0 {
				return nil // nothing changed, nothing to record
			}
			if len(current) > MaxFields {
				return fmt.Errorf("%w: more than %d fields", ErrInvalid, MaxFields)
			}
			slices.Sort(changed)
			sec, err := sealSection(dk, c.ID, class, current, now)
			if err != nil {
				return err
			}
			if err := tx.PutSection(ctx, sec); err != nil {
				return fmt.Errorf("cases: section: %w", err)
			}
			// Which fields changed is itself of the section's class: the
			// name of a medical field says something medical.
			e, err := newEvent(dk, c, actor.ID, now, KindSection, "", class, &eventBody{Fields: changed})
			if err != nil {
				return err
			}
			if err := tx.AddCaseEvent(ctx, e); err != nil {
				return fmt.Errorf("cases: event: %w", err)
			}
			if err := s.record(ctx, tx, actor, "case.section", c.ID); err != nil {
				return err
			}
			if class == ClassIdentity {
				// Blind indexes and the watch list (duplicates.go).
				return s.indexIdentity(ctx, tx, c, current, now)
			}
			return nil
		})
	})
}

// Move moves a case to another stage. The workflow must allow the move
// (ErrTransition), a forward move needs its requirements (*MissingError),
// and a move into a closed stage needs one of the workflow's close
// reasons. reason is optional free text, kept encrypted in the timeline.
func (s *Service) Move(ctx context.Context, actor *store.User, id, to, closeReason, reason string) error {
	reason, err := cleanText(reason, MaxReasonRunes)
	if err != nil {
		return err
	}
	target := s.wf.stage(to)
	if target == nil {
		return fmt.Errorf("%w: unknown stage", ErrInvalid)
	}
	switch {
	case target.Closed && !s.wf.ValidCloseReason(closeReason):
		return fmt.Errorf("%w: closing needs one of the close reasons", ErrInvalid)
	case !target.Closed && closeReason != "":
		return fmt.Errorf("%w: a close reason only goes with a closed stage", ErrInvalid)
	}
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !CanMoveCases(actor.Role) {
			return ErrForbidden
		}
		if !s.wf.CanMove(c.Stage, to) {
			return fmt.Errorf("%w: from %s to %s", ErrTransition, c.Stage, to)
		}
		if missing := s.wf.Missing(c, to); len(missing) > 0 {
			return &MissingError{Requirements: missing}
		}
		if err := tx.EnterStage(ctx, c.ID, to, closeReason, now); err != nil {
			return fmt.Errorf("cases: enter stage: %w", err)
		}
		var body *eventBody
		if reason != "" || closeReason != "" {
			body = &eventBody{Text: reason, CloseReason: closeReason}
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindStage, to, workflowClass, body); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.move", c.ID)
	})
}

// SetRisk records a risk assessment: a level from RiskLow to
// RiskImmediate and factors from RiskFactors. The level is kept in clear
// (lists sort by it); the factors, which tell what happened, are
// encrypted in the timeline as testimony.
func (s *Service) SetRisk(ctx context.Context, actor *store.User, id string, level int, factors []string) error {
	if level < RiskLow || level > MaxRisk {
		return fmt.Errorf("%w: risk level %d", ErrInvalid, level)
	}
	var fs []string
	for _, f := range RiskFactors() {
		if slices.Contains(factors, f) {
			fs = append(fs, f)
		}
	}
	for _, f := range factors {
		if !slices.Contains(fs, f) {
			return fmt.Errorf("%w: unknown risk factor", ErrInvalid)
		}
	}
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !CanAssessRisk(actor.Role) {
			return ErrForbidden
		}
		c.Risk = level
		if err := updateCase(ctx, tx, c, now); err != nil {
			return err
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindRisk, "", ClassTestimony, &eventBody{Risk: level, Factors: fs}); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.risk", c.ID)
	})
}

// RecordVerification records the verification checklist. The case is
// verified exactly when every item is done, so recording an incomplete
// checklist later (doubts arose) withdraws verification, and with it the
// sight of logistics. note is optional and kept encrypted as testimony.
func (s *Service) RecordVerification(ctx context.Context, actor *store.User, id string, cl Checklist, note string) error {
	note, err := cleanText(note, MaxNoteRunes)
	if err != nil {
		return err
	}
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !CanVerify(actor.Role) {
			return ErrForbidden
		}
		c.Verified = cl.Complete()
		if err := updateCase(ctx, tx, c, now); err != nil {
			return err
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindVerify, "", ClassTestimony, &eventBody{Checklist: &cl, Text: note}); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.verify", c.ID)
	})
}

// Flag raises or clears the suspected-infiltrator flag. Anyone with access
// may raise it; only admins and coordinators may clear it. A flagged case
// cannot leave verification forward (RequireNotFlagged in the default
// workflow). note is optional and kept encrypted.
func (s *Service) Flag(ctx context.Context, actor *store.User, id string, flagged bool, note string) error {
	note, err := cleanText(note, MaxNoteRunes)
	if err != nil {
		return err
	}
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !flagged && !CanUnflag(actor.Role) {
			return ErrForbidden
		}
		c.Flagged = flagged
		if err := updateCase(ctx, tx, c, now); err != nil {
			return err
		}
		kind := KindFlag
		if !flagged {
			kind = KindUnflag
		}
		var body *eventBody
		if note != "" {
			// In the workflow class: whoever meets the person should be
			// able to read why they are suspected.
			body = &eventBody{Text: note}
		}
		if err := s.addEvent(ctx, tx, c, actor, now, kind, "", workflowClass, body); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.flag", c.ID)
	})
}

// target checks the user a case is assigned or shared to.
func (s *Service) target(ctx context.Context, tx store.Store, actor *store.User, userID int64, assign bool) error {
	if userID < 0 {
		return fmt.Errorf("%w: user id", ErrInvalid)
	}
	if userID == actor.ID {
		// Giving oneself a case would be break-glass without a reason or
		// an end: a coordinator reads a case through another person's
		// decision, or by breaking the glass.
		return fmt.Errorf("%w: a case is not assigned or shared to oneself; break the glass instead", ErrForbidden)
	}
	u, err := tx.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no such user", ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("cases: user: %w", err)
	}
	ok := s.pol.MayHold(u.Role)
	if assign {
		ok = s.pol.Assignable(u.Role)
	}
	if u.Disabled || !ok {
		return fmt.Errorf("%w: this user cannot take cases", ErrInvalid)
	}
	return nil
}

// Assign makes a user the case's assignee (0 leaves it unassigned). Only
// admins and coordinators assign, and they need not be able to read the
// case to do it. The assignee must be an enabled user whose role may be
// in charge of a case (not a custodian), and not the actor.
func (s *Service) Assign(ctx context.Context, actor *store.User, id string, userID int64) error {
	return s.change(ctx, actor, id, needManage, func(tx store.Store, c *store.Case, now time.Time) error {
		if userID != 0 {
			if err := s.target(ctx, tx, actor, userID, true); err != nil {
				return err
			}
		}
		if c.AssigneeID == userID {
			return nil
		}
		c.AssigneeID = userID
		if err := updateCase(ctx, tx, c, now); err != nil {
			return err
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindAssign, "", workflowClass, &eventBody{UserID: userID}); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.assign", c.ID)
	})
}

// Share lets another enabled user read the case besides its assignee, as
// far as their role's classes go. Admins and coordinators only, and not
// to themselves.
func (s *Service) Share(ctx context.Context, actor *store.User, id string, userID int64) error {
	return s.change(ctx, actor, id, needManage, func(tx store.Store, c *store.Case, now time.Time) error {
		if err := s.target(ctx, tx, actor, userID, false); err != nil {
			return err
		}
		shares, err := tx.CaseShares(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("cases: shares: %w", err)
		}
		if slices.Contains(shares, userID) {
			return nil
		}
		if err := tx.ShareCase(ctx, c.ID, userID); err != nil {
			return fmt.Errorf("cases: share: %w", err)
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindShare, "", workflowClass, &eventBody{UserID: userID}); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.share", c.ID)
	})
}

// Unshare withdraws a share. Admins and coordinators only.
func (s *Service) Unshare(ctx context.Context, actor *store.User, id string, userID int64) error {
	return s.change(ctx, actor, id, needManage, func(tx store.Store, c *store.Case, now time.Time) error {
		err := tx.UnshareCase(ctx, c.ID, userID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: the case is not shared with this user", ErrInvalid)
		}
		if err != nil {
			return fmt.Errorf("cases: unshare: %w", err)
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindUnshare, "", workflowClass, &eventBody{UserID: userID}); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.unshare", c.ID)
	})
}

// BreakGlass gives an admin or coordinator access to a case's contents
// for BreakGlassFor, for a stated reason of at least MinGlassRunes
// characters. It is audited (case.break_glass) and shows in the case's
// timeline, with the reason encrypted, for everyone who works the case.
func (s *Service) BreakGlass(ctx context.Context, actor *store.User, id, reason string) error {
	reason, err := cleanText(reason, MaxReasonRunes)
	if err != nil {
		return err
	}
	if utf8.RuneCountInString(reason) < MinGlassRunes {
		return fmt.Errorf("%w: say why, in at least %d characters", ErrInvalid, MinGlassRunes)
	}
	return s.change(ctx, actor, id, needManage, func(tx store.Store, c *store.Case, now time.Time) error {
		until := now.Add(BreakGlassFor)
		if err := tx.GrantAccess(ctx, c.ID, actor.ID, until); err != nil {
			return fmt.Errorf("cases: grant: %w", err)
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindBreakGlass, "", workflowClass, &eventBody{Text: reason, Until: until}); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.break_glass", c.ID)
	})
}

// AddNote adds a note of one class to the timeline. The actor needs access
// and a role that writes the class; logistics notes wait for verification.
func (s *Service) AddNote(ctx context.Context, actor *store.User, id, class, text string) error {
	if !ValidClass(class) {
		return fmt.Errorf("%w: unknown class", ErrInvalid)
	}
	text, err := cleanText(text, MaxNoteRunes)
	if err != nil {
		return err
	}
	if text == "" {
		return fmt.Errorf("%w: empty note", ErrInvalid)
	}
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !s.pol.CanWrite(actor.Role, class) {
			return fmt.Errorf("%w: class %s", ErrForbidden, class)
		}
		if class == ClassLogistics && !c.Verified {
			return ErrUnverified
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindNote, "", class, &eventBody{Text: text}); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.note", c.ID)
	})
}

// Erase crypto-shreds a case: its wrapped data key, every section and
// every event body are deleted, so nothing of it can be decrypted again,
// with the root key or without. What stays is the clear shell (that a case
// existed, its stages and dates, who did what when) and the audit entry
// case.erase. Admins and coordinators with access (break-glass counts)
// may erase.
//
// reason is required, so that nobody erases a case without deciding to,
// but it is not kept: anything written there about the person would
// outlive the erasure it explains, and the case key it could be encrypted
// under is what is being destroyed.
func (s *Service) Erase(ctx context.Context, actor *store.User, id, reason string) error {
	reason, err := cleanText(reason, MaxReasonRunes)
	if err != nil {
		return err
	}
	if reason == "" {
		return fmt.Errorf("%w: say why the case is erased", ErrInvalid)
	}
	err = s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !CanManage(actor.Role) {
			return ErrForbidden
		}
		// The event goes in first and carries nothing, so the shredding
		// below leaves it whole.
		e := &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: now, ActorID: actor.ID, Kind: KindErase}
		if err := tx.AddCaseEvent(ctx, e); err != nil {
			return fmt.Errorf("cases: event: %w", err)
		}
		if err := tx.EraseCase(ctx, c.ID, now); err != nil {
			return fmt.Errorf("cases: erase: %w", err)
		}
		return s.record(ctx, tx, actor, "case.erase", c.ID)
	})
	if err != nil {
		return err
	}
	// Nothing caches case keys today; this keeps it that way if
	// something ever does.
	s.vault.ForgetDataKey(id)
	return nil
}
