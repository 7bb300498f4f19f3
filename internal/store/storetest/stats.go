package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var statsTests = []test{
	{"Consent", testStatsConsent},
	{"Violations", testViolations},
	{"Countable", testStatsCountable},
	{"Drafts", testStatsDrafts},
	{"Publish", testStatsPublish},
	{"PublishConflict", testStatsPublishConflict},
	{"Immutable", testStatsImmutable},
	{"Erase", testStatsErase},
}

func newViolation(id, caseID string, month time.Time, created time.Time) *store.Violation {
	return &store.Violation{ID: id, CaseID: caseID, Type: "detention", Perpetrator: "police", Region: "chechnya",
		Month: month, Note: randomBytes(40), RecordedBy: 3, CreatedAt: created}
}

func consentTo(t *testing.T, s store.Store, caseID string, at time.Time) {
	t.Helper()
	must(t, s.PutStatsConsent(t.Context(), &store.StatsConsent{CaseID: caseID, Method: "in_person", GivenAt: at, RecordedBy: 3}))
}

func testStatsConsent(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	_, err := s.GetStatsConsent(ctx, "c1")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetStatsConsent(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.PutStatsConsent(ctx, &store.StatsConsent{CaseID: "nope", Method: "phone", GivenAt: t0}), store.ErrNotFound)
	wantErr(t, s.WithdrawStatsConsent(ctx, "c1", 3, t0), store.ErrNotFound)

	k := &store.StatsConsent{CaseID: "c1", Method: "phone", GivenAt: t0.Add(time.Nanosecond).In(time.FixedZone("x", 3600)), RecordedBy: 3}
	must(t, s.PutStatsConsent(ctx, k))
	want := store.StatsConsent{CaseID: "c1", Method: "phone", GivenAt: t0, RecordedBy: 3}
	checkEqual(t, &want, k)
	got, err := s.GetStatsConsent(ctx, "c1")
	must(t, err)
	checkEqual(t, &want, got)
	if !got.Valid() {
		t.Error("a consent not withdrawn is not valid")
	}

	must(t, s.WithdrawStatsConsent(ctx, "c1", 4, at(time.Hour)))
	must(t, s.WithdrawStatsConsent(ctx, "c1", 5, at(2*time.Hour)))
	got, err = s.GetStatsConsent(ctx, "c1")
	must(t, err)
	want.WithdrawnAt, want.WithdrawnBy = at(time.Hour), 4
	checkEqual(t, &want, got)
	if got.Valid() {
		t.Error("a withdrawn consent is valid")
	}

	// Consent given again replaces the withdrawn one.
	must(t, s.PutStatsConsent(ctx, &store.StatsConsent{CaseID: "c1", Method: "message", GivenAt: at(3 * time.Hour), RecordedBy: 6}))
	got, err = s.GetStatsConsent(ctx, "c1")
	must(t, err)
	checkEqual(t, &store.StatsConsent{CaseID: "c1", Method: "message", GivenAt: at(3 * time.Hour), RecordedBy: 6}, got)
}

func testViolations(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	list, err := s.CaseViolations(ctx, "c1")
	must(t, err)
	if list == nil || len(list) != 0 {
		t.Errorf("no violations: got %v, want an empty list", list)
	}
	_, err = s.CaseViolations(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.AddViolation(ctx, newViolation("v0", "nope", t0, t0)), store.ErrNotFound)

	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v1 := newViolation("v1", "c1", march, at(time.Nanosecond))
	v1.ReleaseVersion = 7 // ignored: only a publication counts a record
	must(t, s.AddViolation(ctx, v1))
	if v1.ReleaseVersion != 0 || !v1.CreatedAt.Equal(t0) {
		t.Errorf("AddViolation left %+v", v1)
	}
	v2 := newViolation("v2", "c1", jan, at(time.Minute))
	v2.Note = nil
	must(t, s.AddViolation(ctx, v2))
	must(t, s.AddViolation(ctx, newViolation("v3", "c2", jan, t0)))
	wantErr(t, s.AddViolation(ctx, newViolation("v1", "c2", jan, t0)), store.ErrConflict)

	list, err = s.CaseViolations(ctx, "c1")
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("c1 has %d violations, want 2", len(list))
	}
	// By month: January's first.
	checkEqual(t, v2, list[0])
	checkEqual(t, v1, list[1])

	wantErr(t, s.DeleteViolation(ctx, "c2", "v1"), store.ErrNotFound)
	must(t, s.DeleteViolation(ctx, "c1", "v1"))
	wantErr(t, s.DeleteViolation(ctx, "c1", "v1"), store.ErrNotFound)
	list, err = s.CaseViolations(ctx, "c1")
	must(t, err)
	if len(list) != 1 || list[0].ID != "v2" {
		t.Errorf("after deleting v1: %v", list)
	}
}

func eachViolation(t *testing.T, s store.Store) []string {
	t.Helper()
	var ids []string
	must(t, s.EachStatsViolation(t.Context(), func(v *store.Violation) error {
		if v.Note != nil {
			t.Errorf("EachStatsViolation gave %s with its note", v.ID)
		}
		ids = append(ids, v.CaseID+"/"+v.ID)
		return nil
	}))
	return ids
}

func testStatsCountable(t *testing.T, s store.Store) {
	ctx := t.Context()
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"c1", "c2", "c3", "c4"} {
		c := newCase(id, t0)
		c.CloseReason = ""
		createCase(t, s, c)
		must(t, s.AddViolation(ctx, newViolation(id+"b", id, jan, t0)))
		must(t, s.AddViolation(ctx, newViolation(id+"a", id, jan, t0)))
	}
	// c1 consents; c2 consents and withdraws; c3 never consents; c4
	// consents and is erased (which deletes everything of it).
	consentTo(t, s, "c1", at(time.Hour))
	consentTo(t, s, "c2", t0)
	must(t, s.WithdrawStatsConsent(ctx, "c2", 3, at(time.Hour)))
	consentTo(t, s, "c4", t0)
	must(t, s.EraseCase(ctx, "c4", at(time.Hour)))

	if got, want := eachViolation(t, s), []string{"c1/c1a", "c1/c1b"}; !slices.Equal(got, want) {
		t.Errorf("countable violations %v, want %v", got, want)
	}
	subjects, err := s.StatsSubjects(ctx)
	must(t, err)
	if len(subjects) != 1 {
		t.Fatalf("subjects %v, want c1 only", subjects)
	}
	checkEqual(t, &store.StatsSubject{CaseID: "c1", OpenedAt: t0, Stage: stageTriage, StageSince: t0, ConsentAt: at(time.Hour)}, subjects[0])

	// fn's error stops the walk and comes back as is.
	stop := errors.New("stop")
	n := 0
	err = s.EachStatsViolation(ctx, func(*store.Violation) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("EachStatsViolation after an error: %v after %d calls", err, n)
	}
}

func newDraft(id string, created time.Time) *store.StatsDraft {
	return &store.StatsDraft{ID: id, CreatedAt: created, CreatedBy: 2, Cutoff: created.Add(-time.Hour),
		Fingerprint: randomBytes(32), Document: []byte(`{"format":"test","id":"` + id + `"}`)}
}

func testStatsDrafts(t *testing.T, s store.Store) {
	ctx := t.Context()
	d1 := newDraft("d1", t0.Add(time.Nanosecond))
	must(t, s.CreateStatsDraft(ctx, d1))
	want := *d1
	want.CreatedAt, want.Cutoff = t0, micro(t0.Add(time.Nanosecond).Add(-time.Hour))
	checkEqual(t, &want, d1)
	got, err := s.GetStatsDraft(ctx, "d1")
	must(t, err)
	checkEqual(t, &want, got)
	wantErr(t, s.CreateStatsDraft(ctx, newDraft("d1", t0)), store.ErrConflict)
	must(t, s.CreateStatsDraft(ctx, newDraft("d2", at(time.Hour))))
	_, err = s.GetStatsDraft(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	list, err := s.ListStatsDrafts(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != "d2" || list[1].ID != "d1" {
		t.Fatalf("drafts %v, want d2, d1", list)
	}
	if list[0].Document != nil {
		t.Error("a listed draft carries its document")
	}

	wantErr(t, s.ApproveStatsDraft(ctx, "nope", 3, t0), store.ErrNotFound)
	must(t, s.ApproveStatsDraft(ctx, "d1", 3, at(2*time.Hour)))
	got, err = s.GetStatsDraft(ctx, "d1")
	must(t, err)
	want.ApprovedBy, want.ApprovedAt = 3, at(2*time.Hour)
	checkEqual(t, &want, got)

	must(t, s.DeleteStatsDraft(ctx, "d2"))
	wantErr(t, s.DeleteStatsDraft(ctx, "d2"), store.ErrNotFound)
}

func publish(t *testing.T, s store.Store, draftID string, published time.Time, ids []string, outcomes []store.CountedOutcome) *store.StatsRelease {
	t.Helper()
	r := &store.StatsRelease{PublishedAt: published, PublishedBy: 2, ApprovedBy: 3, Cutoff: published.Add(-time.Hour),
		Document: []byte(fmt.Sprintf(`{"release":%q}`, draftID))}
	must(t, s.PublishStatsRelease(t.Context(), r, draftID, ids, outcomes))
	return r
}

func testStatsPublish(t *testing.T, s store.Store) {
	ctx := t.Context()
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	createCase(t, s, newCase("c1", t0))
	consentTo(t, s, "c1", t0)
	// More than one batch of ids (the SQLite store updates 500 at a time).
	var ids []string
	for i := range 1203 {
		id := fmt.Sprintf("v%04d", i)
		must(t, s.AddViolation(ctx, newViolation(id, "c1", jan, t0)))
		if i%2 == 0 {
			ids = append(ids, id)
		}
	}
	_, err := s.GetStatsRelease(ctx, 1)
	wantErr(t, err, store.ErrNotFound)
	list, err := s.ListStatsReleases(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("releases before any: %v", list)
	}

	must(t, s.CreateStatsDraft(ctx, newDraft("d1", t0)))
	r := publish(t, s, "d1", at(time.Nanosecond), ids, []store.CountedOutcome{{CaseID: "c1", Outcome: "contacted"}})
	sum := sha256.Sum256(r.Document)
	if r.Version != 1 || !bytes.Equal(r.SHA256, sum[:]) || !r.PublishedAt.Equal(t0) {
		t.Errorf("first release: %+v", r)
	}
	if _, err := s.GetStatsDraft(ctx, "d1"); !isNotFound(err) {
		t.Errorf("the published draft is still there: %v", err)
	}
	got, err := s.GetStatsRelease(ctx, 1)
	must(t, err)
	checkEqual(t, r, got)

	counted := map[int]int{}
	must(t, s.EachStatsViolation(ctx, func(v *store.Violation) error {
		counted[v.ReleaseVersion]++
		return nil
	}))
	if counted[1] != len(ids) || counted[0] != 1203-len(ids) {
		t.Errorf("counted by version %v, want %d in 1 and %d in none", counted, len(ids), 1203-len(ids))
	}
	outcomes, err := s.CountedOutcomes(ctx)
	must(t, err)
	if !slices.Equal(outcomes, []store.CountedOutcome{{CaseID: "c1", Outcome: "contacted", ReleaseVersion: 1}}) {
		t.Errorf("counted outcomes %v", outcomes)
	}

	must(t, s.CreateStatsDraft(ctx, newDraft("d2", t0)))
	r2 := publish(t, s, "d2", at(time.Hour), nil, []store.CountedOutcome{{CaseID: "c1", Outcome: "evacuated"}})
	if r2.Version != 2 {
		t.Errorf("second release has version %d", r2.Version)
	}
	list, err = s.ListStatsReleases(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Version != 2 || list[1].Version != 1 || list[0].Document != nil {
		t.Errorf("releases %+v, want 2 then 1 without documents", list)
	}
}

func testStatsPublishConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	createCase(t, s, newCase("c1", t0))
	must(t, s.AddViolation(ctx, newViolation("v1", "c1", jan, t0)))
	must(t, s.AddViolation(ctx, newViolation("v2", "c1", jan, t0)))
	r := &store.StatsRelease{PublishedAt: t0, Cutoff: t0, Document: []byte(`{}`)}
	wantErr(t, s.PublishStatsRelease(ctx, r, "nope", nil, nil), store.ErrNotFound)

	must(t, s.CreateStatsDraft(ctx, newDraft("d1", t0)))
	publish(t, s, "d1", t0, []string{"v1"}, []store.CountedOutcome{{CaseID: "c1", Outcome: "contacted"}})
	// Counting v1 again, a record that does not exist, or an outcome
	// again is refused, and the refused publication leaves nothing behind.
	for _, tc := range []struct {
		ids      []string
		outcomes []store.CountedOutcome
	}{
		{[]string{"v2", "v1"}, nil},
		{[]string{"v9"}, nil},
		{nil, []store.CountedOutcome{{CaseID: "c1", Outcome: "contacted"}}},
	} {
		must(t, s.CreateStatsDraft(ctx, newDraft("d2", t0)))
		err := s.PublishStatsRelease(ctx, &store.StatsRelease{PublishedAt: t0, Cutoff: t0, Document: []byte(`{}`)}, "d2", tc.ids, tc.outcomes)
		wantErr(t, err, store.ErrConflict)
		if _, err := s.GetStatsDraft(ctx, "d2"); err != nil {
			t.Errorf("a refused publication deleted its draft: %v", err)
		}
		if _, err := s.GetStatsRelease(ctx, 2); !isNotFound(err) {
			t.Errorf("a refused publication left release 2: %v", err)
		}
		must(t, s.DeleteStatsDraft(ctx, "d2"))
	}
	// A document naming a version that is not the next one is refused.
	must(t, s.CreateStatsDraft(ctx, newDraft("d2", t0)))
	wantErr(t, s.PublishStatsRelease(ctx, &store.StatsRelease{Version: 1, PublishedAt: t0, Cutoff: t0, Document: []byte(`{}`)}, "d2", nil, nil), store.ErrConflict)
	wantErr(t, s.PublishStatsRelease(ctx, &store.StatsRelease{Version: 3, PublishedAt: t0, Cutoff: t0, Document: []byte(`{}`)}, "d2", nil, nil), store.ErrConflict)
	must(t, s.DeleteStatsDraft(ctx, "d2"))
	// Inside Tx, the conflict leaves the transaction usable.
	must(t, s.Tx(ctx, func(tx store.Store) error {
		must(t, tx.CreateStatsDraft(ctx, newDraft("d3", t0)))
		wantErr(t, tx.PublishStatsRelease(ctx, &store.StatsRelease{PublishedAt: t0, Cutoff: t0, Document: []byte(`{}`)}, "d3", []string{"v1"}, nil), store.ErrConflict)
		return tx.PublishStatsRelease(ctx, &store.StatsRelease{Version: 2, PublishedAt: t0, Cutoff: t0, Document: []byte(`{}`)}, "d3", []string{"v2"}, nil)
	}))
	if _, err := s.GetStatsRelease(ctx, 2); err != nil {
		t.Errorf("release 2 after the transaction: %v", err)
	}
}

// testStatsImmutable: the interface has no way to change a release; this
// checks that a careless transaction cannot either, by going around the
// interface the only way storetest can — erasing the case whose records
// it counted, which must leave the release as published.
func testStatsImmutable(t *testing.T, s store.Store) {
	ctx := t.Context()
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	createCase(t, s, newCase("c1", t0))
	must(t, s.AddViolation(ctx, newViolation("v1", "c1", jan, t0)))
	must(t, s.CreateStatsDraft(ctx, newDraft("d1", t0)))
	r := publish(t, s, "d1", t0, []string{"v1"}, []store.CountedOutcome{{CaseID: "c1", Outcome: "contacted"}})
	must(t, s.EraseCase(ctx, "c1", at(time.Hour)))
	got, err := s.GetStatsRelease(ctx, 1)
	must(t, err)
	checkEqual(t, r, got)
}

func testStatsErase(t *testing.T, s store.Store) {
	ctx := t.Context()
	jan := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"c1", "c2"} {
		createCase(t, s, newCase(id, t0))
		consentTo(t, s, id, t0)
		must(t, s.AddViolation(ctx, newViolation(id+"v", id, jan, t0)))
	}
	must(t, s.CreateStatsDraft(ctx, newDraft("d1", t0)))
	publish(t, s, "d1", t0, nil, []store.CountedOutcome{{CaseID: "c1", Outcome: "contacted"}, {CaseID: "c2", Outcome: "contacted"}})
	must(t, s.EraseCase(ctx, "c1", at(time.Hour)))

	if _, err := s.GetStatsConsent(ctx, "c1"); !isNotFound(err) {
		t.Errorf("erased case's consent: %v", err)
	}
	list, err := s.CaseViolations(ctx, "c1")
	must(t, err)
	if len(list) != 0 {
		t.Errorf("erased case keeps %d violations", len(list))
	}
	outcomes, err := s.CountedOutcomes(ctx)
	must(t, err)
	if !slices.Equal(outcomes, []store.CountedOutcome{{CaseID: "c2", Outcome: "contacted", ReleaseVersion: 1}}) {
		t.Errorf("counted outcomes after erasure: %v", outcomes)
	}
	// c2 keeps everything.
	if ids := eachViolation(t, s); !slices.Equal(ids, []string{"c2/c2v"}) {
		t.Errorf("countable after erasing c1: %v", ids)
	}
	// An erased case takes no new consent or violation.
	wantErr(t, s.PutStatsConsent(ctx, &store.StatsConsent{CaseID: "c1", Method: "phone", GivenAt: t0}), store.ErrNotFound)
	wantErr(t, s.AddViolation(ctx, newViolation("v9", "c1", jan, t0)), store.ErrNotFound)
}
