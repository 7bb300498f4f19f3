package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"k8s.io/klog/v2"

	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/translog"
)

// The crash test re-runs this test binary as a child that ingests evidence
// and sequences the log at the same time, and kills it with SIGKILL.
const crashChildEnv = "CORRIDOR_CLI_CRASH_CHILD" // the data directory

func TestMain(m *testing.M) {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

const crashPassphrase = "crash test passphrase"

// crashChild ingests files of random sizes in a loop, printing "ack ID
// SHA256" only once Import has returned (the item is acknowledged), while
// the sequencer drains the outbox into the log. It runs until killed.
func crashChild(dir string) int {
	ctx := context.Background()
	env := &Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	a, err := openApp(ctx, env, dir, "", staff.DefaultConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := a.vault.Unseal(ctx, []byte(crashPassphrase)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	seq := newSequencer(a, logSettings{interval: 100 * time.Millisecond}, slog.New(slog.DiscardHandler))
	go seq.Run(ctx)
	svc, err := a.evidenceService(evidence.Config{Logged: seq.Poke})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		data := make([]byte, rand.IntN(3<<20)+1)
		for j := range data {
			data[j] = byte(rand.Uint32())
		}
		res, err := svc.Import(ctx, evidence.Input{Filename: fmt.Sprintf("file-%d.bin", i)}, bytes.NewReader(data))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(out, "ack %s %s\n", res.ID, hex.EncodeToString(sum[:]))
		out.Flush()
	}
}

// TestCrashIngestAndLog kills ingest and log integration at many points.
// Afterwards every acknowledged item opens and matches its hash, no item
// is visible without its original, no unreferenced blob survives the
// sweep, the outbox drains, and every custody event is in the log exactly
// once, with a proof that verifies.
func TestCrashIngestAndLog(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process many times")
	}
	ctx := context.Background()
	dir := t.TempDir()
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(crashPassphrase), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		var out bytes.Buffer
		if code := Main(ctx, args, &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}); code != 0 {
			t.Fatalf("corridor %v: %d\n%s", args, code, out.String())
		}
	}
	run("init", "--data", dir, "--admin", "admin", "--kdf", "test", "--passphrase-file", passFile)
	run("custodian", "add", "--data", dir, "--name", "offline", "--recipient", id.Recipient().String(), "--passphrase-file", passFile)

	acked := map[string]string{} // id → SHA-256 of the original
	rounds := 30
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// Kill at a random moment: early (during start-up and log
		// reconciliation) in some rounds, mid-stream in others.
		kill := time.After(time.Duration(rand.IntN(1500)+20) * time.Millisecond)
	collect:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break collect
				}
				f := strings.Fields(l)
				if len(f) == 3 && f[0] == "ack" {
					acked[f[1]] = f[2]
				}
			case <-kill:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			}
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended by itself (%v): %s", round, err, stderr.String())
		}
	}
	if len(acked) < 5 {
		t.Fatalf("only %d items acknowledged in %d rounds; the test exercised too little", len(acked), rounds)
	}
	t.Logf("%d items acknowledged across %d kills", len(acked), rounds)

	// Restart: what a server does at start.
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	a, err := openApp(ctx, env, dir, "", staff.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.vault.Unseal(ctx, []byte(crashPassphrase)); err != nil {
		t.Fatal(err)
	}
	svc, err := a.evidenceService(evidence.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SweepBlobs(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	// Every acknowledged item is there and intact.
	for itemID, want := range acked {
		h := sha256.New()
		if _, err := svc.OpenWithIdentity(ctx, h, itemID, id); err != nil {
			t.Fatalf("acknowledged item %s: %v", itemID, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Fatalf("item %s: sha256 %s, want %s", itemID, got, want)
		}
	}
	// No visible item is partial: each one opens (including any committed
	// just before a kill, before its "ack" was printed).
	items, err := a.st.ListEvidence(ctx, store.EvidenceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if _, err := svc.OpenWithIdentity(ctx, io.Discard, it.ID, id); err != nil {
			t.Fatalf("visible item %s does not open: %v", it.ID, err)
		}
	}
	if len(items) < len(acked) {
		t.Fatalf("%d items visible, %d acknowledged", len(items), len(acked))
	}
	// No blob survives that no item refers to.
	var blobs int
	err = filepath.WalkDir(filepath.Join(dir, BlobsName), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			blobs++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if blobs != len(items) {
		t.Errorf("%d blob files for %d items after the sweep", blobs, len(items))
	}

	// The log drains and holds every event exactly once.
	l, err := a.openLog(ctx, logSettings{interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Integrate(ctx, logSource{a.st}); err != nil {
		t.Fatal(err)
	}
	if p, err := a.st.OutboxPending(ctx, 10); err != nil || len(p) != 0 {
		t.Fatalf("outbox after integration: %d pending, %v", len(p), err)
	}
	seed, err := a.vault.LogSeed()
	if err != nil {
		t.Fatal(err)
	}
	origin, err := a.logOrigin(ctx, "", seed)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := translog.VerifierKey(origin, seed)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := translog.NewPolicy(vkey, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var events int
	seen := map[uint64]bool{}
	var maxIndex uint64
	for _, it := range items {
		evs, err := a.st.CustodyEvents(ctx, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			events++
			if !e.Logged {
				t.Fatalf("event %s/%d not logged", it.ID, e.Seq)
			}
			idx := e.LogIndex
			if seen[idx] {
				t.Fatalf("two events at log index %d", idx)
			}
			seen[idx] = true
			maxIndex = max(maxIndex, idx)
		}
	}
	cp, err := l.AwaitCheckpoint(ctx, maxIndex+1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := translog.VerifyCheckpoint(cp, policy)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != uint64(events) {
		t.Fatalf("log holds %d entries for %d custody events", c.Size, events)
	}
	for _, it := range items {
		evs, _ := a.st.CustodyEvents(ctx, it.ID)
		for _, e := range evs {
			proof, err := l.Proof(ctx, e.LogIndex)
			if err != nil {
				t.Fatal(err)
			}
			if idx, _, err := translog.VerifyProof(proof, e.Entry, policy); err != nil || idx != e.LogIndex {
				t.Fatalf("event %s/%d: proof for index %d: %v", it.ID, e.Seq, idx, err)
			}
		}
	}
}
