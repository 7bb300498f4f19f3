package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A case holds several conversations: both are shown on its page, and a
// reply goes to the one it was written under.
func TestCaseWithTwoConversations(t *testing.T) {
	h := newHarness(t, true)
	_, first := h.submit("first call: detained last week")
	_, second := h.submit("second request: my brother too")
	c := h.login(h.admin)
	c.get("/requests/" + first)
	r := c.post("/requests/"+first+"/case", nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("open case = %d", r.status)
	}
	caseURL := r.header.Get("Location")
	caseID := strings.TrimPrefix(caseURL, "/cases/")
	// An admin who opens a case is not assigned; give it to a caseworker
	// who works it (and may read both requests once they are assigned).
	cw := h.addUser("caseworker")
	ctx := context.Background()
	for _, id := range []string{first, second} {
		if err := h.st.SetAssignee(ctx, id, cw.user.ID, cw.user.CreatedAt); err != nil {
			t.Fatal(err)
		}
	}
	c.get(caseURL)
	if r := c.post(caseURL+"/assign", url.Values{"user": {itoa(cw.user.ID)}}); r.status != http.StatusSeeOther {
		t.Fatalf("assign = %d", r.status)
	}
	w := h.login(cw)
	w.get("/requests/" + second)
	if r := w.post("/requests/"+second+"/link", url.Values{"case": {caseID}}); r.status != http.StatusSeeOther || r.header.Get("Location") != caseURL {
		t.Fatalf("link = %d %s", r.status, r.header.Get("Location"))
	}
	page := w.get(caseURL)
	for _, want := range []string{"first call: detained last week", "second request: my brother too", `id="conversation-2"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	if r := w.post(caseURL+"/reply", url.Values{"request": {second}, "body": {"we will help your brother"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reply = %d %s", r.status, r.body)
	}
	msgs, _ := h.st.ListMessages(ctx, second)
	if len(msgs) != 1 {
		t.Errorf("second conversation has %d messages, want the reply", len(msgs))
	}
	if msgs, _ := h.st.ListMessages(ctx, first); len(msgs) != 0 {
		t.Errorf("the reply went to the first conversation too")
	}
	// A request that is not part of the case cannot be answered through it.
	_, stray := h.submit("unrelated")
	if r := w.post(caseURL+"/reply", url.Values{"request": {stray}, "body": {"x"}}); r.status != http.StatusNotFound {
		t.Errorf("reply to an unlinked request = %d", r.status)
	}
}
