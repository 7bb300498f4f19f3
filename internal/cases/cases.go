// Package cases is evacuation case management: a case follows people from
// first contact through triage, verification, relocation, safe houses,
// documents, visas and departure to arrival, under need-to-know rules.
//
// It holds the rules only; storage is behind store.Store and keys behind
// keys.Vault. The workflow state of a case (stage, risk level, whether it
// is verified or flagged, who is assigned) is kept in clear so that lists,
// dashboards and access checks work on it; everything about the people is
// encrypted under the case's own data key: one ciphertext per sensitivity
// class (a section), and one per timeline entry that carries text. Erasing
// a case destroys its data key, which makes every ciphertext of it
// unreadable for good, whoever holds the root key (crypto-shredding).
package cases

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Sentinel errors callers branch on.
var (
	// ErrForbidden: the actor may not do this (role, access or class).
	ErrForbidden = errors.New("cases: not allowed")
	// ErrNotFound: no such case. Errors that wrap it wrap
	// store.ErrNotFound too.
	ErrNotFound = errors.New("cases: no such case")
	// ErrTransition: the workflow does not allow this move now. A move
	// refused for unmet requirements is a *MissingError, which is an
	// ErrTransition too.
	ErrTransition = errors.New("cases: move not allowed")
	// ErrInvalid: a value is malformed or out of range.
	ErrInvalid = errors.New("cases: invalid value")
	// ErrAlreadyOpen: the request already has a case; errors.As with
	// *AlreadyOpenError gives its id.
	ErrAlreadyOpen = errors.New("cases: this request already has a case")
	// ErrErased: the case was crypto-shredded; nothing of it can be read
	// or changed.
	ErrErased = errors.New("cases: case erased")
	// ErrUnverified refuses writing logistics before verification. It is
	// an ErrForbidden: plans and addresses wait until the people asking
	// are known to be who they say.
	ErrUnverified = fmt.Errorf("%w: logistics wait until the case is verified", ErrForbidden)
)

// AlreadyOpenError is the ErrAlreadyOpen a caller can ask the case of.
type AlreadyOpenError struct {
	CaseID string
}

func (e *AlreadyOpenError) Error() string { return ErrAlreadyOpen.Error() }

// Is makes errors.Is(err, ErrAlreadyOpen) true for an *AlreadyOpenError.
func (e *AlreadyOpenError) Is(target error) bool { return target == ErrAlreadyOpen }

// MissingError refuses a move whose requirements do not hold.
type MissingError struct {
	Requirements []string // names from Requirements(), in workflow order
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s: requires %s", ErrTransition.Error(), strings.Join(e.Requirements, ", "))
}

// Is makes errors.Is(err, ErrTransition) true for a *MissingError.
func (e *MissingError) Is(target error) bool { return target == ErrTransition }

// Service is the case management domain logic.
type Service struct {
	st    store.Store
	vault *keys.Vault
	audit *audit.Log
	wf    *Workflow
	pol   Policy
	now   func() time.Time
}

// New returns a Service. A nil workflow or policy means the default one, a
// nil clock time.Now, a nil audit log one writing to st. The policy is not
// checked here; call Policy.Check when loading one from configuration.
func New(st store.Store, v *keys.Vault, a *audit.Log, wf *Workflow, pol Policy, now func() time.Time) *Service {
	if wf == nil {
		wf = DefaultWorkflow()
	}
	if pol == nil {
		pol = DefaultPolicy()
	}
	// A copy, so that a caller changing its map later cannot widen access
	// behind the service's back.
	own := make(Policy, len(pol))
	for role, classes := range pol {
		own[role] = slices.Clone(classes)
	}
	if now == nil {
		now = time.Now
	}
	if a == nil {
		a = audit.New(st, now)
	}
	return &Service{st: st, vault: v, audit: a, wf: wf, pol: own, now: now}
}

// Workflow is the workflow in use.
func (s *Service) Workflow() *Workflow { return s.wf }

// Policy is the need-to-know policy in use.
func (s *Service) Policy() Policy { return s.pol }

// clock returns the time as the stores keep it: UTC, whole microseconds,
// so that what is compared later is what was written.
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

func newID(prefix string) string {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		panic("cases: crypto/rand failed: " + err.Error())
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// validID reports whether id could be a case id. Anything else is refused
// before it reaches the store or the audit log (whose object syntax it
// must fit).
func validID(id string) bool {
	if len(id) < 2 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func object(id string) string { return "case:" + id }

// AD labels bind each ciphertext to its case and place, so that a section
// cannot be passed off as another class or another case's, nor an event
// body as another event's.
func adSection(caseID, class string) []string {
	return []string{"case", caseID, "section", class}
}

func adEvent(caseID, eventID, class string) []string {
	return []string{"case", caseID, "event", eventID, class}
}

// Limits that protect storage and staff from oversized input.
const (
	MaxValueRunes  = 10000 // one field of a section
	MaxFields      = 100   // fields in one section
	MaxNoteRunes   = 10000 // a note
	MaxReasonRunes = 2000  // why a case moved, why the glass was broken, …
	MinGlassRunes  = 10    // a break-glass reason says something
)

var fieldPattern = idPattern // ^[a-z][a-z0-9_]{0,39}$

// cleanText normalises line ends and surrounding space and checks that s
// is text: valid UTF-8, no NUL, at most limit runes.
func cleanText(s string, limit int) (string, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("%w: not valid text", ErrInvalid)
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrInvalid, n, limit)
	}
	return s, nil
}

// cleanFields checks a section update: field names, values, count.
func cleanFields(fields map[string]string) (map[string]string, error) {
	if len(fields) > MaxFields {
		return nil, fmt.Errorf("%w: more than %d fields", ErrInvalid, MaxFields)
	}
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		if !fieldPattern.MatchString(k) {
			// The name is not repeated: it is typed by staff and may be
			// anything.
			return nil, fmt.Errorf("%w: field names are lower-case letters, digits and _", ErrInvalid)
		}
		v, err := cleanText(v, MaxValueRunes)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// dataKey unwraps a case's data key. The caller wipes it.
func (s *Service) dataKey(c *store.Case) ([]byte, error) {
	if !c.ErasedAt.IsZero() || c.WrappedKey == nil {
		return nil, ErrErased
	}
	dk, err := s.vault.UnwrapDataKey(c.ID, c.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("cases: data key of %s: %w", c.ID, err)
	}
	return dk, nil
}

// sealSection encrypts a section's fields.
func sealSection(dk []byte, caseID, class string, fields map[string]string, at time.Time) (*store.CaseSection, error) {
	plain, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	ct, err := keys.Encrypt(dk, plain, adSection(caseID, class)...)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("cases: encrypt section: %w", err)
	}
	return &store.CaseSection{CaseID: caseID, Class: class, Data: ct, UpdatedAt: at}, nil
}

// openSection decrypts a section.
func openSection(dk []byte, sec *store.CaseSection) (map[string]string, error) {
	plain, err := keys.Decrypt(dk, sec.Data, adSection(sec.CaseID, sec.Class)...)
	if err != nil {
		return nil, fmt.Errorf("cases: section %s of %s: %w", sec.Class, sec.CaseID, err)
	}
	defer clear(plain)
	fields := map[string]string{}
	if err := json.Unmarshal(plain, &fields); err != nil {
		return nil, fmt.Errorf("cases: section %s of %s: %w", sec.Class, sec.CaseID, err)
	}
	return fields, nil
}

// Event kinds of the timeline.
const (
	KindOpened     = "opened"
	KindStage      = "stage"
	KindSection    = "section"
	KindNote       = "note"
	KindRisk       = "risk"
	KindVerify     = "verify"
	KindFlag       = "flag"
	KindUnflag     = "unflag"
	KindAssign     = "assign"
	KindShare      = "share"
	KindUnshare    = "unshare"
	KindBreakGlass = "break_glass"
	KindErase      = "erase"
)

// eventBody is what an event's ciphertext holds. Everything that says
// something about the people, or about who works on them, is in here
// rather than in the clear columns of the event.
type eventBody struct {
	Text        string     `json:"text,omitempty"`
	CloseReason string     `json:"close_reason,omitempty"`
	Risk        int        `json:"risk,omitempty"`
	Factors     []string   `json:"factors,omitempty"`
	Checklist   *Checklist `json:"checklist,omitempty"`
	UserID      int64      `json:"user,omitempty"`
	Fields      []string   `json:"fields,omitempty"`
	Until       time.Time  `json:"until,omitzero"`
}

// newEvent builds a timeline event, encrypting body (if any) under class.
func newEvent(dk []byte, c *store.Case, actorID int64, at time.Time, kind, stage, class string, body *eventBody) (*store.CaseEvent, error) {
	e := &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: at, ActorID: actorID, Kind: kind, Stage: stage}
	if body == nil {
		return e, nil
	}
	plain, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	e.Class = class
	e.Body, err = keys.Encrypt(dk, plain, adEvent(c.ID, e.ID, class)...)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("cases: encrypt event: %w", err)
	}
	return e, nil
}

// need is what a change to a case asks of the actor.
type need int

const (
	// needContent: access to the contents (assigned, shared, break-glass).
	needContent need = iota
	// needManage: a managing role (admin, coordinator); contents are not
	// needed, so a coordinator can dispatch cases without reading them.
	needManage
)

// change runs fn on case id in one transaction, after checking that the
// actor may touch it. fn gets the case as read inside the transaction, so
// that what it checks (stage, verification, flags) cannot change before it
// writes. Every refusal is audited as case.denied, outside the rolled-back
// transaction: probing other people's cases is exactly what an insider
// would do.
func (s *Service) change(ctx context.Context, actor *store.User, id string, n need, fn func(tx store.Store, c *store.Case, now time.Time) error) error {
	if !validID(id) {
		return fmt.Errorf("%w: %w", ErrNotFound, store.ErrNotFound)
	}
	now := s.clock()
	err := s.st.Tx(ctx, func(tx store.Store) error {
		c, err := s.getCase(ctx, tx, id)
		if err != nil {
			return err
		}
		if !c.ErasedAt.IsZero() {
			return ErrErased
		}
		switch n {
		case needManage:
			if !active(actor) || !CanManage(actor.Role) {
				return ErrForbidden
			}
		default:
			how, err := s.accessOf(ctx, tx, actor, c, now)
			if err != nil {
				return err
			}
			if how == "" {
				return ErrForbidden
			}
		}
		return fn(tx, c, now)
	})
	if errors.Is(err, ErrForbidden) {
		s.denied(ctx, actor, id)
	}
	return err
}

// contentAccess opens a case for reading its contents: the case must
// exist and not be erased, and the actor must have access to it (as its
// assignee, through a share, or a break-glass grant). It returns how; a
// refusal is audited as case.denied.
func (s *Service) contentAccess(ctx context.Context, actor *store.User, id string) (*store.Case, string, error) {
	if !validID(id) {
		return nil, "", fmt.Errorf("%w: %w", ErrNotFound, store.ErrNotFound)
	}
	c, err := s.getCase(ctx, s.st, id)
	if err != nil {
		return nil, "", err
	}
	if !c.ErasedAt.IsZero() {
		return nil, "", ErrErased
	}
	how, err := s.accessOf(ctx, s.st, actor, c, s.clock())
	if err != nil {
		return nil, "", err
	}
	if how == "" {
		s.denied(ctx, actor, id)
		return nil, "", ErrForbidden
	}
	return c, how, nil
}

func (s *Service) getCase(ctx context.Context, st store.Store, id string) (*store.Case, error) {
	c, err := st.GetCase(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	return c, nil
}

// denied records a refusal. Its own failure is not reported: the caller
// is refused either way, and a refusal must not turn into a different
// error because the audit log is busy.
func (s *Service) denied(ctx context.Context, actor *store.User, id string) {
	if actor == nil || !validID(id) {
		return
	}
	_ = s.audit.Record(ctx, actor.ID, "case.denied", object(id))
}

// record writes an action's audit entry in its transaction.
func (s *Service) record(ctx context.Context, tx store.Store, actor *store.User, action, id string) error {
	return audit.New(tx, s.now).Record(ctx, actor.ID, action, object(id))
}

// OpenInput is what a new case starts with.
type OpenInput struct {
	// RequestID is the hotline request the case is opened from ("" when
	// opened by hand, e.g. after a phone call).
	RequestID string
	// Risk is the initial risk level, 0 (not assessed) to 4.
	Risk int
	// Sections maps a sensitivity class to its fields.
	Sections map[string]map[string]string
}

// Open opens a case. Admins, coordinators, operators and caseworkers may;
// the opener becomes the assignee, except admins and coordinators, whose
// cases start unassigned so that they can dispatch them without taking
// them on (and without reading them). A request has at most one case:
// opening another gives an *AlreadyOpenError naming the existing one.
func (s *Service) Open(ctx context.Context, actor *store.User, in OpenInput) (*store.Case, error) {
	if !active(actor) || !CanOpen(actor.Role) {
		return nil, ErrForbidden
	}
	if in.Risk < 0 || in.Risk > MaxRisk {
		return nil, fmt.Errorf("%w: risk level %d", ErrInvalid, in.Risk)
	}
	sections := map[string]map[string]string{}
	for class, fields := range in.Sections {
		if !ValidClass(class) {
			return nil, fmt.Errorf("%w: unknown class %q", ErrInvalid, class)
		}
		if !s.pol.CanWrite(actor.Role, class) {
			return nil, fmt.Errorf("%w: class %s", ErrForbidden, class)
		}
		clean, err := cleanFields(fields)
		if err != nil {
			return nil, err
		}
		for k, v := range clean {
			if v == "" {
				delete(clean, k)
			}
		}
		if len(clean) == 0 {
			continue
		}
		if class == ClassLogistics {
			// A new case is never verified.
			return nil, ErrUnverified
		}
		sections[class] = clean
	}
	if in.RequestID != "" {
		if _, err := s.st.GetRequest(ctx, in.RequestID); errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: no such request", ErrInvalid)
		} else if err != nil {
			return nil, fmt.Errorf("cases: request: %w", err)
		}
	}

	now := s.clock()
	c := &store.Case{
		ID: newID("c"), CreatedAt: now, UpdatedAt: now, Stage: s.wf.Initial(), StageSince: now,
		Risk: in.Risk, RequestID: in.RequestID,
	}
	if !CanManage(actor.Role) {
		c.AssigneeID = actor.ID
	}
	dk := keys.NewKey()
	defer keys.Wipe(dk)
	var err error
	if c.WrappedKey, err = s.vault.WrapDataKey(c.ID, dk); err != nil {
		return nil, fmt.Errorf("cases: wrap data key: %w", err)
	}
	var secs []*store.CaseSection
	for class, fields := range sections {
		sec, err := sealSection(dk, c.ID, class, fields, now)
		if err != nil {
			return nil, err
		}
		secs = append(secs, sec)
	}
	ev, err := newEvent(dk, c, actor.ID, now, KindOpened, c.Stage, "", nil)
	if err != nil {
		return nil, err
	}
	err = s.st.Tx(ctx, func(tx store.Store) error {
		if in.RequestID != "" {
			// Checked again inside the transaction; the store's unique
			// index catches what slips between two transactions.
			if err := alreadyOpen(ctx, tx, in.RequestID); err != nil {
				return err
			}
		}
		if err := tx.CreateCase(ctx, c); err != nil {
			if errors.Is(err, store.ErrConflict) && in.RequestID != "" {
				if err := alreadyOpen(ctx, tx, in.RequestID); err != nil {
					return err
				}
			}
			return fmt.Errorf("cases: create: %w", err)
		}
		for _, sec := range secs {
			if err := tx.PutSection(ctx, sec); err != nil {
				return fmt.Errorf("cases: section: %w", err)
			}
		}
		if err := tx.AddCaseEvent(ctx, ev); err != nil {
			return fmt.Errorf("cases: event: %w", err)
		}
		if err := s.record(ctx, tx, actor, "case.open", c.ID); err != nil {
			return err
		}
		// Blind indexes and the watch list (duplicates.go).
		return s.indexIdentity(ctx, tx, c, sections[ClassIdentity], now)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// alreadyOpen returns an *AlreadyOpenError if the request has a case.
func alreadyOpen(ctx context.Context, st store.Store, requestID string) error {
	existing, err := st.CaseForRequest(ctx, requestID)
	switch {
	case err == nil:
		return &AlreadyOpenError{CaseID: existing.ID}
	case errors.Is(err, store.ErrNotFound):
		return nil
	default:
		return fmt.Errorf("cases: case for request: %w", err)
	}
}

// ListFilter selects cases for List.
type ListFilter struct {
	Stage   string // "" = any
	Mine    bool   // only cases assigned to the viewer
	Page    int    // 1-based; < 1 means 1
	PerPage int    // <= 0 means 50; at most 500
}

// List returns one page of cases and the total number that match, in the
// store's order (open before closed, highest risk first, longest in the
// stage first). Admins and coordinators list every case; others only the
// cases assigned to or shared with them. A list is clear metadata only
// (stage, risk, dates), so it is not a read of contents and not audited
// as one.
func (s *Service) List(ctx context.Context, actor *store.User, f ListFilter) ([]*store.Case, int, error) {
	if !active(actor) || !s.pol.MayHold(actor.Role) {
		return nil, 0, ErrForbidden
	}
	if f.Stage != "" && s.wf.stage(f.Stage) == nil {
		return nil, 0, fmt.Errorf("%w: unknown stage", ErrInvalid)
	}
	per := f.PerPage
	if per <= 0 {
		per = 50
	}
	per = min(per, 500)
	sf := store.CaseFilter{Stage: f.Stage, Limit: per, Offset: (max(f.Page, 1) - 1) * per}
	if f.Mine {
		sf.AssigneeID = actor.ID
	}
	if !CanListAll(actor.Role) {
		sf.VisibleTo = actor.ID
	}
	list, total, err := s.st.ListCases(ctx, sf)
	if err != nil {
		return nil, 0, fmt.Errorf("cases: list: %w", err)
	}
	return list, total, nil
}

// Summary is what may be shown of a case without reading its contents.
type Summary struct {
	Case   *store.Case
	Access string // AccessAssigned, AccessShared, AccessBreakGlass or ""
	Shares []int64
}

// Summarise returns a case's clear metadata and how the actor may read
// it, for those who may list it (admins and coordinators always, others
// when they have access): the page a coordinator sees before deciding to
// break the glass. Erased cases give ErrErased.
func (s *Service) Summarise(ctx context.Context, actor *store.User, id string) (*Summary, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, store.ErrNotFound)
	}
	c, err := s.getCase(ctx, s.st, id)
	if err != nil {
		return nil, err
	}
	if !c.ErasedAt.IsZero() {
		return nil, ErrErased
	}
	how, err := s.accessOf(ctx, s.st, actor, c, s.clock())
	if err != nil {
		return nil, err
	}
	if how == "" && !(active(actor) && CanListAll(actor.Role)) {
		s.denied(ctx, actor, id)
		return nil, ErrForbidden
	}
	shares, err := s.st.CaseShares(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("cases: shares: %w", err)
	}
	return &Summary{Case: c, Access: how, Shares: shares}, nil
}
