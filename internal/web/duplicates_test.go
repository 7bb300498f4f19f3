package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/corridor-org/corridor/internal/store"
)

func TestDuplicatesWatchListAndMerge(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	coord := h.addUser(store.RoleCoordinator)
	cw := h.addUser(store.RoleCaseworker)
	c := h.login(cw)

	// A case opened by hand, then the same person again: the second page
	// shows the first as a possible duplicate, with a link.
	r := c.post("/cases", url.Values{"name": {"Иван Петров"}, "birth_year": {"1990"}, "phone": {"+7 912 345-67-89"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("open: %d %s", r.status, r.body)
	}
	first := strings.TrimPrefix(r.header.Get("Location"), "/cases/")
	r = c.post("/cases", url.Values{"name": {"Петров Иван"}, "phone": {"8 912 345 67 89"}})
	second := strings.TrimPrefix(r.header.Get("Location"), "/cases/")
	page := c.get("/cases/" + second)
	if !strings.Contains(page.body, `href="/cases/`+first+`"`) || !strings.Contains(page.body, "phone number") {
		t.Errorf("second case page does not link the first as a duplicate:\n%s", page.body)
	}
	if strings.Contains(page.body, "Иван Петров") {
		t.Error("the duplicate's contents are shown")
	}

	// The watch list: managers only; the value is never shown again.
	cc := h.login(coord)
	if r := c.get("/admin/watchlist"); r.status != http.StatusForbidden {
		t.Errorf("caseworker watch list: %d", r.status)
	}
	r = cc.post("/admin/watchlist", url.Values{"kind": {"phone"}, "value": {"+7 912 345 67 89"}, "note": {"police decoy, spring"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add watch: %d %s", r.status, r.body)
	}
	r = cc.post("/admin/watchlist", url.Values{"kind": {"phone"}, "value": {"89123456789"}})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "already on the watch list") {
		t.Errorf("adding again: %d", r.status)
	}
	r = cc.get("/admin/watchlist")
	if !strings.Contains(r.body, "police decoy, spring") || strings.Contains(r.body, "345") {
		t.Errorf("watch list page:\n%s", r.body)
	}
	// Both cases were flagged, and their pages warn.
	for _, id := range []string{first, second} {
		got, err := h.st.GetCase(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Flagged {
			t.Errorf("case %s not flagged", id)
		}
	}
	if page := c.get("/cases/" + first); !strings.Contains(page.body, "matches the watch list") {
		t.Error("no watch-list warning on the case page")
	}

	// Merging: the caseworker may not; a coordinator with access may.
	if r := c.post("/cases/"+first+"/merge", url.Values{"from": {second}}); r.status != http.StatusForbidden {
		t.Errorf("caseworker merge: %d", r.status)
	}
	for _, id := range []string{first, second} {
		if err := h.cases.BreakGlass(ctx, coord.user, id, "checking a duplicate report"); err != nil {
			t.Fatal(err)
		}
	}
	if r := cc.post("/cases/"+first+"/merge", url.Values{"from": {second}}); r.status != http.StatusSeeOther {
		t.Fatalf("merge: %d %s", r.status, r.body)
	}
	if r := cc.get("/cases/" + second); r.status != http.StatusGone {
		t.Errorf("merged case: %d", r.status)
	}
	page = cc.get("/cases/" + first)
	if !strings.Contains(page.body, "Merged with another case") || !strings.Contains(page.body, "Петров Иван") {
		t.Errorf("merged case page lacks the merge or the other's name:\n%s", page.body)
	}

	// A hotline request whose contact answer names the number shows the case.
	_, err := h.intake.Import(ctx, map[string][]string{"what_happened": {"help"}, "urgency": {"days"}, "contact": {"Signal 8 (912) 345-67-89"}}, "ru", h.admin.user.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := h.st.ListInbox(ctx, store.InboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ca := h.login(h.admin)
	page = ca.get("/requests/" + list[0].ID)
	if !strings.Contains(page.body, "Possible duplicates") || !strings.Contains(page.body, "matches the watch list") {
		t.Errorf("request page shows no duplicate:\n%s", page.body)
	}
}
