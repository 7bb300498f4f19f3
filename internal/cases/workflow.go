package cases

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/corridor-org/corridor/internal/store"
)

// Requirements a stage may list: what must hold before a case may leave
// the stage forward. They are a fixed set, checked when a workflow is
// parsed, so that a typing mistake in a configuration file cannot silently
// turn a safety check into nothing.
const (
	// RequireRisk: a risk level has been assessed (Case.Risk > 0).
	RequireRisk = "risk"
	// RequireVerified: verification has been recorded (Case.Verified).
	RequireVerified = "verified"
	// RequireAssignee: someone is assigned to the case.
	RequireAssignee = "assignee"
	// RequireNotFlagged: the case is not flagged as a suspected
	// infiltrator. Addresses and plans come after verification, so this is
	// what stops a flagged case from reaching them.
	RequireNotFlagged = "not_flagged"
)

// Requirements lists every requirement name a workflow may use.
func Requirements() []string {
	return []string{RequireRisk, RequireVerified, RequireAssignee, RequireNotFlagged}
}

// holds reports whether requirement req holds for c.
func holds(req string, c *store.Case) bool {
	switch req {
	case RequireRisk:
		return c.Risk > 0
	case RequireVerified:
		return c.Verified
	case RequireAssignee:
		return c.AssigneeID != 0
	case RequireNotFlagged:
		return !c.Flagged
	}
	// Unknown names are refused at parse time; refusing here too means a
	// workflow built some other way fails closed.
	return false
}

// Localised is a string in several languages, keyed by language tag ("en", "ru").
type Localised map[string]string

// In returns the text in lang, falling back to English, then any language.
func (t Localised) In(lang string) string {
	if s, ok := t[lang]; ok {
		return s
	}
	if s, ok := t["en"]; ok {
		return s
	}
	for _, s := range t {
		return s
	}
	return ""
}

// Stage is one stage of the workflow.
type Stage struct {
	ID    string    `toml:"id"`
	Label Localised `toml:"label"`
	// Closed marks a stage a case ends in; entering it needs a close reason.
	Closed bool `toml:"closed"`
	// Requires lists what must hold before a case may leave this stage
	// forward (to a later open stage).
	Requires []string `toml:"requires"`
	// Next lists the stages a case may move to from this one. After
	// parsing it is always filled in: an open stage that leaves it out gets
	// the following and the previous open stage and every closed stage.
	Next []string `toml:"next"`
}

func (s Stage) clone() Stage {
	s.Label = maps.Clone(s.Label)
	s.Requires = slices.Clone(s.Requires)
	s.Next = slices.Clone(s.Next)
	return s
}

// CloseReason is why a case was closed.
type CloseReason struct {
	ID    string    `toml:"id"`
	Label Localised `toml:"label"`
}

// Workflow is the set of stages a case moves through and the moves
// allowed between them. It is read from a configuration file so that a
// group can fit it to how it works; the zero value is not usable, and a
// Workflow never changes after ParseWorkflow returns it, so it is safe to
// share between goroutines.
type Workflow struct {
	version   int
	stages    []Stage
	reasons   []CloseReason
	index     map[string]int
	departure string
	arrival   string
	retention map[string]time.Duration // close reason → keep for
}

// workflowFile is the configuration file's shape.
type workflowFile struct {
	Version int `toml:"version"`
	// DepartureStage and ArrivalStage name the stages the dashboard counts
	// departures and arrivals by; either may be left out.
	DepartureStage string        `toml:"departure_stage"`
	ArrivalStage   string        `toml:"arrival_stage"`
	Stages         []Stage       `toml:"stages"`
	CloseReasons   []CloseReason `toml:"close_reasons"`
	// Retention erases closed cases automatically, per close reason.
	Retention []RetentionRule `toml:"retention"`
}

// RetentionRule says how long a case closed for one reason is kept before
// it is erased (crypto-shredded) on its own.
type RetentionRule struct {
	CloseReason string `toml:"close_reason"`
	AfterDays   int    `toml:"after_days"`
}

//go:embed default_workflow.toml
var defaultWorkflow []byte

// DefaultWorkflow is the workflow shipped with Corridor:
// new → triage → verification → relocation → safe_house → documents →
// visa → departure → arrived → closed.
func DefaultWorkflow() *Workflow {
	w, err := ParseWorkflow(defaultWorkflow)
	if err != nil {
		panic("cases: embedded default workflow is invalid: " + err.Error())
	}
	return w
}

// Limits that keep a configuration file to a size people can reason about.
const (
	maxStages       = 50
	maxCloseReasons = 50
)

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// ParseWorkflow reads and checks a workflow definition. Unknown settings
// are an error: a misspelt "requires" must not quietly drop a check.
func ParseWorkflow(data []byte) (*Workflow, error) {
	var f workflowFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("cases: workflow: %w", err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		return nil, fmt.Errorf("cases: workflow: unknown setting %q", undec[0].String())
	}
	w, err := build(f)
	if err != nil {
		return nil, fmt.Errorf("cases: workflow: %w", err)
	}
	return w, nil
}

func build(f workflowFile) (*Workflow, error) {
	if len(f.Stages) == 0 {
		return nil, errors.New("no stages")
	}
	if len(f.Stages) > maxStages {
		return nil, fmt.Errorf("more than %d stages", maxStages)
	}
	w := &Workflow{version: f.Version, index: map[string]int{}}
	for i, s := range f.Stages {
		if !idPattern.MatchString(s.ID) {
			return nil, fmt.Errorf("stage %d: id %q must be lower-case letters, digits and _", i+1, s.ID)
		}
		if _, dup := w.index[s.ID]; dup {
			return nil, fmt.Errorf("stage %q appears twice", s.ID)
		}
		if s.Label.In("en") == "" {
			return nil, fmt.Errorf("stage %q has no label", s.ID)
		}
		w.index[s.ID] = i
		w.stages = append(w.stages, s.clone())
	}
	if w.stages[0].Closed {
		return nil, fmt.Errorf("the first stage %q is where cases start, so it cannot be closed", w.stages[0].ID)
	}
	// Open stages first, then closed ones: "forward" means later in the
	// list, and a closed stage in the middle would make requirements
	// ambiguous.
	firstClosed := slices.IndexFunc(w.stages, func(s Stage) bool { return s.Closed })
	if firstClosed < 0 {
		return nil, errors.New("no closed stage: cases could never be closed")
	}
	for _, s := range w.stages[firstClosed:] {
		if !s.Closed {
			return nil, fmt.Errorf("open stage %q comes after a closed stage", s.ID)
		}
	}
	for i := range w.stages {
		s := &w.stages[i]
		if err := checkRequires(s); err != nil {
			return nil, err
		}
		if len(s.Next) == 0 && !s.Closed {
			s.Next = w.defaultNext(i, firstClosed)
		}
		if err := w.checkNext(s); err != nil {
			return nil, err
		}
	}
	if len(f.CloseReasons) == 0 {
		return nil, errors.New("no close reasons")
	}
	if len(f.CloseReasons) > maxCloseReasons {
		return nil, fmt.Errorf("more than %d close reasons", maxCloseReasons)
	}
	seen := map[string]bool{}
	for i, r := range f.CloseReasons {
		if !idPattern.MatchString(r.ID) {
			return nil, fmt.Errorf("close reason %d: id %q must be lower-case letters, digits and _", i+1, r.ID)
		}
		if seen[r.ID] {
			return nil, fmt.Errorf("close reason %q appears twice", r.ID)
		}
		seen[r.ID] = true
		if r.Label.In("en") == "" {
			return nil, fmt.Errorf("close reason %q has no label", r.ID)
		}
		w.reasons = append(w.reasons, CloseReason{ID: r.ID, Label: maps.Clone(r.Label)})
	}
	for _, named := range []struct{ key, id string }{
		{"departure_stage", f.DepartureStage}, {"arrival_stage", f.ArrivalStage},
	} {
		if named.id == "" {
			continue
		}
		if s := w.stage(named.id); s == nil || s.Closed {
			return nil, fmt.Errorf("%s %q must name an open stage", named.key, named.id)
		}
	}
	w.departure, w.arrival = f.DepartureStage, f.ArrivalStage
	w.retention = map[string]time.Duration{}
	for _, r := range f.Retention {
		if !w.ValidCloseReason(r.CloseReason) {
			return nil, fmt.Errorf("retention: %q is not a close reason", r.CloseReason)
		}
		if _, dup := w.retention[r.CloseReason]; dup {
			return nil, fmt.Errorf("retention: close reason %q appears twice", r.CloseReason)
		}
		if r.AfterDays < 1 || r.AfterDays > 100*365 {
			return nil, fmt.Errorf("retention: %q: after_days must be between 1 and 36500", r.CloseReason)
		}
		w.retention[r.CloseReason] = time.Duration(r.AfterDays) * 24 * time.Hour
	}
	return w, nil
}

func checkRequires(s *Stage) error {
	if s.Closed && len(s.Requires) > 0 {
		return fmt.Errorf("closed stage %q cannot have requirements: nothing leaves it forward", s.ID)
	}
	for j, r := range s.Requires {
		if !slices.Contains(Requirements(), r) {
			return fmt.Errorf("stage %q: unknown requirement %q (known: %v)", s.ID, r, Requirements())
		}
		if slices.Contains(s.Requires[:j], r) {
			return fmt.Errorf("stage %q: requirement %q appears twice", s.ID, r)
		}
	}
	return nil
}

// defaultNext is where open stage i may go when the file does not say:
// forward one, back one, and to every closed stage.
func (w *Workflow) defaultNext(i, firstClosed int) []string {
	var next []string
	if i+1 < firstClosed {
		next = append(next, w.stages[i+1].ID)
	}
	if i > 0 {
		next = append(next, w.stages[i-1].ID)
	}
	for _, c := range w.stages[firstClosed:] {
		next = append(next, c.ID)
	}
	return next
}

func (w *Workflow) checkNext(s *Stage) error {
	for j, to := range s.Next {
		t := w.stage(to)
		switch {
		case t == nil:
			return fmt.Errorf("stage %q: next stage %q does not exist", s.ID, to)
		case to == s.ID:
			return fmt.Errorf("stage %q: a stage cannot lead to itself", s.ID)
		case slices.Contains(s.Next[:j], to):
			return fmt.Errorf("stage %q: next stage %q appears twice", s.ID, to)
		case s.Closed && t.Closed:
			// Changing a close reason is not a move; it would rewrite why a
			// case ended without reopening it.
			return fmt.Errorf("closed stage %q can only lead to an open stage, not %q", s.ID, to)
		}
	}
	return nil
}

func (w *Workflow) stage(id string) *Stage {
	i, ok := w.index[id]
	if !ok {
		return nil
	}
	return &w.stages[i]
}

// Version is the configuration's version number, for display.
func (w *Workflow) Version() int { return w.version }

// Stage returns a copy of the stage with the given id, or nil.
func (w *Workflow) Stage(id string) *Stage {
	s := w.stage(id)
	if s == nil {
		return nil
	}
	c := s.clone()
	return &c
}

// Stages returns every stage, in order (open stages first).
func (w *Workflow) Stages() []Stage {
	out := make([]Stage, len(w.stages))
	for i, s := range w.stages {
		out[i] = s.clone()
	}
	return out
}

// Initial is the stage every case starts in: the first one.
func (w *Workflow) Initial() string { return w.stages[0].ID }

// Next returns the stages a case in from may move to (nil for an unknown
// stage).
func (w *Workflow) Next(from string) []string {
	s := w.stage(from)
	if s == nil {
		return nil
	}
	return slices.Clone(s.Next)
}

// CanMove reports whether the workflow allows a move from one stage to
// another (requirements aside).
func (w *Workflow) CanMove(from, to string) bool {
	s := w.stage(from)
	return s != nil && slices.Contains(s.Next, to)
}

// IsClosed reports whether id names a closed stage.
func (w *Workflow) IsClosed(id string) bool {
	s := w.stage(id)
	return s != nil && s.Closed
}

// CloseReasons returns the reasons a case may be closed for, in order.
func (w *Workflow) CloseReasons() []CloseReason {
	out := make([]CloseReason, len(w.reasons))
	for i, r := range w.reasons {
		out[i] = CloseReason{ID: r.ID, Label: maps.Clone(r.Label)}
	}
	return out
}

// ValidCloseReason reports whether id is one of the close reasons.
func (w *Workflow) ValidCloseReason(id string) bool {
	return slices.ContainsFunc(w.reasons, func(r CloseReason) bool { return r.ID == id })
}

// DepartureStage and ArrivalStage name the stages whose entries the
// dashboard counts as departures and arrivals ("" when not configured).
func (w *Workflow) DepartureStage() string { return w.departure }

// ArrivalStage: see DepartureStage.
func (w *Workflow) ArrivalStage() string { return w.arrival }

// Missing returns the requirements that stop c from moving to stage to,
// in the order the stages list them, or nil when nothing does. Only a
// forward move (to a later open stage) has requirements; and when a
// configuration lets a case skip stages, the requirements of every stage
// it leaves behind apply, so that skipping is never a way around a check.
func (w *Workflow) Missing(c *store.Case, to string) []string {
	from, okFrom := w.index[c.Stage]
	dest, okTo := w.index[to]
	if !okFrom || !okTo || dest <= from || w.stages[dest].Closed {
		return nil
	}
	var missing []string
	for _, s := range w.stages[from:dest] {
		for _, r := range s.Requires {
			if !holds(r, c) && !slices.Contains(missing, r) {
				missing = append(missing, r)
			}
		}
	}
	return missing
}

// Retention returns how long a case closed for reason is kept before it
// is erased on its own, and whether a rule exists.
func (w *Workflow) Retention(reason string) (time.Duration, bool) {
	d, ok := w.retention[reason]
	return d, ok
}
