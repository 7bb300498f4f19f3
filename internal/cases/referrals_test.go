package cases_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// referralFixture is a case opened by a caseworker with identity,
// testimony and medical sections, and a partner whose age identity the
// test holds.
type referralFixture struct {
	*fixture
	c       *store.Case
	partner *cases.Partner
	id      *age.X25519Identity
}

func newReferralFixture(t *testing.T) *referralFixture {
	t.Helper()
	f := newFixture(t)
	c := f.open(t, f.cw, map[string]map[string]string{
		cases.ClassIdentity:  {"name": "Ruslan", "phone": "+7 928 000 00 00"},
		cases.ClassTestimony: {"story": "held for twelve days"},
		cases.ClassMedical:   {"injuries": "broken ribs"},
	})
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.CreatePartner(f.ctx, f.coord, cases.PartnerInput{Name: "Rainbow Railroad", Country: "ca", Recipient: id.Recipient().String()})
	must(t, err)
	return &referralFixture{fixture: f, c: c, partner: p, id: id}
}

func (f *referralFixture) consent(t *testing.T, classes ...string) *store.Consent {
	t.Helper()
	k, err := f.svc.RecordConsent(f.ctx, f.cw, f.c.ID, cases.ConsentInput{PartnerID: f.partner.ID, Classes: classes,
		Until: f.clock.Now().Add(30 * 24 * time.Hour), Method: cases.ConsentInPerson, Note: "agreed at the meeting"})
	must(t, err)
	return k
}

func (f *referralFixture) open(t *testing.T, r *store.Referral) cases.Package {
	t.Helper()
	plain, err := keys.OpenWithIdentity(r.Package, cases.MaxPackageBytes, f.id)
	must(t, err)
	var pkg cases.Package
	must(t, json.Unmarshal(plain, &pkg))
	return pkg
}

func TestPartners(t *testing.T) {
	f := newReferralFixture(t)
	if f.partner.Country != "CA" || f.partner.Name != "Rainbow Railroad" || !f.partner.Active {
		t.Errorf("partner %+v", f.partner)
	}
	for _, u := range []*store.User{f.op, f.cw, f.logi, f.cust} {
		_, err := f.svc.CreatePartner(f.ctx, u, cases.PartnerInput{Name: "X", Country: "DE", Recipient: f.id.Recipient().String()})
		wantErr(t, u.Role+" creates a partner", err, cases.ErrForbidden)
	}
	bad := []cases.PartnerInput{
		{Name: "", Country: "DE", Recipient: f.id.Recipient().String()},
		{Name: "X", Country: "Germany", Recipient: f.id.Recipient().String()},
		{Name: "X", Country: "DE", Recipient: "age1notakey"},
		{Name: "X", Country: "DE", Recipient: "ssh-ed25519 AAAA"},
	}
	for _, in := range bad {
		_, err := f.svc.CreatePartner(f.ctx, f.admin, in)
		wantErr(t, "invalid partner", err, cases.ErrInvalid)
	}
	// The name is ciphertext in the store.
	p, err := f.st.GetPartner(f.ctx, f.partner.ID)
	must(t, err)
	if string(p.Name) == "Rainbow Railroad" || p.WrappedKey == nil {
		t.Error("partner name stored in clear")
	}
	must(t, f.svc.SetPartnerActive(f.ctx, f.admin, f.partner.ID, false))
	list, err := f.svc.Partners(f.ctx, f.cw)
	must(t, err)
	if len(list) != 1 || list[0].Active {
		t.Errorf("partners after deactivation: %+v", list)
	}
	_, err = f.svc.Partners(f.ctx, f.op)
	wantErr(t, "operator lists partners", err, cases.ErrForbidden)
	// An inactive partner takes no consent.
	_, err = f.svc.RecordConsent(f.ctx, f.cw, f.c.ID, cases.ConsentInput{PartnerID: f.partner.ID,
		Classes: []string{"identity"}, Until: f.clock.Now().Add(time.Hour), Method: cases.ConsentPhone})
	wantErr(t, "consent to an inactive partner", err, cases.ErrInvalid)
	if n := f.countAction(t, f.admin.ID, "partner.deactivate", "partner:"+f.partner.ID); n != 1 {
		t.Errorf("partner.deactivate audited %d times", n)
	}
}

func TestReferralRefused(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, f *referralFixture)
		classes []string
		want    error
	}{
		{"no consent", func(t *testing.T, f *referralFixture) {}, []string{"identity"}, cases.ErrNoConsent},
		{"expired", func(t *testing.T, f *referralFixture) {
			f.consent(t, "identity")
			f.clock.Advance(31 * 24 * time.Hour)
		}, []string{"identity"}, cases.ErrNoConsent},
		{"withdrawn", func(t *testing.T, f *referralFixture) {
			k := f.consent(t, "identity")
			must(t, f.svc.WithdrawConsent(f.ctx, f.cw, f.c.ID, k.ID, "changed their mind"))
		}, []string{"identity"}, cases.ErrNoConsent},
		{"class not covered", func(t *testing.T, f *referralFixture) {
			f.consent(t, "identity")
		}, []string{"identity", "testimony"}, cases.ErrNoConsent},
		{"two consents do not add up", func(t *testing.T, f *referralFixture) {
			f.consent(t, "identity")
			f.consent(t, "testimony")
		}, []string{"identity", "testimony"}, cases.ErrNoConsent},
		{"consent to another partner", func(t *testing.T, f *referralFixture) {
			id, _ := age.GenerateX25519Identity()
			other, err := f.svc.CreatePartner(f.ctx, f.admin, cases.PartnerInput{Name: "Other", Country: "DE", Recipient: id.Recipient().String()})
			must(t, err)
			_, err = f.svc.RecordConsent(f.ctx, f.cw, f.c.ID, cases.ConsentInput{PartnerID: other.ID,
				Classes: []string{"identity"}, Until: f.clock.Now().Add(time.Hour), Method: cases.ConsentMessage})
			must(t, err)
		}, []string{"identity"}, cases.ErrNoConsent},
		{"no class", func(t *testing.T, f *referralFixture) { f.consent(t, "identity") }, nil, cases.ErrInvalid},
		{"unknown class", func(t *testing.T, f *referralFixture) { f.consent(t, "identity") }, []string{"identity", "gossip"}, cases.ErrInvalid},
		{"logistics before verification", func(t *testing.T, f *referralFixture) { f.consent(t, "identity", "logistics") }, []string{"logistics"}, cases.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReferralFixture(t)
			tt.setup(t, f)
			_, err := f.svc.CreateReferral(f.ctx, f.cw, f.c.ID, cases.ReferralInput{PartnerID: f.partner.ID, Classes: tt.classes})
			wantErr(t, tt.name, err, tt.want)
			if list, err := f.st.CaseReferrals(f.ctx, f.c.ID); err != nil || len(list) != 0 {
				t.Errorf("refused referral left %d referrals (%v)", len(list), err)
			}
		})
	}
}

func TestReferralPackage(t *testing.T) {
	f := newReferralFixture(t)
	f.consent(t, "identity", "medical")
	r, err := f.svc.CreateReferral(f.ctx, f.cw, f.c.ID, cases.ReferralInput{PartnerID: f.partner.ID, Classes: []string{"identity"}})
	must(t, err)
	pkg := f.open(t, r)
	if pkg.Format != cases.PackageFormat || pkg.ReferralID != r.ID || pkg.CaseID != f.c.ID || pkg.Country != "CA" {
		t.Errorf("package metadata %+v", pkg)
	}
	if len(pkg.Sections) != 1 || pkg.Sections["identity"]["name"] != "Ruslan" || pkg.Sections["identity"]["phone"] != "+7 928 000 00 00" {
		t.Errorf("package sections %v, want identity only", pkg.Sections)
	}
	if _, ok := pkg.Sections["testimony"]; ok {
		t.Error("testimony in a package consented for identity")
	}
	if _, ok := pkg.Sections["medical"]; ok {
		t.Error("medical in a package that did not ask for it")
	}
	if !slices.Equal(pkg.Consent.Classes, []string{"identity"}) || pkg.Stage != f.c.Stage {
		t.Errorf("package consent %+v, stage %q", pkg.Consent, pkg.Stage)
	}
	// Nobody else's identity opens it, the vault's included.
	other, _ := age.GenerateX25519Identity()
	if _, err := keys.OpenWithIdentity(r.Package, cases.MaxPackageBytes, other); err == nil {
		t.Error("package opened with another identity")
	}

	// Both consented classes.
	r2, err := f.svc.CreateReferral(f.ctx, f.cw, f.c.ID, cases.ReferralInput{PartnerID: f.partner.ID, Classes: []string{"medical", "identity"}})
	must(t, err)
	pkg = f.open(t, r2)
	if len(pkg.Sections) != 2 || pkg.Sections["medical"]["injuries"] != "broken ribs" {
		t.Errorf("package sections %v", pkg.Sections)
	}

	// Download: audited; status changes: events and audit.
	got, err := f.svc.DownloadReferral(f.ctx, f.cw, f.c.ID, r.ID)
	must(t, err)
	if string(got.Package) != string(r.Package) {
		t.Error("downloaded package differs")
	}
	if n := f.countAction(t, f.cw.ID, "referral.download", "referral:"+r.ID); n != 1 {
		t.Errorf("referral.download audited %d times", n)
	}
	wantErr(t, "completed before accepted", f.svc.SetReferralStatus(f.ctx, f.cw, f.c.ID, r.ID, store.ReferralCompleted), cases.ErrInvalid)
	must(t, f.svc.SetReferralStatus(f.ctx, f.cw, f.c.ID, r.ID, store.ReferralAccepted))
	must(t, f.svc.SetReferralStatus(f.ctx, f.cw, f.c.ID, r.ID, store.ReferralCompleted))
	wantErr(t, "declined after completed", f.svc.SetReferralStatus(f.ctx, f.cw, f.c.ID, r.ID, store.ReferralDeclined), cases.ErrInvalid)
	v := f.view(t, f.cw, f.c.ID)
	var kinds []string
	for _, e := range v.Timeline {
		kinds = append(kinds, e.Kind)
	}
	for _, k := range []string{"consent", "referral", "referral_accepted", "referral_completed"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("timeline %v lacks %s", kinds, k)
		}
	}
	rv, err := f.svc.Referrals(f.ctx, f.cw, f.c.ID)
	must(t, err)
	if len(rv.Consents) != 1 || rv.Consents[0].Note != "agreed at the meeting" || !rv.Consents[0].Valid || len(rv.Referrals) != 2 {
		t.Errorf("referrals view %+v", rv)
	}
	if rv.Referrals[0].Package != nil {
		t.Error("the referrals view carries a package")
	}
}

func TestReferralNeedToKnow(t *testing.T) {
	f := newReferralFixture(t)
	f.consent(t, "identity", "testimony")
	in := cases.ReferralInput{PartnerID: f.partner.ID, Classes: []string{"identity"}}
	// Not their case; roles that do not refer, even with access.
	_, err := f.svc.CreateReferral(f.ctx, f.cw2, f.c.ID, in)
	wantErr(t, "other caseworker", err, cases.ErrForbidden)
	_, err = f.svc.CreateReferral(f.ctx, f.coord, f.c.ID, in)
	wantErr(t, "coordinator without access", err, cases.ErrForbidden)
	must(t, f.svc.Share(f.ctx, f.coord, f.c.ID, f.op.ID))
	_, err = f.svc.CreateReferral(f.ctx, f.op, f.c.ID, in)
	wantErr(t, "operator", err, cases.ErrForbidden)
	_, err = f.svc.RecordConsent(f.ctx, f.op, f.c.ID, cases.ConsentInput{})
	wantErr(t, "operator records consent", err, cases.ErrForbidden)
	_, err = f.svc.DownloadReferral(f.ctx, f.cw2, f.c.ID, "fnosuch")
	wantErr(t, "download by other caseworker", err, cases.ErrForbidden)
	_, err = f.svc.Referrals(f.ctx, f.cw2, f.c.ID)
	wantErr(t, "referrals view by other caseworker", err, cases.ErrForbidden)

	// A custodian shared in reads identity and testimony, so may send them.
	must(t, f.svc.Share(f.ctx, f.coord, f.c.ID, f.cust.ID))
	r, err := f.svc.CreateReferral(f.ctx, f.cust, f.c.ID, cases.ReferralInput{PartnerID: f.partner.ID, Classes: []string{"testimony"}})
	must(t, err)
	if pkg := f.open(t, r); pkg.Sections["testimony"]["story"] != "held for twelve days" || len(pkg.Sections) != 1 {
		t.Errorf("custodian's package %v", pkg.Sections)
	}
}

func TestEraseDestroysReferrals(t *testing.T) {
	f := newReferralFixture(t)
	k := f.consent(t, "identity")
	r, err := f.svc.CreateReferral(f.ctx, f.cw, f.c.ID, cases.ReferralInput{PartnerID: f.partner.ID, Classes: []string{"identity"}})
	must(t, err)
	must(t, f.svc.BreakGlass(f.ctx, f.coord, f.c.ID, "erasure requested by the person"))
	must(t, f.svc.Erase(f.ctx, f.coord, f.c.ID, "person asked to be forgotten"))
	stored, err := f.st.GetReferral(f.ctx, f.c.ID, r.ID)
	must(t, err)
	if stored.Package != nil {
		t.Error("package survives erasure")
	}
	consents, err := f.st.CaseConsents(f.ctx, f.c.ID)
	must(t, err)
	if len(consents) != 1 || consents[0].ID != k.ID || consents[0].Note != nil {
		t.Errorf("consents after erasure %+v", consents)
	}
	_, err = f.svc.DownloadReferral(f.ctx, f.cw, f.c.ID, r.ID)
	if !errors.Is(err, cases.ErrErased) {
		t.Errorf("download after erasure: %v", err)
	}
}
