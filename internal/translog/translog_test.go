package translog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	f_log "github.com/transparency-dev/formats/log"
	f_note "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const testOrigin = "corridor.test/evidence"

func testSeed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func testSigner(t testing.TB) note.Signer {
	t.Helper()
	s, err := NewSigner(testOrigin, testSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testPolicy(t testing.TB, witnessKeys []string, required int) Policy {
	t.Helper()
	vkey, err := VerifierKey(testOrigin, testSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(vkey, witnessKeys, required)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testConfig(t testing.TB, dir string) Config {
	return Config{
		Dir:                dir,
		Origin:             testOrigin,
		Signer:             testSigner(t),
		CheckpointInterval: 100 * time.Millisecond,
		Logger:             slog.New(slog.DiscardHandler),
	}
}

func openLog(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// entry is a stand-in custody event: distinct, no personal data.
func entry(i int) []byte {
	return fmt.Appendf(nil, "corridor.custody/v1\ntype ingested\nitem %08d\nseq 1\n", i)
}

// memSource is an in-memory Source with the store's semantics.
type memSource struct {
	mu      sync.Mutex
	next    int64
	outbox  []Pending
	entries map[int64][]byte
	index   map[int64]uint64
	// failLogged, if > 0, makes Logged fail after that many calls.
	failLogged int
	calls      int
}

func newMemSource() *memSource {
	return &memSource{entries: map[int64][]byte{}, index: map[int64]uint64{}}
}

func (s *memSource) add(entries ...[]byte) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var seqs []int64
	for _, e := range entries {
		s.next++
		s.outbox = append(s.outbox, Pending{Seq: s.next, Entry: e})
		s.entries[s.next] = e
		seqs = append(seqs, s.next)
	}
	return seqs
}

func (s *memSource) Pending(_ context.Context, max int) ([]Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.outbox[:min(max, len(s.outbox))]), nil
}

func (s *memSource) Logged(_ context.Context, seq int64, index uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failLogged > 0 && s.calls > s.failLogged {
		return errors.New("database unavailable")
	}
	if i, ok := s.index[seq]; ok {
		if i != index {
			return fmt.Errorf("seq %d logged twice, at %d and %d", seq, i, index)
		}
		return nil
	}
	s.index[seq] = index
	if len(s.outbox) > 0 && s.outbox[0].Seq == seq {
		s.outbox = s.outbox[1:] // the usual case, O(1) for the benchmark
	} else {
		s.outbox = slices.DeleteFunc(s.outbox, func(p Pending) bool { return p.Seq == seq })
	}
	return nil
}

func (s *memSource) LoggedCount(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(s.index)), nil
}

// checkLog checks the invariants: every recorded entry is in the log at its
// index, no index is used twice, the log holds nothing else, and the outbox
// is empty.
func checkLog(t *testing.T, l *Log, src *memSource) {
	t.Helper()
	ctx := t.Context()
	size, err := l.reader.IntegratedSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if len(src.outbox) != 0 {
		t.Errorf("outbox holds %d entries after Integrate", len(src.outbox))
	}
	if size != uint64(len(src.index)) {
		t.Errorf("log holds %d entries, the source recorded %d", size, len(src.index))
	}
	if size == 0 {
		return
	}
	logged, err := l.readEntries(ctx, 0, size, size)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]int64{}
	for seq, idx := range src.index {
		if other, dup := seen[idx]; dup {
			t.Errorf("index %d recorded for seq %d and %d", idx, seq, other)
		}
		seen[idx] = seq
		if idx >= size || !bytes.Equal(logged[idx], src.entries[seq]) {
			t.Errorf("seq %d recorded at index %d, which does not hold it", seq, idx)
		}
	}
}

func TestSigner(t *testing.T) {
	s, err := NewSigner(testOrigin, testSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := VerifierKey(testOrigin, testSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.(interface{ VerifierKey() string }).VerifierKey(); got != vkey {
		t.Errorf("signer's vkey %q, VerifierKey %q", got, vkey)
	}
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Errorf("note signed by NewSigner does not verify with VerifierKey: %v", err)
	}
	other, _ := VerifierKey(testOrigin, testSeed(2))
	if other == vkey {
		t.Error("different seeds give the same key")
	}
	for _, tc := range []struct {
		origin string
		seed   []byte
	}{
		{testOrigin, testSeed(1)[:31]},
		{testOrigin, nil},
		{"", testSeed(1)},
		{"has space", testSeed(1)},
		{"has+plus", testSeed(1)},
	} {
		if _, err := NewSigner(tc.origin, tc.seed); err == nil {
			t.Errorf("NewSigner(%q, %d bytes) succeeded", tc.origin, len(tc.seed))
		}
	}
}

func TestOpenConfig(t *testing.T) {
	base := testConfig(t, t.TempDir())
	for name, mut := range map[string]func(*Config){
		"no dir":          func(c *Config) { c.Dir = "" },
		"no signer":       func(c *Config) { c.Signer = nil },
		"origin mismatch": func(c *Config) { c.Origin = "other.example/log" },
		"too many needed": func(c *Config) { c.WitnessesRequired = 1 },
		"short interval":  func(c *Config) { c.CheckpointInterval = time.Millisecond },
		"bad TSA URL":     func(c *Config) { c.TSAURL = "file:///etc/passwd" },
		"bad witness key": func(c *Config) {
			c.Witnesses = []Witness{{Name: "w", VerifierKey: "nonsense", URL: "http://127.0.0.1:1"}}
		},
		"bad witness url": func(c *Config) { c.Witnesses = []Witness{witnessFor(t, "w.example", "ftp://x")} },
		"witness misnamed": func(c *Config) {
			w := witnessFor(t, "w.example", "http://127.0.0.1:1")
			w.Name = "x"
			c.Witnesses = []Witness{w}
		},
	} {
		cfg := base
		mut(&cfg)
		if l, err := Open(t.Context(), cfg); err == nil {
			l.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

// witnessFor makes a witness vkey (its signer is not needed).
func witnessFor(t testing.TB, name, url string) Witness {
	skey, vkey, err := note.GenerateKey(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	_ = skey
	return Witness{Name: name, VerifierKey: vkey, URL: url}
}

func TestLocked(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	l, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), cfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	l2.Close()
}

func TestIntegrateProveVerify(t *testing.T) {
	ctx := t.Context()
	l := openLog(t, testConfig(t, t.TempDir()))
	src := newMemSource()
	var entries [][]byte
	for i := range 600 { // more than two rounds and two entry bundles
		entries = append(entries, entry(i))
	}
	seqs := src.add(entries...)
	n, err := l.Integrate(ctx, src)
	if err != nil || n != 600 {
		t.Fatalf("Integrate = %d, %v; want 600", n, err)
	}
	checkLog(t, l, src)
	for i, seq := range seqs {
		if src.index[seq] != uint64(i) {
			t.Fatalf("seq %d at index %d, want %d (outbox order)", seq, src.index[seq], i)
		}
	}
	if n, err := l.Integrate(ctx, src); err != nil || n != 0 {
		t.Fatalf("second Integrate = %d, %v; want 0", n, err)
	}

	awaitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cp1raw, err := l.AwaitCheckpoint(awaitCtx, 600)
	if err != nil {
		t.Fatal(err)
	}
	p := testPolicy(t, nil, 0)
	cp1, err := VerifyCheckpoint(cp1raw, p)
	if err != nil {
		t.Fatal(err)
	}
	if cp1.Size != 600 || cp1.Origin != testOrigin {
		t.Fatalf("checkpoint %s/%d", cp1.Origin, cp1.Size)
	}
	for _, i := range []int{0, 1, 255, 256, 511, 599} {
		pr, err := l.Proof(ctx, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		idx, cp, err := VerifyProof(pr, entries[i], p)
		if err != nil || idx != uint64(i) || cp.Size != 600 {
			t.Fatalf("VerifyProof(entry %d) = %d, %v", i, idx, err)
		}
		if _, _, err := VerifyProof(pr, entries[(i+1)%600], p); !errors.Is(err, ErrVerify) {
			t.Errorf("proof for entry %d verified another entry: %v", i, err)
		}
		tampered := bytes.Clone(entries[i])
		tampered[len(tampered)-2] ^= 1
		if _, _, err := VerifyProof(pr, tampered, p); !errors.Is(err, ErrVerify) {
			t.Errorf("proof for entry %d verified an altered entry: %v", i, err)
		}
	}
	if _, err := l.Proof(ctx, 600); !errors.Is(err, ErrNotPublished) {
		t.Errorf("Proof(600) = %v, want ErrNotPublished", err)
	}
	pr, _ := l.Proof(ctx, 3)
	wrongKey := testPolicy(t, nil, 0)
	wrongKey.Log, _ = note.NewVerifier(mustVKey(t, testOrigin, testSeed(9)))
	if _, _, err := VerifyProof(pr, entries[3], wrongKey); !errors.Is(err, ErrVerify) {
		t.Errorf("proof verified under another log key: %v", err)
	}

	// Grow the log; the new checkpoint must be consistent with the old.
	for i := 600; i < 900; i++ {
		entries = append(entries, entry(i))
		src.add(entry(i))
	}
	if _, err := l.Integrate(ctx, src); err != nil {
		t.Fatal(err)
	}
	cp2raw, err := l.AwaitCheckpoint(awaitCtx, 900)
	if err != nil {
		t.Fatal(err)
	}
	cp2, err := VerifyCheckpoint(cp2raw, p)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := l.Consistency(ctx, cp1.Size, cp2.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyConsistency(cp1, cp2, cons); err != nil {
		t.Fatalf("consistent checkpoints: %v", err)
	}
	// The same key signing another tree of the same origin (a fork, as a
	// seized key could) must not be consistent with the published one.
	fork := signCheckpoint(t, testSigner(t), testOrigin, cp2.Size, sha256.Sum256([]byte("fork")))
	forked, err := VerifyCheckpoint(fork, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyConsistency(cp1, forked, cons); !errors.Is(err, ErrVerify) {
		t.Errorf("fork passed the consistency check: %v", err)
	}
	if err := VerifyConsistency(cp2, cp1, cons); !errors.Is(err, ErrVerify) {
		t.Errorf("shrinking log passed the consistency check: %v", err)
	}
	// An old receipt still verifies after the log grew, and a receipt
	// built against the old checkpoint too.
	old, err := l.ProofAt(ctx, 5, cp1raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, cp, err := VerifyProof(old, entries[5], p); err != nil || cp.Size != 600 {
		t.Fatalf("ProofAt the old checkpoint: %v", err)
	}
}

func mustVKey(t testing.TB, origin string, seed []byte) string {
	t.Helper()
	v, err := VerifierKey(origin, seed)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func signCheckpoint(t testing.TB, s note.Signer, origin string, size uint64, hash [32]byte, cosigners ...note.Signer) []byte {
	t.Helper()
	body := fmt.Sprintf("%s\n%d\n%s\n", origin, size, stdB64(hash[:]))
	n, err := note.Sign(&note.Note{Text: body}, append([]note.Signer{s}, cosigners...)...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func stdB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestReconcileAfterFailedRecord: the database fails after the log took a
// round; the next Integrate must record those entries, not append them
// again.
func TestReconcileAfterFailedRecord(t *testing.T) {
	ctx := t.Context()
	cfg := testConfig(t, t.TempDir())
	cfg.batch = 50
	l := openLog(t, cfg)
	src := newMemSource()
	for i := range 220 {
		src.add(entry(i))
	}
	src.failLogged = 120 // mid-round: round 3 is in the log, 20 of it recorded
	if _, err := l.Integrate(ctx, src); err == nil {
		t.Fatal("Integrate succeeded with a failing database")
	}
	size, _ := l.reader.IntegratedSize(ctx)
	if size != 150 {
		t.Fatalf("log size %d after the failure, want 150", size)
	}
	src.failLogged = 0
	n, err := l.Integrate(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if n != 100 { // 30 recovered + 70 new
		t.Errorf("Integrate after recovery = %d, want 100", n)
	}
	checkLog(t, l, src)
	for seq, idx := range src.index {
		if idx != uint64(seq-1) {
			t.Errorf("seq %d at %d: order lost", seq, idx)
		}
	}
}

// TestReconcileAfterRestart: entries reached the log but the process died
// before recording any of them; a new process reconciles on its first
// Integrate.
func TestReconcileAfterRestart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	src := newMemSource()
	for i := range 40 {
		src.add(entry(i))
	}
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendDirect(t, l, src.outbox[:25])
	l.Close()

	l = openLog(t, cfg)
	n, err := l.Integrate(ctx, src)
	if err != nil || n != 40 {
		t.Fatalf("Integrate = %d, %v; want 40", n, err)
	}
	checkLog(t, l, src)
}

// appendDirect puts entries in the log without telling the source, as a
// crash between the two would leave them.
func appendDirect(t testing.TB, l *Log, ps []Pending) {
	t.Helper()
	var fs []tessera.IndexFuture
	for _, p := range ps {
		fs = append(fs, l.appender.Add(t.Context(), tessera.NewEntry(p.Entry)))
	}
	for _, f := range fs {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReconcileOutOfOrder: a split round whose first half failed leaves
// later entries in the log before earlier ones; they are recorded where
// they are and the rest follow, nothing twice.
func TestReconcileOutOfOrder(t *testing.T) {
	ctx := t.Context()
	var logs bytes.Buffer
	cfg := testConfig(t, t.TempDir())
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	l := openLog(t, cfg)
	src := newMemSource()
	for i := range 6 {
		src.add(entry(i))
	}
	appendDirect(t, l, src.outbox[2:4])
	n, err := l.Integrate(ctx, src)
	if err != nil || n != 6 {
		t.Fatalf("Integrate = %d, %v; want 6", n, err)
	}
	checkLog(t, l, src)
	if src.index[3] != 0 || src.index[4] != 1 || src.index[1] != 2 {
		t.Errorf("indices %v", src.index)
	}
	if !strings.Contains(logs.String(), "out of outbox order") {
		t.Error("reordering was not logged")
	}
	if strings.Contains(logs.String(), "item 0000") {
		t.Error("log output contains entry content")
	}
}

func TestDiverged(t *testing.T) {
	ctx := t.Context()
	t.Run("foreign entry in the log", func(t *testing.T) {
		l := openLog(t, testConfig(t, t.TempDir()))
		src := newMemSource()
		src.add(entry(1))
		appendDirect(t, l, []Pending{{Entry: []byte("not from this outbox")}})
		if _, err := l.Integrate(ctx, src); !errors.Is(err, ErrDiverged) {
			t.Fatalf("Integrate = %v, want ErrDiverged", err)
		}
		if size, _ := l.reader.IntegratedSize(ctx); size != 1 {
			t.Errorf("log grew to %d after divergence", size)
		}
	})
	t.Run("database ahead of the log", func(t *testing.T) {
		l := openLog(t, testConfig(t, t.TempDir()))
		src := newMemSource()
		src.index[99] = 0
		if _, err := l.Integrate(ctx, src); !errors.Is(err, ErrDiverged) {
			t.Fatalf("Integrate = %v, want ErrDiverged", err)
		}
	})
}

func TestEntryTooLarge(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	src := newMemSource()
	src.add(make([]byte, maxEntrySize+1))
	if _, err := l.Integrate(t.Context(), src); !errors.Is(err, ErrEntryTooLarge) {
		t.Fatalf("Integrate = %v, want ErrEntryTooLarge", err)
	}
}

func TestRun(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	src := newMemSource()
	poke := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { l.Run(ctx, src, poke); close(done) }()
	for i := range 30 {
		src.add(entry(i))
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	wait, cancelWait := context.WithTimeout(t.Context(), time.Minute)
	defer cancelWait()
	if _, err := l.AwaitCheckpoint(wait, 30); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	checkLog(t, l, src)
}

// TestVerifyCheckpointPolicy checks witness counting with in-process
// cosigners (the real witness is in peers_test.go).
func TestVerifyCheckpointPolicy(t *testing.T) {
	var wsigners []note.Signer
	var wkeys []string
	for _, name := range []string{"w1.example", "w2.example", "w3.example"} {
		skey, vkey, err := note.GenerateKey(nil, name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := f_note.NewSignerForCosignatureV1(skey)
		if err != nil {
			t.Fatal(err)
		}
		wsigners = append(wsigners, s)
		wkeys = append(wkeys, vkey)
	}
	hash := sha256.Sum256([]byte("root"))
	log := testSigner(t)
	stranger, _ := NewSigner("stranger.example", testSeed(3))
	for _, tc := range []struct {
		name      string
		cosigners []note.Signer
		required  int
		ok        bool
	}{
		{"none needed", nil, 0, true},
		{"one of one", wsigners[:1], 1, true},
		{"two of three", wsigners[1:], 2, true},
		{"one short", wsigners[:1], 2, false},
		{"stranger ignored", []note.Signer{stranger}, 1, false},
		{"stranger beside", []note.Signer{stranger, wsigners[2]}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := signCheckpoint(t, log, testOrigin, 10, hash, tc.cosigners...)
			c, err := VerifyCheckpoint(cp, testPolicy(t, wkeys, tc.required))
			if tc.ok != (err == nil) {
				t.Fatalf("VerifyCheckpoint = %v, want ok=%v", err, tc.ok)
			}
			if err == nil && len(c.Cosigners) != len(slices.DeleteFunc(slices.Clone(tc.cosigners), func(s note.Signer) bool { return s == stranger })) {
				t.Errorf("cosigners %v", c.Cosigners)
			}
		})
	}
	// Not signed by the log: only witnesses.
	cp := signCheckpoint(t, wsigners[0], testOrigin, 10, hash)
	if _, err := VerifyCheckpoint(cp, testPolicy(t, wkeys, 0)); !errors.Is(err, ErrVerify) {
		t.Errorf("checkpoint without the log's signature: %v", err)
	}
	// Signed by the log key but for another origin.
	other, _ := NewSigner("other.example", testSeed(7))
	cp = signCheckpoint(t, other, "other.example", 10, hash)
	if _, err := VerifyCheckpoint(cp, testPolicy(t, nil, 0)); !errors.Is(err, ErrVerify) {
		t.Errorf("checkpoint of another origin: %v", err)
	}
}

func TestParseCheckpointBody(t *testing.T) {
	h := stdB64(make([]byte, 32))
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{"o\n1\n" + h + "\n", true},
		{"o\n0\n" + h + "\n", true},
		{"o\n1\n" + h + "\next\n", true},
		{"o\n01\n" + h + "\n", false},
		{"o\n+1\n" + h + "\n", false},
		{"o\n-1\n" + h + "\n", false},
		{"o\n18446744073709551616\n" + h + "\n", false},
		{"\n1\n" + h + "\n", false},
		{"o\n1\n" + h, false},
		{"o\n1\n" + stdB64(make([]byte, 31)) + "\n", false},
		{"o\n1\n" + h + "\n\n", false},
		{"o\n1\n", false},
	} {
		_, err := parseCheckpointBody(tc.body)
		if tc.ok != (err == nil) {
			t.Errorf("parseCheckpointBody(%q) = %v, want ok=%v", tc.body, err, tc.ok)
		}
	}
}

func TestParseProof(t *testing.T) {
	h := stdB64(bytes.Repeat([]byte{1}, 32))
	cp := "o\n1\n" + h + "\n\n— o AAAA\n"
	good := proofHeader + "\nindex 0\n" + h + "\n\n" + cp
	p, err := ParseProof([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Index != 0 || len(p.Hashes) != 1 || string(p.Checkpoint) != cp || p.Extra != nil {
		t.Fatalf("parsed %+v", p)
	}
	if string(p.Marshal()) != good {
		t.Errorf("Marshal does not round-trip:\n%s", p.Marshal())
	}
	withExtra := proofHeader + "\nextra " + stdB64([]byte("x")) + "\nindex 7\n\n" + cp
	if p, err := ParseProof([]byte(withExtra)); err != nil || string(p.Extra) != "x" || p.Index != 7 || len(p.Hashes) != 0 {
		t.Errorf("with extra: %+v, %v", p, err)
	}
	for _, bad := range []string{
		"",
		"c2sp.org/tlog-proof@v2\nindex 0\n\n" + cp,
		proofHeader + "\nindex 00\n\n" + cp,
		proofHeader + "\nindex x\n\n" + cp,
		proofHeader + "\n\n" + cp,
		proofHeader + "\nextra !!\nindex 0\n\n" + cp,
		proofHeader + "\nindex 0\n" + h + "\n",
		proofHeader + "\nindex 0\n" + h + "\n\n",
		proofHeader + "\nindex 0\nAAAA\n\n" + cp,
		proofHeader + "\nindex 0\n" + strings.Repeat(h+"\n", 64) + "\n" + cp,
	} {
		if _, err := ParseProof([]byte(bad)); !errors.Is(err, ErrVerify) {
			t.Errorf("ParseProof(%q) = %v, want ErrVerify", bad, err)
		}
	}
}

// TestHandler serves the log and checks it with x/mod's independent tlog
// implementation: a client that knows only tlog-tiles and the log's key
// can verify an entry.
func TestHandler(t *testing.T) {
	ctx := t.Context()
	l := openLog(t, testConfig(t, t.TempDir()))
	src := newMemSource()
	for i := range 300 {
		src.add(entry(i))
	}
	if _, err := l.Integrate(ctx, src); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := l.AwaitCheckpoint(wait, 300); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/log", l.Handler()))
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	for _, tc := range []struct {
		path, ctype, cache string
		status             int
	}{
		{"/log/checkpoint", "text/plain; charset=utf-8", cacheCheckpoint, 200},
		{"/log/key", "text/plain; charset=utf-8", cacheKey, 200},
		{"/log/tile/0/000", "application/octet-stream", cacheImmutable, 200},
		{"/log/tile/0/001.p/44", "application/octet-stream", cacheImmutable, 200},
		{"/log/tile/1/000.p/1", "application/octet-stream", cacheImmutable, 200},
		{"/log/tile/entries/000", "application/octet-stream", cacheImmutable, 200},
		{"/log/tile/entries/001.p/44", "application/octet-stream", cacheImmutable, 200},
		{"/log/tile/entries/002", "", "", 404},
		{"/log/tile/0/001", "", "", 404},
		{"/log/tile/0/000.p/0", "", "", 404},
		{"/log/tile/0/000.p/256", "", "", 404},
		{"/log/tile/0/000.p/044", "", "", 404},
		{"/log/tile/64/000", "", "", 404},
		{"/log/tile/00/000", "", "", 404},
		{"/log/tile/0/0000", "", "", 404},
		{"/log/tile/0/x/000", "", "", 404},
		{"/log/tile/0/01", "", "", 404},
		{"/log/tile/0/+01", "", "", 404},
		{"/log/tile/", "", "", 404},
		{"/log/tile/0", "", "", 404},
		{"/log/tile/../.state/treeState", "", "", 404},
		{"/log/tile/0/..%2f..%2f.state/treeState", "", "", 404},
		{"/log/.state/treeState", "", "", 404},
		{"/log/.sequencer.lock", "", "", 404},
		{"/log/", "", "", 404},
		{"/log/timestamps", "", "", 404},
		{"/log/timestamp/", "", "", 404},
		{"/log/timestamp/300", "", "", 404}, // no TSA configured
		{"/log/timestamp/..%2fcheckpoint", "", "", 404},
		{"/log/timestamp/01.checkpoint", "", "", 404},
	} {
		resp, _ := get(tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if got := resp.Header.Get("Cache-Control"); got != tc.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, tc.cache)
		}
		if got := resp.Header.Get("Last-Modified"); got != "" {
			t.Errorf("GET %s: Last-Modified %q", tc.path, got)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/log/checkpoint", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST checkpoint: %v %v", resp.Status, err)
	}
	req, _ = http.NewRequest(http.MethodHead, srv.URL+"/log/checkpoint", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("HEAD checkpoint: %v %v", resp.Status, err)
	}

	// An independent client: x/mod/sumdb/tlog, fed only what the
	// handler serves.
	_, key := get("/log/key")
	v, err := note.NewVerifier(strings.TrimSpace(string(key)))
	if err != nil {
		t.Fatal(err)
	}
	_, cpText := get("/log/checkpoint")
	n, err := note.Open(cpText, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	var c f_log.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
		t.Fatal(err)
	}
	tree := tlog.Tree{N: int64(c.Size), Hash: tlog.Hash(c.Hash)}
	if tree.N != 300 {
		t.Fatalf("served checkpoint of %d entries", tree.N)
	}
	thr := tlog.TileHashReader(tree, tileReader{get})
	for _, i := range []int64{0, 100, 255, 256, 299} {
		p, err := tlog.ProveRecord(tree.N, i, thr)
		if err != nil {
			t.Fatal(err)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(entry(int(i)))
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.Hash(leaf)); err != nil {
			t.Errorf("x/mod/sumdb/tlog rejects entry %d: %v", i, err)
		}
	}
	_, bundle := get("/log/tile/entries/001.p/44")
	if !bytes.Contains(bundle, entry(299)) {
		t.Error("entry bundle does not hold entry 299")
	}
}

// tileReader adapts tlog-tiles URLs (no height element) to x/mod's
// tlog.TileReader.
type tileReader struct {
	get func(string) (*http.Response, []byte)
}

func (tileReader) Height() int { return 8 }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	var out [][]byte
	for _, tile := range tiles {
		// x/mod's path is tile/H/L/N[.p/W]; tlog-tiles drops H.
		p := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
		resp, b := r.get("/log/" + p)
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %s", p, resp.Status)
		}
		out = append(out, b)
	}
	return out, nil
}

func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func TestStampsLoadIgnoresTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	l := openLog(t, cfg)
	l.Close()
	ts := filepath.Join(dir, timestampsDir)
	for _, name := range []string{"12", "12.checkpoint", "5", "5.checkpoint", ".tmp-7-123", "junk"} {
		if err := os.WriteFile(filepath.Join(ts, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l = openLog(t, cfg)
	if !slices.Equal(l.stamp, []uint64{5, 12}) {
		t.Errorf("stamps %v", l.stamp)
	}
	if _, err := os.Stat(filepath.Join(ts, ".tmp-7-123")); !os.IsNotExist(err) {
		t.Error("temporary file left after Open")
	}
	size, _, _, err := l.TimestampCovering(t.Context(), 5)
	if err != nil || size != 12 {
		t.Errorf("TimestampCovering(5) = %d, %v; want 12", size, err)
	}
	size, _, _, err = l.TimestampCovering(t.Context(), 4)
	if err != nil || size != 5 {
		t.Errorf("TimestampCovering(4) = %d, %v; want 5", size, err)
	}
	if _, _, _, err := l.TimestampCovering(t.Context(), 12); !errors.Is(err, ErrNoTimestamp) {
		t.Errorf("TimestampCovering(12) = %v, want ErrNoTimestamp", err)
	}
	if _, err := l.Timestamp(t.Context(), 6); !errors.Is(err, ErrNoTimestamp) {
		t.Errorf("Timestamp(6) = %v", err)
	}
}

// TestUnreachableWitness: with no witness required, a silent one does not
// stop publication; with one required, the log still opens (a new log's
// first, empty checkpoint does not wait for it) and still takes entries.
func TestUnreachableWitness(t *testing.T) {
	ctx := t.Context()
	dead := witnessFor(t, "dead.example", "http://127.0.0.1:1")
	for _, required := range []int{0, 1} {
		cfg := testConfig(t, t.TempDir())
		cfg.Witnesses = []Witness{dead}
		cfg.WitnessesRequired = required
		l := openLog(t, cfg)
		src := newMemSource()
		for i := range 10 {
			src.add(entry(i))
		}
		if n, err := l.Integrate(ctx, src); err != nil || n != 10 {
			t.Fatalf("required %d: Integrate = %d, %v", required, n, err)
		}
		checkLog(t, l, src)
		if required == 0 {
			wait, cancel := context.WithTimeout(ctx, time.Minute)
			raw, err := l.AwaitCheckpoint(wait, 10)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyCheckpoint(raw, testPolicy(t, nil, 0)); err != nil {
				t.Fatal(err)
			}
		} else {
			raw, err := l.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := VerifyCheckpoint(raw, testPolicy(t, nil, 0)); err != nil || c.Size != 0 {
				t.Fatalf("first checkpoint: %v", err)
			}
		}
		l.Close()
	}
}

// TestStandardToolsScript checks the documented sh+openssl recipe on a
// checkpoint signed by the log alone, and that it fails on a bad one.
func TestStandardToolsScript(t *testing.T) {
	key := mustVKey(t, testOrigin, testSeed(7))
	cp := signCheckpoint(t, testSigner(t), testOrigin, 42, sha256.Sum256([]byte("root")))
	out, err := checkWithScript(t, cp, key)
	if err != nil || !strings.Contains(out, "log signature by "+testOrigin+" OK: 42 entries") {
		t.Fatalf("verify-checkpoint.sh: %v\n%s", err, out)
	}
	bad := bytes.Replace(cp, []byte("\n42\n"), []byte("\n43\n"), 1)
	if out, err := checkWithScript(t, bad, key); err == nil {
		t.Errorf("verify-checkpoint.sh accepted an altered checkpoint:\n%s", out)
	}
	other := mustVKey(t, testOrigin, testSeed(8))
	if out, err := checkWithScript(t, cp, other); err == nil {
		t.Errorf("verify-checkpoint.sh accepted another key:\n%s", out)
	}
	_, wkey, _ := note.GenerateKey(nil, "w.example")
	if out, err := checkWithScript(t, cp, key, wkey); err == nil {
		t.Errorf("verify-checkpoint.sh accepted a missing cosignature:\n%s", out)
	}
}

func TestParseWitnesses(t *testing.T) {
	w1 := witnessFor(t, "w1.example", "https://w1.example/")
	w2 := witnessFor(t, "w2.example", "http://127.0.0.1:7380")
	good := fmt.Sprintf(`
required = 1

[[witness]]
name = %q
key  = %q
url  = %q

[[witness]]
name = %q
key  = %q
url  = %q
`, w1.Name, w1.VerifierKey, w1.URL, w2.Name, w2.VerifierKey, w2.URL)
	ws, n, err := ParseWitnesses([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(ws) != 2 || ws[0] != w1 || ws[1] != w2 {
		t.Fatalf("ParseWitnesses = %v, %d", ws, n)
	}
	if ws, n, err := ParseWitnesses([]byte("required = 0\n")); err != nil || n != 0 || len(ws) != 0 {
		t.Errorf("no witnesses: %v, %d, %v", ws, n, err)
	}
	entry := func(name, key, url string) string {
		return fmt.Sprintf("[[witness]]\nname = %q\nkey = %q\nurl = %q\n", name, key, url)
	}
	for name, text := range map[string]string{
		"no required":    entry(w1.Name, w1.VerifierKey, w1.URL),
		"too many":       "required = 2\n" + entry(w1.Name, w1.VerifierKey, w1.URL),
		"negative":       "required = -1\n",
		"unknown key":    "required = 0\nquorum = 3\n",
		"missing url":    "required = 0\n[[witness]]\nname = \"a\"\nkey = \"b\"\n",
		"bad key":        "required = 1\n" + entry(w1.Name, "junk", w1.URL),
		"name mismatch":  "required = 1\n" + entry("w9.example", w1.VerifierKey, w1.URL),
		"bad url":        "required = 1\n" + entry(w1.Name, w1.VerifierKey, "w1.example"),
		"duplicate":      "required = 1\n" + entry(w1.Name, w1.VerifierKey, w1.URL) + entry(w1.Name, w1.VerifierKey, w1.URL),
		"not toml":       "required = \n",
		"url with space": "required = 1\n" + entry(w1.Name, w1.VerifierKey, "http://a b/"),
	} {
		if _, _, err := ParseWitnesses([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDocsScript keeps the script shown in docs/transparency-log.md the
// same as the one the tests run.
func TestDocsScript(t *testing.T) {
	script, err := os.ReadFile("verify-checkpoint.sh")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/transparency-log.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("```sh\n"+string(script)+"```\n")) {
		t.Error("docs/transparency-log.md does not show verify-checkpoint.sh verbatim")
	}
}

// stuckCount is a source whose logged count never moves.
type stuckCount struct{ *memSource }

func (stuckCount) LoggedCount(context.Context) (uint64, error) { return 0, nil }

func TestReconcileStuckSource(t *testing.T) {
	l := openLog(t, testConfig(t, t.TempDir()))
	src := newMemSource()
	src.add(entry(1), entry(2))
	appendDirect(t, l, src.outbox)
	if _, err := l.Integrate(t.Context(), stuckCount{src}); err == nil {
		t.Fatal("Integrate succeeded with a source whose count does not move")
	}
}
