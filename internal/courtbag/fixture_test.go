package courtbag

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/digitorus/timestamp"
	f_note "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/blob"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/sqlite"
	"github.com/corridor-org/corridor/internal/translog"
)

const testOrigin = "corridor.test/evidence"

// fixture is a real data directory (SQLite, blobs, an unsealed vault, a
// custodian) with a real tessera log, witnessed by an in-process
// tlog-witness and timestamped by an in-process RFC 3161 authority, both
// spoken to over HTTP.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	dir     string
	st      *sqlite.DB
	svc     *evidence.Service
	admin   *store.User
	custKey *age.X25519Identity
	signer  note.Signer
	logCfg  translog.Config
	log     *translog.Log
	keys    Keys
	witness *fakeWitness
	ca      *testAuthority
}

type fixtureOpts struct {
	noWitness, noTSA bool
	noLog            bool // the test runs the log itself
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{t: t, ctx: ctx, dir: t.TempDir()}
	st, err := sqlite.Open(ctx, filepath.Join(f.dir, "corridor.db"))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	f.st = st
	vault, err := keys.Open(ctx, st, time.Now)
	must(t, err)
	must(t, vault.Initialise(ctx, st, []byte("passphrase"), keys.TestKDF, keys.TestKDF))
	blobs, err := blob.NewFS(filepath.Join(f.dir, "evidence"))
	must(t, err)
	a := audit.New(st, time.Now)
	f.svc = evidence.New(st, vault, a, blobs, cases.New(st, vault, a, nil, nil, time.Now), evidence.Config{})
	f.admin = &store.User{UsernameIndex: []byte{1}, Username: []byte("ciphertext"), Role: store.RoleAdmin, PasswordHash: "x", CreatedAt: time.Now()}
	must(t, st.CreateUser(ctx, f.admin))
	f.custKey, _ = age.GenerateX25519Identity()
	_, err = f.svc.AddCustodian(ctx, nil, "Custodian", f.custKey.Recipient().String())
	must(t, err)

	seed, err := vault.LogSeed()
	must(t, err)
	f.signer, err = translog.NewSigner(testOrigin, seed)
	must(t, err)
	f.keys.LogKey, err = translog.VerifierKey(testOrigin, seed)
	must(t, err)
	f.logCfg = translog.Config{Dir: filepath.Join(f.dir, "log"), Origin: testOrigin, Signer: f.signer,
		CheckpointInterval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	if !o.noWitness {
		f.witness = newFakeWitness(t, "witness.test/w1", f.keys.LogKey)
		f.logCfg.Witnesses = []translog.Witness{f.witness.w}
		f.logCfg.WitnessesRequired = 1
		f.keys.Witnesses = Witnesses{Required: 1, Keys: []string{f.witness.w.VerifierKey}}
	}
	if !o.noTSA {
		f.ca = newTestAuthority(t)
		f.logCfg.TSAURL = f.ca.serve(t)
		f.logCfg.TSARoots = f.ca.roots()
		f.keys.TSARoots = f.ca.rootPEM()
	}
	if !o.noLog {
		f.log, err = translog.Open(ctx, f.logCfg)
		must(t, err)
		t.Cleanup(func() { f.log.Close() })
	}
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// add imports data as a command-line import would.
func (f *fixture) add(name string, data []byte) string {
	f.t.Helper()
	in, err := f.svc.Import(f.ctx, evidence.Input{Filename: name}, bytes.NewReader(data))
	must(f.t, err)
	return in.ID
}

func (f *fixture) integrate(ctx context.Context) error {
	_, err := f.log.Integrate(ctx, storeSource{f.st})
	return err
}

// awaitStamp waits until a timestamped checkpoint covers the log entry at
// index.
func (f *fixture) awaitStamp(index uint64) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	for {
		_, _, _, err := f.log.TimestampCovering(ctx, index)
		if err == nil {
			return
		}
		if !errors.Is(err, translog.ErrNoTimestamp) {
			f.t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			f.t.Fatal("no timestamp in time")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logged returns the number of events the store records as logged.
func (f *fixture) logged() uint64 {
	f.t.Helper()
	n, err := f.st.OutboxLoggedCount(f.ctx)
	must(f.t, err)
	return n
}

// entries returns every logged entry, by log index.
func (f *fixture) entries() [][]byte {
	f.t.Helper()
	items, err := f.st.ListEvidence(f.ctx, store.EvidenceFilter{})
	must(f.t, err)
	out := make([][]byte, f.logged())
	for _, it := range items {
		es, err := f.st.CustodyEvents(f.ctx, it.ID)
		must(f.t, err)
		for _, e := range es {
			if e.Logged {
				out[e.LogIndex] = e.Entry
			}
		}
	}
	return out
}

func (f *fixture) options(dir string, sel evidence.Selection) Options {
	f.t.Helper()
	items, err := f.svc.ExportItems(f.ctx, sel)
	must(f.t, err)
	return Options{Dir: dir, Items: items, Identities: []age.Identity{f.custKey}, Vault: f.svc, Log: f.log,
		Sync: f.integrate, Keys: f.keys, Organisation: "Test Organisation", Wait: time.Minute}
}

// storeSource is the store's outbox as the log's source (as
// internal/cli's logSource).
type storeSource struct{ st store.Store }

func (s storeSource) Pending(ctx context.Context, max int) ([]translog.Pending, error) {
	es, err := s.st.OutboxPending(ctx, max)
	out := make([]translog.Pending, len(es))
	for i, e := range es {
		out[i] = translog.Pending{Seq: e.Seq, Entry: e.Entry}
	}
	return out, err
}

func (s storeSource) Logged(ctx context.Context, seq int64, index uint64) error {
	return s.st.OutboxDone(ctx, seq, index)
}

func (s storeSource) LoggedCount(ctx context.Context) (uint64, error) {
	return s.st.OutboxLoggedCount(ctx)
}

// memSource is a log source of given entries, for a second log.
type memSource struct {
	mu      sync.Mutex
	pending []translog.Pending
	done    uint64
}

func newMemSource(entries [][]byte) *memSource {
	s := &memSource{}
	for i, e := range entries {
		s.pending = append(s.pending, translog.Pending{Seq: int64(i + 1), Entry: e})
	}
	return s
}

func (s *memSource) Pending(_ context.Context, max int) ([]translog.Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.pending[:min(max, len(s.pending))]), nil
}

func (s *memSource) Logged(_ context.Context, seq int64, _ uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.pending, func(p translog.Pending) bool { return p.Seq == seq })
	if i < 0 {
		return store.ErrNotFound
	}
	s.pending = slices.Delete(s.pending, i, i+1)
	s.done++
	return nil
}

func (s *memSource) LoggedCount(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done, nil
}

// fakeWitness is a minimal tlog-witness (c2sp.org/tlog-witness): it
// checks the log's signature and the old size, and cosigns. Unlike a real
// witness it does not check consistency, so two of them with one key can
// cosign two forks: what a court must still catch.
type fakeWitness struct {
	w      translog.Witness
	skey   string
	mu     sync.Mutex
	size   uint64
	signer *f_note.Signer
	log    note.Verifier
}

func newFakeWitness(t testing.TB, name, logKey string) *fakeWitness {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	must(t, err)
	return newFakeWitnessWithKey(t, skey, vkey, logKey)
}

func newFakeWitnessWithKey(t testing.TB, skey, vkey, logKey string) *fakeWitness {
	t.Helper()
	signer, err := f_note.NewSignerForCosignatureV1(skey)
	must(t, err)
	logV, err := note.NewVerifier(logKey)
	must(t, err)
	fw := &fakeWitness{signer: signer, log: logV}
	srv := httptest.NewServer(http.HandlerFunc(fw.serve))
	t.Cleanup(srv.Close)
	fw.w = translog.Witness{Name: signer.Name(), VerifierKey: vkey, URL: srv.URL + "/add-checkpoint"}
	fw.skey = skey
	return fw
}

func (fw *fakeWitness) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	first, _, _ := bytes.Cut(head, []byte("\n"))
	old, err := strconv.ParseUint(strings.TrimPrefix(string(first), "old "), 10, 64)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	n, err := note.Open(cp, note.VerifierList(fw.log))
	if err != nil {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if old != fw.size {
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", fw.size)
		return
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, fw.signer)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	fw.size = size
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	w.Write(sigs)
}

// testAuthority is an in-process RFC 3161 authority: a root and a
// time-stamping leaf.
type testAuthority struct {
	root    *x509.Certificate
	leaf    *x509.Certificate
	leafKey crypto.Signer
}

func newTestAuthority(t testing.TB) *testAuthority {
	t.Helper()
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test TSA Root"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	must(t, err)
	root, _ := x509.ParseCertificate(rootDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test TSA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, leafKey.Public(), rootKey)
	must(t, err)
	leaf, _ := x509.ParseCertificate(leafDER)
	return &testAuthority{root: root, leaf: leaf, leafKey: leafKey}
}

func (a *testAuthority) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.root)
	return p
}

func (a *testAuthority) rootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.root.Raw})
}

// token is a token over data, for tests that forge one.
func (a *testAuthority) token(t testing.TB, digest []byte) []byte {
	t.Helper()
	ts := timestamp.Timestamp{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Time: time.Now(),
		Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, AddTSACertificate: true}
	resp, err := ts.CreateResponseWithOpts(a.leaf, a.leafKey, crypto.SHA256)
	must(t, err)
	parsed, err := timestamp.ParseResponse(resp)
	must(t, err)
	return parsed.RawToken
}

// serve runs the authority as an RFC 3161 HTTP endpoint and returns its URL.
func (a *testAuthority) serve(t testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Time: time.Now(),
			Nonce: req.Nonce, Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, AddTSACertificate: req.Certificates}
		resp, err := ts.CreateResponseWithOpts(a.leaf, a.leafKey, crypto.SHA256)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
