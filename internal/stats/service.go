// Package stats is Corridor's public statistics: violation records kept
// in cases with the person's consent, and releases of tables built from
// them that tell the story — how many, when, where, what was done to them,
// by whom, how many got out — without exposing anyone.
//
// Protection, in order: only records of people who consented count; each
// record and each outcome counts in exactly one release, so releases never
// overlap and cannot be differenced; cells of fewer than the threshold of
// people are hidden, and further cells are hidden until no hidden count
// can be proved non-zero from everything published (protect.go);
// periods and places are coarsened when too much would be hidden;
// optionally, integer noise with a privacy budget per release (noise.go).
// The public never queries live data: it reads published releases, which
// never change.
//
// It holds the rules only; storage is behind store.Store.
package stats

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Sentinel errors callers branch on. ErrForbidden and ErrInvalid are the
// cases package's, so that one mapping to HTTP statuses serves both.
var (
	ErrForbidden = fmt.Errorf("stats: %w", cases.ErrForbidden)
	ErrInvalid   = fmt.Errorf("stats: %w", cases.ErrInvalid)
	// ErrStale refuses to publish a draft whose records changed since it
	// was built (a consent withdrawn, a case erased, a record added or
	// deleted, another release published).
	ErrStale = errors.New("stats: the records changed since this draft was built")
	// ErrNotApproved refuses to publish a draft nobody approved.
	ErrNotApproved = errors.New("stats: the draft is not approved")
	// ErrNoDraft: no such draft. It wraps store.ErrNotFound.
	ErrNoDraft = fmt.Errorf("stats: no such draft: %w", store.ErrNotFound)
)

// Ways consent is given: the same as for referrals.
func ConsentMethods() []string { return cases.ConsentMethods() }

// Limits.
const (
	MaxNoteRunes = 2000
	// earliestMonth: records of violations before it are refused as typos.
	earliestYear = 1990
)

// Event kinds on a case's timeline.
const (
	KindConsent          = "stats_consent"
	KindConsentWithdrawn = "stats_consent_withdrawn"
	KindViolation        = "violation"
	KindViolationDeleted = "violation_deleted"
)

// Service is the statistics domain logic.
type Service struct {
	st    store.Store
	vault *keys.Vault
	audit *audit.Log
	cases *cases.Service
	cfg   *Config
	now   func() time.Time
	noise io.Reader
}

// New returns a Service. A nil configuration is the default one; it is
// checked against the case workflow (outcome stages). A nil clock is
// time.Now, a nil audit log one writing to st.
func New(st store.Store, v *keys.Vault, a *audit.Log, cs *cases.Service, cfg *Config, now func() time.Time) (*Service, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	own := *cfg
	if err := own.CheckWorkflow(cs.Workflow()); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if a == nil {
		a = audit.New(st, now)
	}
	return &Service{st: st, vault: v, audit: a, cases: cs, cfg: &own, now: now, noise: rand.Reader}, nil
}

// Config is the configuration in use.
func (s *Service) Config() *Config { return s.cfg }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func newID(prefix string) string {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		panic("stats: crypto/rand failed: " + err.Error())
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

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

func active(u *store.User) bool { return u != nil && !u.Disabled }

// CanRecord reports whether a role may record consent and violations in
// the cases it has access to: those whose role writes testimony.
func (s *Service) CanRecord(role string) bool {
	return s.cases.Policy().CanWrite(role, cases.ClassTestimony)
}

// CanRelease reports whether a role may build, approve and publish
// releases: coordinators and admins.
func CanRelease(role string) bool { return cases.CanManage(role) }

// caseAccess checks that actor may read and write the statistics of a
// case: access to its contents (assigned, shared, break-glass) and a role
// that writes testimony. A refusal is audited as case.denied.
func (s *Service) caseAccess(ctx context.Context, actor *store.User, caseID string) (*store.Case, error) {
	if !validID(caseID) {
		return nil, fmt.Errorf("%w: %w", cases.ErrNotFound, store.ErrNotFound)
	}
	sum, err := s.cases.Summarise(ctx, actor, caseID)
	if err != nil {
		return nil, err
	}
	if sum.Access == "" || !active(actor) || !s.CanRecord(actor.Role) {
		_ = s.audit.Record(ctx, actor.ID, "case.denied", "case:"+caseID)
		return nil, ErrForbidden
	}
	return sum.Case, nil
}

func adViolation(caseID, id string) []string { return []string{"case", caseID, "violation", id} }

// CaseView is the statistics section of a case.
type CaseView struct {
	Consent    *store.StatsConsent // nil if none was ever recorded
	Violations []Violation
	Config     *Config
	Methods    []string
}

// Violation is a violation record as staff see it.
type Violation struct {
	*store.Violation
	Note       string
	Unreadable bool
}

// Case returns a case's consent and violation records, notes decrypted,
// audited as case.read_stats.
func (s *Service) Case(ctx context.Context, actor *store.User, caseID string) (*CaseView, error) {
	c, err := s.caseAccess(ctx, actor, caseID)
	if err != nil {
		return nil, err
	}
	v := &CaseView{Config: s.cfg, Methods: ConsentMethods()}
	k, err := s.st.GetStatsConsent(ctx, c.ID)
	switch {
	case err == nil:
		v.Consent = k
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("stats: consent: %w", err)
	}
	list, err := s.st.CaseViolations(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("stats: violations: %w", err)
	}
	if err := s.audit.Record(ctx, actor.ID, "case.read_stats", "case:"+c.ID); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	var dk []byte
	for _, r := range list {
		if r.Note != nil && dk == nil {
			if dk, err = s.vault.UnwrapDataKey(c.ID, c.WrappedKey); err != nil {
				return nil, fmt.Errorf("stats: data key: %w", err)
			}
			defer keys.Wipe(dk)
		}
		vv := Violation{Violation: r}
		if r.Note != nil {
			plain, err := keys.Decrypt(dk, r.Note, adViolation(c.ID, r.ID)...)
			if err != nil {
				vv.Unreadable = true
			} else {
				vv.Note = string(plain)
				clear(plain)
			}
		}
		v.Violations = append(v.Violations, vv)
	}
	return v, nil
}

// change runs fn on a case the actor may record statistics for, in one
// transaction with its audit entry and a bodiless timeline event.
func (s *Service) change(ctx context.Context, actor *store.User, caseID, action, kind string, fn func(tx store.Store, c *store.Case, now time.Time) error) error {
	c, err := s.caseAccess(ctx, actor, caseID)
	if err != nil {
		return err
	}
	now := s.clock()
	return s.st.Tx(ctx, func(tx store.Store) error {
		if err := fn(tx, c, now); err != nil {
			return err
		}
		ev := &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: now, ActorID: actor.ID, Kind: kind}
		if err := tx.AddCaseEvent(ctx, ev); err != nil {
			return fmt.Errorf("stats: event: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, actor.ID, action, "case:"+c.ID)
	})
}

// RecordConsent records that the people of a case agreed to be counted in
// public statistics, and how they said so.
func (s *Service) RecordConsent(ctx context.Context, actor *store.User, caseID, method string) error {
	return s.change(ctx, actor, caseID, "case.stats_consent", KindConsent, func(tx store.Store, c *store.Case, now time.Time) error {
		if !slices.Contains(ConsentMethods(), method) {
			return fmt.Errorf("%w: say how the consent was given", ErrInvalid)
		}
		err := tx.PutStatsConsent(ctx, &store.StatsConsent{CaseID: c.ID, Method: method, GivenAt: now, RecordedBy: actor.ID})
		if err != nil {
			return fmt.Errorf("stats: consent: %w", err)
		}
		return nil
	})
}

// WithdrawConsent records that the consent was withdrawn: from now on
// nothing more of the case is counted. What is published stays published.
func (s *Service) WithdrawConsent(ctx context.Context, actor *store.User, caseID string) error {
	return s.change(ctx, actor, caseID, "case.stats_consent_withdraw", KindConsentWithdrawn, func(tx store.Store, c *store.Case, now time.Time) error {
		err := tx.WithdrawStatsConsent(ctx, c.ID, actor.ID, now)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: no consent was recorded", ErrInvalid)
		}
		if err != nil {
			return fmt.Errorf("stats: consent: %w", err)
		}
		return nil
	})
}

// ViolationInput is a violation being recorded.
type ViolationInput struct {
	Type, Perpetrator, Region string
	Month                     time.Time // any instant in the month
	Note                      string    // sealed under the case's key
}

// AddViolation records a violation in a case. It may be recorded before
// the consent; it counts only once consent is given.
func (s *Service) AddViolation(ctx context.Context, actor *store.User, caseID string, in ViolationInput) (*store.Violation, error) {
	var v *store.Violation
	err := s.change(ctx, actor, caseID, "case.violation", KindViolation, func(tx store.Store, c *store.Case, now time.Time) error {
		if !s.cfg.ValidType(in.Type) || !s.cfg.ValidPerpetrator(in.Perpetrator) || !s.cfg.ValidRegion(in.Region) {
			return fmt.Errorf("%w: choose a type, a perpetrator and a region from the lists", ErrInvalid)
		}
		m := MonthOf(in.Month)
		if m.Year() < earliestYear || m.After(MonthOf(now)) {
			return fmt.Errorf("%w: the month must be between %d and this month", ErrInvalid, earliestYear)
		}
		note := strings.TrimSpace(strings.ReplaceAll(in.Note, "\r\n", "\n"))
		if !utf8.ValidString(note) || strings.ContainsRune(note, 0) || utf8.RuneCountInString(note) > MaxNoteRunes {
			return fmt.Errorf("%w: the note must be text of at most %d characters", ErrInvalid, MaxNoteRunes)
		}
		v = &store.Violation{ID: newID("v"), CaseID: c.ID, Type: in.Type, Perpetrator: in.Perpetrator,
			Region: in.Region, Month: m, RecordedBy: actor.ID, CreatedAt: now}
		if note != "" {
			dk, err := s.vault.UnwrapDataKey(c.ID, c.WrappedKey)
			if err != nil {
				return fmt.Errorf("stats: data key: %w", err)
			}
			v.Note, err = keys.Encrypt(dk, []byte(note), adViolation(c.ID, v.ID)...)
			keys.Wipe(dk)
			if err != nil {
				return fmt.Errorf("stats: encrypt note: %w", err)
			}
		}
		if err := tx.AddViolation(ctx, v); err != nil {
			return fmt.Errorf("stats: violation: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// DeleteViolation deletes a record made in error. A record a release
// already counted stays counted there: releases never change.
func (s *Service) DeleteViolation(ctx context.Context, actor *store.User, caseID, id string) error {
	return s.change(ctx, actor, caseID, "case.violation_delete", KindViolationDeleted, func(tx store.Store, c *store.Case, now time.Time) error {
		if !validID(id) {
			return fmt.Errorf("%w: no such record", ErrInvalid)
		}
		err := tx.DeleteViolation(ctx, c.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: no such record", ErrInvalid)
		}
		if err != nil {
			return fmt.Errorf("stats: violation: %w", err)
		}
		return nil
	})
}

// selection is what a release built now would count.
type selection struct {
	in           Input
	violationIDs []string // every record it covers, counted or duplicate
	outcomes     []store.CountedOutcome
	fingerprint  []byte
}

// violationKey identifies what a violation record says: two records of a
// case saying the same thing are one violation.
type violationKey struct{ caseID, typ, perp, region string }

// selectRecords gathers what a release with the given cut-off counts: the
// records and outcomes of consenting people, made (or reached) before the
// cut-off, that no published release counted.
func (s *Service) selectRecords(ctx context.Context, st store.Store, cutoff time.Time) (*selection, error) {
	subjects, err := st.StatsSubjects(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: subjects: %w", err)
	}
	consented := map[string]*store.StatsSubject{}
	for _, x := range subjects {
		if x.ConsentAt.Before(cutoff) {
			consented[x.CaseID] = x
		}
	}
	type keyMonth struct {
		k violationKey
		m int64
	}
	counted := map[keyMonth]bool{}
	var fresh []*store.Violation
	err = st.EachStatsViolation(ctx, func(v *store.Violation) error {
		if consented[v.CaseID] == nil || !v.CreatedAt.Before(cutoff) {
			return nil
		}
		km := keyMonth{violationKey{v.CaseID, v.Type, v.Perpetrator, v.Region}, v.Month.Unix()}
		if v.ReleaseVersion > 0 {
			counted[km] = true
			return nil
		}
		fresh = append(fresh, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stats: violations: %w", err)
	}
	sel := &selection{in: Input{Cutoff: cutoff}}
	// Oldest first, so that with noise on, the records kept for a person
	// are the first they told of.
	slices.SortStableFunc(fresh, func(a, b *store.Violation) int {
		if c := strings.Compare(a.CaseID, b.CaseID); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	perCase := map[string]int{}
	for _, v := range fresh {
		km := keyMonth{violationKey{v.CaseID, v.Type, v.Perpetrator, v.Region}, v.Month.Unix()}
		if !counted[km] {
			if s.cfg.EpsilonMilli > 0 && perCase[v.CaseID] >= s.cfg.MaxRecordsPerPerson {
				continue // left for a later release
			}
			counted[km] = true
			perCase[v.CaseID]++
			sel.in.Violations = append(sel.in.Violations, ViolationRecord{CaseID: v.CaseID, Type: v.Type,
				Perpetrator: v.Perpetrator, Region: v.Region, Month: v.Month})
		}
		// A repeat of a counted record is covered by it: marked, never
		// counted again.
		sel.violationIDs = append(sel.violationIDs, v.ID)
	}

	outcomes, err := s.outcomes(ctx, st, consented, cutoff)
	if err != nil {
		return nil, err
	}
	sel.in.Outcomes = outcomes
	for _, o := range outcomes {
		sel.outcomes = append(sel.outcomes, store.CountedOutcome{CaseID: o.CaseID, Outcome: o.Outcome})
	}
	sel.fingerprint = fingerprint(cutoff, sel)
	return sel, nil
}

// outcomes derives the outcomes of consenting cases from their clear
// workflow history: first contact (the case opened), evacuation (first
// entry into the evacuated stage or a later open one), departure (the same
// for the left-country stage) and resettlement (closed for that reason).
func (s *Service) outcomes(ctx context.Context, st store.Store, consented map[string]*store.StatsSubject, cutoff time.Time) ([]OutcomeRecord, error) {
	done, err := st.CountedOutcomes(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: counted outcomes: %w", err)
	}
	already := map[[2]string]bool{}
	for _, o := range done {
		already[[2]string{o.CaseID, o.Outcome}] = true
	}
	periods, err := st.PeriodsSince(ctx, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("stats: stage periods: %w", err)
	}
	wf := s.cases.Workflow()
	order := map[string]int{}
	for i, stg := range wf.Stages() {
		if !stg.Closed {
			order[stg.ID] = i
		}
	}
	evacFrom, leftFrom := order[s.cfg.EvacuatedStage], order[s.cfg.LeftCountryStage]
	first := map[[2]string]time.Time{}
	reach := func(caseID, outcome string, at time.Time) {
		k := [2]string{caseID, outcome}
		if t, ok := first[k]; !ok || at.Before(t) {
			first[k] = at
		}
	}
	for _, p := range periods {
		if consented[p.CaseID] == nil || !p.Entered.Before(cutoff) {
			continue
		}
		i, open := order[p.Stage]
		if !open {
			continue
		}
		if i >= evacFrom {
			reach(p.CaseID, OutcomeEvacuated, p.Entered)
		}
		if i >= leftFrom {
			reach(p.CaseID, OutcomeLeftCountry, p.Entered)
		}
	}
	var out []OutcomeRecord
	ids := make([]string, 0, len(consented))
	for id := range consented {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		x := consented[id]
		if x.OpenedAt.Before(cutoff) {
			first[[2]string{id, OutcomeContacted}] = x.OpenedAt
		}
		if x.CloseReason == s.cfg.ResettledReason && wf.IsClosed(x.Stage) && x.StageSince.Before(cutoff) {
			first[[2]string{id, OutcomeResettled}] = x.StageSince
		}
		for _, o := range Outcomes() {
			at, ok := first[[2]string{id, o}]
			if !ok || already[[2]string{id, o}] {
				continue
			}
			rec := OutcomeRecord{CaseID: id, Outcome: o, Month: MonthOf(at)}
			if o == OutcomeEvacuated {
				rec.SafetyDays = int(max(at.Sub(x.OpenedAt), 0) / (24 * time.Hour))
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// fingerprint identifies exactly what a selection counts.
func fingerprint(cutoff time.Time, sel *selection) []byte {
	h := sha256.New()
	var buf [8]byte
	word := func(s string) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	word(cutoff.UTC().Format(time.RFC3339Nano))
	ids := slices.Clone(sel.violationIDs)
	slices.Sort(ids)
	for _, id := range ids {
		word(id)
	}
	word("outcomes")
	for _, o := range sel.in.Outcomes {
		word(fmt.Sprintf("%s|%s|%s|%d", o.CaseID, o.Outcome, o.Month.Format("2006-01"), o.SafetyDays))
	}
	return h.Sum(nil)
}

// Draft is a draft release as coordinators see it.
type Draft struct {
	*store.StatsDraft
	Release *Release
	Report  *Report // nil when the draft was read back (not kept)
}

func (s *Service) manager(ctx context.Context, actor *store.User) error {
	if !active(actor) || !CanRelease(actor.Role) {
		return ErrForbidden
	}
	return nil
}

// Preview builds a draft release of everything not yet published up to
// the cut-off (zero: now), stores it and returns it with its report.
func (s *Service) Preview(ctx context.Context, actor *store.User, cutoff time.Time) (*Draft, error) {
	if err := s.manager(ctx, actor); err != nil {
		return nil, err
	}
	return s.preview(ctx, actor.ID, cutoff)
}

func (s *Service) preview(ctx context.Context, actorID int64, cutoff time.Time) (*Draft, error) {
	now := s.clock()
	if cutoff.IsZero() {
		cutoff = now
	}
	cutoff = cutoff.UTC().Truncate(time.Microsecond)
	if cutoff.After(now) {
		return nil, fmt.Errorf("%w: the cut-off cannot be in the future", ErrInvalid)
	}
	sel, err := s.selectRecords(ctx, s.st, cutoff)
	if err != nil {
		return nil, err
	}
	rel, rep, err := Build(s.cfg, sel.in, s.noise)
	if err != nil {
		return nil, err
	}
	doc, err := rel.Marshal()
	if err != nil {
		return nil, err
	}
	d := &store.StatsDraft{ID: newID("d"), CreatedAt: now, CreatedBy: actorID, Cutoff: cutoff,
		Fingerprint: sel.fingerprint, Document: doc}
	err = s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.CreateStatsDraft(ctx, d); err != nil {
			return fmt.Errorf("stats: draft: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, actorID, "stats.preview", "stats_draft:"+d.ID)
	})
	if err != nil {
		return nil, err
	}
	return &Draft{StatsDraft: d, Release: rel, Report: rep}, nil
}

// Drafts lists the drafts, newest first.
func (s *Service) Drafts(ctx context.Context, actor *store.User) ([]*store.StatsDraft, error) {
	if err := s.manager(ctx, actor); err != nil {
		return nil, err
	}
	list, err := s.st.ListStatsDrafts(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: drafts: %w", err)
	}
	return list, nil
}

// Draft returns one draft with its release.
func (s *Service) Draft(ctx context.Context, actor *store.User, id string) (*Draft, error) {
	if err := s.manager(ctx, actor); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, ErrNoDraft
	}
	d, err := s.st.GetStatsDraft(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoDraft
	}
	if err != nil {
		return nil, fmt.Errorf("stats: draft: %w", err)
	}
	rel, err := ParseRelease(d.Document)
	if err != nil {
		return nil, err
	}
	return &Draft{StatsDraft: d, Release: rel}, nil
}

// Approve records a coordinator's approval of a draft.
func (s *Service) Approve(ctx context.Context, actor *store.User, id string) error {
	if err := s.manager(ctx, actor); err != nil {
		return err
	}
	return s.approve(ctx, actor.ID, id)
}

func (s *Service) approve(ctx context.Context, actorID int64, id string) error {
	if !validID(id) {
		return ErrNoDraft
	}
	return s.st.Tx(ctx, func(tx store.Store) error {
		err := tx.ApproveStatsDraft(ctx, id, actorID, s.clock())
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoDraft
		}
		if err != nil {
			return fmt.Errorf("stats: approve: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, actorID, "stats.approve", "stats_draft:"+id)
	})
}

// Discard deletes a draft.
func (s *Service) Discard(ctx context.Context, actor *store.User, id string) error {
	if err := s.manager(ctx, actor); err != nil {
		return err
	}
	if !validID(id) {
		return ErrNoDraft
	}
	return s.st.Tx(ctx, func(tx store.Store) error {
		err := tx.DeleteStatsDraft(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoDraft
		}
		if err != nil {
			return fmt.Errorf("stats: discard: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, actor.ID, "stats.discard", "stats_draft:"+id)
	})
}

// Publish publishes an approved draft: in one transaction it checks that
// the records it counts are still exactly those it was built from, gives
// it the next version and the publication time, stores it for good and
// marks what it counted, so that no later release counts it again.
func (s *Service) Publish(ctx context.Context, actor *store.User, id string) (*store.StatsRelease, error) {
	if err := s.manager(ctx, actor); err != nil {
		return nil, err
	}
	return s.publish(ctx, actor.ID, id)
}

func (s *Service) publish(ctx context.Context, actorID int64, id string) (*store.StatsRelease, error) {
	if !validID(id) {
		return nil, ErrNoDraft
	}
	var rel *store.StatsRelease
	err := s.st.Tx(ctx, func(tx store.Store) error {
		d, err := tx.GetStatsDraft(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoDraft
		}
		if err != nil {
			return fmt.Errorf("stats: draft: %w", err)
		}
		if d.ApprovedBy == 0 && d.ApprovedAt.IsZero() {
			return ErrNotApproved
		}
		sel, err := s.selectRecords(ctx, tx, d.Cutoff)
		if err != nil {
			return err
		}
		if !bytes.Equal(sel.fingerprint, d.Fingerprint) {
			return ErrStale
		}
		doc, err := ParseRelease(d.Document)
		if err != nil {
			return err
		}
		latest, err := tx.ListStatsReleases(ctx)
		if err != nil {
			return fmt.Errorf("stats: releases: %w", err)
		}
		now := s.clock()
		doc.Version, doc.Published = 1, now
		if len(latest) > 0 {
			doc.Version = latest[0].Version + 1
		}
		data, err := doc.Marshal()
		if err != nil {
			return err
		}
		rel = &store.StatsRelease{Version: doc.Version, PublishedAt: now, PublishedBy: actorID, ApprovedBy: d.ApprovedBy,
			Cutoff: d.Cutoff, Document: data}
		if err := tx.PublishStatsRelease(ctx, rel, d.ID, sel.violationIDs, sel.outcomes); err != nil {
			return fmt.Errorf("stats: publish: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, actorID, "stats.publish", fmt.Sprintf("stats_release:%d", rel.Version))
	})
	if err != nil {
		return nil, err
	}
	return rel, nil
}

// PublishNow builds, approves and publishes a release in one go, as the
// system (actor 0): for `corridor stats publish`, whose operator proved
// they hold the passphrase. It returns the release and the report the
// preview printed.
func (s *Service) PublishNow(ctx context.Context, cutoff time.Time, confirm func(*Draft) bool) (*store.StatsRelease, *Draft, error) {
	d, err := s.preview(ctx, 0, cutoff)
	if err != nil {
		return nil, nil, err
	}
	if confirm != nil && !confirm(d) {
		_ = s.st.DeleteStatsDraft(ctx, d.ID)
		return nil, d, nil
	}
	if err := s.approve(ctx, 0, d.ID); err != nil {
		return nil, d, err
	}
	rel, err := s.publish(ctx, 0, d.ID)
	return rel, d, err
}

// Published is a published release with its document.
type Published struct {
	*store.StatsRelease
	Release *Release
}

// Releases lists published releases, newest first (for anyone: they are
// public).
func (s *Service) Releases(ctx context.Context) ([]*store.StatsRelease, error) {
	list, err := s.st.ListStatsReleases(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: releases: %w", err)
	}
	return list, nil
}

// Release returns a published release; an error wrapping
// store.ErrNotFound if there is none with that version.
func (s *Service) Release(ctx context.Context, version int) (*Published, error) {
	r, err := s.st.GetStatsRelease(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("stats: release %d: %w", version, err)
	}
	doc, err := ParseRelease(r.Document)
	if err != nil {
		return nil, err
	}
	return &Published{StatsRelease: r, Release: doc}, nil
}
