package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/staff"
)

// TestSequencerServesWhileSealed: the public /log/ keeps serving the log's
// files and key after the server seals (the sequencer closes the log,
// since the signing key is gone), and answers 503 only before the log has
// ever existed.
func TestSequencerServesWhileSealed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(crashPassphrase), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "--data", dir, "--admin", "admin", "--kdf", "test", "--passphrase-file", passFile},
		{"custodian", "add", "--data", dir, "--name", "c", "--recipient", id.Recipient().String(), "--passphrase-file", passFile},
	} {
		var out bytes.Buffer
		if code := Main(ctx, args, &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}); code != 0 {
			t.Fatalf("%v: %s", args, out.String())
		}
	}
	a, err := openApp(ctx, &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}, dir, "", staff.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	seq := newSequencer(a, logSettings{interval: 100 * time.Millisecond}, slog.New(slog.DiscardHandler))
	h := seq.Handler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get("/checkpoint"); code != http.StatusServiceUnavailable {
		t.Fatalf("before the log exists: %d, want 503", code)
	}

	if err := a.vault.Unseal(ctx, []byte(crashPassphrase)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { seq.Run(ctx); close(done) }()
	svc, err := a.evidenceService(evidence.Config{Logged: seq.Poke})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Import(ctx, evidence.Input{Filename: "a.txt"}, strings.NewReader("evidence")); err != nil {
		t.Fatal(err)
	}
	var open string
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, body := get("/checkpoint")
		if code == http.StatusOK && strings.Contains(body, "\n1\n") {
			open = body
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size 1: %d %q", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, key := get("/key")

	a.vault.Seal()
	for deadline := time.Now().Add(10 * time.Second); seq.current.Load() != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the log stayed open after sealing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get("/checkpoint"); code != http.StatusOK || body != open {
		t.Fatalf("sealed: /checkpoint %d %q, want the last checkpoint", code, body)
	}
	if code, body := get("/key"); code != http.StatusOK || body != key || !strings.HasPrefix(body, "corridor.invalid/") {
		t.Fatalf("sealed: /key %d %q, want %q", code, body, key)
	}
	if code, _ := get("/tile/entries/000.p/1"); code != http.StatusOK {
		t.Fatalf("sealed: entry bundle %d", code)
	}
	cancel()
	<-done
}
