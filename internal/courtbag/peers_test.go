package courtbag

// A bag made with real peers — litewitness (filippo.io/torchwood, a
// tlog-witness) and sigstore's timestamp-server (an RFC 3161 authority) —
// checked with corridor verify and with the standard tools its README
// names: sha256sum, sh and openssl, spicy (torchwood's tlog-proof
// verifier). .ci/peers builds the peers into $CORRIDOR_PEERS_DIR; without
// them the test skips, unless CORRIDOR_REQUIRE_PEERS=1, when it fails.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/mod/sumdb/note"

	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/translog"
)

// peer finds a binary in $CORRIDOR_PEERS_DIR (default
// ~/.cache/corridor-peers) or PATH.
func peer(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("CORRIDOR_PEERS_DIR")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "corridor-peers")
		}
	}
	if dir != "" {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
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

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// process runs a peer until the test ends; its output is shown if the
// test fails.
func process(t *testing.T, name string, args ...string) <-chan struct{} {
	t.Helper()
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = lockedWriter{&mu, &out}
	cmd.Stderr = lockedWriter{&mu, &out}
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			mu.Lock()
			t.Logf("%s output:\n%s", filepath.Base(name), out.String())
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

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string, exited <-chan struct{}) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
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

// startLitewitness runs litewitness as witness name, trusting the log
// (origin, vkey). Its key is held by an in-process ssh-agent; the log is
// registered in its database as witnessctl add-log and add-key would.
func startLitewitness(t *testing.T, name, origin, logKey string) translog.Witness {
	t.Helper()
	bin := peer(t, "litewitness")
	dir := t.TempDir()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	keyring := agent.NewKeyring()
	must(t, keyring.Add(agent.AddedKey{PrivateKey: priv}))
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	must(t, err)
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
	must(t, err)
	dbPath := filepath.Join(dir, "litewitness.db")
	db, err := sql.Open("sqlite", dbPath)
	must(t, err)
	empty := sha256.Sum256(nil)
	for _, q := range []string{
		`CREATE TABLE log (origin TEXT PRIMARY KEY, tree_size INTEGER NOT NULL, tree_hash TEXT NOT NULL)`,
		`CREATE TABLE key (origin TEXT NOT NULL, key TEXT NOT NULL, FOREIGN KEY(origin) REFERENCES log(origin))`,
	} {
		_, err := db.Exec(q)
		must(t, err)
	}
	_, err = db.Exec(`INSERT INTO log VALUES (?, 0, ?)`, origin, base64.StdEncoding.EncodeToString(empty[:]))
	must(t, err)
	_, err = db.Exec(`INSERT INTO key VALUES (?, ?)`, origin, logKey)
	must(t, err)
	db.Close()
	addr := freePort(t)
	exited := process(t, bin, "-db", dbPath, "-name", name, "-ssh-agent", sock,
		"-key", ssh.FingerprintSHA256(sshPub), "-listen", addr)
	waitHTTP(t, "http://"+addr+"/", exited)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	must(t, err)
	return translog.Witness{Name: name, VerifierKey: vkey, URL: "http://" + addr}
}

// startTimestampServer runs sigstore's timestamp-server; it returns its
// URL and its root certificate (PEM). It binds the metrics port 2112, so
// only one runs at a time.
func startTimestampServer(t *testing.T) (string, []byte) {
	t.Helper()
	bin := peer(t, "timestamp-server")
	lockTimestampServerPort(t)
	addr := freePort(t)
	host, port, _ := net.SplitHostPort(addr)
	exited := process(t, bin, "serve", "--host", host, "--port", port,
		"--disable-ntp-monitoring", "--timestamp-signer", "memory", "--log-type", "prod", "--include-chain-in-response")
	url := "http://" + addr + "/api/v1/timestamp"
	chain := waitHTTP(t, url+"/certchain", exited)
	var last []byte
	for rest := chain; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		last = pem.EncodeToMemory(b)
	}
	if last == nil {
		t.Fatal("timestamp-server served no certificate chain")
	}
	return url, last
}

// TestWithPeers exports with a real witness and timestamp authority, then
// checks the bag as its README tells a court to: every command the README
// gives is run here as it is written there.
func TestWithPeers(t *testing.T) {
	for _, tool := range []string{"sh", "sha256sum", "openssl", "xxd", "find", "diff"} {
		peer(t, tool)
	}
	spicy := peer(t, "spicy")
	f := newFixture(t, fixtureOpts{noWitness: true, noTSA: true, noLog: true})
	w := startLitewitness(t, "witness.partner.test", testOrigin, f.keys.LogKey)
	tsaURL, tsaRoot := startTimestampServer(t)
	f.logCfg.Witnesses, f.logCfg.WitnessesRequired = []translog.Witness{w}, 1
	f.logCfg.TSAURL = tsaURL
	f.keys.Witnesses = Witnesses{Required: 1, Keys: []string{w.VerifierKey}}
	f.keys.TSARoots = tsaRoot
	var err error
	f.log, err = translog.Open(f.ctx, f.logCfg)
	must(t, err)
	defer f.log.Close()

	photo := f.add("photo.png", testPNG(t))
	gone := f.add("gone.txt", []byte("to be destroyed"))
	must(t, f.svc.SetConsent(f.ctx, f.admin, photo, store.ConsentCourt))
	must(t, f.svc.Destroy(f.ctx, f.admin, gone))
	must(t, f.integrate(f.ctx))
	f.awaitStamp(f.logged() - 1)
	dir := filepath.Join(t.TempDir(), "bag")
	sum, err := Export(f.ctx, f.options(dir, evidence.Selection{All: true}))
	must(t, err)
	if sum.Timestamps == 0 || sum.Checkpoints < 2 {
		t.Fatalf("summary %+v", sum)
	}
	if r := verify(t, dir, Trust{}); !r.OK() || len(r.Stamps) == 0 {
		t.Fatalf("bag made with real peers:\n%s", report(r))
	}

	readme := string(readIn(t, dir, readmeName))
	sizes := checkpointSizes(t, dir)
	rec, err := parseRecord(readIn(t, dir, "data/items/"+photo+"/record.json"))
	must(t, err)
	var stamped uint64
	for _, s := range sizes {
		if fileExists(filepath.Join(dir, "data", checkpointPath(s, tokenExt))) && (stamped == 0 || s < stamped) {
			stamped = s
		}
	}
	// sh runs a README command in the bag and returns its output; the
	// command must be in the README as it is written here.
	sh := func(readmeLine, cmd string, fill ...string) string {
		t.Helper()
		if !strings.Contains(readme, readmeLine) {
			t.Fatalf("the README no longer says %q", readmeLine)
		}
		c := exec.Command("sh", "-c", strings.NewReplacer(fill...).Replace(cmd))
		c.Dir = dir
		c.Env = append(os.Environ(), "PATH="+filepath.Dir(spicy)+":"+os.Getenv("PATH"), "TMPDIR="+t.TempDir())
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	tmp := t.TempDir()
	at := strings.NewReplacer("/tmp/", tmp+"/")

	if out := sh("sha256sum -c manifest-sha256.txt", "sha256sum -c manifest-sha256.txt"); strings.Contains(out, "FAILED") {
		t.Error(out)
	}
	sh("sha256sum -c tagmanifest-sha256.txt", "sha256sum -c tagmanifest-sha256.txt")
	files := "find data -type f | sort > /tmp/files\n  cut -c67- manifest-sha256.txt | sort | diff - /tmp/files"
	if out := sh(files, at.Replace(strings.ReplaceAll(files, "\n  ", "; "))); out != "" {
		t.Errorf("files not in the manifest: %s", out)
	}

	hash := sh("sha256sum data/items/"+photo+"/original.png", "sha256sum data/items/"+photo+"/original.png")
	if !strings.HasPrefix(hash, rec.Original.SHA256+" ") {
		t.Errorf("sha256sum says %s, the record %s", hash, rec.Original.SHA256)
	}
	commit := "printf '%s%s' SALT SHA256 | xxd -r -p | sha256sum"
	if out := sh(commit, commit, "SALT", rec.Original.Salt, "SHA256", rec.Original.SHA256); !strings.HasPrefix(out, rec.Commitment+" ") {
		t.Errorf("the README's commitment recipe gives %s, the record says %s", out, rec.Commitment)
	}
	grep := "grep '^commitment' data/items/" + photo + "/*.event"
	if out := sh(grep, grep); strings.Count(out, rec.Commitment) != 3 {
		t.Errorf("events' commitments:\n%s", out)
	}
	chain := "sha256sum data/items/ID/1.event    must equal \"prev\" in 2.event"
	first := sh(chain, "sha256sum data/items/"+photo+"/1.event")
	if second := string(readIn(t, dir, "data/items/"+photo+"/2.event")); !strings.Contains(second, "prev "+first[:64]+"\n") {
		t.Errorf("the chain recipe: %s is not prev of event 2:\n%s", first[:64], second)
	}

	spicyCmd := "mkdir /tmp/check\n  cp data/items/ID/N.event /tmp/check/event\n  tail -n +2 data/items/ID/N.tlog-proof > /tmp/check/event.spicy\n  spicy -verify \"$(cat keys/log.vkey)\" /tmp/check/event"
	for n := 1; n <= 3; n++ {
		must(t, os.RemoveAll(filepath.Join(tmp, "check")))
		sh(spicyCmd, at.Replace(strings.ReplaceAll(spicyCmd, "\n  ", " && ")), "ID", photo, "N", fmt.Sprint(n))
	}

	cpCmd := fmt.Sprintf("sh tools/verify-checkpoint.sh data/log/checkpoints/%d.checkpoint \\\n    \"$(cat keys/log.vkey)\" $(sed -n 's/^witness //p' keys/witnesses.txt)", sizes[len(sizes)-1])
	for _, s := range sizes {
		out := sh(cpCmd, strings.ReplaceAll(cpCmd, fmt.Sprintf("/%d.checkpoint", sizes[len(sizes)-1]), fmt.Sprintf("/%d.checkpoint", s)))
		if !strings.Contains(out, "cosignature by "+w.Name+" OK") {
			t.Errorf("verify-checkpoint.sh on checkpoint %d:\n%s", s, out)
		}
	}

	tsCmd := fmt.Sprintf("openssl ts -verify -token_in -in data/log/checkpoints/%d.tst \\\n    -data data/log/checkpoints/%d.checkpoint -CAfile keys/tsa-roots.pem", stamped, stamped)
	if out := sh(tsCmd, tsCmd); !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify:\n%s", out)
	}
	tsText := fmt.Sprintf("openssl ts -reply -token_in -in data/log/checkpoints/%d.tst -text", stamped)
	if out := sh(tsText, tsText); !strings.Contains(out, "Time stamp:") {
		t.Errorf("openssl ts -reply -text:\n%s", out)
	}
}

// lockTimestampServerPort holds, until the test ends, an exclusive lock
// that every package's tests take before starting a timestamp-server: it
// always binds the metrics port 2112, and `go test ./...` runs packages in
// parallel. The cleanup (run after the server's, which was registered
// later) releases it.
func lockTimestampServerPort(t *testing.T) {
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
