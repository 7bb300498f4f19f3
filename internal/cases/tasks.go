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

// Timeline kinds of the work on a case.
const (
	KindTask       = "task"        // a task was added; its title, in the task's class
	KindTaskDone   = "task_done"   // a task was done
	KindTaskReopen = "task_reopen" // a done task was reopened
	KindExpense    = "expense"     // an expense was recorded (the amount is on the expense)
	KindContact    = "contact"     // staff were in contact with the people outside the hotline
)

// ErrNoTask: no such task in this case. It wraps ErrNotFound and, as
// every such error does, store.ErrNotFound.
var ErrNoTask = fmt.Errorf("%w: no such task: %w", ErrNotFound, store.ErrNotFound)

// MaxTaskRunes bounds a task's title: a line, not a document.
const MaxTaskRunes = 500

// adTask binds a task title to its case, task and class.
func adTask(caseID, taskID, class string) []string {
	return []string{"case", caseID, "task", taskID, class}
}

// TaskInput is a new task.
type TaskInput struct {
	Title      string
	Class      string    // sensitivity class of the title; "" means identity
	AssigneeID int64     // 0 = nobody yet
	Due        time.Time // zero = no due date
}

// Task is a task as one viewer may see it: the clear part always, the
// title only when the viewer has access to the case and reads its class.
type Task struct {
	*store.Task
	Title string
	// Withheld says why the title is not shown: WithheldRole,
	// WithheldUnverified, or WithheldAccess (no access to the case).
	Withheld   string
	Unreadable bool // the title did not decrypt (altered or moved)
	Overdue    bool // not done and past its due date
}

// WithheldAccess: the viewer may list the case (a coordinator) but has no
// access to its contents.
const WithheldAccess = "access"

// AddTask adds a task to a case. The actor needs access to the case and a
// role that writes the title's class (logistics only once verified). The
// assignee must be an enabled user who works the case (its assignee, or
// shared into it) or who manages cases.
func (s *Service) AddTask(ctx context.Context, actor *store.User, id string, in TaskInput) (*store.Task, error) {
	class := in.Class
	if class == "" {
		class = ClassIdentity
	}
	if !ValidClass(class) {
		return nil, fmt.Errorf("%w: unknown class", ErrInvalid)
	}
	title, err := cleanText(in.Title, MaxTaskRunes)
	if err != nil {
		return nil, err
	}
	if title == "" {
		return nil, fmt.Errorf("%w: a task needs a title", ErrInvalid)
	}
	if in.AssigneeID < 0 {
		return nil, fmt.Errorf("%w: user id", ErrInvalid)
	}
	var task *store.Task
	err = s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !s.pol.CanWrite(actor.Role, class) {
			return fmt.Errorf("%w: class %s", ErrForbidden, class)
		}
		if class == ClassLogistics && !c.Verified {
			return ErrUnverified
		}
		if in.AssigneeID != 0 {
			if err := s.taskAssignee(ctx, tx, c, in.AssigneeID); err != nil {
				return err
			}
		}
		task = &store.Task{ID: newID("t"), CaseID: c.ID, Class: class, AssigneeID: in.AssigneeID,
			Due: in.Due.UTC().Truncate(time.Microsecond), CreatedBy: actor.ID, CreatedAt: now}
		return s.withKey(c, func(dk []byte) error {
			plain := []byte(title)
			ct, err := keys.Encrypt(dk, plain, adTask(c.ID, task.ID, class)...)
			if err != nil {
				return fmt.Errorf("cases: encrypt task: %w", err)
			}
			task.Title = ct
			if err := tx.CreateTask(ctx, task); err != nil {
				return fmt.Errorf("cases: task: %w", err)
			}
			e, err := newEvent(dk, c, actor.ID, now, KindTask, "", class, &eventBody{Text: title, UserID: in.AssigneeID})
			if err != nil {
				return err
			}
			if err := tx.AddCaseEvent(ctx, e); err != nil {
				return fmt.Errorf("cases: event: %w", err)
			}
			return s.record(ctx, tx, actor, "case.task", c.ID)
		})
	})
	if err != nil {
		return nil, err
	}
	return task, nil
}

// taskAssignee checks who a task may be given to. Unlike a case's
// assignee, this may be the actor: taking a task on is not reading a case
// one could not read before.
func (s *Service) taskAssignee(ctx context.Context, tx store.Store, c *store.Case, userID int64) error {
	u, err := tx.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no such user", ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("cases: user: %w", err)
	}
	if u.Disabled || !s.pol.MayHold(u.Role) {
		return fmt.Errorf("%w: this user cannot take tasks", ErrInvalid)
	}
	if c.AssigneeID == u.ID || CanManage(u.Role) {
		return nil
	}
	shares, err := tx.CaseShares(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("cases: shares: %w", err)
	}
	if !slices.Contains(shares, u.ID) {
		// A task would tell them the case exists and what it needs,
		// without their being on it: share the case first.
		return fmt.Errorf("%w: this user does not work on the case", ErrInvalid)
	}
	return nil
}

// SetTaskDone marks a task of a case done or not done. Anyone with access
// to the case may.
func (s *Service) SetTaskDone(ctx context.Context, actor *store.User, id, taskID string, done bool) error {
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		// Checked after access, so that a bad task id tells nothing about
		// a case one may not touch.
		if !validID(taskID) {
			return ErrNoTask
		}
		t, err := tx.GetTask(ctx, taskID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && t.CaseID != c.ID) {
			return ErrNoTask
		}
		if err != nil {
			return fmt.Errorf("cases: task: %w", err)
		}
		if t.Done == done {
			return nil
		}
		if err := tx.SetTaskDone(ctx, taskID, done, now); err != nil {
			return fmt.Errorf("cases: task: %w", err)
		}
		kind := KindTaskDone
		if !done {
			kind = KindTaskReopen
		}
		if err := tx.AddCaseEvent(ctx, &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: now, ActorID: actor.ID, Kind: kind}); err != nil {
			return fmt.Errorf("cases: event: %w", err)
		}
		return s.record(ctx, tx, actor, "case.task_done", c.ID)
	})
}

// RecordContact records that staff were in touch with the people of a
// case outside the hotline conversation (a call, a meeting), with an
// optional note, and moves the case's LastContactAt. Messages in the
// linked hotline conversation move it by themselves (the store does it
// with the message).
func (s *Service) RecordContact(ctx context.Context, actor *store.User, id, note string) error {
	note, err := cleanText(note, MaxNoteRunes)
	if err != nil {
		return err
	}
	return s.change(ctx, actor, id, needContent, func(tx store.Store, c *store.Case, now time.Time) error {
		if now.After(c.LastContactAt) {
			c.LastContactAt = now
			if err := updateCase(ctx, tx, c, now); err != nil {
				return err
			}
		}
		var body *eventBody
		if note != "" {
			// The workflow class: whoever works the case should know how
			// the people were last reached.
			body = &eventBody{Text: note}
		}
		if err := s.addEvent(ctx, tx, c, actor, now, KindContact, "", workflowClass, body); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, "case.contact", c.ID)
	})
}

// openTask fills in what viewer may see of t in c, given how they may
// access c ("" for not at all) and c's data key (nil without access).
func (s *Service) openTask(dk []byte, role, how string, c *store.Case, t *store.Task, now time.Time) Task {
	v := Task{Task: t, Overdue: !t.Done && !t.Due.IsZero() && t.Due.Before(now)}
	switch {
	case t.Title == nil:
		return v
	case how == "" || dk == nil:
		v.Withheld = WithheldAccess
		return v
	}
	if why := s.pol.withheld(role, t.Class, c); why != "" {
		v.Withheld = why
		return v
	}
	plain, err := keys.Decrypt(dk, t.Title, adTask(c.ID, t.ID, t.Class)...)
	if err != nil {
		v.Unreadable = true
		return v
	}
	v.Title = string(plain)
	clear(plain)
	return v
}

// TaskBoard is the tasks page: the viewer's open tasks, and for admins and
// coordinators every overdue task.
type TaskBoard struct {
	At      time.Time
	Mine    []Task
	Overdue []Task // only for those who may list every case
}

// Tasks builds the task board for actor. Listing reads clear metadata;
// titles are decrypted only for cases the actor has access to and in
// classes their role reads, and the board is audited as tasks.read.
func (s *Service) Tasks(ctx context.Context, actor *store.User) (*TaskBoard, error) {
	if !active(actor) || !s.pol.MayHold(actor.Role) {
		return nil, ErrForbidden
	}
	now := s.clock()
	mine, err := s.st.ListTasks(ctx, store.TaskFilter{AssigneeID: actor.ID, OpenOnly: true})
	if err != nil {
		return nil, fmt.Errorf("cases: tasks: %w", err)
	}
	var overdue []*store.Task
	if CanListAll(actor.Role) {
		if overdue, err = s.st.ListTasks(ctx, store.TaskFilter{DueBefore: now}); err != nil {
			return nil, fmt.Errorf("cases: tasks: %w", err)
		}
	}
	if err := s.audit.Record(ctx, actor.ID, "tasks.read", "tasks"); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	o := newOpener(s, actor, now)
	defer o.wipe()
	b := &TaskBoard{At: now}
	for _, t := range mine {
		v, ok, err := o.open(ctx, t)
		if err != nil {
			return nil, err
		}
		// A task of a case one was taken off stays assigned, but the
		// case is not theirs to see any more: it is left out.
		if ok && v.Withheld != WithheldAccess {
			b.Mine = append(b.Mine, v)
		}
	}
	for _, t := range overdue {
		v, ok, err := o.open(ctx, t)
		if err != nil {
			return nil, err
		}
		if ok {
			b.Overdue = append(b.Overdue, v)
		}
	}
	return b, nil
}

// opener decrypts task titles across cases, reading each case, its access
// and its key once.
type opener struct {
	s     *Service
	actor *store.User
	now   time.Time
	cases map[string]*openCase
}

type openCase struct {
	c   *store.Case
	how string
	dk  []byte
}

func newOpener(s *Service, actor *store.User, now time.Time) *opener {
	return &opener{s: s, actor: actor, now: now, cases: map[string]*openCase{}}
}

// open returns what the actor may see of t; ok is false when the case is
// gone or erased, or when the actor may neither list nor access it.
func (o *opener) open(ctx context.Context, t *store.Task) (Task, bool, error) {
	oc, ok := o.cases[t.CaseID]
	if !ok {
		c, err := o.s.st.GetCase(ctx, t.CaseID)
		if errors.Is(err, store.ErrNotFound) {
			o.cases[t.CaseID] = nil
			return Task{}, false, nil
		}
		if err != nil {
			return Task{}, false, fmt.Errorf("cases: case: %w", err)
		}
		oc = &openCase{c: c}
		if c.ErasedAt.IsZero() {
			if oc.how, err = o.s.accessOf(ctx, o.s.st, o.actor, c, o.now); err != nil {
				return Task{}, false, err
			}
			if oc.how != "" {
				if oc.dk, err = o.s.dataKey(c); err != nil {
					return Task{}, false, err
				}
			}
		}
		o.cases[t.CaseID] = oc
	}
	if oc == nil || !oc.c.ErasedAt.IsZero() || (oc.how == "" && !CanListAll(o.actor.Role)) {
		return Task{}, false, nil
	}
	return o.s.openTask(oc.dk, o.actor.Role, oc.how, oc.c, t, o.now), true, nil
}

func (o *opener) wipe() {
	for _, oc := range o.cases {
		if oc != nil && oc.dk != nil {
			keys.Wipe(oc.dk)
		}
	}
}
