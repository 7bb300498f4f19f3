package cases

import (
	"context"
	"fmt"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// SeedCase is a case with its whole history given, for demonstration data
// and benchmarks (corridor demo). Seed writes it as it is: the workflow's
// transitions and requirements are not checked, because the history is
// made up to look like what the rules would have produced.
type SeedCase struct {
	CreatedAt  time.Time
	Risk       int
	Verified   bool
	Flagged    bool
	AssigneeID int64
	RequestID  string
	// Sections maps a class to its fields, as OpenInput.Sections.
	Sections map[string]map[string]string
	// Stages are the stages entered after the initial one, oldest first.
	Stages []SeedStage
	// Notes are added to the timeline.
	Notes         []SeedNote
	LastContactAt time.Time
}

// SeedStage is one move of a seeded case.
type SeedStage struct {
	Stage       string
	CloseReason string // for a closed stage
	At          time.Time
	ActorID     int64
}

// SeedNote is one note of a seeded case.
type SeedNote struct {
	At      time.Time
	ActorID int64
	Class   string
	Text    string
}

// Seed writes cases in one transaction, encrypted exactly as Open and the
// actions would (per-case data key, sections, event bodies, blind
// indexes), and records one audit entry, case.seed, for the batch: the
// argon2id and fsync costs of one transaction per case would make a
// 100,000-case installation take hours. It returns the new cases' ids.
// actorID is the staff member (0 for the system) running the seeding.
func (s *Service) Seed(ctx context.Context, actorID int64, batch []SeedCase) ([]string, error) {
	type prepared struct {
		c      *store.Case
		secs   []*store.CaseSection
		events []*store.CaseEvent
		stages []SeedStage
		index  []store.IndexEntry
	}
	var all []prepared
	for _, in := range batch {
		created := in.CreatedAt.UTC().Truncate(time.Microsecond)
		c := &store.Case{ID: newID("c"), CreatedAt: created, UpdatedAt: created, Stage: s.wf.Initial(), StageSince: created,
			Risk: in.Risk, Verified: in.Verified, Flagged: in.Flagged, AssigneeID: in.AssigneeID, RequestID: in.RequestID,
			LastContactAt: in.LastContactAt}
		if in.Risk < 0 || in.Risk > MaxRisk {
			return nil, fmt.Errorf("%w: risk level %d", ErrInvalid, in.Risk)
		}
		dk := keys.NewKey()
		p := prepared{c: c, stages: in.Stages}
		err := func() error {
			defer keys.Wipe(dk)
			var err error
			if c.WrappedKey, err = s.vault.WrapDataKey(c.ID, dk); err != nil {
				return fmt.Errorf("cases: wrap data key: %w", err)
			}
			for class, fields := range in.Sections {
				if !ValidClass(class) {
					return fmt.Errorf("%w: unknown class %q", ErrInvalid, class)
				}
				clean, err := cleanFields(fields)
				if err != nil {
					return err
				}
				sec, err := sealSection(dk, c.ID, class, clean, created)
				if err != nil {
					return err
				}
				p.secs = append(p.secs, sec)
			}
			ev, err := newEvent(dk, c, actorID, created, KindOpened, c.Stage, "", nil)
			if err != nil {
				return err
			}
			p.events = append(p.events, ev)
			for _, st := range in.Stages {
				if s.wf.stage(st.Stage) == nil {
					return fmt.Errorf("%w: unknown stage %q", ErrInvalid, st.Stage)
				}
				var body *eventBody
				if st.CloseReason != "" {
					body = &eventBody{CloseReason: st.CloseReason}
				}
				ev, err := newEvent(dk, c, st.ActorID, st.At.UTC().Truncate(time.Microsecond), KindStage, st.Stage, workflowClass, body)
				if err != nil {
					return err
				}
				p.events = append(p.events, ev)
			}
			for _, n := range in.Notes {
				if !ValidClass(n.Class) {
					return fmt.Errorf("%w: unknown class %q", ErrInvalid, n.Class)
				}
				ev, err := newEvent(dk, c, n.ActorID, n.At.UTC().Truncate(time.Microsecond), KindNote, "", n.Class, &eventBody{Text: n.Text})
				if err != nil {
					return err
				}
				p.events = append(p.events, ev)
			}
			p.index, err = s.blindValues(IdentityValues(in.Sections[ClassIdentity]))
			return err
		}()
		if err != nil {
			return nil, err
		}
		all = append(all, p)
	}
	ids := make([]string, 0, len(all))
	err := s.st.Tx(ctx, func(tx store.Store) error {
		for _, p := range all {
			if err := tx.CreateCase(ctx, p.c); err != nil {
				return fmt.Errorf("cases: create: %w", err)
			}
			for _, sec := range p.secs {
				if err := tx.PutSection(ctx, sec); err != nil {
					return fmt.Errorf("cases: section: %w", err)
				}
			}
			for _, st := range p.stages {
				if err := tx.EnterStage(ctx, p.c.ID, st.Stage, st.CloseReason, st.At); err != nil {
					return fmt.Errorf("cases: enter stage: %w", err)
				}
			}
			for _, e := range p.events {
				if err := tx.AddCaseEvent(ctx, e); err != nil {
					return fmt.Errorf("cases: event: %w", err)
				}
			}
			if len(p.index) > 0 {
				if err := tx.SetCaseIndex(ctx, p.c.ID, p.index); err != nil {
					return fmt.Errorf("cases: index: %w", err)
				}
			}
			ids = append(ids, p.c.ID)
		}
		return audit.New(tx, s.now).Record(ctx, actorID, "case.seed", "case")
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
