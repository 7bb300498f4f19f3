package store

import (
	"context"
	"time"
)

// Violation is one structured record of what was done to the people in a
// case, for public statistics. Its four dimensions — type, perpetrator,
// region and month — are clear: releases are aggregated from them, inside
// the store's transaction and without any key, and they are coarse by
// design (a region from a fixed list, a month, never a place or a day).
// Anything finer the caseworker wants to keep (what exactly, where, who
// said so) is the note: ciphertext under the case's data key.
//
// A violation is never changed once recorded: a mistake is deleted and
// recorded again. ReleaseVersion is set once, when a published release
// first counts it; a record counted in one release is never counted in
// another.
type Violation struct {
	ID             string // random, opaque ("v…")
	CaseID         string
	Type           string
	Perpetrator    string
	Region         string
	Month          time.Time // first instant of the month, UTC
	Note           []byte    // ciphertext; nil if none
	RecordedBy     int64
	CreatedAt      time.Time
	ReleaseVersion int // 0 until a published release counts it
}

// StatsConsent is a person's consent to have their case counted in public
// statistics: how it was given, when and by whom it was recorded, and
// whether it was withdrawn. It is clear, so that a release is built
// without any key. A case has at most one: recording consent again after a
// withdrawal replaces it.
type StatsConsent struct {
	CaseID      string
	Method      string // in_person, message, phone
	GivenAt     time.Time
	RecordedBy  int64
	WithdrawnAt time.Time // zero unless withdrawn
	WithdrawnBy int64
}

// Valid reports whether the consent may be relied on.
func (c *StatsConsent) Valid() bool { return c != nil && c.WithdrawnAt.IsZero() }

// StatsSubject is the clear workflow metadata of a case whose people
// consented to statistical use: what outcomes (contact, evacuation,
// departure, resettlement) are derived from, with its stage periods.
type StatsSubject struct {
	CaseID      string
	OpenedAt    time.Time
	Stage       string
	StageSince  time.Time
	CloseReason string
	ConsentAt   time.Time // when the consent in force was given
}

// CountedOutcome records that a published release counted one outcome of
// a case (contacted, evacuated, …), so that no later release counts it
// again.
type CountedOutcome struct {
	CaseID         string
	Outcome        string
	ReleaseVersion int
}

// StatsDraft is a release being prepared: built, shown to coordinators,
// approved, then published or discarded. Its document is the release as
// it will be published, without version and publication time; its
// fingerprint identifies exactly which records it counts, so that a draft
// whose data changed (a consent withdrawn, a case erased, another release
// published) is refused at publication.
type StatsDraft struct {
	ID          string // random, opaque ("d…")
	CreatedAt   time.Time
	CreatedBy   int64
	Cutoff      time.Time
	Fingerprint []byte
	Document    []byte // JSON
	ApprovedBy  int64  // 0 until approved
	ApprovedAt  time.Time
}

// StatsRelease is a published release of statistics. It is immutable:
// the store has no method that changes or deletes one, and the databases
// refuse UPDATE and DELETE on its table.
type StatsRelease struct {
	Version     int // 1, 2, 3 …; assigned by PublishStatsRelease
	PublishedAt time.Time
	PublishedBy int64
	ApprovedBy  int64
	Cutoff      time.Time
	Document    []byte // JSON; nil in lists
	SHA256      []byte // of Document
}

// Stats stores violation records, consents to statistical use, release
// drafts and published releases.
//
// Methods that take a case id report ErrNotFound when there is no such
// case; an erased case takes no new consent or violation (ErrNotFound).
// Erasing a case (Cases.EraseCase) deletes its consent, its violations and
// its counted outcomes in the same transaction: what was published stays
// published, but nothing of the case is kept to be counted or linked
// again. Times are stored as everywhere else (UTC, whole microseconds),
// and methods that take a pointer set its times to the values as stored.
type Stats interface {
	// PutStatsConsent records c, replacing the case's consent if it has
	// one.
	PutStatsConsent(ctx context.Context, c *StatsConsent) error
	// WithdrawStatsConsent records a withdrawal; withdrawing again keeps
	// the first WithdrawnAt and WithdrawnBy. ErrNotFound if the case has
	// no consent.
	WithdrawStatsConsent(ctx context.Context, caseID string, by int64, at time.Time) error
	// GetStatsConsent returns the case's consent; ErrNotFound if none.
	GetStatsConsent(ctx context.Context, caseID string) (*StatsConsent, error)

	// AddViolation inserts v (ReleaseVersion is stored as 0).
	// ErrConflict if the id exists.
	AddViolation(ctx context.Context, v *Violation) error
	// DeleteViolation deletes a violation of the case; ErrNotFound if
	// there is no such violation of that case.
	DeleteViolation(ctx context.Context, caseID, id string) error
	// CaseViolations returns a case's violations by Month, then CreatedAt,
	// then id.
	CaseViolations(ctx context.Context, caseID string) ([]*Violation, error)
	// EachStatsViolation calls fn with every violation, counted or not, of
	// every case that is not erased and holds a consent not withdrawn, by
	// case id, then id; Note is always nil. fn must not use the store. It
	// stops at fn's first error and returns it.
	EachStatsViolation(ctx context.Context, fn func(*Violation) error) error
	// StatsSubjects returns every case that is not erased and holds a
	// consent not withdrawn, by case id.
	StatsSubjects(ctx context.Context) ([]*StatsSubject, error)
	// CountedOutcomes returns every counted outcome, by case id, then
	// outcome.
	CountedOutcomes(ctx context.Context) ([]CountedOutcome, error)

	// CreateStatsDraft inserts d; ErrConflict if the id exists.
	CreateStatsDraft(ctx context.Context, d *StatsDraft) error
	GetStatsDraft(ctx context.Context, id string) (*StatsDraft, error)
	// ListStatsDrafts returns every draft, newest first (then by id),
	// without documents.
	ListStatsDrafts(ctx context.Context) ([]*StatsDraft, error)
	// ApproveStatsDraft records an approval; ErrNotFound if no such draft.
	ApproveStatsDraft(ctx context.Context, id string, by int64, at time.Time) error
	// DeleteStatsDraft deletes a draft; ErrNotFound if none.
	DeleteStatsDraft(ctx context.Context, id string) error

	// PublishStatsRelease, atomically: gives r the next version (one more
	// than the highest so far, from 1) — ErrConflict if r.Version is set
	// and is not that one, since the document names its version — inserts
	// it, marks every violation
	// in violationIDs as counted by it, records every outcome as counted
	// by it and deletes the draft. ErrNotFound if the draft does not
	// exist; ErrConflict if a violation does not exist or is already
	// counted, or an outcome is already counted. r.SHA256 is set from
	// r.Document.
	PublishStatsRelease(ctx context.Context, r *StatsRelease, draftID string, violationIDs []string, outcomes []CountedOutcome) error
	// GetStatsRelease returns a published release with its document;
	// ErrNotFound if none.
	GetStatsRelease(ctx context.Context, version int) (*StatsRelease, error)
	// ListStatsReleases returns every published release, newest first,
	// without documents.
	ListStatsReleases(ctx context.Context) ([]*StatsRelease, error)
}
