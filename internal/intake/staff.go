package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Who may do what with requests. Logistics and custodians never see
// testimony (DESIGN.md, "People who use it").
var (
	readAll    = []string{store.RoleAdmin, store.RoleCoordinator, store.RoleOperator}
	readOwn    = []string{store.RoleCaseworker}
	assigners  = []string{store.RoleAdmin, store.RoleCoordinator, store.RoleOperator}
	assignable = []string{store.RoleAdmin, store.RoleCoordinator, store.RoleOperator, store.RoleCaseworker}
)

// CanUseInbox reports whether a role may open the inbox at all.
func CanUseInbox(role string) bool {
	return slices.Contains(readAll, role) || slices.Contains(readOwn, role)
}

// CanAssign reports whether a role may assign requests.
func CanAssign(role string) bool { return slices.Contains(assigners, role) }

// Assignable reports whether a user of this role may be assigned a request.
func Assignable(role string) bool { return slices.Contains(assignable, role) }

// CanRead reports whether u may read request r.
func CanRead(u *store.User, r *store.Request) bool {
	if u == nil || u.Disabled {
		return false
	}
	if slices.Contains(readAll, u.Role) {
		return true
	}
	return slices.Contains(readOwn, u.Role) && r.AssigneeID == u.ID
}

// InboxItem is one row of the staff inbox.
type InboxItem struct {
	Request *store.Request
	Summary string // the first words of what happened; "" if unreadable
}

// Inbox lists requests the viewer may see: everything for admins,
// coordinators and operators, only their own for caseworkers.
func (s *Service) Inbox(ctx context.Context, viewer *store.User, status string, page, perPage int) ([]InboxItem, int, error) {
	if !CanUseInbox(viewer.Role) {
		return nil, 0, ErrForbidden
	}
	if status != "" && !validStatus(status) {
		return nil, 0, ErrInvalid
	}
	f := store.InboxFilter{Status: status, Limit: perPage, Offset: max(page-1, 0) * perPage}
	if !slices.Contains(readAll, viewer.Role) {
		f.AssigneeID = viewer.ID
	}
	reqs, total, err := s.st.ListInbox(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("intake: inbox: %w", err)
	}
	items := make([]InboxItem, len(reqs))
	for i, r := range reqs {
		items[i] = InboxItem{Request: r, Summary: s.summary(r)}
	}
	// The inbox shows the start of each request: that is a read of each,
	// and each is audited, in one transaction with the listing's entry.
	err = s.st.Tx(ctx, func(tx store.Store) error {
		log := audit.New(tx, s.now)
		if err := log.Record(ctx, viewer.ID, "inbox.list", "inbox"); err != nil {
			return err
		}
		for _, it := range items {
			if it.Summary == "" {
				continue
			}
			if err := log.Record(ctx, viewer.ID, "request.summary", "request:"+it.Request.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("intake: audit: %w", err)
	}
	return items, total, nil
}

func (s *Service) summary(r *store.Request) string {
	dk, err := s.vault.OpenIntakeKey(r.ID, r.KeyIntake)
	if err != nil {
		return ""
	}
	plain, err := keys.Decrypt(dk, r.Answers, adAnswers(r.ID)...)
	if err != nil {
		return ""
	}
	var sa sealedAnswers
	if json.Unmarshal(plain, &sa) != nil || len(sa.Questions(s.form)) == 0 {
		return ""
	}
	text := strings.Join(strings.Fields(sa.Questions(s.form)[0]), " ")
	if utf8.RuneCountInString(text) > 90 {
		text = string([]rune(text)[:90]) + "…"
	}
	return text
}

// Questions returns the answers to the form's long-text questions, in
// form order; the first one summarises a request in the inbox.
func (sa sealedAnswers) Questions(f *Form) []string {
	var out []string
	for _, q := range f.Questions {
		if q.Type == LongText && len(sa.Answers[q.ID]) > 0 {
			out = append(out, sa.Answers[q.ID][0])
		}
	}
	return out
}

func (s *Service) readable(ctx context.Context, viewer *store.User, id string) (*store.Request, []byte, error) {
	r, err := s.st.GetRequest(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("intake: %w", err)
	}
	if !CanRead(viewer, r) {
		// Refusals are audited too: probing other people's requests is
		// exactly what an insider would do.
		_ = s.audit.Record(ctx, viewer.ID, "request.denied", "request:"+r.ID)
		return nil, nil, ErrForbidden
	}
	dk, err := s.vault.OpenIntakeKey(r.ID, r.KeyIntake)
	if err != nil {
		return nil, nil, err
	}
	return r, dk, nil
}

// StaffThread opens a request for a staff member: audited, and marked read.
func (s *Service) StaffThread(ctx context.Context, viewer *store.User, id string) (*Thread, error) {
	r, dk, err := s.readable(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	// Audit before showing anything: if the read cannot be recorded, it
	// does not happen.
	if err := s.audit.Record(ctx, viewer.ID, "request.read", "request:"+r.ID); err != nil {
		return nil, err
	}
	if r.UnreadStaff {
		if err := s.st.MarkRead(ctx, r.ID); err != nil {
			return nil, fmt.Errorf("intake: mark read: %w", err)
		}
	}
	return s.thread(ctx, r, dk)
}

// Reply adds a staff reply the person will read on their return page.
func (s *Service) Reply(ctx context.Context, viewer *store.User, id, body string) error {
	r, dk, err := s.readable(ctx, viewer, id)
	if err != nil {
		return err
	}
	if r.Status == store.StatusClosed {
		return fmt.Errorf("%w: request is closed", ErrInvalid)
	}
	return s.addMessage(ctx, r, dk, store.AuthorStaff, viewer.ID, body)
}

func validStatus(st string) bool {
	return st == store.StatusNew || st == store.StatusInProgress || st == store.StatusClosed
}

// SetStatus changes a request's status.
func (s *Service) SetStatus(ctx context.Context, viewer *store.User, id, status string) error {
	if !validStatus(status) {
		return ErrInvalid
	}
	r, _, err := s.readable(ctx, viewer, id)
	if err != nil {
		return err
	}
	return s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.SetStatus(ctx, r.ID, status, s.now().UTC()); err != nil {
			return fmt.Errorf("intake: status: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, viewer.ID, "request.status."+status, "request:"+r.ID)
	})
}

// Assign gives a request to a staff member (0 unassigns).
func (s *Service) Assign(ctx context.Context, viewer *store.User, id string, userID int64) error {
	if !CanAssign(viewer.Role) {
		return ErrForbidden
	}
	r, _, err := s.readable(ctx, viewer, id)
	if err != nil {
		return err
	}
	if userID != 0 {
		u, err := s.st.GetUser(ctx, userID)
		if err != nil {
			return fmt.Errorf("%w: no such user", ErrInvalid)
		}
		if u.Disabled || !Assignable(u.Role) {
			return fmt.Errorf("%w: this user cannot take requests", ErrInvalid)
		}
	}
	return s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.SetAssignee(ctx, r.ID, userID, s.now().UTC()); err != nil {
			return fmt.Errorf("intake: assign: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, viewer.ID, "request.assign", "request:"+r.ID)
	})
}
