package evidence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Custodian is a custodian as an admin sees it.
type Custodian struct {
	*store.Custodian
	Name string // decrypted; "" if unreadable
}

// ErrDuplicateCustodian: an active custodian already has this recipient.
var ErrDuplicateCustodian = errors.New("evidence: an active custodian already has this recipient")

const maxCustodianName = 200

// Custodian names are encrypted under the staff key, like staff
// usernames: they name the group's lawyers.
func adCustodianName(id string) []string { return []string{"custodian", id, "name"} }

// mayManageCustodians: admins, or the command line (actor nil).
func (s *Service) mayManageCustodians(ctx context.Context, actor *store.User) error {
	if actor == nil {
		return nil
	}
	if !active(actor) || actor.Role != store.RoleAdmin {
		s.denied(ctx, actor, "custodian")
		return ErrForbidden
	}
	return nil
}

func auditActor(actor *store.User) int64 {
	if actor == nil {
		return 0
	}
	return actor.ID
}

// AddCustodian adds a custodian: every item ingested from now on is also
// sealed to their recipient (items already stored are not: they stay
// readable by whoever they were sealed to). actor nil means the command
// line. It needs the vault unsealed (the name is encrypted). Audited as
// custodian.add.
func (s *Service) AddCustodian(ctx context.Context, actor *store.User, name, recipient string) (*Custodian, error) {
	if err := s.mayManageCustodians(ctx, actor); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxCustodianName || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, fmt.Errorf("%w: a custodian's name is 1 to %d bytes of text on one line", ErrInvalid, maxCustodianName)
	}
	recipient = strings.TrimSpace(recipient)
	if _, err := ParseRecipient(recipient); err != nil {
		return nil, err
	}
	key, err := s.vault.Key(keys.PurposeStaff)
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(key)
	c := &store.Custodian{ID: newID("u"), Recipient: recipient, Active: true, CreatedAt: s.now()}
	if c.Name, err = keys.Encrypt(key, []byte(name), adCustodianName(c.ID)...); err != nil {
		return nil, err
	}
	err = s.st.Tx(ctx, func(tx store.Store) error {
		existing, err := tx.ListCustodians(ctx)
		if err != nil {
			return err
		}
		for _, e := range existing {
			if e.Active && e.Recipient == recipient {
				return ErrDuplicateCustodian
			}
		}
		if err := tx.AddCustodian(ctx, c); err != nil {
			return err
		}
		return audit.New(tx, s.cfg.Now).Record(ctx, auditActor(actor), "custodian.add", "custodian:"+c.ID)
	})
	if err != nil {
		return nil, err
	}
	return &Custodian{Custodian: c, Name: name}, nil
}

// Custodians lists every custodian, active or not, oldest first. Names
// are decrypted when the vault is unsealed ("" otherwise).
func (s *Service) Custodians(ctx context.Context, actor *store.User) ([]Custodian, error) {
	if err := s.mayManageCustodians(ctx, actor); err != nil {
		return nil, err
	}
	list, err := s.st.ListCustodians(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence: custodians: %w", err)
	}
	key, _ := s.vault.Key(keys.PurposeStaff)
	defer keys.Wipe(key)
	out := make([]Custodian, len(list))
	for i, c := range list {
		out[i].Custodian = c
		if key != nil {
			if name, err := keys.Decrypt(key, c.Name, adCustodianName(c.ID)...); err == nil {
				out[i].Name = string(name)
			}
		}
	}
	return out, nil
}

// DisableCustodian stops sealing new items to a custodian (who keeps
// access to the items already sealed to them: age cannot take that back;
// to cut them off from an item, destroy it). Audited as custodian.disable.
func (s *Service) DisableCustodian(ctx context.Context, actor *store.User, id string) error {
	if err := s.mayManageCustodians(ctx, actor); err != nil {
		return err
	}
	if !validItemID(id) {
		return ErrNotFound
	}
	err := s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.DisableCustodian(ctx, id, s.now()); err != nil {
			return err
		}
		return audit.New(tx, s.cfg.Now).Record(ctx, auditActor(actor), "custodian.disable", "custodian:"+id)
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
