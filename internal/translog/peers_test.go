package translog

// Tests against real peers run locally: litewitness (filippo.io/torchwood,
// a tlog-witness) and sigstore's timestamp-server (an RFC 3161 authority).
// .ci/peers builds them into $CORRIDOR_PEERS_DIR; without them these tests
// skip, unless CORRIDOR_REQUIRE_PEERS=1, when they fail.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/translog/peertest"
)

// startWitness runs a real litewitness as witness name, trusting the
// test log.
func startWitness(t *testing.T, name string) Witness {
	t.Helper()
	return Witness(peertest.StartLitewitness(t, name, testOrigin, mustVKey(t, testOrigin, testSeed(7))))
}

// TestWitnessesAndTimestamps runs the log with two real witnesses, both
// required, and a real timestamp authority.
func TestWitnessesAndTimestamps(t *testing.T) {
	w1 := startWitness(t, "w1.corridor.test")
	w2 := startWitness(t, "w2.corridor.test")
	ts := peertest.StartTimestampServer(t)
	ctx := t.Context()
	wait, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Witnesses = []Witness{w1, w2}
	cfg.WitnessesRequired = 2
	cfg.TSAURL = ts.URL
	cfg.TSARoots = ts.Roots
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	l := openLog(t, cfg)
	policy := testPolicy(t, []string{w1.VerifierKey, w2.VerifierKey}, 2)

	src := newMemSource()
	for i := range 50 {
		src.add(entry(i))
	}
	if _, err := l.Integrate(ctx, src); err != nil {
		t.Fatal(err)
	}
	raw, err := l.AwaitCheckpoint(wait, 50)
	if err != nil {
		t.Fatal(err)
	}
	cp1, err := VerifyCheckpoint(raw, policy)
	if err != nil {
		t.Fatalf("checkpoint with two witnesses required: %v\n%s", err, raw)
	}
	if len(cp1.Cosigners) != 2 {
		t.Errorf("cosigners %v", cp1.Cosigners)
	}
	pr, err := l.Proof(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := VerifyProof(pr, entry(7), policy); err != nil {
		t.Errorf("receipt does not verify with two witnesses required: %v", err)
	}

	// Timestamps: wait for the first one covering entry 49.
	var size uint64
	var tsCP, token []byte
	for {
		size, tsCP, token, err = l.TimestampCovering(ctx, 49)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNoTimestamp) {
			t.Fatal(err)
		}
		select {
		case <-wait.Done():
			t.Fatal("no timestamp stored in time")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if size < 50 {
		t.Fatalf("timestamp covering entry 49 is for size %d", size)
	}
	when, err := VerifyTimestamp(token, tsCP, ts.Roots)
	if err != nil {
		t.Fatalf("VerifyTimestamp: %v", err)
	}
	if d := time.Since(when); d < -time.Minute || d > 10*time.Minute {
		t.Errorf("timestamp says %v", when)
	}
	if _, err := VerifyCheckpoint(tsCP, policy); err != nil {
		t.Errorf("timestamped checkpoint: %v", err)
	}
	bad := bytes.Clone(tsCP)
	bad[0] ^= 1
	if _, err := VerifyTimestamp(token, bad, ts.Roots); !errors.Is(err, ErrVerify) {
		t.Errorf("token verified for another checkpoint: %v", err)
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(testCA(t).cert)
	if _, err := VerifyTimestamp(token, tsCP, otherRoots); !errors.Is(err, ErrVerify) {
		t.Errorf("token verified against another authority: %v", err)
	}
	if _, err := VerifyTimestamp(token, tsCP, nil); err == nil {
		t.Error("token verified without roots")
	}
	// A receipt against exactly the timestamped checkpoint.
	pr, err = l.ProofAt(ctx, 49, tsCP)
	if err != nil {
		t.Fatal(err)
	}
	if _, c, err := VerifyProof(pr, entry(49), policy); err != nil || !bytes.Equal(c.Raw, tsCP) {
		t.Fatalf("receipt against the timestamped checkpoint: %v", err)
	}
	opensslVerify(t, token, tsCP, ts.Chain)
	// The log's signature and both cosignatures, with sh and openssl.
	if out, err := checkWithScript(t, tsCP, mustVKey(t, testOrigin, testSeed(7)), w1.VerifierKey, w2.VerifierKey); err != nil {
		t.Errorf("verify-checkpoint.sh: %v\n%s", err, out)
	} else if !strings.Contains(out, "cosignature by "+w2.Name+" OK") {
		t.Errorf("verify-checkpoint.sh said:\n%s", out)
	}
	spicyVerify(t, l, 49, entry(49))

	// Served for anyone.
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	for path, want := range map[string][]byte{
		fmt.Sprintf("/timestamp/%d", size):            token,
		fmt.Sprintf("/timestamp/%d.checkpoint", size): tsCP,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(b, want) {
			t.Errorf("GET %s: %s, %d bytes", path, resp.Status, len(b))
		}
		if got := resp.Header.Get("Cache-Control"); got != cacheImmutable {
			t.Errorf("GET %s: Cache-Control %q", path, got)
		}
	}

	// Grow the log: the witnesses check consistency from what they saw.
	for i := 50; i < 400; i++ {
		src.add(entry(i))
	}
	if _, err := l.Integrate(ctx, src); err != nil {
		t.Fatal(err)
	}
	raw, err = l.AwaitCheckpoint(wait, 400)
	if err != nil {
		t.Fatal(err)
	}
	cp2, err := VerifyCheckpoint(raw, policy)
	if err != nil {
		t.Fatalf("grown checkpoint: %v", err)
	}
	cons, err := l.Consistency(ctx, cp1.Size, cp2.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyConsistency(cp1, cp2, cons); err != nil {
		t.Fatal(err)
	}

	// A fork of what the witnesses saw: same size, another tree, signed
	// with the log's own key. A real witness refuses to cosign it.
	fork := signCheckpoint(t, testSigner(t), testOrigin, cp2.Size, sha256.Sum256([]byte("fork")))
	body := fmt.Sprintf("old %d\n\n%s", cp2.Size, fork)
	resp, err := http.Post(w1.URL+"/add-checkpoint", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// tlog-witness says 409 for a different root at the same size;
	// litewitness v0.6.1 answers 422 (bad consistency proof). Either way
	// it must not cosign.
	if resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("witness answered %s to a forked checkpoint, want a refusal", resp.Status)
	}

	// Restart: witnessing goes on from the published checkpoint.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, cfg)
	for i := 400; i < 420; i++ {
		src.add(entry(i))
	}
	if _, err := l.Integrate(ctx, src); err != nil {
		t.Fatal(err)
	}
	raw, err = l.AwaitCheckpoint(wait, 420)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := VerifyCheckpoint(raw, policy); err != nil || len(c.Cosigners) != 2 {
		t.Fatalf("checkpoint after restart: %v", err)
	}
	checkLog(t, l, src)
}

// opensslVerify checks the token the way the documentation tells a court
// to: `openssl ts -verify`.
func opensslVerify(t *testing.T, token, checkpoint []byte, chain []*x509.Certificate) {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CORRIDOR_REQUIRE_PEERS") == "1" {
			t.Fatal("openssl not found")
		}
		t.Log("openssl not found; skipping the openssl ts -verify check")
		return
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var root, untrusted []byte
	for i, c := range chain {
		b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		if i == len(chain)-1 {
			root = b
		} else {
			untrusted = append(untrusted, b...)
		}
	}
	args := []string{"ts", "-verify", "-token_in", "-in", write("token.tst", token),
		"-data", write("checkpoint", checkpoint), "-CAfile", write("root.pem", root)}
	if len(untrusted) > 0 {
		args = append(args, "-untrusted", write("chain.pem", untrusted))
	}
	out, err := exec.Command(openssl, args...).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Verification: OK")) {
		t.Errorf("openssl ts -verify: %v\n%s", err, out)
	}
	args[7] = write("other", append(bytes.Clone(checkpoint), '!'))
	if out, err := exec.Command(openssl, args...).CombinedOutput(); err == nil || bytes.Contains(out, []byte("Verification: OK")) {
		t.Errorf("openssl accepted the token for other data:\n%s", out)
	}
}

// checkWithScript runs verify-checkpoint.sh, the recipe in
// docs/transparency-log.md, on a checkpoint.
func checkWithScript(t *testing.T, checkpoint []byte, keys ...string) (string, error) {
	t.Helper()
	peertest.Find(t, "openssl")
	p := filepath.Join(t.TempDir(), "checkpoint")
	if err := os.WriteFile(p, checkpoint, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", append([]string{"verify-checkpoint.sh", p}, keys...)...).CombinedOutput()
	return string(out), err
}

// spicyVerify checks a receipt with torchwood's spicy, a verifier no one
// here wrote: its format is a tlog-proof without the header line.
func spicyVerify(t *testing.T, l *Log, index uint64, e []byte) {
	t.Helper()
	bin := peertest.Find(t, "spicy")
	pr, err := l.Proof(t.Context(), index)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := bytes.Cut(pr, []byte("\n"))
	dir := t.TempDir()
	f := filepath.Join(dir, "event")
	os.WriteFile(f, e, 0o644)
	os.WriteFile(f+".spicy", rest, 0o644)
	key := mustVKey(t, testOrigin, testSeed(7))
	if out, err := exec.Command(bin, "-verify", key, f).CombinedOutput(); err != nil {
		t.Errorf("spicy rejects the receipt for entry %d: %v\n%s", index, err, out)
	}
	os.WriteFile(f, append(bytes.Clone(e), '!'), 0o644)
	if out, err := exec.Command(bin, "-verify", key, f).CombinedOutput(); err == nil {
		t.Errorf("spicy accepts the receipt for an altered entry:\n%s", out)
	}
}
