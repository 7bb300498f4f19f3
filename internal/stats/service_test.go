package stats_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/stats"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/sqlite"
)

// fixture is a real SQLite store with the case and statistics services.
type fixture struct {
	t      *testing.T
	st     store.Store
	cases  *cases.Service
	stats  *stats.Service
	now    time.Time
	admin  *store.User
	worker *store.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "corridor.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, now: time.Date(2018, 3, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	v, err := keys.Open(ctx, st, clock)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Initialise(ctx, st, []byte("passphrase"), keys.TestKDF, keys.TestKDF); err != nil {
		t.Fatal(err)
	}
	a := audit.New(st, clock)
	f.cases = cases.New(st, v, a, nil, nil, clock)
	if f.stats, err = stats.New(st, v, a, f.cases, nil, clock); err != nil {
		t.Fatal(err)
	}
	f.admin = f.user(store.RoleCoordinator)
	f.worker = f.user(store.RoleCaseworker)
	return f
}

func (f *fixture) user(role string) *store.User {
	f.t.Helper()
	u := &store.User{UsernameIndex: []byte(fmt.Sprintf("%s-%d", role, f.now.UnixNano())), Username: []byte("x"),
		Role: role, PasswordHash: "x", CreatedAt: f.now}
	f.now = f.now.Add(time.Nanosecond * 1000)
	if err := f.st.CreateUser(context.Background(), u); err != nil {
		f.t.Fatal(err)
	}
	return u
}

// person opens a case assigned to the caseworker, with consent if asked,
// and records one violation in it.
func (f *fixture) person(consent bool, typ string) string {
	f.t.Helper()
	ctx := context.Background()
	c, err := f.cases.Open(ctx, f.worker, cases.OpenInput{})
	if err != nil {
		f.t.Fatal(err)
	}
	if consent {
		if err := f.stats.RecordConsent(ctx, f.worker, c.ID, cases.ConsentInPerson); err != nil {
			f.t.Fatal(err)
		}
	}
	if _, err := f.stats.AddViolation(ctx, f.worker, c.ID, stats.ViolationInput{Type: typ, Perpetrator: "police",
		Region: "chechnya", Month: time.Date(2017, 4, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		f.t.Fatal(err)
	}
	return c.ID
}

func (f *fixture) publish() (*store.StatsRelease, *stats.Draft) {
	f.t.Helper()
	ctx := context.Background()
	f.now = f.now.Add(time.Hour)
	d, err := f.stats.Preview(ctx, f.admin, time.Time{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.stats.Approve(ctx, f.admin, d.ID); err != nil {
		f.t.Fatal(err)
	}
	r, err := f.stats.Publish(ctx, f.admin, d.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return r, d
}

func total(t *testing.T, r *stats.Release, table string) stats.Value {
	t.Helper()
	tb := r.Table(table)
	if tb == nil {
		t.Fatalf("no table %s", table)
	}
	return tb.Total
}

func TestCaseViolationsAndConsent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.person(false, "torture")
	v, err := f.stats.AddViolation(ctx, f.worker, id, stats.ViolationInput{Type: "beating", Perpetrator: "family",
		Region: "dagestan", Month: f.now, Note: "in the cellar of the station"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Note == nil || strings.Contains(string(v.Note), "cellar") {
		t.Error("the note is not sealed")
	}
	view, err := f.stats.Case(ctx, f.worker, id)
	if err != nil {
		t.Fatal(err)
	}
	if view.Consent != nil || len(view.Violations) != 2 || view.Violations[1].Note != "in the cellar of the station" {
		t.Errorf("case view: consent %v, violations %+v", view.Consent, view.Violations)
	}

	for _, in := range []stats.ViolationInput{
		{Type: "nope", Perpetrator: "police", Region: "chechnya", Month: f.now},
		{Type: "torture", Perpetrator: "police", Region: "Grozny, Lenina 5", Month: f.now},
		{Type: "torture", Perpetrator: "police", Region: "chechnya", Month: f.now.AddDate(0, 2, 0)},
		{Type: "torture", Perpetrator: "police", Region: "chechnya", Month: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Type: "torture", Perpetrator: "police", Region: "chechnya", Month: f.now, Note: strings.Repeat("x", 3000)},
	} {
		if _, err := f.stats.AddViolation(ctx, f.worker, id, in); !errors.Is(err, stats.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", in, err)
		}
	}
	// Someone without access, and a role that does not write testimony,
	// are refused (and the refusal is audited).
	other := f.user(store.RoleCaseworker)
	logistics := f.user(store.RoleLogistics)
	if err := f.cases.Share(ctx, f.admin, id, logistics.ID); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*store.User{other, logistics} {
		if _, err := f.stats.Case(ctx, u, id); !errors.Is(err, cases.ErrForbidden) {
			t.Errorf("%s reads the statistics of someone else's case: %v", u.Role, err)
		}
		if err := f.stats.RecordConsent(ctx, u, id, cases.ConsentPhone); !errors.Is(err, cases.ErrForbidden) {
			t.Errorf("%s records consent: %v", u.Role, err)
		}
	}
	entries, err := f.st.ListAudit(ctx, store.AuditFilter{ActorID: other.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Action != "case.denied" {
		t.Errorf("refusal not audited: %+v", entries)
	}

	if err := f.stats.RecordConsent(ctx, f.worker, id, "telepathy"); !errors.Is(err, stats.ErrInvalid) {
		t.Errorf("unknown consent method: %v", err)
	}
	if err := f.stats.WithdrawConsent(ctx, f.worker, id); !errors.Is(err, stats.ErrInvalid) {
		t.Errorf("withdrawing a consent never given: %v", err)
	}
	if err := f.stats.DeleteViolation(ctx, f.worker, id, v.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.stats.DeleteViolation(ctx, f.worker, id, v.ID); !errors.Is(err, stats.ErrInvalid) {
		t.Errorf("deleting twice: %v", err)
	}
}

// Only consenting people count; each record counts in one release only;
// a second release holds only what is new.
func TestReleasesCountOnceWithConsent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for range 12 {
		f.person(true, "detention")
	}
	for range 5 {
		f.person(false, "detention") // no consent: never counted
	}
	withdrawn := f.person(true, "detention")
	if err := f.stats.WithdrawConsent(ctx, f.worker, withdrawn); err != nil {
		t.Fatal(err)
	}
	r1, d1 := f.publish()
	if r1.Version != 1 {
		t.Fatalf("first release is version %d", r1.Version)
	}
	if got := total(t, d1.Release, stats.TableTypePerpetrator); got.Hidden || got.N != 12 {
		t.Errorf("release 1 counts %+v violations, want 12", got)
	}
	if d1.Report.People != 12 {
		t.Errorf("release 1 counts %d outcomes, want 12 contacts", d1.Report.People)
	}
	pub, err := f.stats.Release(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Release.Version != 1 || pub.Release.Published.IsZero() {
		t.Errorf("published document: version %d, published %v", pub.Release.Version, pub.Release.Published)
	}

	// Nothing new: nothing to publish.
	if _, err := f.stats.Preview(ctx, f.admin, time.Time{}); !errors.Is(err, stats.ErrNothing) {
		t.Errorf("preview with nothing new: %v", err)
	}
	// Consent given later makes earlier records count, in the next release.
	if err := f.stats.RecordConsent(ctx, f.worker, withdrawn, cases.ConsentPhone); err != nil {
		t.Fatal(err)
	}
	for range 11 {
		f.person(true, "torture")
	}
	_, d2 := f.publish()
	tp := d2.Release.Table(stats.TableTypePerpetrator)
	if got := tp.Total; got.Hidden || got.N != 12 {
		t.Errorf("release 2 counts %+v violations, want the 12 new ones", got)
	}
	if !tp.RowTotals[0].Hidden && tp.RowTotals[0].N != 0 {
		t.Errorf("release 2 counts detentions again: %+v", tp.RowTotals[0])
	}
	list, err := f.stats.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Version != 2 {
		t.Errorf("releases: %+v", list)
	}
}

func TestPublishRefusesStaleOrUnapproved(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var ids []string
	for range 12 {
		ids = append(ids, f.person(true, "detention"))
	}
	f.now = f.now.Add(time.Hour)
	d, err := f.stats.Preview(ctx, f.admin, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.stats.Publish(ctx, f.admin, d.ID); !errors.Is(err, stats.ErrNotApproved) {
		t.Errorf("publishing without approval: %v", err)
	}
	if err := f.stats.Approve(ctx, f.admin, d.ID); err != nil {
		t.Fatal(err)
	}
	// A person withdraws between preview and publication: the draft
	// would count them, so it is refused.
	if err := f.stats.WithdrawConsent(ctx, f.worker, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.stats.Publish(ctx, f.admin, d.ID); !errors.Is(err, stats.ErrStale) {
		t.Errorf("publishing a stale draft: %v", err)
	}
	// Erasing a case removes it from statistics at once.
	if err := f.cases.Erase(ctx, f.admin, ids[1], "the person asked to be forgotten"); err != nil && !errors.Is(err, cases.ErrForbidden) {
		t.Fatal(err)
	}
	if err := f.st.EraseCase(ctx, ids[1], f.now); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	d2, err := f.stats.Preview(ctx, f.admin, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := total(t, d2.Release, stats.TableTypePerpetrator); got.Hidden || got.N != 10 {
		t.Errorf("after a withdrawal and an erasure: %+v, want 10", got)
	}
	// Only coordinators and admins prepare releases.
	for _, call := range []func() error{
		func() error { _, err := f.stats.Preview(ctx, f.worker, time.Time{}); return err },
		func() error { return f.stats.Approve(ctx, f.worker, d2.ID) },
		func() error { _, err := f.stats.Publish(ctx, f.worker, d2.ID); return err },
		func() error { return f.stats.Discard(ctx, f.worker, d2.ID) },
		func() error { _, err := f.stats.Drafts(ctx, f.worker); return err },
	} {
		if err := call(); !errors.Is(err, stats.ErrForbidden) {
			t.Errorf("caseworker: %v, want ErrForbidden", err)
		}
	}
	if err := f.stats.Discard(ctx, f.admin, d2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.stats.Draft(ctx, f.admin, d2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("discarded draft: %v", err)
	}
}

// Outcomes come from the clear workflow history: contact, evacuation
// (the evacuated stage or a later one), departure, resettlement.
func TestOutcomesFromWorkflow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var ids []string
	for range 15 {
		ids = append(ids, f.person(true, "detention"))
	}
	at := f.now
	for i, id := range ids {
		stages := []string{"triage", "verification", "relocation", "safe_house", "documents", "visa", "departure"}
		if i%3 == 0 {
			stages = stages[:3] // not evacuated yet
		}
		for j, st := range stages {
			if err := f.st.EnterStage(ctx, id, st, "", at.Add(time.Duration(j+1)*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.now = at.AddDate(0, 1, 0)
	_, d := f.publish()
	o := d.Release.Table(stats.TableOutcomes)
	want := map[string]int{stats.OutcomeContacted: 15, stats.OutcomeEvacuated: 10, stats.OutcomeLeftCountry: 10}
	for i, c := range o.Rows.Categories {
		if w, ok := want[c.ID]; ok && (o.RowTotals[i].Hidden || o.RowTotals[i].N != w) {
			t.Errorf("%s: %+v, want %d", c.ID, o.RowTotals[i], w)
		}
	}
	// Evacuated on day 4 after contact: all in the first band.
	s := d.Release.Table(stats.TableSafety)
	if s.RowTotals[0].Hidden || s.RowTotals[0].N != 10 {
		t.Errorf("time to safety: %+v", s.RowTotals)
	}
	// The next release does not count the same outcomes again.
	for range 10 {
		f.person(true, "detention")
	}
	_, d2 := f.publish()
	o2 := d2.Release.Table(stats.TableOutcomes)
	if v := o2.RowTotals[1]; !v.Hidden && v.N != 0 {
		t.Errorf("evacuations counted again: %+v", v)
	}
}
