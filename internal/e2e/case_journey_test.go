package e2e

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// houseAddress is the canary of the journey: a safe house's address, which
// only logistics may ever see, and only through a placement.
const houseAddress = "Kanareechnaya ulitsa 17 kv 4 HOUSECANARY"

// TestCaseJourney walks one case through every stage of the default
// workflow in headless Chromium, as the people who do it would: a request
// arrives, a caseworker opens a case from it and records what each stage
// requires (risk level, verification checklist, an assignee), a safe
// house is added and the case placed in it, documents, a visa and a trip
// are recorded, and the case arrives. Then a logistics user shared into
// the case sees the house's address on the case page, and an operator
// shared into it does not: the address is absent from the page's HTML and
// the logistics section is withheld.
func TestCaseJourney(t *testing.T) {
	b := startBrowser(t) // skips without Chromium
	in := newInstallation(t, "admin")
	cw := addUser(t, in, "cw", "caseworker")
	lg := addUser(t, in, "lg", "logistics")
	op := addUser(t, in, "op", "operator")
	srv := in.start(t)

	submitRequest(t, srv.PublicURL, url.Values{
		"what_happened": {"JOURNEY they came for us at night"},
		"urgency":       {"days"},
		"location":      {"Grozny"},
		"contact":       {"Signal +7 900 000 00 00"},
	})

	// The administrator assigns the request to the caseworker, who opens
	// a case from it.
	admin := b.newTab(t, "admin", true)
	staffLogin(t, admin, srv.StaffURL, in.Admin, "a long new password for the e2e admin")
	admin.open(srv.StaffURL + "/requests")
	href := inboxLink(t, admin, "JOURNEY")
	admin.open(srv.StaffURL + href)
	admin.do("assignee", chromedp.SetValue(chromedp.CSS(`form[action$="/assign"] select`), strconv.FormatInt(cw.ID, 10)))
	if st := admin.submit(`form[action$="/assign"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("assign the request: %d", st)
	}
	cwTab := b.newTab(t, "caseworker", true)
	staffLogin(t, cwTab, srv.StaffURL, cw, "a long new password for the caseworker")
	if st := cwTab.open(srv.StaffURL + href); st != http.StatusOK {
		t.Fatalf("open %s: %d", href, st)
	}
	if st := cwTab.submit(`form[action$="/case"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("open a case from the request: %d: %s", st, cwTab.text("main"))
	}
	caseURL := cwTab.location()
	if !strings.Contains(caseURL, "/cases/c") {
		t.Fatalf("opening a case landed on %s", caseURL)
	}
	caseID := caseURL[strings.LastIndex(caseURL, "/")+1:]

	move := func(to, label string) {
		t.Helper()
		cwTab.do("choose "+to, chromedp.SetValue(chromedp.CSS(`#to`), to))
		if st := cwTab.submit(`form[action$="/move"] button[type=submit]`); st != http.StatusOK {
			t.Fatalf("move to %s: %d: %s", to, st, cwTab.text("main"))
		}
		if got := cwTab.text("p.meta strong"); got != label {
			t.Fatalf("after moving to %s the case is in %q; page: %s", to, got, cwTab.text("main"))
		}
	}
	// new → triage; triage needs a risk level before it may be left.
	move("triage", "Triage")
	cwTab.do("risk", chromedp.SetValue(chromedp.CSS(`#level`), "3"))
	cwTab.click(`input[name=factor][value=family_threat]`)
	if st := cwTab.submit(`form[action$="/risk"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("set risk: %d", st)
	}
	move("verification", "Verification")
	// Before verification nothing about safe houses can be seen or done.
	if got := cwTab.text("#logistics"); !strings.Contains(got, "verified") {
		t.Errorf("logistics section before verification: %q", got)
	}
	for _, item := range []string{"interview", "references", "documents"} {
		cwTab.click(`form[action$="/verify"] input[name=` + item + `]`)
	}
	if st := cwTab.submit(`form[action$="/verify"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("record verification: %d", st)
	}
	// relocation needs an assignee: the caseworker who opened it is one.
	move("relocation", "Relocation")
	move("safe_house", "Safe house")

	// The administrator adds a safe house, breaks the glass to reach the
	// case (an administrator is never assigned their own reading) and
	// shares it with logistics and the operator.
	admin.open(srv.StaffURL + "/houses")
	admin.typeInto("#code", "SH-3")
	admin.typeInto("#city", "Tver")
	admin.typeInto("#address", houseAddress)
	admin.do("capacity", chromedp.SetValue(chromedp.CSS(`#capacity`), "2"))
	if st := admin.submit(`form[action="/houses"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("add a house: %d: %s", st, admin.text("main"))
	}
	if strings.Contains(admin.html(), houseAddress) {
		t.Error("the administrator is shown the address")
	}
	admin.open(srv.StaffURL + "/cases/" + caseID)
	admin.typeInto("#reason", "sharing the case with logistics for the placement")
	if st := admin.submit(`form[action$="/break-glass"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("break the glass: %d", st)
	}
	for _, u := range []*account{lg, op} {
		admin.do("choose "+u.Username, chromedp.SetValue(chromedp.CSS(`#share`), strconv.FormatInt(u.ID, 10)))
		if st := admin.submit(`form[action$="/share"] button[type=submit]`); st != http.StatusOK {
			t.Fatalf("share with %s: %d", u.Username, st)
		}
	}

	// The caseworker places the case in the house: they see the code and
	// dates, never the address.
	cwTab.open(caseURL)
	if st := cwTab.submit(`form[action$="/placement"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("place: %d: %s", st, cwTab.text("main"))
	}
	if got := cwTab.text("#placements"); !strings.Contains(got, "SH-3") {
		t.Errorf("placements after placing: %q", got)
	}
	if strings.Contains(cwTab.html(), houseAddress) {
		t.Error("the caseworker is shown the address")
	}
	move("documents", "Documents")
	cwTab.do("document", chromedp.SetValue(chromedp.CSS(`#dtype`), "passport"))
	if st := cwTab.submit(`form[action$="/record"] input[value=document] ~ button[type=submit]`); st != http.StatusOK {
		t.Fatalf("add a document: %d", st)
	}
	move("visa", "Visa")
	cwTab.typeInto("#vcountry", "Canada")
	cwTab.typeInto("#vprog", "emergency humanitarian visa")
	if st := cwTab.submit(`form[action$="/record"] input[value=visa] ~ button[type=submit]`); st != http.StatusOK {
		t.Fatalf("add a visa application: %d", st)
	}
	move("departure", "Departure")
	cwTab.typeInto("#lf0", "Tver")
	cwTab.typeInto("#lt0", "Moscow")
	cwTab.typeInto("#lf1", "Moscow")
	cwTab.typeInto("#lt1", "Toronto")
	cwTab.typeInto("#tpartner", "Rainbow Railroad")
	if st := cwTab.submit(`form[action$="/record"] input[value=trip] ~ button[type=submit]`); st != http.StatusOK {
		t.Fatalf("add a trip: %d", st)
	}
	move("arrived", "Arrived")
	for _, want := range []string{"Passport", "Canada", "Toronto", "Rainbow Railroad"} {
		if !strings.Contains(cwTab.text("#logistics"), want) {
			t.Errorf("the logistics section lacks %q", want)
		}
	}
	timeline := cwTab.text("main")
	for _, want := range []string{"Placed in a safe house", "Arrived"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the case page lacks %q", want)
		}
	}

	// Logistics, shared into the case, sees the address with the placement.
	lgTab := b.newTab(t, "logistics", true)
	staffLogin(t, lgTab, srv.StaffURL, lg, "a long new password for logistics")
	if st := lgTab.open(caseURL); st != http.StatusOK {
		t.Fatalf("logistics opens the case: %d", st)
	}
	lgTab.screenshot("7-case-logistics-view")
	if got := lgTab.text("#placements"); !strings.Contains(got, houseAddress) || !strings.Contains(got, "SH-3") {
		t.Errorf("logistics' placements: %q, want SH-3 with its address", got)
	}

	// The operator, shared into the same case, does not.
	opTab := b.newTab(t, "operator", true)
	staffLogin(t, opTab, srv.StaffURL, op, "a long new password for the operator")
	if st := opTab.open(caseURL); st != http.StatusOK {
		t.Fatalf("operator opens the case: %d", st)
	}
	page := opTab.html()
	for _, secret := range []string{houseAddress, "HOUSECANARY", "SH-3", "Toronto"} {
		if strings.Contains(page, secret) {
			t.Errorf("the operator's page holds %q", secret)
		}
	}
	opTab.screenshot("8-case-operator-view")
	if got := opTab.text("#logistics"); !strings.Contains(got, "Not shown to your role") {
		t.Errorf("the operator's logistics section: %q, want it withheld", got)
	}
	if n := len(opTab.texts("#placements")); n != 0 {
		t.Errorf("the operator's page has a placements table")
	}
}

// addUser creates a staff account with `corridor user add` before the
// server starts.
func addUser(t testing.TB, in *installation, name, role string) *account {
	t.Helper()
	code, stdout, stderr := runCorridor("user", "add", "--data", in.Dir, "--passphrase-file", in.PassFile,
		"--username", name, "--role", role, "--json")
	if code != 0 {
		t.Fatalf("corridor user add %s: exit %d\n%s\n%s", name, code, stdout, stderr)
	}
	return parseAccount(t, stdout)
}

// staffLogin logs in and changes the initial password, landing on the
// case list (which every role may open, unlike the inbox).
func staffLogin(t testing.TB, tb *tab, staffURL string, a *account, newPassword string) {
	t.Helper()
	if st := tb.open(staffURL + "/login"); st != http.StatusOK {
		t.Fatalf("GET /login: status %d", st)
	}
	tb.typeInto("#username", a.Username)
	tb.typeInto("#password", a.Password)
	tb.typeInto("#code", a.totp.code(t))
	if st := tb.submit(`form[action="/login"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("%s logs in: status %d: %s", a.Username, st, tb.text("main"))
	}
	tb.typeInto("#old", a.Password)
	tb.typeInto("#new", newPassword)
	tb.typeInto("#new2", newPassword)
	if st := tb.submit(`form[action="/account/password"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("%s changes password: status %d", a.Username, st)
	}
	a.Password = newPassword
	if st := tb.open(staffURL + "/cases"); st != http.StatusOK {
		t.Fatalf("%s: GET /cases: %d", a.Username, st)
	}
}

// html returns the page's whole HTML as the browser holds it.
func (tb *tab) html() string {
	tb.t.Helper()
	return run(tb, "html", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
}
