package cases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// Sensitivity classes. Every field of a case belongs to one, and each role
// reads only some (DESIGN.md, "People who use it": logistics never sees
// testimony, custodians never see logistics, operators never see safe-house
// addresses).
const (
	ClassIdentity  = "identity"  // names, contacts, documents' numbers
	ClassLocation  = "location"  // where the people are now
	ClassTestimony = "testimony" // what happened to them
	ClassLogistics = "logistics" // safe houses, routes, tickets, plans
	ClassMedical   = "medical"   // injuries, treatment, health
	ClassFinance   = "finance"   // money spent or needed
)

// Classes lists every sensitivity class, in display order.
func Classes() []string {
	return []string{ClassIdentity, ClassLocation, ClassTestimony, ClassLogistics, ClassMedical, ClassFinance}
}

// ValidClass reports whether class is one of Classes.
func ValidClass(class string) bool { return slices.Contains(Classes(), class) }

// workflowClass is the class of the free text that comes with an action on
// the case rather than with the person's story: why a case moved, why
// someone broke the glass, who it was assigned to. It is encrypted (it may
// well name people), under the one class that every role holding cases
// reads in the default policy, so that whoever works the case can follow
// its history.
const workflowClass = ClassIdentity

// Policy maps a role to the sensitivity classes it may read. Writing a
// class requires reading it. A role that is not in the policy reads
// nothing and cannot hold cases.
type Policy map[string][]string

// DefaultPolicy is the need-to-know policy shipped with Corridor.
func DefaultPolicy() Policy {
	return Policy{
		store.RoleAdmin:       Classes(),
		store.RoleCoordinator: Classes(),
		store.RoleOperator:    {ClassIdentity, ClassLocation, ClassTestimony},
		store.RoleCaseworker:  Classes(),
		store.RoleLogistics:   {ClassIdentity, ClassLocation, ClassLogistics},
		store.RoleCustodian:   {ClassIdentity, ClassTestimony, ClassMedical},
	}
}

// Check reports roles or classes the policy names that do not exist.
func (p Policy) Check() error {
	for role, classes := range p {
		if !slices.Contains(store.Roles(), role) {
			return fmt.Errorf("cases: policy: unknown role %q", role)
		}
		for _, c := range classes {
			if !ValidClass(c) {
				return fmt.Errorf("cases: policy: role %q: unknown class %q", role, c)
			}
		}
	}
	return nil
}

// CanRead reports whether role may read class.
func (p Policy) CanRead(role, class string) bool {
	return ValidClass(class) && slices.Contains(p[role], class)
}

// CanWrite reports whether role may write class: only what it may read,
// so nobody writes into a section they cannot check afterwards.
func (p Policy) CanWrite(role, class string) bool { return p.CanRead(role, class) }

// Readable lists the classes role may read, in the order of Classes.
func (p Policy) Readable(role string) []string {
	var out []string
	for _, c := range Classes() {
		if p.CanRead(role, c) {
			out = append(out, c)
		}
	}
	return out
}

// MayHold reports whether a user of this role may have a case shared with
// them: their role reads at least one class.
func (p Policy) MayHold(role string) bool { return len(p.Readable(role)) > 0 }

// Assignable reports whether a user of this role may be a case's
// assignee. Custodians look after evidence; they are shared into a case,
// never put in charge of it.
func (p Policy) Assignable(role string) bool {
	return p.MayHold(role) && role != store.RoleCustodian
}

// Reasons a class of a case is withheld from a viewer.
const (
	// WithheldRole: the viewer's role does not read this class.
	WithheldRole = "role"
	// WithheldUnverified: the class is logistics and the case has not been
	// verified; nobody sees plans or addresses before that, because the
	// person asking may be the police (2017: police posed as victims).
	WithheldUnverified = "unverified"
)

// withheld returns why class is hidden from role in c, or "" when it is
// not. The role comes first: verification would not change it.
func (p Policy) withheld(role, class string, c *store.Case) string {
	switch {
	case !p.CanRead(role, class):
		return WithheldRole
	case class == ClassLogistics && !c.Verified:
		return WithheldUnverified
	}
	return ""
}

// How a user has access to a case's contents.
const (
	AccessAssigned   = "assigned"
	AccessShared     = "shared"
	AccessBreakGlass = "break_glass"
)

// BreakGlassFor is how long a break-glass grant lasts: long enough to deal
// with an emergency, short enough that it does not become standing access.
const BreakGlassFor = time.Hour

// Role rules that are not about classes.

// CanOpen reports whether a role may open cases.
func CanOpen(role string) bool {
	return slices.Contains([]string{store.RoleAdmin, store.RoleCoordinator, store.RoleOperator, store.RoleCaseworker}, role)
}

// CanListAll reports whether a role may list every case (clear metadata
// only; reading contents still needs access).
func CanListAll(role string) bool { return CanManage(role) }

// CanManage reports whether a role may assign, share, break the glass on
// and erase cases.
func CanManage(role string) bool {
	return role == store.RoleAdmin || role == store.RoleCoordinator
}

// CanVerify reports whether a role may record verification (given access).
func CanVerify(role string) bool {
	return CanManage(role) || role == store.RoleCaseworker
}

// CanAssessRisk reports whether a role may set a case's risk level (given
// access): the people who triage.
func CanAssessRisk(role string) bool {
	return CanManage(role) || role == store.RoleOperator || role == store.RoleCaseworker
}

// CanMoveCases reports whether a role may move cases between stages
// (given access). Custodians are shared into cases for the evidence; the
// journey is not theirs to steer.
func CanMoveCases(role string) bool {
	return CanAssessRisk(role) || role == store.RoleLogistics
}

// CanUnflag reports whether a role may clear a suspected-infiltrator
// flag. Anyone with access may raise one; clearing it is for coordinators,
// so that an infiltrator among the volunteers cannot clear their
// accomplice's flag.
func CanUnflag(role string) bool { return CanManage(role) }

// active reports whether u is an account that may do anything at all.
func active(u *store.User) bool { return u != nil && !u.Disabled }

// accessOf returns how actor may read c's contents ("" for not at all):
// as its assignee, through a share, or through an unexpired break-glass
// grant (which counts only for roles that may break the glass, so a
// coordinator moved to another role loses it at once).
func (s *Service) accessOf(ctx context.Context, st store.Store, actor *store.User, c *store.Case, now time.Time) (string, error) {
	if !active(actor) || !s.pol.MayHold(actor.Role) {
		return "", nil
	}
	if c.AssigneeID == actor.ID {
		return AccessAssigned, nil
	}
	shares, err := st.CaseShares(ctx, c.ID)
	if err != nil {
		return "", fmt.Errorf("cases: shares: %w", err)
	}
	if slices.Contains(shares, actor.ID) {
		return AccessShared, nil
	}
	if !CanManage(actor.Role) {
		return "", nil
	}
	until, err := st.AccessUntil(ctx, c.ID, actor.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cases: break-glass grant: %w", err)
	}
	if now.Before(until) {
		return AccessBreakGlass, nil
	}
	return "", nil
}

// CheckContent reports whether actor may read the contents of one
// sensitivity class of case id, for material that other packages keep
// about a case under that class (evidence is testimony): nil if so;
// ErrNotFound, ErrErased, or ErrForbidden (audited as case.denied, as
// contentAccess does) if not.
func (s *Service) CheckContent(ctx context.Context, actor *store.User, id, class string) error {
	c, _, err := s.contentAccess(ctx, actor, id)
	if err != nil {
		return err
	}
	if s.pol.withheld(actor.Role, class, c) != "" {
		s.denied(ctx, actor, id)
		return ErrForbidden
	}
	return nil
}
