package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/corridor-org/corridor/internal/cli"
)

// syncBuffer is an io.Writer that many goroutines may write to (the
// server's loggers, the HTTP servers) while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of everything written so far.
func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *syncBuffer) String() string { return string(b.Bytes()) }

// testPassphrase unseals every test installation. The data directory is
// initialised with --kdf test, so unsealing costs milliseconds.
const testPassphrase = "correct horse battery staple e2e"

// account is a staff member as `corridor init --json` and `corridor user
// add --json` print it, with the TOTP state a test needs to log in.
type account struct {
	ID         int64  `json:"id"`
	Username   string `json:"username"`
	Password   string `json:"password"`
	OTPAuthURI string `json:"otpauth_uri"`
	Role       string `json:"role"`

	totp *totpKey
}

// installation is an initialised data directory.
type installation struct {
	Root     string // everything the test made: Dir, the passphrase file, a TMPDIR
	Dir      string // the data directory
	PassFile string
	Admin    *account
	// InitOutput is what `corridor init` printed (stdout then stderr).
	InitOutput []byte
}

// runCorridor runs the corridor command in-process to completion, with an
// empty environment, and returns its exit status and output.
func runCorridor(args ...string) (code int, stdout, stderr []byte) {
	getenv := func(string) string { return "" }
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = cli.Main(ctx, args, &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: getenv})
	return code, out.Bytes(), errOut.Bytes()
}

// newInstallation makes a data directory with `corridor init --kdf test`
// and returns it with the first administrator's credentials.
func newInstallation(t testing.TB, adminName string) *installation {
	t.Helper()
	// Not t.TempDir: its name holds the test's name, and the data
	// directory's control socket must fit a Unix socket path (about 100
	// bytes; a longer one makes serve fail with "bind: invalid argument").
	root, err := os.MkdirTemp("", "corridor-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(root); err != nil {
			t.Errorf("removing %s: %v", root, err)
		}
	})
	in := &installation{
		Root:     root,
		Dir:      filepath.Join(root, "data"),
		PassFile: filepath.Join(root, "passphrase"),
	}
	if err := os.WriteFile(in.PassFile, []byte(testPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCorridor("init", "--data", in.Dir, "--passphrase-file", in.PassFile,
		"--admin", adminName, "--json", "--kdf", "test")
	if code != 0 {
		t.Fatalf("corridor init: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	in.InitOutput = append(bytes.Clone(stdout), stderr...)
	in.Admin = parseAccount(t, stdout)
	return in
}

func parseAccount(t testing.TB, jsonOut []byte) *account {
	t.Helper()
	var a account
	if err := json.Unmarshal(jsonOut, &a); err != nil {
		t.Fatalf("credentials JSON: %v\n%s", err, jsonOut)
	}
	if a.Username == "" || a.Password == "" || a.OTPAuthURI == "" {
		t.Fatalf("credentials JSON lacks a field: %s", jsonOut)
	}
	key, err := otp.NewKeyFromURL(a.OTPAuthURI)
	if err != nil {
		t.Fatalf("otpauth URI %q: %v", a.OTPAuthURI, err)
	}
	a.totp = &totpKey{secret: key.Secret()}
	return &a
}

// server is a running `corridor serve`.
type server struct {
	StaffURL  string
	PublicURL string
	// Stdout and Stderr are everything the server printed.
	Stdout, Stderr *syncBuffer

	cancel context.CancelFunc
	done   chan int
	once   sync.Once
	code   int
	t      testing.TB
}

var siteLine = regexp.MustCompile(`(?m)^\s*(staff|public) site:\s+(http://\S+)\s*$`)

// start runs `corridor serve` in-process on two free loopback ports, with
// the passphrase given through CORRIDOR_PASSPHRASE_FILE (the only variable
// in its environment) so that it starts unsealed, and waits until it
// prints both addresses. Stop it with stop; a cleanup does it too.
func (in *installation) start(t testing.TB, extraArgs ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--data", in.Dir,
		"--staff-listen", "127.0.0.1:0", "--public-listen", "127.0.0.1:0"}, extraArgs...)
	vars := map[string]string{"CORRIDOR_PASSPHRASE_FILE": in.PassFile}
	s := &server{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, done: make(chan int, 1), t: t}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		s.done <- cli.Main(ctx, args, &cli.Env{
			Stdin:  strings.NewReader(""),
			Stdout: s.Stdout,
			Stderr: s.Stderr,
			Getenv: func(k string) string { return vars[k] },
		})
	}()
	t.Cleanup(func() { s.stop() })

	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, m := range siteLine.FindAllStringSubmatch(s.Stdout.String(), -1) {
			if m[1] == "staff" {
				s.StaffURL = m[2]
			} else {
				s.PublicURL = m[2]
			}
		}
		if s.StaffURL != "" && s.PublicURL != "" {
			return s
		}
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("corridor serve exited with %d before it listened\nstdout:\n%s\nstderr:\n%s", code, s.Stdout, s.Stderr)
		case <-deadline:
			t.Fatalf("corridor serve printed no addresses in 30s\nstdout:\n%s\nstderr:\n%s", s.Stdout, s.Stderr)
		case <-tick.C:
		}
	}
}

// stop cancels the server's context and waits for cli.Main to return. It
// reports a non-zero exit status as a test error. Calling it again does
// nothing.
func (s *server) stop() {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.code = <-s.done:
		case <-time.After(20 * time.Second):
			s.t.Errorf("corridor serve did not stop within 20s of cancellation\nstderr:\n%s", s.Stderr)
			return
		}
		if s.code != 0 {
			s.t.Errorf("corridor serve exited with %d\nstderr:\n%s", s.code, s.Stderr)
		}
	})
}

// totpKey makes TOTP codes for one account. The server accepts each 30 s
// step once per account, and only steps after the last one used (within
// one step either side of now), so code hands out each step once, moving
// to the next step, or waiting for it, when the current one is spent.
type totpKey struct {
	mu     sync.Mutex
	secret string
	last   int64 // the last step handed out
}

const totpPeriod = 30

func (k *totpKey) code(t testing.TB) string {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now().Unix() / totpPeriod
	step := max(now, k.last+1)
	if step > now+1 {
		// Both the current and the next step are spent: wait until the
		// one after next is within the server's window.
		wait := time.Until(time.Unix((step-1)*totpPeriod, 0)) + 100*time.Millisecond
		time.Sleep(wait)
	}
	k.last = step
	c, err := totp.GenerateCodeCustom(k.secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// httpClient is a browser-like client for one person or staff member: a
// cookie jar of its own, redirects followed.
type httpClient struct {
	t    testing.TB
	base string
	jar  *cookiejar.Jar
	c    *http.Client
}

func newHTTPClient(t testing.TB, base string) *httpClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &httpClient{t: t, base: base, jar: jar, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// webPage is a fetched page after redirects.
type webPage struct {
	Status int
	URL    string // the final URL
	Body   string
	Header http.Header
	// SetCookie holds every Set-Cookie header on the way, redirects
	// included.
	SetCookie []string
}

func (h *httpClient) do(req *http.Request) *webPage {
	h.t.Helper()
	var setCookie []string
	c := *h.c
	c.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return fmt.Errorf("too many redirects")
		}
		setCookie = append(setCookie, r.Response.Header.Values("Set-Cookie")...)
		return nil
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	setCookie = append(setCookie, resp.Header.Values("Set-Cookie")...)
	return &webPage{Status: resp.StatusCode, URL: resp.Request.URL.String(), Body: string(body), Header: resp.Header, SetCookie: setCookie}
}

func (h *httpClient) get(path string) *webPage {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

func (h *httpClient) post(path string, form url.Values) *webPage {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(req)
}

// mustStatus fails the test unless p has the wanted status.
func (p *webPage) mustStatus(t testing.TB, want int, what string) *webPage {
	t.Helper()
	if p.Status != want {
		t.Fatalf("%s: status %d at %s, want %d\n%s", what, p.Status, p.URL, want, p.Body)
	}
	return p
}

// cookies returns the names of the cookies the client holds for its site.
func (h *httpClient) cookies() []string {
	u, err := url.Parse(h.base + "/")
	if err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, c := range h.jar.Cookies(u) {
		names = append(names, c.Name)
	}
	return names
}

var csrfInput = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]*)">`)

// csrf returns the first CSRF token in a page's forms.
func (p *webPage) csrf(t testing.TB) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no csrf input in %s:\n%s", p.URL, p.Body)
	}
	return html.UnescapeString(m[1])
}

// find returns the first submatch of re in the page, unescaped.
func (p *webPage) find(t testing.TB, re *regexp.Regexp, what string) string {
	t.Helper()
	m := re.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no %s in %s:\n%s", what, p.URL, p.Body)
	}
	return html.UnescapeString(m[1])
}

// login logs a staff member in over HTTP. A user whose password must be
// changed (a new account) changes it to newPassword, which becomes the
// account's password.
func (a *account) login(t testing.TB, staffURL, newPassword string) *httpClient {
	t.Helper()
	h := newHTTPClient(t, staffURL)
	form := h.get("/login").mustStatus(t, http.StatusOK, "login form")
	p := h.post("/login", url.Values{
		"csrf": {form.csrf(t)}, "username": {a.Username}, "password": {a.Password}, "code": {a.totp.code(t)},
	}).mustStatus(t, http.StatusOK, "log in as "+a.Username)
	if strings.HasSuffix(p.URL, "/account") {
		if newPassword == "" {
			t.Fatalf("%s must change the password, and no new one was given", a.Username)
		}
		p = h.post("/account/password", url.Values{
			"csrf": {p.csrf(t)}, "old": {a.Password}, "new": {newPassword}, "new2": {newPassword},
		}).mustStatus(t, http.StatusOK, "change "+a.Username+"'s password")
		if !strings.Contains(p.URL, "changed=1") {
			t.Fatalf("password change landed on %s:\n%s", p.URL, p.Body)
		}
		a.Password = newPassword
	}
	return h
}

var nonceInput = regexp.MustCompile(`name="nonce" value="([^"]+)"`)

// nonce returns the page's one-time form token.
func (p *webPage) nonce(t testing.TB) string {
	t.Helper()
	return p.find(t, nonceInput, "one-time form token")
}
