package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/i18n"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/sqlite"
	"github.com/pquerna/otp/totp"
)

const testPassphrase = "correct horse battery staple"

// harness is a full server over a real SQLite store, with both sites on
// httptest servers.
type harness struct {
	t         testing.TB
	st        store.Store
	vault     *keys.Vault
	staff     *staff.Service
	intake    *intake.Service
	cases     *cases.Service
	srv       *Server
	staffURL  string
	publicURL string
	seq       atomic.Int64
	admin     *account // the first account, created with the harness
	evidence  *evidence.Service
	log       *fakeLog // the transparency log the public site serves
}

func newHarness(t testing.TB, initialise bool) *harness {
	return newHarnessKDF(t, initialise, keys.TestKDF)
}

// newHarnessKDF lets benchmarks use the production receipt KDF.
func newHarnessKDF(t testing.TB, initialise bool, receiptKDF keys.KDFParams) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "corridor.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err := keys.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if initialise {
		if err := v.Initialise(ctx, st, []byte(testPassphrase), keys.TestKDF, receiptKDF); err != nil {
			t.Fatal(err)
		}
	}
	a := audit.New(st, time.Now)
	scfg := staff.DefaultConfig()
	scfg.PasswordKDF = keys.TestKDF
	sv := staff.New(st, v, a, scfg, time.Now)
	in := intake.New(st, v, a, intake.Config{})
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	cs := cases.New(st, v, a, cases.DefaultWorkflow(), cases.DefaultPolicy(), time.Now)
	ev, up, lg := newEvidenceDeps(t, st, v, a, cs)
	srv, err := New(Config{Store: st, Vault: v, Staff: sv, Intake: in, Cases: cs, Audit: a, Catalogue: cat,
		RootKDF: keys.TestKDF, ReceiptKDF: keys.TestKDF, SubmitBurst: 1000, ReceiptBurst: 1000, SubmitRate: 1000, ReceiptRate: 1000,
		Evidence: ev, Uploads: up, Log: lg, Proofs: lg, EvidenceMaxRequest: testMaxRequest})
	if err != nil {
		t.Fatal(err)
	}
	ss := httptest.NewServer(srv.StaffHandler())
	ps := httptest.NewServer(srv.PublicHandler())
	t.Cleanup(func() { ss.Close(); ps.Close(); srv.Close() })
	h := &harness{t: t, st: st, vault: v, staff: sv, intake: in, cases: cs, srv: srv, staffURL: ss.URL, publicURL: ps.URL,
		evidence: ev, log: lg}
	if initialise {
		h.admin = h.addUser(store.RoleAdmin)
	}
	return h
}

// client is a browser stand-in: a cookie jar that does not follow redirects.
type client struct {
	t    testing.TB
	base string
	c    *http.Client
	csrf string
}

func (h *harness) client(base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: h.t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type resp struct {
	status int
	body   string
	header http.Header
}

func (c *client) do(req *http.Request) resp {
	c.t.Helper()
	r, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if m := csrfRE.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1]
	}
	return resp{r.StatusCode, string(b), r.Header}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) get(path string) resp {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	return c.do(req)
}

// post sends a form, adding the last CSRF token seen unless the form has one.
func (c *client) post(path string, form url.Values) resp {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.csrf != "" {
		form.Set("csrf", c.csrf)
	}
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

type account struct {
	user     *store.User
	name     string
	password string
	secret   string
}

// addUser creates a staff member who need not change their password.
func (h *harness) addUser(role string) *account {
	h.t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("%s%d", role, h.seq.Add(1))
	creds, err := h.staff.CreateUser(ctx, 0, name, role)
	if err != nil {
		h.t.Fatal(err)
	}
	u, _ := h.st.GetUser(ctx, creds.User.ID)
	u.MustChangePassword = false
	if err := h.st.UpdateUser(ctx, u); err != nil {
		h.t.Fatal(err)
	}
	return &account{user: u, name: name, password: creds.Password, secret: creds.OTPSecret}
}

// login signs in through the real form. Each account logs in at most once
// per TOTP step (codes are single-use), so a second login uses the next step.
func (h *harness) login(a *account) *client {
	h.t.Helper()
	c := h.client(h.staffURL)
	c.get("/login")
	code, _ := totp.GenerateCode(a.secret, time.Now())
	r := c.post("/login", url.Values{"username": {a.name}, "password": {a.password}, "code": {code}})
	if r.status != http.StatusSeeOther {
		h.t.Fatalf("login %s: %d %s", a.name, r.status, r.body)
	}
	c.get("/account") // picks up the session's CSRF token
	return c
}

// submit files a request on the public site and returns its receipt.
func (h *harness) submit(what string) (receipt, id string) {
	h.t.Helper()
	sub, err := h.intake.Submit(context.Background(), intake.Answers{"what_happened": {what}, "urgency": {"days"}}, "en")
	if err != nil {
		h.t.Fatal(err)
	}
	return sub.Receipt, sub.RequestID
}

var nonceRE = regexp.MustCompile(`name="nonce" value="([^"]+)"`)

// fill opens a public form page and posts it with its one-time token.
func (c *client) fill(formPath, postPath string, form url.Values) resp {
	c.t.Helper()
	page := c.get(formPath)
	m := nonceRE.FindStringSubmatch(page.body)
	if m == nil {
		c.t.Fatalf("%s has no nonce", formPath)
	}
	form.Set("nonce", m[1])
	return c.post(postPath, form)
}

// openCase opens a case directly in the store layer's terms (through the
// domain, as the system) and shares it with a user; requestID may be "".
func (h *harness) openCase(requestID string, shareWith int64) string {
	h.t.Helper()
	ctx := context.Background()
	c, err := h.cases.Open(ctx, h.admin.user, cases.OpenInput{RequestID: requestID,
		Sections: map[string]map[string]string{cases.ClassIdentity: {"name": "Test Person"}}})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.cases.Share(ctx, h.admin.user, c.ID, shareWith); err != nil {
		h.t.Fatal(err)
	}
	return c.ID
}
