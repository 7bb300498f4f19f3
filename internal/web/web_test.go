package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
	"github.com/pquerna/otp/totp"
)

func checkHeaders(t *testing.T, where string, r resp) {
	t.Helper()
	h := r.header
	if !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Errorf("%s: Cache-Control = %q", where, h.Get("Cache-Control"))
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe") {
		t.Errorf("%s: CSP = %q", where, csp)
	}
	if h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("%s: security headers missing: %v", where, h)
	}
}

// noThirdParty fails on anything that would make a browser fetch from
// elsewhere, or run script.
func noThirdParty(t *testing.T, where, body string) {
	t.Helper()
	for _, bad := range []string{"<script", "<link", "src=\"http", "src='http", "@import", "url(", "<iframe"} {
		if strings.Contains(body, bad) {
			t.Errorf("%s contains %q", where, bad)
		}
	}
}

func TestPublicPagesHeadersNoCookieNoThirdParty(t *testing.T) {
	h := newHarness(t, true)
	c := h.client(h.publicURL)
	for _, p := range []string{"/en/", "/ru/", "/en/request", "/ru/request", "/en/return", "/nope", "/xx/"} {
		r := c.get(p)
		checkHeaders(t, p, r)
		noThirdParty(t, p, r.body)
		if len(r.header.Values("Set-Cookie")) > 0 {
			t.Errorf("%s sets a cookie before any receipt: %v", p, r.header.Values("Set-Cookie"))
		}
		if r.status == 200 && !strings.Contains(r.body, `class="exit"`) {
			t.Errorf("%s has no quick exit", p)
		}
	}
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("/ = %d", r.status)
	}
	req, _ := http.NewRequest("GET", h.publicURL+"/", nil)
	req.Header.Set("Accept-Language", "ru-RU,ru;q=0.9")
	if r := c.do(req); r.header.Get("Location") != "/ru/" {
		t.Errorf("Accept-Language ru → %q", r.header.Get("Location"))
	}
	if r := c.get("/xx/"); r.status != http.StatusNotFound {
		t.Errorf("unknown language = %d", r.status)
	}
	if r := c.get("/ru/"); !strings.Contains(r.body, `lang="ru"`) || !strings.Contains(r.body, "Быстрый выход") {
		t.Error("Russian landing page is not Russian")
	}
}

func TestLandingPageSize(t *testing.T) {
	h := newHarness(t, true)
	for _, lang := range []string{"en", "ru"} {
		r := h.client(h.publicURL).get("/" + lang + "/")
		if len(r.body) > 32<<10 {
			t.Errorf("%s landing page is %d bytes, over 32 KiB", lang, len(r.body))
		}
	}
}

func TestOnionLocation(t *testing.T) {
	h := newHarness(t, true)
	h.srv.cfg.OnionLocation = "http://example.onion"
	r := httpGet(t, h.srv.PublicHandler(), "/en/request")
	if got := r.Header.Get("Onion-Location"); got != "http://example.onion/en/request" {
		t.Errorf("Onion-Location = %q", got)
	}
}

func TestRequestFormKeepsInputOnError(t *testing.T) {
	h := newHarness(t, true)
	c := h.client(h.publicURL)
	r := c.fill("/en/request", "/en/request", url.Values{"location": {"Грозный <b>"}, "urgency": {"nonsense"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d", r.status)
	}
	for _, want := range []string{"Please answer this question.", "Please choose one of the options.", `value="Грозный &lt;b&gt;"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("error page lacks %q", want)
		}
	}
	if _, total, _ := h.st.ListInbox(context.Background(), store.InboxFilter{}); total != 0 {
		t.Errorf("invalid request stored: %d", total)
	}
}

func TestHoneypot(t *testing.T) {
	h := newHarness(t, true)
	c := h.client(h.publicURL)
	r := c.post("/en/request", url.Values{"what_happened": {"spam"}, "urgency": {"days"}, "website": {"http://spam"}})
	if r.status != 200 || !strings.Contains(r.body, `class="receipt"`) {
		t.Fatalf("honeypot response = %d", r.status)
	}
	if _, total, _ := h.st.ListInbox(context.Background(), store.InboxFilter{}); total != 0 {
		t.Errorf("bot request stored")
	}
}

var receiptRE = regexp.MustCompile(`class="receipt"[^>]*>([^<]+)<`)

// The whole hotline over HTTP: submit, staff reply, person reads and
// writes back, staff sees it.
func TestHotlineRoundTrip(t *testing.T) {
	h := newHarness(t, true)
	person := h.client(h.publicURL)
	form := url.Values{"what_happened": {"Меня ищут"}, "urgency": {"immediate"}, "languages": {"ru", "ce"}}
	r := person.fill("/ru/request", "/ru/request", form)
	m := receiptRE.FindStringSubmatch(r.body)
	if r.status != 200 || m == nil {
		t.Fatalf("submit = %d %s", r.status, r.body)
	}
	rc := strings.ReplaceAll(m[1], "&#43;", "+")
	if len(r.header.Values("Set-Cookie")) > 0 {
		t.Error("receipt page sets a cookie")
	}
	// Sending the same form again (a reload) does not file a second request.
	if again := person.post("/ru/request", form); again.status != 200 || receiptRE.MatchString(again.body) {
		t.Errorf("resubmission = %d, shows a receipt: %v", again.status, receiptRE.MatchString(again.body))
	}
	if _, total, _ := h.st.ListInbox(context.Background(), store.InboxFilter{}); total != 1 {
		t.Errorf("requests stored = %d, want 1", total)
	}
	// A form without its token is refused, keeping what was typed.
	if r := person.post("/ru/request", url.Values{"what_happened": {"без токена"}, "urgency": {"days"}}); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "без токена") {
		t.Errorf("tokenless form = %d", r.status)
	}

	staffC := h.login(h.admin)
	inbox := staffC.get("/requests")
	if !strings.Contains(inbox.body, "Меня ищут") || !strings.Contains(inbox.body, `class="unread"`) {
		t.Fatalf("inbox lacks the request: %s", inbox.body)
	}
	id := regexp.MustCompile(`href="/requests/(r[a-z0-9]+)"`).FindStringSubmatch(inbox.body)[1]
	view := staffC.get("/requests/" + id)
	if !strings.Contains(view.body, "Меня ищут") || !strings.Contains(view.body, "Chechen") {
		t.Fatalf("request page = %s", view.body)
	}
	if r := staffC.post("/requests/"+id+"/reply", url.Values{"body": {"Мы рядом. <script>x</script>"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reply = %d %s", r.status, r.body)
	}
	if r := staffC.post("/requests/"+id+"/reply", url.Values{"body": {"   "}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("empty reply = %d", r.status)
	}

	// The person returns, typing the receipt sloppily.
	sloppy := strings.ReplaceAll(strings.ReplaceAll(rc, " ", ""), "-", " ")
	r = person.post("/ru/return", url.Values{"receipt": {sloppy}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Мы рядом. &lt;script&gt;x&lt;/script&gt;") {
		t.Fatalf("return = %d %s", r.status, r.body)
	}
	setCookie := r.header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(setCookie, attr) {
			t.Errorf("person cookie lacks %s: %s", attr, setCookie)
		}
	}
	if strings.Contains(setCookie, "Max-Age") || strings.Contains(setCookie, "Expires") {
		t.Errorf("person cookie outlives the browser: %s", setCookie)
	}
	// A GET shows nothing of the conversation, only a button.
	if conv := person.get("/ru/conversation"); conv.status != 200 || strings.Contains(conv.body, "Мы рядом") {
		t.Fatalf("GET conversation = %d and shows content", conv.status)
	}
	if conv := person.post("/ru/conversation/show", nil); !strings.Contains(conv.body, "Мы рядом") {
		t.Fatalf("show = %d", conv.status)
	}
	if r := person.post("/ru/conversation", url.Values{"body": {"Спасибо"}, "csrf": {"forged"}}); r.status != http.StatusForbidden {
		t.Errorf("forged person csrf = %d", r.status)
	}
	person.post("/ru/conversation/show", nil)
	sendForm := url.Values{"body": {"Спасибо"}, "nonce": {nonceRE.FindStringSubmatch(person.post("/ru/conversation/show", nil).body)[1]}}
	if r := person.post("/ru/conversation", sendForm); r.status != http.StatusOK || !strings.Contains(r.body, "Спасибо") {
		t.Fatalf("follow-up = %d %s", r.status, r.body)
	}
	// Reloading the page that POST returned sends the form again: no duplicate.
	person.post("/ru/conversation", sendForm)
	if msgs, _ := h.st.ListMessages(context.Background(), id); len(msgs) != 2 {
		t.Errorf("messages = %d, want 2 (reply and one follow-up)", len(msgs))
	}
	if r := person.post("/ru/conversation", url.Values{"body": {""}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("empty follow-up = %d", r.status)
	}
	view = staffC.get("/requests/" + id)
	if !strings.Contains(view.body, "Спасибо") {
		t.Error("staff does not see the follow-up")
	}

	// The quick exit ends the session too.
	r = person.get("/ru/exit")
	if r.header.Get("Clear-Site-Data") == "" || !strings.Contains(r.body, `http-equiv="refresh" content="0;url=https://www.wikipedia.org/"`) {
		t.Errorf("quick exit = %d %v %s", r.status, r.header, r.body)
	}
	if r := person.post("/ru/conversation/show", nil); r.status != http.StatusSeeOther {
		t.Errorf("conversation after quick exit = %d", r.status)
	}
	person.post("/ru/return", url.Values{"receipt": {sloppy}})

	// Leaving forgets the session.
	r = person.post("/ru/leave", nil)
	if r.header.Get("Clear-Site-Data") == "" {
		t.Error("leave does not clear site data")
	}
	if r := person.post("/ru/conversation/show", nil); r.status != http.StatusSeeOther {
		t.Errorf("conversation after leave = %d", r.status)
	}
}

func TestReturnErrors(t *testing.T) {
	h := newHarness(t, true)
	c := h.client(h.publicURL)
	for _, tc := range []struct{ in, want string }{
		{"hello", "does not look like a receipt"},
		{"+79 123 456-78-90, 1230", ""}, // either a typo or unknown: never found
		{"", "does not look like a receipt"},
	} {
		r := c.post("/en/return", url.Values{"receipt": {tc.in}})
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, tc.want) {
			t.Errorf("return %q = %d", tc.in, r.status)
		}
		if len(r.header.Values("Set-Cookie")) > 0 {
			t.Errorf("failed return sets a cookie")
		}
	}
}

func TestStaffCSRFAndCrossOrigin(t *testing.T) {
	h := newHarness(t, true)
	_, id := h.submit("csrf test")
	c := h.login(h.admin)
	if r := c.post("/requests/"+id+"/reply", url.Values{"body": {"x"}, "csrf": {""}}); r.status != http.StatusForbidden {
		t.Errorf("missing csrf = %d", r.status)
	}
	if r := c.post("/requests/"+id+"/reply", url.Values{"body": {"x"}, "csrf": {"AAAA"}}); r.status != http.StatusForbidden {
		t.Errorf("wrong csrf = %d", r.status)
	}
	msgs, _ := h.st.ListMessages(context.Background(), id)
	if len(msgs) != 0 {
		t.Error("refused POST stored a message")
	}
	form := url.Values{"body": {"x"}, "csrf": {c.csrf}}
	req, _ := http.NewRequest("POST", h.staffURL+"/requests/"+id+"/reply", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := c.do(req); r.status != http.StatusForbidden {
		t.Errorf("cross-site POST = %d", r.status)
	}
	// Login and unseal forms need their double-submit token too.
	fresh := h.client(h.staffURL)
	if r := fresh.post("/login", url.Values{"username": {"x"}, "password": {"y"}, "code": {"1"}, "csrf": {"nope"}}); r.status != http.StatusForbidden {
		t.Errorf("login without token = %d", r.status)
	}
}

func TestSealedServer(t *testing.T) {
	h := newHarness(t, true)
	c := h.login(h.admin)
	if r := c.post("/seal", nil); r.status != http.StatusSeeOther {
		t.Fatalf("seal = %d", r.status)
	}
	if !h.vault.Sealed() {
		t.Fatal("not sealed")
	}
	if r := c.get("/requests"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/unseal" {
		t.Errorf("inbox while sealed = %d %s", r.status, r.header.Get("Location"))
	}
	// The public site keeps accepting requests.
	p := h.client(h.publicURL)
	r := p.fill("/en/request", "/en/request", url.Values{"what_happened": {"while sealed"}, "urgency": {"days"}})
	m := receiptRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("submit while sealed = %d", r.status)
	}
	if r := p.post("/en/return", url.Values{"receipt": {strings.ReplaceAll(m[1], "&#43;", "+")}}); r.status != http.StatusOK {
		t.Errorf("return while sealed = %d", r.status)
	}
	// Unseal through the page.
	u := h.client(h.staffURL)
	u.get("/unseal")
	if r := u.post("/unseal", url.Values{"passphrase": {"wrong one"}}); r.status != http.StatusUnauthorized {
		t.Errorf("wrong passphrase = %d", r.status)
	}
	if r := u.post("/unseal", url.Values{"passphrase": {testPassphrase}}); r.status != http.StatusSeeOther || h.vault.Sealed() {
		t.Fatalf("unseal = %d sealed=%v", r.status, h.vault.Sealed())
	}
	if r := c.get("/requests"); !strings.Contains(r.body, "while sealed") {
		t.Error("request submitted while sealed not readable after unseal")
	}
	// Sealing ends people's unlocked sessions.
	if r := p.post("/en/conversation/show", nil); r.status != http.StatusOK {
		t.Fatalf("conversation = %d", r.status)
	}
	h.vault.Seal()
	if r := p.post("/en/conversation/show", nil); r.status != http.StatusSeeOther {
		t.Errorf("person session survived sealing: %d", r.status)
	}
}

func TestFirstRunSetup(t *testing.T) {
	h := newHarness(t, false)
	path := h.srv.SetupPath()
	if path == "" {
		t.Fatal("no setup path on an empty installation")
	}
	c := h.client(h.staffURL)
	if r := c.get("/requests"); r.header.Get("Location") != "/setup" {
		t.Errorf("uninitialised inbox → %s", r.header.Get("Location"))
	}
	if r := c.get("/setup?token=wrong"); r.status != http.StatusForbidden {
		t.Errorf("setup with wrong token = %d", r.status)
	}
	r := c.get(path)
	if r.status != 200 || !strings.Contains(r.body, `src="data:image/png;base64,`) {
		t.Fatalf("setup page = %d", r.status)
	}
	secret := regexp.MustCompile(`<code>([A-Z2-7]+)</code>`).FindStringSubmatch(r.body)[1]
	token := strings.TrimPrefix(path, "/setup?token=")
	form := url.Values{"token": {token}, "passphrase": {testPassphrase}, "passphrase2": {testPassphrase},
		"username": {"Alice"}, "password": {"a good long password"}, "password2": {"a good long password"}, "code": {"000000"}}
	if r := c.post("/setup", form); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `value="Alice"`) {
		t.Errorf("bad code = %d", r.status)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	form.Set("code", code)
	form.Set("passphrase2", "different")
	if r := c.post("/setup", form); r.status != http.StatusUnprocessableEntity {
		t.Errorf("mismatched passphrase = %d", r.status)
	}
	form.Set("passphrase2", testPassphrase)
	if r := c.post("/setup", form); r.status != http.StatusSeeOther {
		t.Fatalf("setup = %d %s", r.status, r.body)
	}
	if !h.vault.Initialised() || h.vault.Sealed() {
		t.Fatal("setup did not initialise and unseal")
	}
	if h.srv.SetupPath() != "" {
		t.Error("setup link still offered")
	}
	if r := c.post("/setup", form); r.status != http.StatusForbidden {
		t.Errorf("second setup = %d", r.status)
	}
	// The admin can log in with the enrolled secret (next code step, as
	// the setup code was a different use).
	l := h.client(h.staffURL)
	l.get("/login")
	code2, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if r := l.post("/login", url.Values{"username": {"alice"}, "password": {"a good long password"}, "code": {code2}}); r.status != http.StatusSeeOther {
		t.Fatalf("admin login after setup = %d %s", r.status, r.body)
	}
}

func TestLoginFailuresAreUniform(t *testing.T) {
	h := newHarness(t, true)
	c := h.client(h.staffURL)
	c.get("/login")
	var bodies []string
	for _, f := range []url.Values{
		{"username": {"nobody"}, "password": {"x"}, "code": {"123456"}},
		{"username": {h.admin.name}, "password": {"wrong"}, "code": {"123456"}},
		{"username": {h.admin.name}, "password": {h.admin.password}, "code": {"000000"}},
	} {
		r := c.post("/login", f)
		if r.status != http.StatusUnauthorized {
			t.Errorf("failed login = %d", r.status)
		}
		bodies = append(bodies, regexp.MustCompile(`class="error"[^>]*>([^<]*)`).FindStringSubmatch(r.body)[1])
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Errorf("failures are distinguishable: %q", bodies)
	}
}

func TestAdminCreatesUserWhoMustChangePassword(t *testing.T) {
	h := newHarness(t, true)
	admin := h.login(h.admin)
	r := admin.post("/admin/users", url.Values{"username": {"Борис"}, "role": {"caseworker"}})
	if r.status != 200 || !strings.Contains(r.body, "data:image/png;base64,") {
		t.Fatalf("create user = %d", r.status)
	}
	pw := regexp.MustCompile(`<code class="receipt">([^<]+)</code>`).FindStringSubmatch(r.body)[1]
	secret := regexp.MustCompile(`<code>([A-Z2-7]+)</code>`).FindStringSubmatch(r.body)[1]
	if r := admin.post("/admin/users", url.Values{"username": {"борис"}, "role": {"caseworker"}}); !strings.Contains(r.body, "already exists") {
		t.Errorf("duplicate username = %d", r.status)
	}
	boris := &account{name: "борис", password: pw, secret: secret}
	c := h.client(h.staffURL)
	c.get("/login")
	code, _ := totp.GenerateCode(boris.secret, time.Now())
	c.post("/login", url.Values{"username": {"БОРИС"}, "password": {pw}, "code": {code}})
	if r := c.get("/requests"); r.header.Get("Location") != "/account" {
		t.Fatalf("must-change user reaches inbox: %d %s", r.status, r.header.Get("Location"))
	}
	c.get("/account")
	if r := c.post("/account/password", url.Values{"old": {pw}, "new": {"a brand new password"}, "new2": {"a brand new password"}}); r.status != http.StatusSeeOther {
		t.Fatalf("change password = %d %s", r.status, r.body)
	}
	if r := c.get("/requests"); r.status != 200 {
		t.Errorf("inbox after change = %d", r.status)
	}
	// Disabling ends the session at once.
	list, _ := h.staff.List(context.Background())
	var id int64
	for _, v := range list {
		if v.Username == "борис" {
			id = v.User.ID
		}
	}
	admin.get("/admin/users")
	if r := admin.post("/admin/users/"+itoa(id)+"/disable", nil); r.status != http.StatusSeeOther {
		t.Fatalf("disable = %d", r.status)
	}
	if r := c.get("/requests"); r.header.Get("Location") != "/login" {
		t.Errorf("disabled user still in: %d", r.status)
	}
	// The last admin cannot disable themself.
	if r := admin.post("/admin/users/"+itoa(h.admin.user.ID)+"/disable", nil); !strings.Contains(r.body, "last active administrator") {
		t.Errorf("last admin disabled: %d", r.status)
	}
	// Everything was audited, without names.
	audit := admin.get("/admin/audit")
	for _, want := range []string{"user.create", "user.disable", "user.login", "request"} {
		if !strings.Contains(audit.body, want) {
			t.Errorf("audit page lacks %s", want)
		}
	}
	entries, _ := h.st.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	for _, e := range entries {
		if strings.Contains(e.Object, "борис") || strings.Contains(e.Action, "борис") {
			t.Errorf("audit entry holds a name: %+v", e)
		}
	}
}

func TestStaffLanguageSwitch(t *testing.T) {
	h := newHarness(t, true)
	c := h.client(h.staffURL)
	r := c.get("/login?lang=ru")
	if !strings.Contains(r.body, "Вход для сотрудников") {
		t.Error("?lang=ru not Russian")
	}
	if r := c.get("/login"); !strings.Contains(r.body, "Вход для сотрудников") {
		t.Error("language choice not remembered")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestStaffLanguageLinkKeepsQuery(t *testing.T) {
	h := newHarness(t, false)
	r := h.client(h.staffURL).get(h.srv.SetupPath())
	token := strings.TrimPrefix(h.srv.SetupPath(), "/setup?token=")
	if !strings.Contains(r.body, "lang=ru&amp;token="+token) {
		t.Errorf("language link drops the setup token")
	}
	if strings.Contains(r.body, `class="sealed"`) {
		t.Errorf("an uninitialised server is shown as sealed")
	}
}
