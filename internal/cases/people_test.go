package cases_test

import (
	"slices"
	"testing"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

var (
	sister = cases.RecordInput{Kind: cases.RecordPerson, Body: cases.RecordBody{
		Name: "Aminat Petrova", BirthYear: "2001", Relation: "sibling", Contact: "+7 912 345-67-89, @aminat_p", Note: "travels with him"}}
	freeAttest = cases.RecordInput{Kind: cases.RecordAttestation, Status: "attested", Body: cases.RecordBody{
		Partner: "Moscow Community Center", AttType: cases.AttestCoVerify, Date: "2017-04-20"}}
)

// People (identity) and attestations (testimony) are records of the case:
// added and moved by the roles that write their class, seen by the roles
// that read it, without waiting for verification.
func TestPeopleAndAttestations(t *testing.T) {
	for _, tc := range []struct {
		name   string
		actor  func(f *fixture) *store.User
		in     cases.RecordInput
		want   error
		people int // what the actor then sees
		attest int
	}{
		{"caseworker adds a person", func(f *fixture) *store.User { return f.cw }, sister, nil, 1, 0},
		{"operator adds a person", func(f *fixture) *store.User { return f.op }, sister, nil, 1, 0},
		{"logistics adds a person", func(f *fixture) *store.User { return f.logi }, sister, nil, 1, 0},
		{"caseworker adds an attestation", func(f *fixture) *store.User { return f.cw }, freeAttest, nil, 0, 1},
		{"custodian adds an attestation", func(f *fixture) *store.User { return f.cust }, freeAttest, nil, 0, 1},
		{"logistics may not attest", func(f *fixture) *store.User { return f.logi }, freeAttest, cases.ErrForbidden, 0, 0},
		{"coordinator without access", func(f *fixture) *store.User { return f.coord2 }, sister, cases.ErrForbidden, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c, _ := f.placed(t, 1) // unverified: neither kind waits for it
			_, err := f.svc.AddRecord(f.ctx, tc.actor(f), c.ID, tc.in)
			if tc.want != nil {
				wantErr(t, "add", err, tc.want)
				return
			}
			must(t, err)
			v, err := f.svc.Logistics(f.ctx, tc.actor(f), c.ID)
			must(t, err)
			if len(v.People) != tc.people || len(v.Attestations) != tc.attest {
				t.Fatalf("sees %d people, %d attestations", len(v.People), len(v.Attestations))
			}
			if tc.people == 1 {
				if p := v.People[0]; p.Status != "in_case" || p.Body.Name != "Aminat Petrova" || p.Body.Relation != "sibling" || p.Body.BirthYear != "2001" {
					t.Errorf("person: %+v", p)
				}
			}
			if tc.attest == 1 {
				if a := v.Attestations[0]; a.Status != "attested" || a.Body.Partner != "Moscow Community Center" || a.Body.AttType != cases.AttestCoVerify {
					t.Errorf("attestation: %+v", a)
				}
			}
		})
	}
}

func TestPeopleAndAttestationsVisibility(t *testing.T) {
	f := newFixture(t)
	c, _ := f.placed(t, 1)
	p, err := f.svc.AddRecord(f.ctx, f.cw, c.ID, sister)
	must(t, err)
	a, err := f.svc.AddRecord(f.ctx, f.cw, c.ID, freeAttest)
	must(t, err)
	for _, tc := range []struct {
		name           string
		actor          *store.User
		people, attest int
		attestWithheld string
		canAttest      bool
	}{
		{"caseworker", f.cw, 1, 1, "", true},
		{"operator reads identity and testimony", f.op, 1, 1, "", true},
		{"logistics reads no testimony", f.logi, 1, 0, cases.WithheldRole, false},
		{"custodian", f.cust, 1, 1, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := f.svc.Logistics(f.ctx, tc.actor, c.ID)
			must(t, err)
			if len(v.People) != tc.people || len(v.Attestations) != tc.attest {
				t.Errorf("sees %d people, %d attestations", len(v.People), len(v.Attestations))
			}
			if v.AttestationsWithheld != tc.attestWithheld || v.CanWriteAttestations != tc.canAttest {
				t.Errorf("attestations withheld %q, writable %v", v.AttestationsWithheld, v.CanWriteAttestations)
			}
		})
	}
	// Status changes, by the class's writers only.
	must(t, f.svc.SetRecordStatus(f.ctx, f.op, c.ID, p.ID, "left_case", ""))
	wantErr(t, "logistics withdraws", f.svc.SetRecordStatus(f.ctx, f.logi, c.ID, a.ID, "withdrawn", ""), cases.ErrForbidden)
	wantErr(t, "a visa status on a person", f.svc.SetRecordStatus(f.ctx, f.cw, c.ID, p.ID, "granted", ""), cases.ErrInvalid)
	must(t, f.svc.SetRecordStatus(f.ctx, f.cw, c.ID, a.ID, "withdrawn", ""))
	v, err := f.svc.Logistics(f.ctx, f.cw, c.ID)
	must(t, err)
	if v.People[0].Status != "left_case" || v.Attestations[0].Status != "withdrawn" {
		t.Errorf("after the changes: person %s, attestation %s", v.People[0].Status, v.Attestations[0].Status)
	}
	// An attested attestation does not verify the case: the checklist
	// stays the rule.
	if f.view(t, f.cw, c.ID).Case.Verified {
		t.Errorf("an attestation verified the case")
	}
}

func TestPeopleAndAttestationsRefused(t *testing.T) {
	f := newFixture(t)
	c, _ := f.placed(t, 1)
	person := func(mod func(b *cases.RecordBody)) cases.RecordInput {
		in := sister
		mod(&in.Body)
		return in
	}
	attest := func(mod func(b *cases.RecordBody)) cases.RecordInput {
		in := freeAttest
		mod(&in.Body)
		return in
	}
	for _, tc := range []struct {
		what string
		in   cases.RecordInput
		want error
	}{
		{"unknown relation", person(func(b *cases.RecordBody) { b.Relation = "cousin" }), cases.ErrInvalid},
		{"no name", person(func(b *cases.RecordBody) { b.Name = " " }), cases.ErrInvalid},
		{"bad birth year", person(func(b *cases.RecordBody) { b.BirthYear = "01" }), cases.ErrInvalid},
		{"person status", cases.RecordInput{Kind: cases.RecordPerson, Status: "attested", Body: sister.Body}, cases.ErrInvalid},
		{"unknown type", attest(func(b *cases.RecordBody) { b.AttType = "partial" }), cases.ErrInvalid},
		{"no partner", attest(func(b *cases.RecordBody) { b.Partner = "" }), cases.ErrInvalid},
		{"unregistered partner id", attest(func(b *cases.RecordBody) { b.PartnerID = "onothere" }), cases.ErrNoPartner},
		{"bad date", attest(func(b *cases.RecordBody) { b.Date = "20 April" }), cases.ErrInvalid},
		{"attestation status", cases.RecordInput{Kind: cases.RecordAttestation, Status: "in_case", Body: freeAttest.Body}, cases.ErrInvalid},
	} {
		_, err := f.svc.AddRecord(f.ctx, f.cw, c.ID, tc.in)
		wantErr(t, tc.what, err, tc.want)
	}
	rs, err := f.st.CaseRecords(f.ctx, c.ID)
	must(t, err)
	if len(rs) != 0 {
		t.Errorf("%d refused records were stored", len(rs))
	}
}

// An attestation names a registered partner by id; the page shows its
// name from the registry, and the form offers the partners in use.
func TestAttestationByRegisteredPartner(t *testing.T) {
	f := newFixture(t)
	c, _ := f.placed(t, 1)
	id, err := age.GenerateX25519Identity()
	must(t, err)
	p, err := f.svc.CreatePartner(f.ctx, f.coord, cases.PartnerInput{Name: "Rainbow Railroad", Country: "ca", Recipient: id.Recipient().String()})
	must(t, err)
	_, err = f.svc.AddRecord(f.ctx, f.cw, c.ID, cases.RecordInput{Kind: cases.RecordAttestation, Body: cases.RecordBody{
		PartnerID: p.ID, Partner: "ignored", AttType: cases.AttestFull}})
	must(t, err)
	v, err := f.svc.Logistics(f.ctx, f.cw, c.ID)
	must(t, err)
	if len(v.Attestations) != 1 {
		t.Fatalf("%d attestations", len(v.Attestations))
	}
	if a := v.Attestations[0]; a.Status != "requested" || a.PartnerName != "Rainbow Railroad" || a.Body.Partner != "" {
		t.Errorf("attestation: %+v", a)
	}
	if !slices.Contains(v.Partners, cases.PartnerOption{ID: p.ID, Name: "Rainbow Railroad"}) {
		t.Errorf("partners offered: %+v", v.Partners)
	}
	must(t, f.svc.SetPartnerActive(f.ctx, f.coord, p.ID, false))
	_, err = f.svc.AddRecord(f.ctx, f.cw, c.ID, cases.RecordInput{Kind: cases.RecordAttestation, Body: cases.RecordBody{
		PartnerID: p.ID, AttType: cases.AttestFull}})
	wantErr(t, "partner not in use", err, cases.ErrInvalid)
}

// A person added to a case is found as a duplicate of another case that
// holds their phone, and keeps being found after the identity section is
// saved again.
func TestPeopleAreIndexed(t *testing.T) {
	f := newFixture(t)
	c, _ := f.placed(t, 1)
	other := f.open(t, f.cw, map[string]map[string]string{cases.ClassIdentity: {"name": "Someone", "phone": "8 912 345 67 89"}})
	byName := f.open(t, f.cw, map[string]map[string]string{cases.ClassIdentity: {"name": "Petrova Aminat", "birth_year": "2001"}})
	kinds := func() map[string][]string {
		d, err := f.svc.Duplicates(f.ctx, f.cw, c.ID)
		must(t, err)
		out := map[string][]string{}
		for _, m := range d.Matches {
			out[m.CaseID] = m.Kinds
		}
		return out
	}
	if got := kinds(); len(got) != 0 {
		t.Fatalf("duplicates before the person: %v", got)
	}
	_, err := f.svc.AddRecord(f.ctx, f.cw, c.ID, sister)
	must(t, err)
	check := func(when string) {
		got := kinds()
		if !slices.Contains(got[other.ID], store.IndexPhone) || !slices.Contains(got[byName.ID], store.IndexNameYear) {
			t.Errorf("%s: duplicates %v", when, got)
		}
	}
	check("after the person")
	must(t, f.svc.UpdateSection(f.ctx, f.cw, c.ID, cases.ClassIdentity, map[string]string{"name": "Ruslan P."}))
	check("after the identity section")
}
