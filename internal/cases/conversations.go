package cases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// A case can hold several conversations: the hotline request it was
// opened from, and others linked to it since (a second request from the
// same person, a partner's request for the same family). A link is a case
// record of kind "conversation", so it is encrypted, erased and merged
// like every other record; it is not one of RecordKinds, so the generic
// record form cannot make one.
const (
	RecordConversation     = "conversation"
	KindConversationLinked = "conversation_linked"
)

// Conversations returns the ids of the hotline requests whose
// conversations belong to the case: the one it was opened from first, then
// the linked ones in the order they were linked. It needs access to the
// case's contents.
func (s *Service) Conversations(ctx context.Context, actor *store.User, caseID string) ([]string, error) {
	c, _, err := s.contentAccess(ctx, actor, caseID)
	if err != nil {
		return nil, err
	}
	return s.conversations(ctx, s.st, c)
}

func (s *Service) conversations(ctx context.Context, st store.Store, c *store.Case) ([]string, error) {
	var ids []string
	if c.RequestID != "" {
		ids = append(ids, c.RequestID)
	}
	records, err := st.CaseRecords(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("cases: records: %w", err)
	}
	var dk []byte
	for _, r := range records {
		if r.Kind != RecordConversation {
			continue
		}
		if dk == nil {
			if dk, err = s.dataKey(c); err != nil {
				return nil, err
			}
			defer keys.Wipe(dk)
		}
		b, err := openRecord(dk, r)
		if err != nil {
			return nil, err
		}
		if b.RequestID != "" && !slices.Contains(ids, b.RequestID) {
			ids = append(ids, b.RequestID)
		}
	}
	return ids, nil
}

// LinkRequest adds a hotline request's conversation to a case. The actor
// must be one who opens cases and have access to the case; reading the
// request itself is checked where its conversation is shown.
func (s *Service) LinkRequest(ctx context.Context, actor *store.User, caseID, requestID string) error {
	if !active(actor) || !CanOpen(actor.Role) {
		s.denied(ctx, actor, caseID)
		return ErrForbidden
	}
	return s.change(ctx, actor, caseID, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if _, err := tx.GetRequest(ctx, requestID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w: no such request", ErrInvalid)
			}
			return fmt.Errorf("cases: request: %w", err)
		}
		have, err := s.conversations(ctx, tx, c)
		if err != nil {
			return err
		}
		if slices.Contains(have, requestID) {
			return fmt.Errorf("%w: this conversation already belongs to the case", ErrInvalid)
		}
		return s.linkConversation(ctx, tx, c, actor.ID, requestID, now)
	})
}

// linkConversation writes the link record and its timeline event.
func (s *Service) linkConversation(ctx context.Context, tx store.Store, c *store.Case, actorID int64, requestID string, now time.Time) error {
	r := &store.CaseRecord{ID: newID("r"), CaseID: c.ID, Kind: RecordConversation, Status: "linked", Class: ClassIdentity, CreatedAt: now}
	return s.withKey(c, func(dk []byte) error {
		if err := sealRecord(dk, r, RecordBody{RequestID: requestID}); err != nil {
			return err
		}
		if err := tx.AddRecord(ctx, r); err != nil {
			return fmt.Errorf("cases: record: %w", err)
		}
		e := &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: now, ActorID: actorID, Kind: KindConversationLinked}
		if err := tx.AddCaseEvent(ctx, e); err != nil {
			return fmt.Errorf("cases: event: %w", err)
		}
		return s.record(ctx, tx, &store.User{ID: actorID}, "case.link_request", c.ID)
	})
}
