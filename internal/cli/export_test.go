package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/translog"
)

// runCLI runs the command line and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	code := Main(t.Context(), args, env)
	return code, out.String(), errOut.String()
}

// TestExportBesideServe exports while the data directory's log is
// sequenced by serve's own sequencer (as `corridor serve` runs it): the
// export cannot open the log, records its events, waits for the
// sequencer to log them, reads the proofs from the log directory, and
// the bag verifies.
func TestExportBesideServe(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d")
	pass := filepath.Join(dir, "pass.txt")
	idFile := filepath.Join(dir, "anna.key")
	evidenceFile := filepath.Join(dir, "testimony.txt")
	for name, content := range map[string]string{
		pass:         "correct horse battery staple\n",
		idFile:       "AGE-SECRET-KEY-17CE30PRAP9QV94JP73XF76ZLYH96U9MFGEGD0MQLE3N3EQW27FLQWWA0CH\n",
		evidenceFile: "what happened\n",
	} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "--data", data, "--passphrase-file", pass, "--admin", "alice", "--kdf", "test"},
		{"custodian", "add", "--data", data, "--passphrase-file", pass, "--name", "Anna",
			"--recipient", "age1cqdjsrdg9t2cvuqf8al8dlxwtxdrn0rhh2r7x8l9w7jweylq5sksa8cfr8"},
		{"evidence", "import", "--data", data, evidenceFile},
	} {
		if code, _, stderr := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}

	// serve's sequencer, on its own unsealed app.
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	a, err := unsealedApp(t.Context(), env, data, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	settings := logSettings{interval: 100 * time.Millisecond}
	q := newSequencer(a, settings, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// serve's evidence service pokes its sequencer after each change it
	// makes; the export, another process, cannot, so the sequencer finds
	// its events at its next poll. Poke often to keep the test short.
	go func() {
		for ctx.Err() == nil {
			q.Poke()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	logDir := filepath.Join(data, LogName)
	deadline := time.Now().Add(time.Minute)
	for busy, _ := translog.InUse(logDir); !busy; busy, _ = translog.InUse(logDir) {
		if time.Now().After(deadline) {
			t.Fatal("the sequencer did not open the log")
		}
		time.Sleep(20 * time.Millisecond)
	}

	bagDir := filepath.Join(dir, "bag")
	code, stdout, stderr := runCLI(t, "export", "--data", data, "--all", "--without-consent", "--identity", idFile,
		"--out", bagDir, "--passphrase-file", pass, "--wait", "1m")
	if code != 0 {
		t.Fatalf("export beside a running sequencer: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "a running corridor serve sequences the transparency log") {
		t.Errorf("export did not say it waits for the server:\n%s", stderr)
	}
	code, stdout, _ = runCLI(t, "verify", bagDir)
	if code != 0 || !strings.Contains(stdout, "Result: OK") {
		t.Fatalf("verify: exit %d\n%s", code, stdout)
	}

	// With the server's vault sealed, its sequencer closes the log; the
	// export then opens it itself.
	a.vault.Seal()
	deadline = time.Now().Add(time.Minute)
	for busy, _ := translog.InUse(logDir); busy; busy, _ = translog.InUse(logDir) {
		if time.Now().After(deadline) {
			t.Fatal("the sequencer did not close the log")
		}
		time.Sleep(20 * time.Millisecond)
	}
	bag2 := filepath.Join(dir, "bag2")
	code, stdout, stderr = runCLI(t, "export", "--data", data, "--all", "--without-consent", "--identity", idFile,
		"--out", bag2, "--passphrase-file", pass)
	if code != 0 || strings.Contains(stderr, "a running corridor serve") {
		t.Fatalf("export with the log free: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "3 custody event(s)") {
		t.Errorf("the second export's trail: %s", stdout)
	}
	if code, stdout, _ = runCLI(t, "verify", bag2); code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, stdout)
	}
}
