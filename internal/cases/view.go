package cases

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Event is one decrypted entry of a case's timeline. Kind, time, actor and
// stage are always shown; the rest only when the viewer may read the
// event's class.
type Event struct {
	ID      string
	At      time.Time
	ActorID int64
	Kind    string // one of the Kind constants
	Stage   string // KindOpened, KindStage: the stage entered
	Class   string // sensitivity class of what the event carries; "" if nothing
	Text    string // the free text: a note, a reason for a move, …
	// Withheld: the event carries something the viewer may not read;
	// WithheldReason says why (WithheldRole or WithheldUnverified).
	Withheld       bool
	WithheldReason string
	// Unreadable: the ciphertext did not decrypt (altered or moved). It
	// is shown as such, never hidden.
	Unreadable bool

	CloseReason string     // KindStage into a closed stage
	Risk        int        // KindRisk: the level set
	Factors     []string   // KindRisk: the factors given
	Checklist   *Checklist // KindVerify: the checklist recorded
	UserID      int64      // KindAssign, KindShare, KindUnshare: whom it was about (0: unassigned)
	Fields      []string   // KindSection: the fields changed
	Until       time.Time  // KindBreakGlass: when the grant ends
}

// View is a case as one viewer may see it.
type View struct {
	Case   *store.Case
	Access string // AccessAssigned, AccessShared or AccessBreakGlass
	// Sections holds every class the viewer may read now, each as field →
	// text (an empty map when nothing has been written yet).
	Sections map[string]map[string]string
	// Withheld holds every class the viewer may not see now, with why:
	// WithheldRole or WithheldUnverified.
	Withheld map[string]string
	Timeline []Event // oldest first
	Periods  []*store.StagePeriod
	// TimeInStage sums the time spent in each stage, the current stay
	// counted up to now.
	TimeInStage map[string]time.Duration
	Shares      []int64
	// Next lists the stages the viewer may move the case to (empty when
	// the viewer's role does not move cases); Missing, for each of them
	// that has unmet requirements, what is missing.
	Next    []string
	Missing map[string][]string
	// Checklist is the latest verification checklist the viewer can
	// read, and Factors the latest risk factors (nil if none).
	Checklist *Checklist
	Factors   []string
}

// View opens a case for a viewer who has access to its contents (as its
// assignee, through a share, or through a break-glass grant). Every view
// is audited as case.read before anything is decrypted; a refusal is
// audited as case.denied. An erased case gives ErrErased and nothing else.
func (s *Service) View(ctx context.Context, actor *store.User, id string) (*View, error) {
	c, how, err := s.contentAccess(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	dk, err := s.dataKey(c)
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(dk)
	// Audit before decrypting anything: if the read cannot be recorded, it
	// does not happen.
	if err := s.audit.Record(ctx, actor.ID, "case.read", object(id)); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}

	v := &View{
		Case: c, Access: how,
		Sections: map[string]map[string]string{}, Withheld: map[string]string{},
		Missing: map[string][]string{},
	}
	for _, class := range Classes() {
		if why := s.pol.withheld(actor.Role, class, c); why != "" {
			v.Withheld[class] = why
		} else {
			v.Sections[class] = map[string]string{}
		}
	}
	secs, err := s.st.Sections(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("cases: sections: %w", err)
	}
	for _, sec := range secs {
		if _, ok := v.Sections[sec.Class]; !ok {
			continue // withheld: not even decrypted
		}
		fields, err := openSection(dk, sec)
		if err != nil {
			return nil, err
		}
		v.Sections[sec.Class] = fields
	}

	events, err := s.st.CaseEvents(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("cases: events: %w", err)
	}
	for _, e := range events {
		ev := s.openEvent(dk, actor.Role, c, e)
		if ev.Checklist != nil {
			v.Checklist = ev.Checklist
		}
		if ev.Kind == KindRisk && !ev.Withheld && !ev.Unreadable {
			v.Factors = ev.Factors
		}
		v.Timeline = append(v.Timeline, ev)
	}

	if v.Periods, err = s.st.StagePeriods(ctx, id); err != nil {
		return nil, fmt.Errorf("cases: stage periods: %w", err)
	}
	v.TimeInStage = TimeInStage(v.Periods, now)
	if v.Shares, err = s.st.CaseShares(ctx, id); err != nil {
		return nil, fmt.Errorf("cases: shares: %w", err)
	}
	if CanMoveCases(actor.Role) {
		v.Next = s.wf.Next(c.Stage)
		for _, to := range v.Next {
			if m := s.wf.Missing(c, to); len(m) > 0 {
				v.Missing[to] = m
			}
		}
	}
	return v, nil
}

// openEvent decrypts what role may read of e.
func (s *Service) openEvent(dk []byte, role string, c *store.Case, e *store.CaseEvent) Event {
	ev := Event{ID: e.ID, At: e.At, ActorID: e.ActorID, Kind: e.Kind, Stage: e.Stage, Class: e.Class}
	if e.Body == nil {
		return ev
	}
	if why := s.pol.withheld(role, e.Class, c); why != "" {
		ev.Withheld, ev.WithheldReason = true, why
		return ev
	}
	plain, err := keys.Decrypt(dk, e.Body, adEvent(c.ID, e.ID, e.Class)...)
	if err != nil {
		ev.Unreadable = true
		return ev
	}
	defer clear(plain)
	var b eventBody
	if err := json.Unmarshal(plain, &b); err != nil {
		ev.Unreadable = true
		return ev
	}
	ev.Text, ev.CloseReason, ev.Risk, ev.Factors = b.Text, b.CloseReason, b.Risk, b.Factors
	ev.Checklist, ev.UserID, ev.Fields, ev.Until = b.Checklist, b.UserID, b.Fields, b.Until
	return ev
}

// TimeInStage sums, per stage, the time a case spent in it; a period not
// yet left counts up to now.
func TimeInStage(periods []*store.StagePeriod, now time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range periods {
		end := p.Left
		if end.IsZero() {
			end = now
		}
		if end.After(p.Entered) {
			out[p.Stage] += end.Sub(p.Entered)
		} else if _, ok := out[p.Stage]; !ok {
			out[p.Stage] = 0
		}
	}
	return out
}
