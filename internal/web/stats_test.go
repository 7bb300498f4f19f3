package web

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/stats"
	"github.com/corridor-org/corridor/internal/store"
)

// statsHarness seeds people with consent and violations through the
// domain (the pages are tested on top of that), as the caseworker would.
func seedStats(t *testing.T, h *harness, worker *account, n int, typ, region string) []string {
	t.Helper()
	ctx := context.Background()
	svc, err := stats.New(h.st, h.vault, nil, h.cases, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range n {
		id := h.openCase("", worker.user.ID)
		if err := svc.RecordConsent(ctx, worker.user, id, cases.ConsentInPerson); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AddViolation(ctx, worker.user, id, stats.ViolationInput{Type: typ, Perpetrator: "police",
			Region: region, Month: time.Date(2017, 4, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

var draftLink = regexp.MustCompile(`/statistics/draft\?id=([a-z0-9]+)`)

func TestStatisticsJourney(t *testing.T) {
	h := newHarness(t, true)
	worker := h.addUser(store.RoleCaseworker)
	coord := h.addUser(store.RoleCoordinator)
	// Twelve detentions in Chechnya, two tortures in Dagestan: the two
	// must never show.
	seedStats(t, h, worker, 12, "detention", "chechnya")
	small := seedStats(t, h, worker, 2, "torture", "dagestan")
	time.Sleep(2 * time.Millisecond) // the cut-off is "now": after the records

	// The caseworker's page for one case shows its consent and records.
	cw := h.login(worker)
	r := cw.get("/cases/" + small[0] + "/statistics")
	if r.status != 200 || !strings.Contains(r.body, `id="consent-state"`) || !strings.Contains(r.body, "Torture") {
		t.Fatalf("case statistics page: %d\n%.500s", r.status, r.body)
	}
	r = cw.post("/cases/"+small[0]+"/statistics/violations", url.Values{"type": {"beating"}, "perpetrator": {"family"},
		"region": {"dagestan"}, "month": {"2017-05"}, "note": {"by the uncle"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("adding a violation: %d %.300s", r.status, r.body)
	}
	r = cw.post("/cases/"+small[0]+"/statistics/violations", url.Values{"type": {"beating"}, "perpetrator": {"family"},
		"region": {"Grozny"}, "month": {"2017-05"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("a town for a region: %d", r.status)
	}
	// The caseworker cannot prepare releases.
	if r := cw.get("/statistics"); r.status != http.StatusForbidden {
		t.Errorf("caseworker on /statistics: %d", r.status)
	}

	// The public sees nothing before publication.
	pub := h.client(h.publicURL)
	if r := pub.get("/en/stats"); r.status != 200 || !strings.Contains(r.body, `id="no-release"`) {
		t.Fatalf("public page before any release: %d %.300s", r.status, r.body)
	}

	c := h.login(coord)
	r = c.post("/statistics/drafts", url.Values{})
	m := draftLink.FindStringSubmatch(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || m == nil {
		t.Fatalf("preview: %d %s %.300s", r.status, r.header.Get("Location"), r.body)
	}
	r = c.get("/statistics/draft?id=" + m[1])
	if r.status != 200 || !strings.Contains(r.body, `id="draft"`) {
		t.Fatalf("draft page: %d", r.status)
	}
	checkNoSmallNumbers(t, "draft page", r.body, 10)
	if r := c.post("/statistics/draft/publish", url.Values{"draft": {m[1]}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("publishing before approval: %d", r.status)
	}
	if r := c.post("/statistics/draft/approve", url.Values{"draft": {m[1]}}); r.status != http.StatusSeeOther {
		t.Fatalf("approve: %d", r.status)
	}
	if r := c.post("/statistics/draft/publish", url.Values{"draft": {m[1]}}); r.status != http.StatusSeeOther {
		t.Fatalf("publish: %d %.300s", r.status, r.body)
	}

	for _, lang := range []string{"en", "ru"} {
		r := pub.get("/" + lang + "/stats")
		if r.status != 200 {
			t.Fatalf("%s public page: %d", lang, r.status)
		}
		checkHeaders(t, "/"+lang+"/stats", r)
		noThirdParty(t, "/"+lang+"/stats", r.body)
		if len(r.header.Values("Set-Cookie")) > 0 {
			t.Errorf("the statistics page sets a cookie")
		}
		for _, want := range []string{"<svg", `id="table-violations_type_perpetrator"`, `id="methodology"`, `/` + lang + `/stats/1.csv`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("%s page lacks %s", lang, want)
			}
		}
		checkNoSmallNumbers(t, lang+" page", r.body, 10)
		if strings.Contains(r.body, "Dagestan") && strings.Contains(r.body, ">2<") {
			t.Errorf("%s page shows the two people in Dagestan", lang)
		}
	}
	if r := pub.get("/en/stats/1"); r.status != 200 || !strings.Contains(r.body, "Release 1") {
		t.Errorf("release page: %d", r.status)
	}
	for _, f := range []string{"1.csv", "1.json", "1.hxl.csv", "1/type.svg"} {
		r := pub.get("/en/stats/" + f)
		if r.status != 200 {
			t.Errorf("%s: %d", f, r.status)
			continue
		}
		if f == "1/type.svg" {
			if ct := r.header.Get("Content-Type"); ct != "image/svg+xml" {
				t.Errorf("svg content type %q", ct)
			}
			if err := xml.Unmarshal([]byte(r.body), new(struct{})); err != nil {
				t.Errorf("svg is not XML: %v", err)
			}
		}
		for _, n := range regexp.MustCompile(`(?m)(?:^|,)(\d+),published`).FindAllStringSubmatch(r.body, -1) {
			if v, _ := strconv.Atoi(n[1]); v < 10 {
				t.Errorf("%s publishes %d", f, v)
			}
		}
	}
	for _, bad := range []string{"/en/stats/0", "/en/stats/2", "/en/stats/1.xml", "/en/stats/01", "/xx/stats", "/en/stats/1/nope.svg"} {
		if r := pub.get(bad); r.status != http.StatusNotFound {
			t.Errorf("%s = %d, want 404", bad, r.status)
		}
	}
	if r := pub.get("/stats"); r.status != http.StatusSeeOther || !strings.HasSuffix(r.header.Get("Location"), "/stats") {
		t.Errorf("/stats = %d %s", r.status, r.header.Get("Location"))
	}
	// The staff list shows the release with its hash.
	if r := c.get("/statistics"); r.status != 200 || !regexp.MustCompile(`<code>[0-9a-f]{64}</code>`).MatchString(r.body) {
		t.Errorf("staff list: %d", r.status)
	}
}

var cellText = regexp.MustCompile(`class="n"[^>]*>\s*(\d+)\s*<`)

// checkNoSmallNumbers fails on any count below k in the page: table
// cells and chart labels (class "n" marks every published count), and
// hidden ones must carry no digits.
func checkNoSmallNumbers(t *testing.T, where, body string, k int) {
	t.Helper()
	found := 0
	for _, m := range cellText.FindAllStringSubmatch(body, -1) {
		found++
		if n, _ := strconv.Atoi(m[1]); n < k {
			t.Errorf("%s shows %d, below %d", where, n, k)
		}
	}
	if found == 0 {
		t.Errorf("%s shows no counts at all", where)
	}
	for _, m := range regexp.MustCompile(`class="hidden"[^>]*>([^<]*)<`).FindAllStringSubmatch(body, -1) {
		if strings.ContainsAny(m[1], "0123456789") {
			t.Errorf("%s: a hidden cell says %q", where, m[1])
		}
	}
	// Every table cell is either a published count or hidden.
	for _, m := range regexp.MustCompile(`<td class="([a-z]+)">`).FindAllStringSubmatch(body, -1) {
		if m[1] != "n" && m[1] != "hidden" {
			t.Errorf("%s: table cell of class %q", where, m[1])
		}
	}
}
