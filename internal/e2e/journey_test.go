package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowser runs the journeys that matter in headless Chromium against
// one server: a person without JavaScript asks for help and reads the
// reply; the staff view shows a person's markup as text; a POST without a
// valid CSRF token is refused. The staff member logs in once (password and
// TOTP, changing the initial password first) and stays logged in for all
// of them.
func TestBrowser(t *testing.T) {
	b := startBrowser(t) // skips without Chromium
	in := newInstallation(t, "admin")
	srv := in.start(t)

	staff := b.newTab(t, "staff", true)
	staffBrowserLogin(t, staff, srv.StaffURL, in.Admin, "a long new password for the e2e admin")

	t.Run("NoJavaScriptRequestAndReply", func(t *testing.T) {
		testNoJavaScriptJourney(t, b, srv, staff.in(t))
	})
	t.Run("StaffViewShowsMarkupAsText", func(t *testing.T) {
		testMarkupShownAsText(t, b, srv, staff.in(t))
	})
	t.Run("PostWithoutValidCSRFIsRefused", func(t *testing.T) {
		testCSRFRefused(t, srv, staff.in(t))
	})
}

// in returns the tab for use by another (sub)test: failures are reported
// on t.
func (tb *tab) in(t testing.TB) *tab {
	c := *tb
	c.t = t
	return &c
}

// staffBrowserLogin logs in at /login with username, password and TOTP
// code and, on a first log-in, changes the initial password on /account
// as the site requires.
func staffBrowserLogin(t testing.TB, tb *tab, staffURL string, a *account, newPassword string) {
	t.Helper()
	if st := tb.open(staffURL + "/login"); st != http.StatusOK {
		t.Fatalf("GET /login: status %d", st)
	}
	tb.typeInto("#username", a.Username)
	tb.typeInto("#password", a.Password)
	tb.typeInto("#code", a.totp.code(t))
	if st := tb.submit(`form[action="/login"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("log in: status %d at %s: %s", st, tb.location(), tb.text("main"))
	}
	loc := tb.location()
	if !strings.HasSuffix(loc, "/account") {
		t.Fatalf("first log-in landed on %s, want /account (the initial password must be changed)", loc)
	}
	tb.typeInto("#old", a.Password)
	tb.typeInto("#new", newPassword)
	tb.typeInto("#new2", newPassword)
	if st := tb.submit(`form[action="/account/password"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("change password: status %d: %s", st, tb.text("main"))
	}
	if loc := tb.location(); !strings.Contains(loc, "changed=1") {
		t.Fatalf("password change landed on %s: %s", loc, tb.text("main"))
	}
	a.Password = newPassword
	// The inbox is reachable now.
	if st := tb.open(staffURL + "/requests"); st != http.StatusOK {
		t.Fatalf("GET /requests after log-in: status %d", st)
	}
}

// assertNoCookies fails if the tab's browser context holds any cookie.
func assertNoCookies(t testing.TB, tb *tab, when string) {
	t.Helper()
	if cs := tb.cookies(); len(cs) > 0 {
		var names []string
		for _, c := range cs {
			names = append(names, c.Name+" ("+c.Domain+c.Path+")")
		}
		t.Errorf("%s: the person's browser holds cookies %v; public pages must set none before the receipt is entered", when, names)
	}
}

// assertJavaScript checks whether the tab runs page scripts: a page whose
// script changes its title.
func assertJavaScript(t testing.TB, tb *tab, on bool) {
	t.Helper()
	tb.open("data:text/html," + url.PathEscape(`<title>unchanged</title><script>document.title="script ran"</script>`))
	title := run(tb, "title", chromedp.Title())
	if ran := title == "script ran"; ran != on {
		t.Fatalf("%s: page scripts ran: %v, want %v (title %q)", tb.name, ran, on, title)
	}
}

func testNoJavaScriptJourney(t *testing.T, b *browser, srv *server, staff *tab) {
	person := b.newTab(t, "person", false)
	assertJavaScript(t, person, false)

	const (
		whatHappened = "They took my friend at the checkpoint on Monday. I need to leave the city. — Забрали друга на блокпосту."
		location     = "Grozny"
		followUp     = "Thank you. I can travel on Friday. — Спасибо."
		reply        = "We read your request. A caseworker will write here within a day. Do not share this page."
	)

	// The landing page, reached from the bare address (the language comes
	// from Accept-Language, not a cookie).
	if st := person.open(srv.PublicURL + "/"); st != http.StatusOK {
		t.Fatalf("GET /: status %d", st)
	}
	if loc := person.location(); !strings.HasSuffix(loc, "/en/") {
		t.Fatalf("/ led to %s, want /en/", loc)
	}
	person.screenshot("1-landing")
	assertNoCookies(t, person, "landing page")

	// The request form, from the landing page's button.
	if st := person.submit(`a.button[href="/en/request"]`); st != http.StatusOK {
		t.Fatalf("request form: status %d", st)
	}
	assertNoCookies(t, person, "request form")

	// The person forgets the urgency: the server says so and keeps what
	// was typed.
	person.typeInto("#q-what_happened", whatHappened)
	if st := person.submit(`form[action="/en/request"] button[type=submit]`); st != http.StatusUnprocessableEntity {
		t.Fatalf("request without urgency: status %d, want 422", st)
	}
	if got := person.texts(".problem"); len(got) == 0 {
		t.Fatalf("no problem shown for the missing urgency; page: %s", person.text("main"))
	}
	if got := person.text("p.error"); got == "" {
		t.Error("no summary error at the top of the form")
	}
	if got := run(person, "textarea value", chromedp.Value(chromedp.CSS("#q-what_happened"))); got != whatHappened {
		t.Errorf("the form lost what was typed: %q", got)
	}
	person.screenshot("2-request-form-error")
	assertNoCookies(t, person, "request form with an error")

	person.click(`input[name="urgency"][value="days"]`)
	person.typeInto("#q-location", location)
	person.click(`input[name="languages"][value="ru"]`)
	person.click(`input[name="languages"][value="en"]`)
	if st := person.submit(`form[action="/en/request"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("submit request: status %d: %s", st, person.text("main"))
	}
	receipt := strings.TrimSpace(person.text(".receipt"))
	if !regexp.MustCompile(`^\+\d\d \d{3} \d{3}-\d\d-\d\d, \d{4}$`).MatchString(receipt) {
		t.Fatalf("receipt %q is not a 16-digit receipt in its phone-number form", receipt)
	}
	person.screenshot("3-receipt")
	assertNoCookies(t, person, "receipt page")

	// Staff: the inbox lists the request; its page shows the answers.
	if st := staff.open(srv.StaffURL + "/requests"); st != http.StatusOK {
		t.Fatalf("inbox: status %d", st)
	}
	staff.screenshot("4-staff-inbox")
	href := inboxLink(t, staff, "They took my friend at the checkpoint")
	if st := staff.submit(`a[href="` + href + `"]`); st != http.StatusOK {
		t.Fatalf("open %s: status %d", href, st)
	}
	answers := staff.text("dl.answer")
	for _, want := range []string{whatHappened, location, "I may be in danger within days", "Russian", "English"} {
		if !strings.Contains(answers, want) {
			t.Errorf("the request view lacks %q; answers:\n%s", want, answers)
		}
	}
	staff.screenshot("5-staff-request")
	staff.typeInto("#body", reply)
	if st := staff.submit(`form[action$="/reply"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("reply: status %d: %s", st, staff.text("main"))
	}
	if !slices.ContainsFunc(staff.texts(".msg.staff"), func(s string) bool { return strings.Contains(s, reply) }) {
		t.Fatalf("the reply is not shown in the staff view after sending")
	}

	// The person comes back with the receipt, still without JavaScript.
	if st := person.open(srv.PublicURL + "/en/return"); st != http.StatusOK {
		t.Fatalf("return page: status %d", st)
	}
	assertNoCookies(t, person, "return page, before the receipt is entered")
	person.typeInto("#receipt", receipt)
	if st := person.submit(`form[action="/en/return"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("enter receipt: status %d: %s", st, person.text("main"))
	}
	// The conversation is the answer to the receipt's POST (so that Back
	// can never bring it back from the browser's cache).
	if loc := person.location(); !strings.HasSuffix(loc, "/en/return") {
		t.Fatalf("the receipt led to %s, want the POST result at /en/return: %s", loc, person.text("main"))
	}
	msgs := person.texts("div.msg")
	if !slices.ContainsFunc(msgs, func(s string) bool { return strings.Contains(s, reply) }) {
		t.Fatalf("the person does not see the reply; messages: %q", msgs)
	}
	// Now, and only now, a session cookie: HttpOnly, SameSite=Strict, for
	// the public site.
	cs := person.cookies()
	if len(cs) != 1 || cs[0].Name != "s" || !cs[0].HTTPOnly || cs[0].SameSite != "Strict" || !cs[0].Session {
		t.Errorf("after the receipt the person holds %d cookies (want one HttpOnly, SameSite=Strict session cookie \"s\"): %+v", len(cs), cs)
	}

	// A follow-up, again as a plain form POST.
	person.typeInto("#body", followUp)
	if st := person.submit(`form[action="/en/conversation"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("follow-up: status %d: %s", st, person.text("main"))
	}
	if got := person.texts(".notice"); len(got) == 0 {
		t.Error("no notice that the follow-up was sent")
	}
	person.screenshot("6-conversation")
	assertBackShowsNothing(t, person, reply, followUp)
	if st := staff.open(srv.StaffURL + href); st != http.StatusOK {
		t.Fatalf("reopen %s: status %d", href, st)
	}
	if !slices.ContainsFunc(staff.texts(".msg.person"), func(s string) bool { return strings.Contains(s, followUp) }) {
		t.Errorf("the staff view does not show the person's follow-up")
	}
	assertJavaScript(t, person, false) // still off after all those pages
}

// inboxLink returns the link (/requests/ID) of the inbox row whose text
// contains summary; the staff tab must be on the inbox.
func inboxLink(t testing.TB, staff *tab, summary string) string {
	t.Helper()
	links := run(staff, "inbox rows", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("tbody tr"))
		.filter(r => r.textContent.includes(`+jsString(summary)+`))
		.map(r => r.querySelector("a[href^='/requests/']").getAttribute("href"))`))
	if len(links) != 1 {
		t.Fatalf("%d inbox rows mention %q, want 1; inbox:\n%s", len(links), summary, staff.text("main"))
	}
	return links[0]
}

// submitRequest files a request over plain HTTP and returns its receipt.
func submitRequest(t testing.TB, publicURL string, answers url.Values) string {
	t.Helper()
	c := newHTTPClient(t, publicURL)
	answers.Set("nonce", c.get("/en/request").mustStatus(t, http.StatusOK, "request form").nonce(t))
	p := c.post("/en/request", answers).mustStatus(t, http.StatusOK, "submit request")
	return strings.TrimSpace(p.find(t, receiptRe, "receipt"))
}

var receiptRe = regexp.MustCompile(`<p class="receipt"[^>]*>([^<]+)</p>`)

// dialogWatch records and dismisses every JavaScript dialog a tab opens.
type dialogWatch struct {
	mu       sync.Mutex
	messages []string
	stop     context.CancelFunc
	done     chan struct{}
}

func watchDialogs(tb *tab) *dialogWatch {
	ctx, cancel := context.WithCancel(tb.ctx)
	w := &dialogWatch{stop: cancel, done: make(chan struct{})}
	events := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		defer close(w.done)
		for ev, err := range events {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.messages = append(w.messages, string(ev.Type)+": "+ev.Message)
			w.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return w
}

// close stops watching and returns the dialogs seen.
func (w *dialogWatch) close() []string {
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.messages
}

// markup is what a hostile or careless person might type. Shown as HTML it
// would run a script, load an image whose error handler runs another, and
// make bold text; shown as text it is harmless.
const markup = `<script>window.__pwned=1;alert("script")</script><img src=x onerror="window.__pwned=2;alert('img')"><b>bold</b>`

func testMarkupShownAsText(t *testing.T, b *browser, srv *server, staff *tab) {
	receipt := submitRequest(t, srv.PublicURL, url.Values{
		"what_happened": {"XSS-WHAT " + markup},
		"urgency":       {"weeks"},
		"location":      {`<i>XSS-LOC</i>`},
		"contact":       {"XSS-CONTACT " + markup},
	})
	// The same markup as a follow-up message.
	person := newHTTPClient(t, srv.PublicURL)
	conv := person.post("/en/return", url.Values{"receipt": {receipt}}).mustStatus(t, http.StatusOK, "return")
	person.post("/en/conversation", url.Values{"csrf": {conv.csrf(t)}, "nonce": {conv.nonce(t)}, "body": {"XSS-MSG " + markup}}).
		mustStatus(t, http.StatusOK, "follow-up")

	assertJavaScript(t, staff, true) // so a script that got through would run
	dialogs := watchDialogs(staff)
	if st := staff.open(srv.StaffURL + "/requests"); st != http.StatusOK {
		t.Fatalf("inbox: status %d", st)
	}
	assertInert(t, staff, "staff inbox", "tbody", "XSS-WHAT "+markup[:60])
	href := inboxLink(t, staff, "XSS-WHAT")
	if st := staff.open(srv.StaffURL + href); st != http.StatusOK {
		t.Fatalf("request view: status %d", st)
	}
	assertInert(t, staff, "staff request view", "dl.answer", "XSS-WHAT "+markup)
	assertInert(t, staff, "staff request view", "dl.answer", "XSS-CONTACT "+markup)
	assertInert(t, staff, "staff request view", "dl.answer", "<i>XSS-LOC</i>")
	assertInert(t, staff, "staff request view", "div.msg.person", "XSS-MSG "+markup)

	// And the other way: a reply with markup, read by a person whose
	// browser does run JavaScript.
	staff.typeInto("#body", "XSS-REPLY "+markup)
	if st := staff.submit(`form[action$="/reply"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("reply: status %d", st)
	}
	assertInert(t, staff, "staff request view after the reply", "div.msg.staff", "XSS-REPLY "+markup)
	if got := dialogs.close(); len(got) > 0 {
		t.Errorf("the staff browser opened JavaScript dialogs: %q", got)
	}

	reader := b.newTab(t, "person with JavaScript", true)
	assertJavaScript(t, reader, true)
	readerDialogs := watchDialogs(reader)
	reader.open(srv.PublicURL + "/en/return")
	reader.typeInto("#receipt", receipt)
	if st := reader.submit(`form[action="/en/return"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("enter receipt: status %d", st)
	}
	assertInert(t, reader, "person's conversation", "div.msg.staff", "XSS-REPLY "+markup)
	assertInert(t, reader, "person's conversation", "dl.answer", "XSS-WHAT "+markup)
	if got := readerDialogs.close(); len(got) > 0 {
		t.Errorf("the person's browser opened JavaScript dialogs: %q", got)
	}
}

// assertInert checks that the page shows text literally inside an element
// matching container, that no element the markup would make (script, img,
// b, i) exists anywhere in the document, and that no script from it ran.
func assertInert(t testing.TB, tb *tab, where, container, text string) {
	t.Helper()
	texts := tb.texts(container)
	if !slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, text) }) {
		t.Errorf("%s: %s does not show %q literally; it shows %q", where, container, text, texts)
	}
	made := run(tb, "elements made from markup", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("script, img, b, i, iframe, object, embed, [onerror], [onload]"), e => e.outerHTML)`))
	if len(made) > 0 {
		t.Errorf("%s: the page has elements made from a person's markup: %q", where, made)
	}
	if typ := run(tb, "typeof window.__pwned", chromedp.Evaluate[string](`typeof window.__pwned`)); typ != "undefined" {
		t.Errorf("%s: a script from a person's markup ran (window.__pwned is %s)", where, typ)
	}
}

func testCSRFRefused(t *testing.T, srv *server, staff *tab) {
	submitRequest(t, srv.PublicURL, url.Values{"what_happened": {"CSRF-REQUEST please help"}, "urgency": {"not_urgent"}})
	if st := staff.open(srv.StaffURL + "/requests"); st != http.StatusOK {
		t.Fatalf("inbox: status %d", st)
	}
	href := inboxLink(t, staff, "CSRF-REQUEST")
	requestURL := srv.StaffURL + href
	const replyCSRF = `form[action$="/reply"] input[name="csrf"]`

	for _, tc := range []struct {
		name   string
		tamper chromedp.Action[chromedp.Void]
	}{
		{"blank", chromedp.SetAttributeValue(chromedp.CSS(replyCSRF), "value", "")},
		{"altered", chromedp.Func(func(ctx context.Context, tt *chromedp.Target) error {
			tok, err := chromedp.Value(chromedp.CSS(replyCSRF))(ctx, tt)
			if err != nil {
				return err
			}
			if len(tok) < 16 {
				return fmt.Errorf("csrf token %q is implausibly short", tok)
			}
			// Change one character in the middle, keeping the length and
			// the alphabet.
			i, repl := len(tok)/2, byte('A')
			if tok[i] == 'A' {
				repl = 'B'
			}
			altered := tok[:i] + string(repl) + tok[i+1:]
			_, err = chromedp.SetAttributeValue(chromedp.CSS(replyCSRF), "value", altered)(ctx, tt)
			return err
		})},
		{"missing", chromedp.RemoveAttribute(chromedp.CSS(replyCSRF), "name")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			staff := staff.in(t)
			body := "CSRF-REPLY-" + tc.name + " must never be stored"
			if st := staff.open(requestURL); st != http.StatusOK {
				t.Fatalf("request view: status %d", st)
			}
			staff.typeInto("#body", body)
			staff.do("tamper with the csrf input", tc.tamper)
			if st := staff.submit(`form[action$="/reply"] button[type=submit]`); st != http.StatusForbidden {
				t.Fatalf("reply with a %s CSRF token: status %d, want 403; page: %s", tc.name, st, staff.text("main"))
			}
			if st := staff.open(requestURL); st != http.StatusOK {
				t.Fatalf("request view: status %d", st)
			}
			for _, m := range staff.texts("div.msg") {
				if strings.Contains(m, body) {
					t.Fatalf("a reply refused for its %s CSRF token was stored: %q", tc.name, m)
				}
			}
		})
	}

	// The triage form too: a status change without a valid token changes
	// nothing.
	t.Run("status", func(t *testing.T) {
		staff := staff.in(t)
		if st := staff.open(requestURL); st != http.StatusOK {
			t.Fatalf("request view: status %d", st)
		}
		before := staff.text("main p.meta")
		staff.do("choose closed and blank the token",
			chromedp.SetValue(chromedp.CSS("#status"), "closed"),
			chromedp.SetAttributeValue(chromedp.CSS(`form[action$="/status"] input[name="csrf"]`), "value", ""))
		if st := staff.submit(`form[action$="/status"] button[type=submit]`); st != http.StatusForbidden {
			t.Fatalf("status change with a blank CSRF token: status %d, want 403", st)
		}
		staff.open(requestURL)
		if after := staff.text("main p.meta"); after != before {
			t.Fatalf("a refused status change took effect: %q became %q", before, after)
		}
	})

	// The same form with its token untouched works: the refusals above
	// were for the token and nothing else.
	t.Run("valid", func(t *testing.T) {
		staff := staff.in(t)
		staff.open(requestURL)
		staff.typeInto("#body", "CSRF-REPLY-valid is stored")
		if st := staff.submit(`form[action$="/reply"] button[type=submit]`); st != http.StatusOK {
			t.Fatalf("reply with its own token: status %d", st)
		}
		if !slices.ContainsFunc(staff.texts("div.msg.staff"), func(s string) bool { return strings.Contains(s, "CSRF-REPLY-valid") }) {
			t.Fatal("a reply with a valid token was not stored")
		}
	})
}

// assertBackShowsNothing presses the quick exit, then Back a few times, as
// someone who takes the phone would: nothing of the conversation may come
// back, neither from the server (the session is gone) nor from the
// browser's cache (the conversation was a POST result).
func assertBackShowsNothing(t *testing.T, person *tab, secrets ...string) {
	t.Helper()
	// Wait for the exit page's own response (which ends the session and
	// clears the cookie) before going Back, as a person would see it.
	if st := person.submit("a.exit"); st != http.StatusOK {
		t.Fatalf("quick exit: status %d", st)
	}
	for i := range 3 {
		// Going back to a POST result makes the browser abort the load
		// (it would have to send the form again): that is the point, so a
		// load error here is fine; what counts is what the page shows.
		person.call(func(ctx context.Context) error {
			_ = chromedp.Do(ctx, chromedp.NavigateBack())
			return nil
		}, "back")
		body := run(person, "page text", chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Fatalf("after quick exit, Back #%d shows the conversation (%q) at %s", i+1, s, person.location())
			}
		}
	}
	if cs := person.cookies(); len(cs) != 0 {
		t.Errorf("cookies after quick exit: %+v", cs)
	}
}
