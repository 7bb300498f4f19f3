package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/keys"
)

// A coordinator registers a partner; a caseworker is refused a referral
// without consent, records consent, refers the case, downloads the sealed
// package (attachment, no-store, audited) which the partner's identity
// opens, and records the partner's answer. An operator gets none of it.
func TestReferralJourney(t *testing.T) {
	h := newHarness(t, true)
	cw := h.addUser("caseworker")
	coord := h.addUser("coordinator")
	op := h.addUser("operator")
	id := h.openCase("", cw.user.ID)
	ctx := context.Background()
	partnerID, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}

	cc := h.login(coord)
	cc.get("/partners")
	r := cc.post("/partners", url.Values{"name": {"Rainbow <Railroad>"}, "country": {"ca"}, "recipient": {"not a key"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("partner with a bad key: %d", r.status)
	}
	r = cc.post("/partners", url.Values{"name": {"Rainbow <Railroad>"}, "country": {"ca"}, "recipient": {partnerID.Recipient().String()}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add partner: %d %.300s", r.status, r.body)
	}
	page := cc.get("/partners")
	if !strings.Contains(page.body, "Rainbow &lt;Railroad&gt;") || !strings.Contains(page.body, "CA") {
		t.Errorf("partners page lacks the partner: %.500s", page.body)
	}
	ps, err := h.st.ListPartners(ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("partners: %v %v", ps, err)
	}
	pid := ps[0].ID

	c := h.login(cw)
	page = c.get("/cases/" + id)
	if !strings.Contains(page.body, `id="referrals"`) || !strings.Contains(page.body, "Rainbow &lt;Railroad&gt; (CA)") {
		t.Fatalf("case page lacks the referral section: %.300s", page.body)
	}
	r = c.post("/cases/"+id+"/referrals", url.Values{"partner": {pid}, "class": {"identity"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "no valid consent") {
		t.Fatalf("referral without consent: %d %.300s", r.status, r.body)
	}
	r = c.post("/cases/"+id+"/consent", url.Values{"partner": {pid}, "class": {"identity"}, "until": {"2099-01-01"}, "method": {"phone"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("consent for 70 years: %d", r.status)
	}
	until := time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	r = c.post("/cases/"+id+"/consent", url.Values{"partner": {pid}, "class": {"identity"}, "until": {until},
		"method": {"phone"}, "note": {"agreed on a call with Ruslan"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("record consent: %d %.300s", r.status, r.body)
	}
	r = c.post("/cases/"+id+"/referrals", url.Values{"partner": {pid}, "class": {"identity", "testimony"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("referral beyond the consent: %d", r.status)
	}
	r = c.post("/cases/"+id+"/referrals", url.Values{"partner": {pid}, "class": {"identity"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("referral: %d %.300s", r.status, r.body)
	}
	refs, err := h.st.CaseReferrals(ctx, id)
	if err != nil || len(refs) != 1 {
		t.Fatalf("referrals: %v %v", refs, err)
	}
	ref := refs[0].ID
	page = c.get("/cases/" + id)
	for _, want := range []string{"agreed on a call with Ruslan", "/cases/" + id + "/referral?ref=" + ref, "Consent recorded", "Referred to a partner"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("case page lacks %q", want)
		}
	}

	dl := c.get("/cases/" + id + "/referral?ref=" + ref)
	if dl.status != http.StatusOK {
		t.Fatalf("download: %d", dl.status)
	}
	if cd := dl.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".age") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if cc := dl.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q", cc)
	}
	plain, err := keys.OpenWithIdentity([]byte(dl.body), cases.MaxPackageBytes, partnerID)
	if err != nil {
		t.Fatalf("the partner cannot open the package: %v", err)
	}
	var pkg cases.Package
	if err := json.Unmarshal(plain, &pkg); err != nil {
		t.Fatal(err)
	}
	if len(pkg.Sections) != 1 || pkg.Sections["identity"]["name"] != "Test Person" {
		t.Errorf("package sections %v", pkg.Sections)
	}
	if c.get("/cases/"+id+"/referral?ref=fnosuch").status != http.StatusNotFound {
		t.Error("download of an unknown referral is not 404")
	}
	audited := false
	entries, _ := h.st.AuditRange(ctx, 1, 1000)
	for _, e := range entries {
		if e.Action == "referral.download" && e.Object == "referral:"+ref && e.ActorID == cw.user.ID {
			audited = true
		}
	}
	if !audited {
		t.Error("download not audited")
	}

	r = c.post("/cases/"+id+"/referrals/status", url.Values{"referral": {ref}, "status": {"accepted"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("accept: %d %.300s", r.status, r.body)
	}
	if !strings.Contains(c.get("/cases/"+id).body, "Referral accepted") {
		t.Error("timeline lacks the acceptance")
	}

	// The operator, even shared into the case, neither refers nor downloads.
	if err := h.cases.Share(ctx, h.admin.user, id, op.user.ID); err != nil {
		t.Fatal(err)
	}
	oc := h.login(op)
	if r := oc.get("/cases/" + id + "/referral?ref=" + ref); r.status != http.StatusForbidden {
		t.Errorf("operator download: %d", r.status)
	}
	if r := oc.get("/partners"); r.status != http.StatusForbidden {
		t.Errorf("operator partners page: %d", r.status)
	}
}
