package courtbag

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/bag"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/translog"
)

// BenchmarkVerify checks a bag of 10,000 small items (two events each,
// built once, with a real tessera log) with the whole of `corridor
// verify`, beside bag.Verify alone — the integrity of the files, which
// every BagIt tool checks — as the baseline. The difference is the cost of
// the checks only a Corridor bag has: records, commitments, event chains,
// receipts, checkpoints. CORRIDOR_BENCH_ITEMS changes the number of items.
func BenchmarkVerify(b *testing.B) {
	n := 10000
	if s := os.Getenv("CORRIDOR_BENCH_ITEMS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	dir := benchBag(b, n)
	b.Logf("built a bag of %d items in %v", n, time.Since(start).Round(time.Second))

	b.Run("baseline=bag.Verify", func(b *testing.B) {
		for b.Loop() {
			r, err := bag.Verify(dir)
			if err != nil || !r.OK() {
				b.Fatalf("bag.Verify: %v %v", err, r.Problems)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
	})
	b.Run("corridor-verify", func(b *testing.B) {
		for b.Loop() {
			r, err := Verify(dir, Trust{})
			if err != nil || !r.OK() || r.Items != n {
				b.Fatalf("Verify: %v %v", err, r.Problems)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "items/s")
	})
}

// benchBag exports n synthetic items through Export, with a real log.
func benchBag(b *testing.B, n int) string {
	b.Helper()
	ctx := b.Context()
	seed := bytes.Repeat([]byte{7}, 32)
	signer, err := translog.NewSigner(testOrigin, seed)
	must(b, err)
	vkey, err := translog.VerifierKey(testOrigin, seed)
	must(b, err)
	l, err := translog.Open(ctx, translog.Config{Dir: filepath.Join(b.TempDir(), "log"), Origin: testOrigin, Signer: signer,
		CheckpointInterval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	must(b, err)
	defer l.Close()
	v := newBenchVault()
	items := make([]evidence.ExportItem, n)
	for i := range n {
		items[i] = v.add(fmt.Appendf(nil, "testimony number %d\n", i))
	}
	dir := filepath.Join(b.TempDir(), "bag")
	_, err = Export(ctx, Options{Dir: dir, Items: items, Identities: []age.Identity{benchIdentity{}}, Vault: v, Log: l,
		Sync: func(ctx context.Context) error { _, err := l.Integrate(ctx, v); return err },
		Keys: Keys{LogKey: vkey}, Wait: 10 * time.Minute})
	must(b, err)
	return dir
}

// benchIdentity stands for a custodian's key; the bench vault holds its
// originals in clear.
type benchIdentity struct{}

func (benchIdentity) Unwrap([]*age.Stanza) ([]byte, error) { return nil, age.ErrIncorrectIdentity }

// benchVault is an in-memory Vault and log source: items with an
// ingested event each, in the canonical encoding, chained as the real
// vault chains them.
type benchVault struct {
	mu      sync.Mutex
	items   map[string]*benchItem
	pending []translog.Pending
	owner   map[int64]*evidence.LoggedEvent
	next    int64
	logged  uint64
}

type benchItem struct {
	rec     *evidence.Record
	content []byte
	events  []*evidence.LoggedEvent
}

func newBenchVault() *benchVault {
	return &benchVault{items: map[string]*benchItem{}, owner: map[int64]*evidence.LoggedEvent{}}
}

func (v *benchVault) add(content []byte) evidence.ExportItem {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := fmt.Sprintf("v%024d", len(v.items))
	sum := sha256.Sum256(content)
	salt := bytes.Repeat([]byte{byte(len(v.items))}, 32)
	rec := &evidence.Record{Version: 1, ItemID: id, SniffedType: "text/plain", Size: int64(len(content)), SHA256: sum[:],
		Salt: salt, Source: evidence.SourceCLI, IngestedAt: time.Date(2017, 4, 3, 22, 0, 0, 0, time.UTC)}
	v.items[id] = &benchItem{rec: rec, content: content}
	v.appendEvent(id, evidence.EventIngested)
	return evidence.ExportItem{ID: id, Commitment: rec.Commitment(), Consent: store.ConsentCourt}
}

func (v *benchVault) appendEvent(id string, typ evidence.EventType) evidence.Event {
	it := v.items[id]
	e := evidence.Event{Type: typ, ItemID: id, Seq: int64(len(it.events) + 1), Time: it.rec.IngestedAt,
		Commitment: it.rec.Commitment(), Consent: store.ConsentCourt}
	if len(it.events) > 0 {
		e.Prev = it.events[len(it.events)-1].Hash()
	}
	le := &evidence.LoggedEvent{Event: e}
	it.events = append(it.events, le)
	v.next++
	v.pending = append(v.pending, translog.Pending{Seq: v.next, Entry: e.Encode()})
	v.owner[v.next] = le
	return e
}

func (v *benchVault) OpenOriginal(_ context.Context, id string, _ ...age.Identity) (*evidence.Record, io.ReadCloser, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	it := v.items[id]
	return it.rec, io.NopCloser(bytes.NewReader(it.content)), nil
}

func (v *benchVault) RecordExported(_ context.Context, id string) (evidence.Event, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.appendEvent(id, evidence.EventExported), nil
}

func (v *benchVault) Trail(_ context.Context, id string) ([]evidence.LoggedEvent, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []evidence.LoggedEvent
	for _, e := range v.items[id].events {
		out = append(out, *e)
	}
	return out, nil
}

func (v *benchVault) Pending(_ context.Context, max int) ([]translog.Pending, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.pending[:min(max, len(v.pending))], nil
}

func (v *benchVault) Logged(_ context.Context, seq int64, index uint64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.pending) == 0 || v.pending[0].Seq != seq {
		return store.ErrNotFound
	}
	v.pending = v.pending[1:]
	e := v.owner[seq]
	e.Logged, e.LogIndex = true, index
	v.logged++
	return nil
}

func (v *benchVault) LoggedCount(context.Context) (uint64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.logged, nil
}
