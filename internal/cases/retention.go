package cases

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/store"
)

// ApplyRetention erases every closed case whose close reason has a
// retention rule in the workflow and that has been closed for longer than
// the rule says. It runs as the system (actor 0), needs no unsealed vault
// (erasing destroys keys, it does not use them), and returns the number of
// cases it erased. A case reopened or closed again for another reason in
// the meantime is left alone: each case is checked again inside the
// transaction that erases it.
func (s *Service) ApplyRetention(ctx context.Context) (int, error) {
	now := s.clock()
	var due []string
	for _, st := range s.wf.Stages() {
		if !st.Closed {
			continue
		}
		for offset := 0; ; offset += 500 {
			page, _, err := s.st.ListCases(ctx, store.CaseFilter{Stage: st.ID, Limit: 500, Offset: offset})
			if err != nil {
				return 0, fmt.Errorf("cases: retention: %w", err)
			}
			for _, c := range page {
				if s.retentionDue(c, now) {
					due = append(due, c.ID)
				}
			}
			if len(page) < 500 {
				break
			}
		}
	}
	erased := 0
	for _, id := range due {
		err := s.st.Tx(ctx, func(tx store.Store) error {
			c, err := tx.GetCase(ctx, id)
			if err != nil {
				return err
			}
			if !c.ErasedAt.IsZero() || !s.retentionDue(c, now) {
				return errNotDue
			}
			e := &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: now, Kind: KindErase}
			if err := tx.AddCaseEvent(ctx, e); err != nil {
				return fmt.Errorf("cases: event: %w", err)
			}
			if err := tx.EraseCase(ctx, c.ID, now); err != nil {
				return fmt.Errorf("cases: erase: %w", err)
			}
			return audit.New(tx, s.now).Record(ctx, 0, "case.retention_erase", object(c.ID))
		})
		if errors.Is(err, errNotDue) {
			continue
		}
		if err != nil {
			return erased, fmt.Errorf("cases: retention: %w", err)
		}
		s.vault.ForgetDataKey(id)
		erased++
	}
	return erased, nil
}

var errNotDue = errors.New("cases: not due for erasure")

func (s *Service) retentionDue(c *store.Case, now time.Time) bool {
	if c.CloseReason == "" || !s.wf.IsClosed(c.Stage) {
		return false
	}
	keep, ok := s.wf.Retention(c.CloseReason)
	return ok && now.Sub(c.StageSince) >= keep
}
