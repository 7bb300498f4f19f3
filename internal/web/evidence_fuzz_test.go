package web

import (
	"bytes"
	"context"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/ratelimit"
	"github.com/corridor-org/corridor/internal/store"
)

var storedRE = regexp.MustCompile(`Stored (\d+) file`)

// FuzzEvidenceUpload throws arbitrary multipart bodies and boundaries at
// the two upload endpoints, the person's (after a valid CSRF token and
// one-time token) and the staff form's (after a valid CSRF token): the
// answer is never a crash nor a 5xx, and the store holds exactly the
// files the answer confirms: nothing is stored that is not confirmed.
func FuzzEvidenceUpload(f *testing.F) {
	h := newHarness(f, true)
	// Uploads count against the per-request message limit; here they
	// must not, or most inputs would be refused before they are read.
	h.srv.messageLimit = ratelimit.NewKeyed(1e9, 1e9, 100, time.Now)
	public, staffSite := h.srv.PublicHandler(), h.srv.StaffHandler()

	_, reqID, page := h.returnAsPerson("fuzzing")
	personCSRF, _ := personForm(f, page.body)
	var personCookie string
	for _, c := range page.header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, cookiePerson+"="); ok {
			personCookie, _, _ = strings.Cut(v, ";")
		}
	}
	ps := h.srv.persons.get(personCookie)
	if ps == nil {
		f.Fatal("no person session")
	}
	cw := h.addUser(store.RoleCaseworker)
	caseID := h.openCase("", cw.user.ID)
	sc := h.login(cw)
	u, _ := url.Parse(h.staffURL)
	var staffCookie string
	for _, c := range sc.c.Jar.Cookies(u) {
		if c.Name == cookieSession {
			staffCookie = c.Value
		}
	}
	staffCSRF := sc.csrf

	file := func(b, name, ctype, data string) string {
		return "--" + b + "\r\nContent-Disposition: form-data; name=\"files\"; filename=\"" + name + "\"\r\nContent-Type: " + ctype + "\r\n\r\n" + data + "\r\n"
	}
	f.Add(false, "xyz", file("xyz", "a.txt", "text/plain", "hello")+"--xyz--\r\n")
	f.Add(true, "xyz", file("xyz", "a.txt", "text/plain", "hello")+file("xyz", "b.bin", "application/octet-stream", "\x00\x01\x02")+"--xyz--\r\n")
	f.Add(false, "b", file("b", "", "application/octet-stream", "")+"--b--\r\n")
	f.Add(false, "b", file("b", "cut.txt", "text/plain", "no end to this"))
	f.Add(true, "b", "--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--\r\n")
	f.Add(false, "b", "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"q.txt\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=41=42=4\r\n--b--\r\n")
	f.Add(false, "b", "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"../../etc/passwd\"\r\n\r\nroot\r\n--b--\r\n")
	f.Add(true, "a b\"c", "--a b\"c\r\n\r\n--a b\"c--")
	f.Add(false, "", "")
	f.Add(true, strings.Repeat("z", 80), file(strings.Repeat("z", 80), "long.txt", "text/plain", strings.Repeat("data", 1000))+"--"+strings.Repeat("z", 80)+"--\r\n")
	f.Add(false, "b", "--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"h.txt\"\r\n"+strings.Repeat("X-A: b\r\n", 2000)+"\r\nx\r\n--b--\r\n")

	f.Fuzz(func(t *testing.T, staffForm bool, boundary, tail string) {
		ctype := mime.FormatMediaType("multipart/form-data", map[string]string{"boundary": boundary})
		if ctype == "" {
			ctype = "multipart/form-data; boundary=" + boundary
		}
		field := func(name, value string) string {
			return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
		}
		var body, path string
		var filter store.EvidenceFilter
		var handler http.Handler
		if staffForm {
			path, handler, filter = "/cases/"+caseID+"/evidence", staffSite, store.EvidenceFilter{CaseID: caseID}
			body = field("csrf", staffCSRF) + tail
		} else {
			path, handler, filter = "/en/evidence", public, store.EvidenceFilter{RequestID: reqID}
			body = field("csrf", personCSRF) + field("nonce", h.srv.persons.nonce(ps)) + tail
		}
		before, err := h.st.ListEvidence(context.Background(), filter)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if staffForm {
			req.AddCookie(&http.Cookie{Name: cookieSession, Value: staffCookie})
		} else {
			req.AddCookie(&http.Cookie{Name: cookiePerson, Value: personCookie})
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: %d\n%s", path, body, rec.Code, rec.Body)
		}
		after, err := h.st.ListEvidence(context.Background(), filter)
		if err != nil {
			t.Fatal(err)
		}
		added := len(after) - len(before)
		var confirmed int
		switch {
		case staffForm && rec.Code == http.StatusSeeOther:
			confirmed = -1 // "at least one": the staff form redirects to the case
		case staffForm:
			if m := storedRE.FindStringSubmatch(rec.Body.String()); m != nil {
				confirmed, _ = strconv.Atoi(m[1])
			}
		default:
			if m := receivedRE.FindStringSubmatch(rec.Body.String()); m != nil {
				confirmed, _ = strconv.Atoi(m[1])
			}
		}
		if confirmed == -1 && added < 1 || confirmed >= 0 && added != confirmed {
			t.Fatalf("POST %s %q: %d, confirmed %d, stored %d", path, body, rec.Code, confirmed, added)
		}
		if rec.Code == http.StatusOK && bytes.Contains(rec.Body.Bytes(), []byte("<script")) {
			t.Fatal("script in a person's page")
		}
	})
}
