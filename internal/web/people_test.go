package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

// section returns the part of a page from the element with id to the end
// of its section.
func section(body, id string) string {
	_, rest, ok := strings.Cut(body, `<section id="`+id+`">`)
	if !ok {
		return ""
	}
	s, _, _ := strings.Cut(rest, "</section>")
	return s
}

// People and attestations go through the existing record routes and show
// on the case page: people to every role that reads identity, attestations
// in the Verification block to roles that read testimony.
func TestCasePeopleAndAttestations(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	cw := h.addUser(store.RoleCaseworker)
	lg := h.addUser(store.RoleLogistics)
	id := h.openCase("", cw.user.ID)
	if err := h.cases.Share(ctx, h.admin.user, id, lg.user.ID); err != nil {
		t.Fatal(err)
	}
	ident, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.cases.CreatePartner(ctx, h.admin.user, cases.PartnerInput{Name: "Rainbow <Railroad>", Country: "ca", Recipient: ident.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	cwc, lgc := h.login(cw), h.login(lg)

	if r := cwc.post("/cases/"+id+"/record", url.Values{"kind": {"person"}, "name": {"Aminat Petrova"}, "birth_year": {"2001"},
		"relation": {"sibling"}, "contact": {"@aminat_p"}}); r.status != http.StatusSeeOther {
		t.Fatalf("person = %d: %.300s", r.status, r.body)
	}
	if r := cwc.post("/cases/"+id+"/record", url.Values{"kind": {"person"}, "name": {"X"}, "relation": {"cousin"}}); r.status == http.StatusSeeOther {
		t.Errorf("a person with an unknown relation was accepted")
	}
	if r := cwc.post("/cases/"+id+"/record", url.Values{"kind": {"attestation"}, "partner_id": {p.ID}, "att_type": {"full"},
		"status": {"attested"}, "date": {"2017-04-20"}}); r.status != http.StatusSeeOther {
		t.Fatalf("attestation = %d: %.300s", r.status, r.body)
	}
	if r := cwc.post("/cases/"+id+"/record", url.Values{"kind": {"attestation"}, "partner": {"Moscow Community Center"},
		"att_type": {"co_verification"}}); r.status != http.StatusSeeOther {
		t.Fatalf("attestation by an unregistered partner = %d: %.300s", r.status, r.body)
	}

	page := cwc.get("/cases/" + id)
	people, attest := section(page.body, "people"), section(page.body, "attestations")
	for _, want := range []string{"People in this case", "Aminat Petrova", "(2001)", "sibling", "@aminat_p", "in the case", `value="person"`} {
		if !strings.Contains(people, want) {
			t.Errorf("people block lacks %q", want)
		}
	}
	for _, want := range []string{"Rainbow &lt;Railroad&gt;", "full verification", "attested", "2017-04-20",
		"Moscow Community Center", "co-verification", `value="attestation"`, `<option value="` + p.ID + `">`} {
		if !strings.Contains(attest, want) {
			t.Errorf("attestations block lacks %q", want)
		}
	}
	if strings.Contains(page.body, "Verified ✓") || !strings.Contains(page.body, "Not verified") {
		t.Errorf("an attestation verified the case")
	}

	// Logistics reads identity, not testimony.
	lpage := lgc.get("/cases/" + id)
	if lpage.status != http.StatusOK {
		t.Fatalf("logistics: case page %d", lpage.status)
	}
	if !strings.Contains(section(lpage.body, "people"), "Aminat Petrova") {
		t.Error("logistics does not see the person")
	}
	if strings.Contains(lpage.body, "Moscow Community Center") || strings.Contains(lpage.body, `value="attestation"`) {
		t.Error("logistics sees attestations")
	}

	// Status change through the existing route.
	recs, err := h.st.CaseRecords(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Kind != cases.RecordPerson {
			continue
		}
		if r := cwc.post("/cases/"+id+"/record/status", url.Values{"record": {rec.ID}, "status": {"left_case"}}); r.status != http.StatusSeeOther {
			t.Fatalf("status = %d", r.status)
		}
	}
	if !strings.Contains(section(cwc.get("/cases/"+id).body, "people"), "left the case") {
		t.Error("the person's status did not change")
	}
	if r := lgc.post("/cases/"+id+"/record", url.Values{"kind": {"attestation"}, "partner": {"x"}, "att_type": {"full"}}); r.status != http.StatusForbidden {
		t.Errorf("logistics adds an attestation: %d", r.status)
	}
}
