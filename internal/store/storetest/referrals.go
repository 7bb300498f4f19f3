package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var referralTests = []test{
	{"Partners", testPartners},
	{"Consents", testConsents},
	{"Withdraw", testConsentWithdraw},
	{"Referrals", testReferrals},
	{"ReferralStatus", testReferralStatus},
	{"Erase", testEraseReferrals},
	{"TxRollback", testReferralTxRollback},
}

func newPartner(id, country string, created time.Time) *store.Partner {
	return &store.Partner{ID: id, Country: country, Recipient: "age1" + id, Active: true,
		WrappedKey: randomBytes(72), Name: randomBytes(50), CreatedAt: created}
}

func newConsent(id, caseID, partnerID string, created time.Time, classes ...string) *store.Consent {
	return &store.Consent{ID: id, CaseID: caseID, PartnerID: partnerID, Classes: classes,
		Until: created.Add(30 * 24 * time.Hour), Method: "in_person", Note: randomBytes(30),
		RecordedBy: 4, CreatedAt: created}
}

func newReferral(id, caseID, partnerID, consentID string, created time.Time, classes ...string) *store.Referral {
	return &store.Referral{ID: id, CaseID: caseID, PartnerID: partnerID, ConsentID: consentID,
		Classes: classes, Status: store.ReferralSent, Package: randomBytes(300), CreatedBy: 4, CreatedAt: created}
}

// Class lists are slices, which checkEqual cannot compare; these flatten
// them so that every other field is still compared by it.
type flatConsent struct {
	ID, CaseID, PartnerID, Classes string
	Until                          time.Time
	Method                         string
	Note                           []byte
	RecordedBy                     int64
	CreatedAt, WithdrawnAt         time.Time
	WithdrawnBy                    int64
}

func flattenConsent(c *store.Consent) flatConsent {
	return flatConsent{c.ID, c.CaseID, c.PartnerID, strings.Join(c.Classes, ","), c.Until, c.Method, c.Note,
		c.RecordedBy, c.CreatedAt, c.WithdrawnAt, c.WithdrawnBy}
}

type flatReferral struct {
	ID, CaseID, PartnerID, ConsentID, Classes, Status string
	Package                                           []byte
	CreatedBy                                         int64
	CreatedAt, UpdatedAt                              time.Time
}

func flattenReferral(r *store.Referral) flatReferral {
	return flatReferral{r.ID, r.CaseID, r.PartnerID, r.ConsentID, strings.Join(r.Classes, ","), r.Status,
		r.Package, r.CreatedBy, r.CreatedAt, r.UpdatedAt}
}

func createPartner(t *testing.T, s store.Store, p *store.Partner) {
	t.Helper()
	must(t, s.CreatePartner(t.Context(), p))
}

func testPartners(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := newPartner("o2", "CA", t0.Add(time.Nanosecond).In(time.FixedZone("x", 3600)))
	createPartner(t, s, p)
	want := *p
	want.CreatedAt, want.UpdatedAt = t0, t0
	checkEqual(t, &want, p)
	got, err := s.GetPartner(ctx, "o2")
	must(t, err)
	checkEqual(t, &want, got)
	wantErr(t, s.CreatePartner(ctx, newPartner("o2", "DE", t0)), store.ErrConflict)
	_, err = s.GetPartner(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	createPartner(t, s, newPartner("o1", "CA", at(time.Hour)))
	createPartner(t, s, newPartner("o3", "BE", at(2*time.Hour)))
	list, err := s.ListPartners(ctx)
	must(t, err)
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	if got := strings.Join(ids, " "); got != "o3 o2 o1" {
		t.Errorf("ListPartners order %q, want by country then creation: o3 o2 o1", got)
	}

	must(t, s.SetPartnerActive(ctx, "o2", false, at(3*time.Hour)))
	got, err = s.GetPartner(ctx, "o2")
	must(t, err)
	if got.Active || !got.UpdatedAt.Equal(at(3*time.Hour)) {
		t.Errorf("after deactivation: active %v, updated %v", got.Active, got.UpdatedAt)
	}
	// UpdatedAt never moves backwards.
	must(t, s.SetPartnerActive(ctx, "o2", true, at(time.Hour)))
	got, err = s.GetPartner(ctx, "o2")
	must(t, err)
	if !got.Active || !got.UpdatedAt.Equal(at(3*time.Hour)) {
		t.Errorf("after reactivation with an earlier time: active %v, updated %v", got.Active, got.UpdatedAt)
	}
	wantErr(t, s.SetPartnerActive(ctx, "nope", false, t0), store.ErrNotFound)
}

func testConsents(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	createPartner(t, s, newPartner("o1", "CA", t0))

	k := newConsent("k1", "c1", "o1", t0.Add(time.Nanosecond), "identity", "medical")
	k.Until = k.Until.Add(time.Nanosecond)
	must(t, s.AddConsent(ctx, k))
	want := *k
	want.CreatedAt, want.Until = t0, t0.Add(30*24*time.Hour)
	checkEqual(t, flattenConsent(&want), flattenConsent(k))
	// A second one, earlier, without a note.
	k0 := newConsent("k0", "c1", "o1", t0.Add(-time.Hour), "testimony")
	k0.Note = []byte{}
	must(t, s.AddConsent(ctx, k0))

	list, err := s.CaseConsents(ctx, "c1")
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("CaseConsents: %d, want 2", len(list))
	}
	if list[0].ID != "k0" || list[0].Note != nil || strings.Join(list[0].Classes, ",") != "testimony" {
		t.Errorf("first consent %+v, want k0 without a note", list[0])
	}
	checkEqual(t, flattenConsent(&want), flattenConsent(list[1]))

	wantErr(t, s.AddConsent(ctx, newConsent("k1", "c1", "o1", t0, "identity")), store.ErrConflict)
	wantErr(t, s.AddConsent(ctx, newConsent("k2", "nope", "o1", t0, "identity")), store.ErrNotFound)
	wantErr(t, s.AddConsent(ctx, newConsent("k3", "c1", "nope", t0, "identity")), store.ErrNotFound)
	if err := s.AddConsent(ctx, newConsent("k4", "c1", "o1", t0)); err == nil {
		t.Error("AddConsent with no classes succeeded")
	}
	_, err = s.CaseConsents(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	if list, err := s.CaseConsents(ctx, "c2"); err != nil || len(list) != 0 {
		t.Errorf("CaseConsents of a case without any: %v, %v", list, err)
	}
}

func testConsentWithdraw(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	createPartner(t, s, newPartner("o1", "CA", t0))
	must(t, s.AddConsent(ctx, newConsent("k1", "c1", "o1", t0, "identity")))

	// Only through its own case.
	wantErr(t, s.WithdrawConsent(ctx, "c2", "k1", 7, at(time.Hour)), store.ErrNotFound)
	wantErr(t, s.WithdrawConsent(ctx, "c1", "nope", 7, at(time.Hour)), store.ErrNotFound)
	must(t, s.WithdrawConsent(ctx, "c1", "k1", 7, at(time.Hour)))
	// Again: the first withdrawal stands.
	must(t, s.WithdrawConsent(ctx, "c1", "k1", 8, at(2*time.Hour)))
	list, err := s.CaseConsents(ctx, "c1")
	must(t, err)
	if k := list[0]; !k.WithdrawnAt.Equal(at(time.Hour)) || k.WithdrawnBy != 7 {
		t.Errorf("withdrawn at %v by %d, want %v by 7", k.WithdrawnAt, k.WithdrawnBy, at(time.Hour))
	}
	if list[0].ValidAt(at(time.Minute)) {
		t.Error("a withdrawn consent is valid")
	}
}

func testReferrals(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	createPartner(t, s, newPartner("o1", "CA", t0))
	must(t, s.AddConsent(ctx, newConsent("k1", "c1", "o1", t0, "identity", "medical")))
	must(t, s.AddConsent(ctx, newConsent("k2", "c2", "o1", t0, "identity")))

	r := newReferral("f1", "c1", "o1", "k1", t0.Add(time.Nanosecond), "identity", "medical")
	must(t, s.AddReferral(ctx, r))
	want := *r
	want.CreatedAt, want.UpdatedAt = t0, t0
	checkEqual(t, flattenReferral(&want), flattenReferral(r))
	got, err := s.GetReferral(ctx, "c1", "f1")
	must(t, err)
	checkEqual(t, flattenReferral(&want), flattenReferral(got))
	_, err = s.GetReferral(ctx, "c2", "f1")
	wantErr(t, err, store.ErrNotFound)

	must(t, s.AddReferral(ctx, newReferral("f0", "c1", "o1", "k1", t0, "identity")))
	list, err := s.CaseReferrals(ctx, "c1")
	must(t, err)
	if len(list) != 2 || list[0].ID != "f0" || list[1].ID != "f1" {
		t.Fatalf("CaseReferrals: %v, want f0 f1", list)
	}
	for _, r := range list {
		if r.Package != nil {
			t.Errorf("CaseReferrals carries the package of %s", r.ID)
		}
	}
	wantList := want
	wantList.Package = nil
	checkEqual(t, flattenReferral(&wantList), flattenReferral(list[1]))

	wantErr(t, s.AddReferral(ctx, newReferral("f1", "c1", "o1", "k1", t0, "identity")), store.ErrConflict)
	wantErr(t, s.AddReferral(ctx, newReferral("f2", "nope", "o1", "k1", t0, "identity")), store.ErrNotFound)
	wantErr(t, s.AddReferral(ctx, newReferral("f3", "c1", "nope", "k1", t0, "identity")), store.ErrNotFound)
	// A consent of another case does not count.
	wantErr(t, s.AddReferral(ctx, newReferral("f4", "c1", "o1", "k2", t0, "identity")), store.ErrNotFound)
	_, err = s.CaseReferrals(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	createCase(t, s, newCase("c3", t0))
	if list, err := s.CaseReferrals(ctx, "c3"); err != nil || len(list) != 0 {
		t.Errorf("CaseReferrals of a case without any: %v, %v", list, err)
	}
}

func testReferralStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	createPartner(t, s, newPartner("o1", "CA", t0))
	must(t, s.AddConsent(ctx, newConsent("k1", "c1", "o1", t0, "identity")))
	must(t, s.AddReferral(ctx, newReferral("f1", "c1", "o1", "k1", t0, "identity")))

	must(t, s.SetReferralStatus(ctx, "c1", "f1", store.ReferralAccepted, at(2*time.Hour)))
	must(t, s.SetReferralStatus(ctx, "c1", "f1", store.ReferralCompleted, at(time.Hour)))
	got, err := s.GetReferral(ctx, "c1", "f1")
	must(t, err)
	if got.Status != store.ReferralCompleted || !got.UpdatedAt.Equal(at(2*time.Hour)) {
		t.Errorf("status %s updated %v, want completed, %v (never backwards)", got.Status, got.UpdatedAt, at(2*time.Hour))
	}
	wantErr(t, s.SetReferralStatus(ctx, "c2", "f1", store.ReferralDeclined, at(3*time.Hour)), store.ErrNotFound)
	wantErr(t, s.SetReferralStatus(ctx, "c1", "nope", store.ReferralDeclined, at(3*time.Hour)), store.ErrNotFound)
}

func testEraseReferrals(t *testing.T, s store.Store) {
	ctx := t.Context()
	createPartner(t, s, newPartner("o1", "CA", t0))
	for _, id := range []string{"c1", "c2"} {
		createCase(t, s, newCase(id, t0))
		must(t, s.AddConsent(ctx, newConsent(id+"k", id, "o1", t0, "identity")))
		must(t, s.AddReferral(ctx, newReferral(id+"f", id, "o1", id+"k", t0, "identity")))
	}
	must(t, s.EraseCase(ctx, "c1", at(time.Hour)))

	consents, err := s.CaseConsents(ctx, "c1")
	must(t, err)
	if len(consents) != 1 || consents[0].Note != nil {
		t.Errorf("after erasure: consents %+v, want one without a note", consents)
	}
	r, err := s.GetReferral(ctx, "c1", "c1f")
	must(t, err)
	if r.Package != nil {
		t.Error("after erasure the referral package is still there")
	}
	// The other case keeps its own.
	consents, err = s.CaseConsents(ctx, "c2")
	must(t, err)
	if consents[0].Note == nil {
		t.Error("erasing c1 removed c2's consent note")
	}
	if r, err := s.GetReferral(ctx, "c2", "c2f"); err != nil || r.Package == nil {
		t.Errorf("erasing c1 removed c2's package: %v", err)
	}
	// An erased case takes no new consent or referral.
	wantErr(t, s.AddConsent(ctx, newConsent("k9", "c1", "o1", t0, "identity")), store.ErrNotFound)
	wantErr(t, s.AddReferral(ctx, newReferral("f9", "c1", "o1", "c1k", t0, "identity")), store.ErrNotFound)
}

func testReferralTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	err := s.Tx(ctx, func(tx store.Store) error {
		createPartner(t, tx, newPartner("o1", "CA", t0))
		wantErr(t, tx.CreatePartner(ctx, newPartner("o1", "CA", t0)), store.ErrConflict)
		must(t, tx.AddConsent(ctx, newConsent("k1", "c1", "o1", t0, "identity")))
		must(t, tx.AddReferral(ctx, newReferral("f1", "c1", "o1", "k1", t0, "identity")))
		return errRollback
	})
	wantErr(t, err, errRollback)
	if list, _ := s.ListPartners(ctx); len(list) != 0 {
		t.Errorf("%d partners after rollback", len(list))
	}
	if list, _ := s.CaseConsents(ctx, "c1"); len(list) != 0 {
		t.Errorf("%d consents after rollback", len(list))
	}
	if list, _ := s.CaseReferrals(ctx, "c1"); len(list) != 0 {
		t.Errorf("%d referrals after rollback", len(list))
	}
}
