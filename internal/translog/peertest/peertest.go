// Package peertest runs the transparency log's real protocol peers for
// tests: litewitness (a tlog-witness) and sigstore's timestamp-server (an
// RFC 3161 authority), built by .ci/peers. Only tests import it.
//
// A peer that is not installed skips the test, unless
// CORRIDOR_REQUIRE_PEERS=1 (as in CI), when it fails it.
package peertest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/mod/sumdb/note"

	_ "modernc.org/sqlite" // litewitness's database
)

// Find returns the path of a peer binary (or any tool) from
// $CORRIDOR_PEERS_DIR (default ~/.cache/corridor-peers) or PATH.
func Find(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("CORRIDOR_PEERS_DIR")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "corridor-peers")
		}
	}
	if dir != "" {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && !fi.IsDir() {
			return filepath.Join(dir, name)
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CORRIDOR_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s not found in %s or PATH (run .ci/peers)", name, dir)
	}
	t.Skipf("%s not found in %s or PATH (run .ci/peers)", name, dir)
	return ""
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Run runs bin until the test ends (it is killed with the test binary
// too); its output is shown if the test fails. The channel closes when it
// exits.
func Run(t testing.TB, bin string, args ...string) <-chan struct{} {
	t.Helper()
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = lockedWriter{&mu, &out}
	cmd.Stderr = lockedWriter{&mu, &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			mu.Lock()
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
			mu.Unlock()
		}
	})
	return done
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// WaitHTTP polls url until it answers 200 and returns the body; it fails
// the test if the peer exits first or a minute passes.
func WaitHTTP(t testing.TB, url string, exited <-chan struct{}) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return b
			}
		}
		select {
		case <-exited:
			t.Fatalf("peer exited before serving %s", url)
		case <-ctx.Done():
			t.Fatalf("peer did not serve %s in time", url)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Witness is a running litewitness: its key name, vkey and submission URL.
type Witness struct{ Name, VerifierKey, URL string }

// StartLitewitness runs litewitness as witness name, trusting the log with
// this origin and vkey. Its Ed25519 key is held by an in-process ssh-agent
// (litewitness takes keys only from an agent); the log is registered in
// its SQLite database as `witnessctl add-log` and `add-key` would
// (witnessctl itself cannot be built here).
func StartLitewitness(t testing.TB, name, origin, logKey string) Witness {
	t.Helper()
	bin := Find(t, "litewitness")
	dir := t.TempDir()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	check(err)
	keyring := agent.NewKeyring()
	check(keyring.Add(agent.AddedKey{PrivateKey: priv}))
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	check(err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	sshPub, err := ssh.NewPublicKey(pub)
	check(err)

	dbPath := filepath.Join(dir, "litewitness.db")
	db, err := sql.Open("sqlite", dbPath)
	check(err)
	empty := sha256.Sum256(nil)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`CREATE TABLE log (origin TEXT PRIMARY KEY, tree_size INTEGER NOT NULL, tree_hash TEXT NOT NULL)`, nil},
		{`CREATE TABLE key (origin TEXT NOT NULL, key TEXT NOT NULL, FOREIGN KEY(origin) REFERENCES log(origin))`, nil},
		{`INSERT INTO log VALUES (?, 0, ?)`, []any{origin, base64.StdEncoding.EncodeToString(empty[:])}},
		{`INSERT INTO key VALUES (?, ?)`, []any{origin, logKey}},
	} {
		_, err := db.Exec(q.sql, q.args...)
		check(err)
	}
	db.Close()

	addr := FreeAddr(t)
	exited := Run(t, bin, "-db", dbPath, "-name", name, "-ssh-agent", sock,
		"-key", ssh.FingerprintSHA256(sshPub), "-listen", addr)
	WaitHTTP(t, "http://"+addr+"/", exited)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	check(err)
	return Witness{Name: name, VerifierKey: vkey, URL: "http://" + addr}
}

// TSA is a running timestamp-server.
type TSA struct {
	URL     string              // the RFC 3161 endpoint
	Chain   []*x509.Certificate // leaf first, root last
	Roots   *x509.CertPool      // the root
	RootPEM []byte              // the root, PEM-encoded
}

// StartTimestampServer runs sigstore's timestamp-server with an in-memory
// signer; its tokens carry the whole chain, so that they verify offline
// with only the root. It always also binds the metrics port 2112, so the
// test holds a lock (across test binaries: `go test ./...` runs packages
// in parallel) for as long as the server runs.
func StartTimestampServer(t testing.TB) *TSA {
	t.Helper()
	bin := Find(t, "timestamp-server")
	lockPort2112(t)
	addr := FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	exited := Run(t, bin, "serve", "--host", host, "--port", port,
		"--disable-ntp-monitoring", "--timestamp-signer", "memory", "--log-type", "prod",
		"--include-chain-in-response")
	ts := &TSA{URL: "http://" + addr + "/api/v1/timestamp", Roots: x509.NewCertPool()}
	chainPEM := WaitHTTP(t, ts.URL+"/certchain", exited)
	for rest := chainPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		ts.Chain = append(ts.Chain, c)
		ts.RootPEM = pem.EncodeToMemory(b)
	}
	if len(ts.Chain) == 0 {
		t.Fatal("timestamp-server served no certificate chain")
	}
	ts.Roots.AddCert(ts.Chain[len(ts.Chain)-1])
	return ts
}

// lockPort2112 takes the lock every timestamp-server start holds; the
// cleanup, which runs after the server's (registered later), releases it.
func lockPort2112(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "corridor-timestamp-server.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}
