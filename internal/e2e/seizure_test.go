package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/corridor-org/corridor/internal/receipt"
)

// Canaries are distinctive strings planted in every free-text field. Each
// field gets its own pair, one Latin and one Cyrillic, so that a hit names
// the field that leaked. All share a prefix, so that a truncated or
// partial copy is caught too.
const (
	canaryLatin    = "CANARYzq7x"
	canaryCyrillic = "КАНАРЕЙКАжщ"
)

// needle is a string that must not be found, and what it is.
type needle struct {
	what  string
	value string
}

// canary returns a field's Latin and Cyrillic canaries and the needles
// that find them.
func canary(field, latinTag, cyrillicTag string) (latin, cyrillic string, ns []needle) {
	latin, cyrillic = canaryLatin+latinTag, canaryCyrillic+cyrillicTag
	return latin, cyrillic, []needle{{field + " (Latin canary)", latin}, {field + " (Cyrillic canary)", cyrillic}}
}

// TestSeizedDiskAndLogsHoldNoPlaintext plants canaries in everything a
// person or a staff member types — every free-text answer of a request
// (once refused for a missing answer, then accepted), a staff reply, a
// person's follow-up, text typed as a receipt, a staff username and
// passwords, a refused username, a failed log-in — with the server logging
// at debug level. It reads every byte of every file under the data
// directory and the TMPDIR the server was given, once while the server
// runs (a live disk image: SQLite's -wal and -shm included) and once after
// it stopped, and everything the server printed. No canary may be there,
// nor the person's receipt, nor the unseal passphrase, nor a staff
// password or TOTP secret.
//
// It uses a plain HTTP client: what is written to disk does not depend on
// the browser.
func TestSeizedDiskAndLogsHoldNoPlaintext(t *testing.T) {
	in := newInstallation(t, "admin")
	tmp := filepath.Join(in.Root, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	// SQLite (and anything else) that spills to temporary files spills
	// where the scan looks.
	t.Setenv("TMPDIR", tmp)
	t.Setenv("SQLITE_TMPDIR", tmp)
	srv := in.start(t, "--log-level", "debug")

	var needles []needle
	plant := func(field, latinTag, cyrillicTag string) string {
		l, c, ns := canary(field, latinTag, cyrillicTag)
		needles = append(needles, ns...)
		return l + " " + c
	}
	what := "They took me from home. " + plant("request answer what_happened", "What", "Что") + " Please help."
	where := plant("request answer location", "Loc", "Где")
	contact := "Signal: " + plant("request answer contact", "Contact", "Связь")
	reply := "We will call you. " + plant("staff reply", "Reply", "Ответ")
	followUp := "Tomorrow is fine. " + plant("person's follow-up", "Follow", "Письмо")
	adminPassword := plant("admin's new password", "AdminPw", "Админ")
	// Usernames are stored in their normalised (lower-case) form, and one
	// part of a name may not mix alphabets.
	l, c, ns := canary("staff username", "user", "логин")
	username := strings.ToLower(l + "-" + c)
	needles = append(needles, ns...)
	operatorPassword := plant("staff member's new password", "Pass", "Пароль")
	l, c, ns = canary("username of a failed log-in", "nobody", "никто")
	failedUser := strings.ToLower(l + "-" + c)
	needles = append(needles, ns...)
	failedPassword := plant("password of a failed log-in", "WrongPw", "Неверный")
	// People type the oddest things into the receipt field.
	notAReceipt := plant("text typed as a receipt", "Receipt", "Квитанция")
	// A name with two alphabets in one part, which is refused.
	badUsername := canaryLatin + "BadName" + canaryCyrillic + "Имя"
	needles = append(needles, needle{"refused staff username", badUsername})

	// A person asks for help. Public pages set no cookie.
	person := newHTTPClient(t, srv.PublicURL)
	for _, p := range []string{"/", "/en/", "/en/request"} {
		pg := person.get(p).mustStatus(t, http.StatusOK, "GET "+p)
		assertAnonymousPage(t, pg)
	}
	answers := url.Values{
		"what_happened": {what}, "location": {where}, "contact": {contact},
		"languages": {"ru", "ce"}, "website": {""},
	}
	// First without the urgency: the form comes back with what was typed.
	answers.Set("nonce", person.get("/en/request").mustStatus(t, http.StatusOK, "request form").nonce(t))
	rp := person.post("/en/request", answers).mustStatus(t, http.StatusUnprocessableEntity, "submit without urgency")
	assertAnonymousPage(t, rp)
	answers.Set("urgency", "immediate")
	answers.Set("nonce", rp.nonce(t))
	rp = person.post("/en/request", answers).mustStatus(t, http.StatusOK, "submit request")
	assertAnonymousPage(t, rp)
	shownReceipt := strings.TrimSpace(rp.find(t, receiptRe, "receipt"))
	canonReceipt, _, err := receipt.Normalise(shownReceipt)
	if err != nil {
		t.Fatalf("receipt %q: %v", shownReceipt, err)
	}
	if n := person.cookies(); len(n) > 0 {
		t.Errorf("the person holds cookies %v before entering the receipt", n)
	}

	// The administrator logs in, changes the initial password, and adds a
	// staff member.
	admin := in.Admin.login(t, srv.StaffURL, adminPassword)
	users := admin.get("/admin/users").mustStatus(t, http.StatusOK, "users page")
	admin.post("/admin/users", url.Values{"csrf": {users.csrf(t)}, "username": {badUsername}, "role": {"operator"}}).
		mustStatus(t, http.StatusUnprocessableEntity, "add a staff member with a mixed-alphabet name")
	cp := admin.post("/admin/users", url.Values{"csrf": {users.csrf(t)}, "username": {username}, "role": {"operator"}}).
		mustStatus(t, http.StatusOK, "add staff member")
	operator := &account{
		Username: username,
		Password: cp.find(t, regexp.MustCompile(`<code class="receipt">([^<]+)</code>`), "initial password"),
		totp:     &totpKey{secret: cp.find(t, regexp.MustCompile(`<code>([A-Z2-7]{16,})</code>`), "TOTP secret")},
	}
	secrets := []needle{
		{"the unseal passphrase", testPassphrase},
		{"admin's initial password", in.Admin.Password},
		{"admin's TOTP secret", in.Admin.totp.secret},
		{"staff member's initial password", operator.Password},
		{"staff member's TOTP secret", operator.totp.secret},
	}

	// Someone tries a name that does not exist, and a wrong password.
	bad := newHTTPClient(t, srv.StaffURL)
	lf := bad.get("/login").mustStatus(t, http.StatusOK, "login form")
	bad.post("/login", url.Values{"csrf": {lf.csrf(t)}, "username": {failedUser}, "password": {failedPassword}, "code": {"123456"}}).
		mustStatus(t, http.StatusUnauthorized, "log in as nobody")

	// The staff member logs in, sets a password, reads the request and
	// replies.
	staff := operator.login(t, srv.StaffURL, operatorPassword)
	inbox := staff.get("/requests").mustStatus(t, http.StatusOK, "inbox")
	id := inbox.find(t, regexp.MustCompile(`<a href="/requests/([^"]+)">`), "request link")
	rv := staff.get("/requests/"+id).mustStatus(t, http.StatusOK, "request view")
	for _, s := range []string{what, where, contact} {
		if !strings.Contains(rv.Body, s) {
			t.Fatalf("the staff view does not show %q: the canaries were not stored as typed", s)
		}
	}
	rv = staff.post("/requests/"+id+"/reply", url.Values{"csrf": {rv.csrf(t)}, "body": {reply}}).
		mustStatus(t, http.StatusOK, "reply")
	if !strings.Contains(rv.Body, reply) || !strings.Contains(rv.Body, username) {
		t.Fatal("the reply, signed with the staff member's name, is not shown after sending")
	}

	// The person comes back, reads the reply and writes again.
	assertAnonymousPage(t, person.get("/en/return").mustStatus(t, http.StatusOK, "return page"))
	assertAnonymousPage(t, person.post("/en/return", url.Values{"receipt": {notAReceipt}}).
		mustStatus(t, http.StatusUnprocessableEntity, "enter a wrong receipt"))
	conv := person.post("/en/return", url.Values{"receipt": {shownReceipt}}).mustStatus(t, http.StatusOK, "enter receipt")
	if !strings.Contains(conv.Body, reply) {
		t.Fatalf("the person does not see the reply:\n%s", conv.Body)
	}
	if cc := conv.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("conversation page: Cache-Control %q, want no-store", cc)
	}
	conv = person.post("/en/conversation", url.Values{"csrf": {conv.csrf(t)}, "nonce": {conv.nonce(t)}, "body": {followUp}}).
		mustStatus(t, http.StatusOK, "follow-up")
	if !strings.Contains(conv.Body, followUp) {
		t.Fatal("the follow-up is not shown after sending")
	}
	if !strings.Contains(staff.get("/requests/"+id).Body, followUp) {
		t.Fatal("the staff member does not see the follow-up")
	}

	// The scan must be able to see a canary at all: it finds them in a
	// page that shows them.
	if hits := scan("staff request page", []byte(staff.get("/requests/"+id).Body), needles); len(hits) < 6 {
		t.Fatalf("the scan found %d canaries in a page showing 3 answers and 2 messages (want >= 6): the scan is broken", len(hits))
	}

	forbidden := append(slices.Clone(needles), secrets...)
	forbidden = append(forbidden,
		needle{"the person's receipt (as shown)", shownReceipt},
		needle{"the person's receipt (normalised)", canonReceipt},
		needle{"any canary (prefix)", canaryLatin},
		needle{"any canary (prefix)", canaryCyrillic},
	)

	// A disk image taken while the server runs, then the disk after a
	// clean stop, and all that the server printed. (The passphrase file
	// is outside the scanned directories.)
	var hits []string
	for _, d := range []string{in.Dir, tmp} {
		hits = append(hits, scanTree(t, "running server's disk", d, forbidden)...)
	}
	srv.stop()
	for _, d := range []string{in.Dir, tmp} {
		hits = append(hits, scanTree(t, "stopped server's disk", d, forbidden)...)
	}
	hits = append(hits, scan("server stdout", srv.Stdout.Bytes(), forbidden)...)
	hits = append(hits, scan("server stderr", srv.Stderr.Bytes(), forbidden)...)
	hits = append(hits, scan("corridor init output", in.InitOutput, append(slices.Clone(needles), needle{"the person's receipt", canonReceipt}))...)
	for _, h := range hits {
		t.Error(h)
	}

	// The scan looked at something: a database was written and the server
	// logged requests at debug level.
	db, err := os.Stat(filepath.Join(in.Dir, "corridor.db"))
	if err != nil || db.Size() == 0 {
		t.Errorf("no database to scan: %v", err)
	}
	if !bytes.Contains(srv.Stderr.Bytes(), []byte("msg=request")) {
		t.Errorf("the server logged no requests, so the log scan proves nothing; stderr:\n%s", srv.Stderr)
	}
}

// assertAnonymousPage checks a public page seen before the receipt is
// entered: it sets no cookie (redirects included) and may not be cached.
func assertAnonymousPage(t testing.TB, p *webPage) {
	t.Helper()
	if len(p.SetCookie) > 0 {
		t.Errorf("%s set cookies before the receipt was entered: %q", p.URL, p.SetCookie)
	}
	if cc := p.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("%s: Cache-Control %q, want no-store", p.URL, cc)
	}
}

// scanTree scans every regular file under root. What is neither a
// regular file nor a directory (the control socket) is logged, not read.
func scanTree(t testing.TB, label, root string, needles []needle) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			t.Logf("not scanned (not a regular file): %s (%s)", path, d.Type())
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil // e.g. a -journal that SQLite just removed
			}
			return err
		}
		hits = append(hits, scan(label+": "+path, data, needles)...)
		return nil
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", root, err)
	}
	return hits
}

// scan reports every place where a needle occurs in data: raw bytes, as
// given, in lower case and in upper case. A hit that a longer needle
// already explains (a canary's prefix inside the full canary) is reported
// once, under the longer needle.
func scan(where string, data []byte, needles []needle) []string {
	ordered := slices.Clone(needles)
	sort.SliceStable(ordered, func(i, j int) bool { return len(ordered[i].value) > len(ordered[j].value) })
	type span struct{ start, end int }
	var seen []span
	covered := func(at, n int) bool {
		for _, s := range seen {
			if at >= s.start && at+n <= s.end {
				return true
			}
		}
		return false
	}
	var hits []string
	for _, n := range ordered {
		if n.value == "" {
			continue
		}
		for _, v := range variants(n.value) {
			for off := 0; ; {
				i := bytes.Index(data[off:], []byte(v))
				if i < 0 {
					break
				}
				at := off + i
				off = at + 1
				if covered(at, len(v)) {
					continue
				}
				seen = append(seen, span{at, at + len(v)})
				hits = append(hits, fmt.Sprintf("%s: %s %q found at byte offset %d, in %q",
					where, n.what, n.value, at, excerpt(data, at, len(v))))
			}
		}
	}
	return hits
}

func variants(s string) []string {
	out := []string{s}
	for _, v := range []string{strings.ToLower(s), strings.ToUpper(s)} {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// excerpt returns the bytes around a hit, for a failure message.
func excerpt(data []byte, at, n int) string {
	lo, hi := max(at-40, 0), min(at+n+40, len(data))
	return string(data[lo:hi])
}
