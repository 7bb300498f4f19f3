package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/corridor-org/corridor/internal/keys"
)

// testKeyring wraps data keys with a fixed key, and can be "sealed".
type testKeyring struct {
	key    []byte
	sealed atomic.Bool
}

func newKeyring() *testKeyring { return &testKeyring{key: keys.NewKey()} }

func (k *testKeyring) Wrap(id string, dk []byte) ([]byte, error) {
	if k.sealed.Load() {
		return nil, keys.ErrSealed
	}
	return keys.Encrypt(k.key, dk, "upload-key", id)
}

func (k *testKeyring) Unwrap(id string, w []byte) ([]byte, error) {
	if k.sealed.Load() {
		return nil, keys.ErrSealed
	}
	return keys.Decrypt(k.key, w, "upload-key", id)
}

func newStore(t testing.TB, dir string, kr Keyring, opt Options) *Store {
	t.Helper()
	s, err := New(dir, kr, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// ingest records what OnComplete received.
type ingest struct {
	mu    sync.Mutex
	calls int
	sums  [][32]byte
	infos []Info
	fail  func(call int) error // error to return on a call (1-based)
}

func (g *ingest) onComplete(_ context.Context, id string, info Info, body io.Reader) error {
	h := sha256.New()
	_, err := io.Copy(h, body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if err != nil {
		return err
	}
	if g.fail != nil {
		if err := g.fail(g.calls); err != nil {
			return err
		}
	}
	if info.ID != id {
		return fmt.Errorf("info.ID %q, id %q", info.ID, id)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	g.sums = append(g.sums, sum)
	g.infos = append(g.infos, info)
	return nil
}

func (g *ingest) done() ([][32]byte, []Info, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][32]byte(nil), g.sums...), append([]Info(nil), g.infos...), g.calls
}

const (
	testBase  = "/evidence/uploads/"
	csrfToken = "t0k3n"
)

// testAuthorize mimics what the staff site does: a CSRF header on every
// request but HEAD and OPTIONS.
func testAuthorize(r *http.Request) error {
	if r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return nil
	}
	if r.Header.Get("X-CSRF-Token") != csrfToken {
		return errors.New("csrf")
	}
	return nil
}

func testOwner(r *http.Request) (string, error) {
	o := r.Header.Get("X-Test-Staff")
	if o == "" {
		return "", errors.New("no session")
	}
	return o, nil
}

// harness is a real HTTP server with the tus handler mounted.
type harness struct {
	t       *testing.T
	store   *Store
	srv     *httptest.Server
	ingest  *ingest
	patched chan struct{} // one value per PATCH request served
	reading chan struct{} // closed when a request marked X-Test-Signal is first read
}

// signalBody closes a channel on its first Read.
type signalBody struct {
	io.ReadCloser
	once *sync.Once
	ch   chan struct{}
}

func (b signalBody) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.ch) })
	return b.ReadCloser.Read(p)
}

func newHarness(t *testing.T, s *Store, mod func(*HandlerConfig)) *harness {
	t.Helper()
	g := &ingest{}
	cfg := HandlerConfig{
		BasePath:   testBase,
		Authorize:  testAuthorize,
		Owner:      testOwner,
		OnComplete: g.onComplete,
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := NewHandler(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{t: t, store: s, ingest: g, patched: make(chan struct{}, 1000), reading: make(chan struct{})}
	var once sync.Once
	mux := http.NewServeMux()
	mux.Handle(testBase, h)
	hs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if r.Header.Get("X-Test-Signal") != "" {
			r.Body = signalBody{ReadCloser: r.Body, once: &once, ch: hs.reading}
		}
		mux.ServeHTTP(w, r)
		if method == http.MethodPatch {
			hs.patched <- struct{}{}
		}
	}))
	t.Cleanup(hs.srv.Close)
	return hs
}

// client is a small tus 1.0.0 client for one staff member.
func (hs *harness) client(staff string) *tusClient {
	return &tusClient{t: hs.t, hs: hs, staff: staff}
}

type tusClient struct {
	t     *testing.T
	hs    *harness
	staff string
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) offset(t *testing.T) int64 {
	t.Helper()
	n, err := strconv.ParseInt(r.header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatalf("Upload-Offset %q (status %d, body %q)", r.header.Get("Upload-Offset"), r.status, r.body)
	}
	return n
}

func (c *tusClient) do(method, path string, hdr map[string]string, body []byte) reply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.hs.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("X-CSRF-Token", csrfToken)
	if c.staff != "" {
		req.Header.Set("X-Test-Staff", c.staff)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.hs.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		c.t.Errorf("%s %s: Cache-Control %q", method, path, cc)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func encodeMetadata(meta map[string]string) string {
	var parts []string
	for k, v := range meta {
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// create starts an upload and returns its path (resolved like a browser
// resolves Location).
func (c *tusClient) create(size int64, meta map[string]string) string {
	c.t.Helper()
	r := c.do(http.MethodPost, testBase, map[string]string{
		"Upload-Length":   strconv.FormatInt(size, 10),
		"Upload-Metadata": encodeMetadata(meta),
	}, nil)
	if r.status != http.StatusCreated {
		c.t.Fatalf("create: %d %q", r.status, r.body)
	}
	return c.location(r)
}

func (c *tusClient) location(r reply) string {
	c.t.Helper()
	loc := r.header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || u.IsAbs() || !strings.HasPrefix(u.Path, testBase) {
		c.t.Fatalf("Location %q: want a path under %s", loc, testBase)
	}
	return u.Path
}

func (c *tusClient) patch(path string, offset int64, data []byte) reply {
	c.t.Helper()
	return c.do(http.MethodPatch, path, map[string]string{
		"Content-Type":  "application/offset+octet-stream",
		"Upload-Offset": strconv.FormatInt(offset, 10),
	}, data)
}

func (c *tusClient) head(path string) reply {
	c.t.Helper()
	return c.do(http.MethodHead, path, nil, nil)
}

// send PATCHes data[from:] in chunks and returns the last reply.
func (c *tusClient) send(path string, data []byte, from int64, chunk int) reply {
	c.t.Helper()
	var r reply
	for off := from; off < int64(len(data)); {
		end := min(off+int64(chunk), int64(len(data)))
		r = c.patch(path, off, data[off:end])
		if r.status != http.StatusNoContent {
			return r
		}
		if got := r.offset(c.t); got != end {
			c.t.Fatalf("PATCH [%d,%d): offset %d", off, end, got)
		}
		off = end
	}
	return r
}

func idOf(path string) string { return strings.TrimPrefix(path, testBase) }
