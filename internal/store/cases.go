package store

import (
	"context"
	"time"
)

// Case is an evacuation case. Its workflow state (stage, risk level,
// verification, assignment, timestamps) is in clear, because dashboards,
// alerts and the need-to-know checks must work on it; everything about the
// people in it lives in sections encrypted under the case's data key, one
// section per sensitivity class.
type Case struct {
	ID            string // random, opaque ("c…")
	CreatedAt     time.Time
	UpdatedAt     time.Time // maintained by the store on every change to the case, its sections or events; never moves backwards
	Stage         string    // a stage id of the workflow
	StageSince    time.Time // when the current stage was entered
	CloseReason   string    // set when the stage is a closed one
	Risk          int       // 0 not assessed, 1 low, 2 medium, 3 high, 4 immediate danger
	Verified      bool      // verification recorded: plans and addresses may now be shown
	Flagged       bool      // suspected infiltrator
	AssigneeID    int64     // 0 = unassigned
	RequestID     string    // the hotline request it was opened from; "" if opened by hand
	WrappedKey    []byte    // data key wrapped by the root wrapping key; nil once erased
	ErasedAt      time.Time // zero unless crypto-shredded
	LastContactAt time.Time // last message from or to the people in the case
}

// CaseSection is one encrypted section of a case: all its fields of one
// sensitivity class, as one ciphertext.
type CaseSection struct {
	CaseID    string
	Class     string // identity, location, testimony, logistics, medical, finance
	Data      []byte // ciphertext
	UpdatedAt time.Time
}

// CaseEvent is one entry of a case's timeline. What happened (kind, when,
// who, the stage entered) is clear; any free text is in Body, encrypted
// under the case key and tagged with its sensitivity class.
type CaseEvent struct {
	ID      string // random, opaque
	CaseID  string
	At      time.Time
	ActorID int64  // staff user; 0 for the system
	Kind    string // opened, stage, note, risk, verify, flag, assign, share, unshare, break_glass, erase, …
	Stage   string // for kind "stage": the stage entered
	Class   string // sensitivity class of Body; "" when Body is nil
	Body    []byte // ciphertext, or nil
}

// StagePeriod is one stay of a case in a stage; Left is zero while it
// is the current one.
type StagePeriod struct {
	CaseID  string
	Stage   string
	Entered time.Time
	Left    time.Time
}

// StageStayStat summarises the completed stays in one stage: how many,
// and the median and 90th percentile of their lengths by the nearest-rank
// method (the value at rank ceil(p·Count/100) of the lengths in ascending
// order). A stay's length is Left − Entered, never below zero.
type StageStayStat struct {
	Stage       string
	Count       int
	Median, P90 time.Duration
}

// StageMonthCount is how many distinct cases entered a stage in one
// calendar month (UTC).
type StageMonthCount struct {
	Stage string
	Month time.Time // first instant of the month, UTC
	Cases int
}

// CaseFilter selects cases. The order is fixed: open cases (CloseReason
// "") before closed, then risk (highest first), then longest in the
// current stage (StageSince, earliest first), then ID.
type CaseFilter struct {
	Stage         string // "" = any
	AssigneeID    int64  // > 0: only cases assigned to this user
	VisibleTo     int64  // > 0: only cases assigned to or shared with this user (break-glass grants do not count)
	IncludeErased bool   // erased cases are left out unless asked for
	Limit         int    // <= 0 means 50
	Offset        int
}

// Cases stores evacuation cases.
//
// Methods that take a case id report ErrNotFound when there is no such
// case, reads included; a failed write changes nothing, and inside Tx
// leaves the transaction usable. Times are stored as for Requests (UTC,
// whole microseconds), and methods that take a *Case, *CaseSection or
// *CaseEvent set its times to the values as stored.
type Cases interface {
	// CreateCase inserts c and its first stage period (c.Stage entered at
	// c.StageSince; a zero StageSince is taken as CreatedAt). c.UpdatedAt
	// is set to c.CreatedAt. ErrConflict if the id exists, or if a case was
	// already opened from c.RequestID (one case per request; any number of
	// cases opened by hand, with RequestID "").
	CreateCase(ctx context.Context, c *Case) error
	GetCase(ctx context.Context, id string) (*Case, error)
	// UpdateCase writes the fields that change outside the workflow —
	// Risk, Verified, Flagged, AssigneeID, LastContactAt — and moves
	// UpdatedAt to c.UpdatedAt (the time of this change) unless it already
	// is later; then it sets *c to the case as stored. Everything else is
	// left as stored: Stage, StageSince and CloseReason change only through
	// EnterStage, WrappedKey and ErasedAt only through EraseCase, so that a
	// stale copy of c can neither undo a stage change nor bring back an
	// erased key.
	UpdateCase(ctx context.Context, c *Case) error
	// ListCases returns one page and the total number of matching cases.
	ListCases(ctx context.Context, f CaseFilter) ([]*Case, int, error)
	// CaseForRequest finds the case opened from a request, erased or not;
	// ErrNotFound if none, and always for requestID "".
	CaseForRequest(ctx context.Context, requestID string) (*Case, error)

	// PutSection inserts or replaces the section of s.Class and moves the
	// case's UpdatedAt to s.UpdatedAt unless it already is later.
	// ErrNotFound also if the case is erased: it takes no new ciphertext.
	PutSection(ctx context.Context, s *CaseSection) error
	// Sections returns a case's sections, ordered by class (byte order).
	Sections(ctx context.Context, caseID string) ([]*CaseSection, error)

	// AddCaseEvent appends e to the case's timeline and moves the case's
	// UpdatedAt to e.At unless it already is later. ErrConflict if the
	// event id exists (in any case). ErrNotFound also if the case is erased
	// and e has a Body; bodiless events may still be added.
	AddCaseEvent(ctx context.Context, e *CaseEvent) error
	// CaseEvents returns a case's timeline, oldest first; events with the
	// same At in the order they were added.
	CaseEvents(ctx context.Context, caseID string) ([]*CaseEvent, error)

	// EnterStage moves a case to stage at the given time, atomically: it
	// ends the current stage period, opens a new one (also when stage is
	// the current stage), and sets Stage, StageSince and CloseReason
	// (closeReason may be "", which reopens a closed case). UpdatedAt moves
	// to at unless it already is later. An at before the current
	// StageSince (clocks of two servers disagreeing) is taken as
	// StageSince, so that periods never overlap nor run backwards.
	EnterStage(ctx context.Context, caseID, stage, closeReason string, at time.Time) error
	// StagePeriods returns a case's stays in stages, oldest first.
	StagePeriods(ctx context.Context, caseID string) ([]*StagePeriod, error)
	// PeriodsSince returns every stage period, of every case (erased ones
	// included: periods hold no ciphertext), that was still open at since
	// (Left zero or after since) or began at or after since, for
	// dashboards; ordered by Entered, then case id, then the order they
	// began in. Every case's current period is among them.
	PeriodsSince(ctx context.Context, since time.Time) ([]*StagePeriod, error)
	// StageStayStats summarises, per stage, the completed stays (of every
	// case, erased ones included) that ended after endedAfter, or at it
	// when they also began at or after it: the ended periods PeriodsSince
	// returns, compared at full (nanosecond) precision. Stages without
	// such stays are absent; the order is by stage.
	StageStayStats(ctx context.Context, endedAfter time.Time) ([]StageStayStat, error)
	// StageMonthlyEntries counts, per stage of stages and calendar month
	// (UTC), the distinct cases (erased ones included) with a stage period
	// in it that began at or after from and before until. Months without
	// entries are absent; the order is by stage, then month.
	StageMonthlyEntries(ctx context.Context, stages []string, from, until time.Time) ([]StageMonthCount, error)
	// CountByStage counts cases that are not erased, per stage; stages
	// without cases are absent.
	CountByStage(ctx context.Context) (map[string]int, error)

	// ShareCase lets a user see a case besides its assignee (idempotent).
	// Shares and grants do not move the case's UpdatedAt.
	ShareCase(ctx context.Context, caseID string, userID int64) error
	// UnshareCase removes a share; ErrNotFound if there was none.
	UnshareCase(ctx context.Context, caseID string, userID int64) error
	// CaseShares lists the users a case is shared with, ascending.
	CaseShares(ctx context.Context, caseID string) ([]int64, error)
	// GrantAccess records a break-glass grant until the given time
	// (replacing any earlier grant of the same user to the same case, even
	// one that ends later).
	GrantAccess(ctx context.Context, caseID string, userID int64, until time.Time) error
	// AccessUntil returns until when a user holds a break-glass grant,
	// whether that is past or not; ErrNotFound if never.
	AccessUntil(ctx context.Context, caseID string, userID int64) (time.Time, error)

	// EraseCase crypto-shreds a case, atomically: it deletes the wrapped
	// data key, every section and every event body and class (the events
	// themselves, with kind, time, actor and stage, stay, as do the stage
	// periods, shares and grants), and sets ErasedAt; UpdatedAt moves to at
	// unless it already is later. Erasing again keeps the first ErasedAt.
	// ErrNotFound if no such case.
	EraseCase(ctx context.Context, caseID string, at time.Time) error
}
