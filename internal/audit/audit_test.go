package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// fakeAudit is an in-memory store.Audit. Tests reach into entries to tamper
// with the log the way someone with database access could.
type fakeAudit struct {
	mu      sync.Mutex
	entries []*store.AuditEntry
	err     error // returned by every method when set
	ranges  int   // AuditRange calls
}

var _ store.Audit = (*fakeAudit)(nil)

func (f *fakeAudit) AppendAudit(ctx context.Context, e *store.AuditEntry, hash func(*store.AuditEntry) []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	e.Seq, e.PrevHash = 1, nil
	if n := len(f.entries); n > 0 {
		e.Seq = f.entries[n-1].Seq + 1
		e.PrevHash = slices.Clone(f.entries[n-1].Hash)
	}
	e.Hash = hash(e)
	f.entries = append(f.entries, clone(e))
	return nil
}

// AuditRange behaves like "WHERE seq >= from ORDER BY seq LIMIT limit".
func (f *fakeAudit) AuditRange(ctx context.Context, from int64, limit int) ([]*store.AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ranges++
	if f.err != nil {
		return nil, f.err
	}
	var out []*store.AuditEntry
	for _, e := range f.entries {
		if e.Seq >= from {
			out = append(out, clone(e))
		}
	}
	slices.SortStableFunc(out, func(a, b *store.AuditEntry) int { return int(a.Seq - b.Seq) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeAudit) ListAudit(ctx context.Context, filter store.AuditFilter) ([]*store.AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	limit := filter.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []*store.AuditEntry
	for i := len(f.entries) - 1; i >= 0 && len(out) < limit; i-- {
		e := f.entries[i]
		if (filter.BeforeSeq > 0 && e.Seq >= filter.BeforeSeq) || (filter.ActorID > 0 && e.ActorID != filter.ActorID) {
			continue
		}
		out = append(out, clone(e))
	}
	return out, nil
}

func clone(e *store.AuditEntry) *store.AuditEntry {
	c := *e
	c.PrevHash = slices.Clone(e.PrevHash)
	c.Hash = slices.Clone(e.Hash)
	return &c
}

// clock is a fake clock that moves on by step every time it is read.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

var start = time.Date(2017, 4, 1, 12, 0, 0, 0, time.UTC)

// newChain returns a store holding n entries written through Record.
func newChain(t *testing.T, n int) *fakeAudit {
	t.Helper()
	f := &fakeAudit{}
	c := &clock{t: start, step: 1500 * time.Millisecond}
	l := New(f, c.now)
	for i := range n {
		if err := l.Record(context.Background(), int64(i%3), "request.read", fmt.Sprintf("request:r%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestHashVectors(t *testing.T) {
	// Computed from Hash's doc comment by an independent Python
	// implementation, so that the comment and the code agree.
	e1 := &store.AuditEntry{
		Seq:     1,
		At:      time.Date(2017, 4, 1, 12, 0, 0, 123456000, time.UTC),
		ActorID: 3,
		Action:  "request.read",
		Object:  "request:ab12",
	}
	const want1 = "7ad278089875c309bbb024151a52d6a2f0393574e9e30e72753f27670583bf5e"
	if got := hex.EncodeToString(Hash(e1)); got != want1 {
		t.Errorf("Hash(e1) = %s, want %s", got, want1)
	}
	e2 := &store.AuditEntry{
		Seq:      2,
		At:       time.Date(2017, 4, 1, 15, 0, 1, 0, time.FixedZone("MSK", 3*3600)),
		ActorID:  0,
		Action:   "request.submit",
		Object:   "request:cd34",
		PrevHash: Hash(e1),
	}
	const want2 = "d80f0e1b92a9424a1d01589a6a38c00c7572142515b818e3aa46e37b833b9819"
	if got := hex.EncodeToString(Hash(e2)); got != want2 {
		t.Errorf("Hash(e2) = %s, want %s (the time zone must not matter)", got, want2)
	}
	// Hash ignores e.Hash itself.
	e1.Hash = []byte("anything")
	if got := hex.EncodeToString(Hash(e1)); got != want1 {
		t.Errorf("Hash depends on e.Hash")
	}
}

// Length prefixes make the encoding unambiguous: moving a byte from one
// field to the next, or between prev and nothing, changes the hash.
func TestHashIsUnambiguous(t *testing.T) {
	base := store.AuditEntry{Seq: 7, At: start, ActorID: 2, Action: "a.b", Object: "c"}
	variants := []func(e *store.AuditEntry){
		func(e *store.AuditEntry) {},
		func(e *store.AuditEntry) { e.Action, e.Object = "a.", "bc" },
		func(e *store.AuditEntry) { e.Action, e.Object = "a.bc", "" },
		func(e *store.AuditEntry) { e.PrevHash = []byte{} }, // same as nil: both have length 0
		func(e *store.AuditEntry) { e.PrevHash = []byte{0} },
		func(e *store.AuditEntry) { e.Seq = 8 },
		func(e *store.AuditEntry) { e.ActorID = 3 },
		func(e *store.AuditEntry) { e.At = e.At.Add(time.Microsecond) },
		func(e *store.AuditEntry) { e.Seq, e.ActorID = 2, 7 },
	}
	seen := map[string]int{}
	for i, v := range variants {
		e := base
		v(&e)
		h := hex.EncodeToString(Hash(&e))
		if j, dup := seen[h]; dup && !(i == 3 && j == 0) {
			t.Errorf("variants %d and %d hash alike", j, i)
		}
		seen[h] = i
	}
	if len(seen) != len(variants)-1 {
		t.Errorf("%d distinct hashes, want %d", len(seen), len(variants)-1)
	}
}

func TestRecord(t *testing.T) {
	f := &fakeAudit{}
	msk := time.FixedZone("MSK", 3*3600)
	at := time.Date(2017, 4, 1, 15, 0, 0, 123456789, msk)
	l := New(f, func() time.Time { return at })
	ctx := context.Background()
	if err := l.Record(ctx, 3, "request.read", "request:ab12"); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, 0, "request.submit", "request:cd34"); err != nil {
		t.Fatal(err)
	}
	e := f.entries[0]
	if e.Seq != 1 || e.ActorID != 3 || e.Action != "request.read" || e.Object != "request:ab12" || e.PrevHash != nil {
		t.Errorf("entry 1 = %+v", e)
	}
	wantAt := time.Date(2017, 4, 1, 12, 0, 0, 123456000, time.UTC)
	if !e.At.Equal(wantAt) || e.At.Location() != time.UTC {
		t.Errorf("At = %v, want %v in UTC truncated to microseconds", e.At, wantAt)
	}
	if !bytes.Equal(e.Hash, Hash(e)) || !bytes.Equal(f.entries[1].PrevHash, e.Hash) {
		t.Error("hashes not chained")
	}
	rep, err := Verify(ctx, f)
	if err != nil || rep.Entries != 2 {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

func TestRecordDefaultClock(t *testing.T) {
	f := &fakeAudit{}
	before := time.Now().Add(-time.Second)
	if err := New(f, nil).Record(context.Background(), 1, "x", "y"); err != nil {
		t.Fatal(err)
	}
	if at := f.entries[0].At; at.Before(before) {
		t.Errorf("At = %v, want about now", at)
	}
}

func TestRecordStoreError(t *testing.T) {
	boom := errors.New("disk on fire")
	f := &fakeAudit{err: boom}
	err := New(f, nil).Record(context.Background(), 1, "request.read", "request:1")
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want wrapping %v", err, boom)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(&fakeAudit{}, nil).Record(ctx, 1, "request.read", "request:1"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func TestRecordValidation(t *testing.T) {
	tests := []struct {
		name   string
		actor  int64
		action string
		object string
		err    error
	}{
		{"typical", 3, "request.read", "request:ab12", nil},
		{"system", 0, "retention.run", "retention", nil},
		{"underscores", 1, "request.status.in_progress", "safe_house:Ab-9_z", nil},
		{"longest", 1, "a" + strings.Repeat("b", 63), "x:" + strings.Repeat("Z", 64), nil},

		{"negative actor", -1, "request.read", "request:1", ErrInvalidActor},
		{"empty action", 1, "", "request:1", ErrInvalidAction},
		{"action too long", 1, "a" + strings.Repeat("b", 64), "request:1", ErrInvalidAction},
		{"action starts with digit", 1, "1read", "request:1", ErrInvalidAction},
		{"action starts with dot", 1, ".read", "request:1", ErrInvalidAction},
		{"action upper case", 1, "Request.read", "request:1", ErrInvalidAction},
		{"action with space", 1, "request read", "request:1", ErrInvalidAction},
		{"action with name", 1, "message from Ivan", "request:1", ErrInvalidAction},
		{"action Cyrillic", 1, "запрос", "request:1", ErrInvalidAction},
		{"action with newline", 1, "request.read\n", "request:1", ErrInvalidAction},

		{"empty object", 1, "request.read", "", ErrInvalidObject},
		{"object kind only colon", 1, "request.read", "request:", ErrInvalidObject},
		{"object no kind", 1, "request.read", ":abc", ErrInvalidObject},
		{"object kind with digit", 1, "request.read", "request2:abc", ErrInvalidObject},
		{"object id too long", 1, "request.read", "request:" + strings.Repeat("a", 65), ErrInvalidObject},
		{"object two colons", 1, "request.read", "request:a:b", ErrInvalidObject},
		{"object with name", 1, "request.read", "request:Ivan Petrov", ErrInvalidObject},
		{"object Cyrillic", 1, "request.read", "request:Иван", ErrInvalidObject},
		{"object address", 1, "request.read", "safe_house:ul. Lenina 5", ErrInvalidObject},
		{"object phone", 1, "request.read", "phone:+79123456789", ErrInvalidObject},
		{"object message", 1, "message.send", "message:please help, they are coming", ErrInvalidObject},
		{"object NUL", 1, "request.read", "request:a\x00b", ErrInvalidObject},
		{"object full-width", 1, "request.read", "request:ａｂ", ErrInvalidObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAudit{}
			err := New(f, nil).Record(context.Background(), tt.actor, tt.action, tt.object)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Record(%d, %q, %q) = %v, want %v", tt.actor, tt.action, tt.object, err, tt.err)
			}
			if err != nil {
				if len(f.entries) != 0 {
					t.Error("an invalid entry reached the store")
				}
				// The error must not repeat what it refused.
				for _, v := range []string{tt.action, tt.object} {
					if len(v) > 3 && strings.Contains(err.Error(), v) {
						t.Errorf("error %q repeats %q", err, v)
					}
				}
			}
		})
	}
}

var (
	actionRE = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)
	objectRE = regexp.MustCompile(`^[a-z_]+(:[A-Za-z0-9_-]{1,64})?$`)
)

// The validators are hand-written (no regexp state, no allocation); they
// must agree with the documented expressions on every input.
func FuzzValidators(f *testing.F) {
	for _, s := range []string{
		"", "a", "request.read", "request:ab12", "request:", ":x", "a:b:c", "A", "_",
		"a" + strings.Repeat("b", 63), "a" + strings.Repeat("b", 64),
		"x:" + strings.Repeat("Z", 64), "x:" + strings.Repeat("Z", 65), "запрос", "a\n", "a\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidAction(s), actionRE.MatchString(s); got != want {
			t.Errorf("ValidAction(%q) = %v, regexp says %v", s, got, want)
		}
		if got, want := ValidObject(s), objectRE.MatchString(s); got != want {
			t.Errorf("ValidObject(%q) = %v, regexp says %v", s, got, want)
		}
	})
}

func TestVerifyEmpty(t *testing.T) {
	rep, err := Verify(context.Background(), &fakeAudit{})
	if err != nil || rep.Entries != 0 || rep.Head != nil || rep.BadSeq != 0 {
		t.Errorf("Verify(empty) = %+v, %v", rep, err)
	}
}

func TestVerify(t *testing.T) {
	const n = 10
	// rehash recomputes every hash from index i on, as an attacker with
	// write access to the database can; only the head gives it away.
	rehash := func(es []*store.AuditEntry, i int) {
		for ; i < len(es); i++ {
			es[i].PrevHash = nil
			if i > 0 {
				es[i].PrevHash = es[i-1].Hash
			}
			es[i].Hash = Hash(es[i])
		}
	}
	tests := []struct {
		name    string
		tamper  func(es []*store.AuditEntry) []*store.AuditEntry
		entries int   // entries that verify
		badSeq  int64 // 0: the chain must verify
		reason  string
	}{
		{"intact", func(es []*store.AuditEntry) []*store.AuditEntry { return es }, n, 0, ""},
		{"altered action", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[3].Action = "request.list"
			return es
		}, 3, 4, "hash"},
		{"altered object", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[0].Object = "request:other"
			return es
		}, 0, 1, "hash"},
		{"altered actor", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[5].ActorID = 99
			return es
		}, 5, 6, "hash"},
		{"altered time", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[4].At = es[4].At.Add(-time.Hour)
			return es
		}, 4, 5, "hash"},
		{"altered time by a microsecond", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[4].At = es[4].At.Add(time.Microsecond)
			return es
		}, 4, 5, "hash"},
		{"deleted middle entry", func(es []*store.AuditEntry) []*store.AuditEntry {
			return slices.Delete(es, 5, 6)
		}, 5, 6, "missing"},
		{"deleted first entry", func(es []*store.AuditEntry) []*store.AuditEntry {
			return es[1:]
		}, 0, 1, "missing"},
		{"deleted and renumbered", func(es []*store.AuditEntry) []*store.AuditEntry {
			es = slices.Delete(es, 5, 6)
			for i := 5; i < len(es); i++ {
				es[i].Seq--
			}
			return es
		}, 5, 6, "link"},
		{"swapped entries", func(es []*store.AuditEntry) []*store.AuditEntry {
			// Rows change places; each keeps its position's sequence number.
			es[2], es[3] = es[3], es[2]
			es[2].Seq, es[3].Seq = 3, 4
			return es
		}, 2, 3, "link"},
		{"swapped contents", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[2].Object, es[3].Object = es[3].Object, es[2].Object
			return es
		}, 2, 3, "hash"},
		{"altered last hash", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[n-1].Hash[0] ^= 1
			return es
		}, n - 1, n, "hash"},
		{"altered prev link", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[6].PrevHash[31] ^= 0x80
			return es
		}, 6, 7, "link"},
		{"prev on first entry", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[0].PrevHash = make([]byte, 32)
			es[0].Hash = Hash(es[0])
			rehash(es, 1)
			return es
		}, 0, 1, "link"},
		{"inserted entry", func(es []*store.AuditEntry) []*store.AuditEntry {
			// A well-formed entry slipped in after seq 5; the ones after
			// it are renumbered but cannot be re-linked without rehashing.
			extra := &store.AuditEntry{Seq: 6, At: es[4].At, ActorID: 1, Action: "request.read", Object: "request:planted", PrevHash: es[4].Hash}
			extra.Hash = Hash(extra)
			es = slices.Insert(es, 5, extra)
			for i := 6; i < len(es); i++ {
				es[i].Seq++
			}
			return es
		}, 6, 7, "link"},
		{"content smuggled in, chain rewritten", func(es []*store.AuditEntry) []*store.AuditEntry {
			es[7].Object = "message:Ivan Petrov, Grozny"
			rehash(es, 7)
			return es
		}, 7, 8, "shape"},
	}
	for _, tt := range tests {
		for _, page := range []int{1, 2, 3, 7, n - 1, n, n + 1, verifyPage} {
			t.Run(fmt.Sprintf("%s/page%d", tt.name, page), func(t *testing.T) {
				f := newChain(t, n)
				good, err := verify(context.Background(), f, page)
				if err != nil {
					t.Fatal(err)
				}
				f.entries = tt.tamper(f.entries)
				rep, err := verify(context.Background(), f, page)
				if tt.badSeq == 0 {
					if err != nil {
						t.Fatalf("verify = %v", err)
					}
				} else if !errors.Is(err, ErrBroken) {
					t.Fatalf("verify error = %v, want ErrBroken", err)
				}
				if rep.Entries != tt.entries || rep.BadSeq != tt.badSeq || !strings.Contains(rep.Reason, tt.reason) {
					t.Errorf("report = {Entries:%d BadSeq:%d Reason:%q}, want {%d %d %q}",
						rep.Entries, rep.BadSeq, rep.Reason, tt.entries, tt.badSeq, tt.reason)
				}
				if err != nil && !strings.Contains(err.Error(), fmt.Sprint("seq ", tt.badSeq)) {
					t.Errorf("error %q does not name seq %d", err, tt.badSeq)
				}
				if tt.badSeq == 0 && !bytes.Equal(rep.Head, good.Head) {
					t.Error("intact chain: head changed")
				}
				if tt.badSeq != 0 && tt.entries > 0 && !bytes.Equal(rep.Head, f.entries[tt.entries-1].Hash) {
					t.Error("head is not the hash of the last entry that verified")
				}
			})
		}
	}
}

// What the chain alone cannot show, and the head can.
func TestVerifyNeedsHeadForTruncationAndRewrites(t *testing.T) {
	ctx := context.Background()
	f := newChain(t, 10)
	good, err := Verify(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	f.entries = f.entries[:7] // newest three deleted
	rep, err := Verify(ctx, f)
	if err != nil || rep.Entries != 7 {
		t.Fatalf("truncated chain: %+v, %v", rep, err)
	}
	if bytes.Equal(rep.Head, good.Head) {
		t.Error("truncated chain has the old head")
	}

	f = newChain(t, 10)
	f.entries[2].Action = "request.list"
	for i := 2; i < len(f.entries); i++ {
		f.entries[i].PrevHash = f.entries[i-1].Hash
		f.entries[i].Hash = Hash(f.entries[i])
	}
	rep, err = Verify(ctx, f)
	if err != nil || rep.Entries != 10 {
		t.Fatalf("rewritten chain: %+v, %v", rep, err)
	}
	if bytes.Equal(rep.Head, good.Head) {
		t.Error("rewritten chain has the old head")
	}
}

func TestVerifyPages(t *testing.T) {
	f := newChain(t, 25)
	for page, calls := range map[int]int{1: 26, 5: 6, 10: 3, 24: 2, 25: 2, 26: 1, 1000: 1} {
		f.ranges = 0
		rep, err := verify(context.Background(), f, page)
		if err != nil || rep.Entries != 25 {
			t.Fatalf("page %d: %+v, %v", page, rep, err)
		}
		if f.ranges != calls {
			t.Errorf("page %d: %d AuditRange calls, want %d", page, f.ranges, calls)
		}
	}
}

func TestVerifyStoreError(t *testing.T) {
	boom := errors.New("connection reset")
	f := newChain(t, 3)
	f.err = boom
	_, err := Verify(context.Background(), f)
	if !errors.Is(err, boom) || errors.Is(err, ErrBroken) {
		t.Errorf("err = %v, want wrapping %v and not ErrBroken", err, boom)
	}
	f.err = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, f); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func TestRecordConcurrent(t *testing.T) {
	f := &fakeAudit{}
	c := &clock{t: start, step: time.Millisecond}
	l := New(f, c.now)
	const workers, each = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				errs <- l.Record(context.Background(), int64(w+1), "request.read", fmt.Sprintf("request:w%di%d", w, i))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rep, err := verify(context.Background(), f, 64)
	if err != nil || rep.Entries != workers*each {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

func ExampleHash() {
	e := &store.AuditEntry{
		Seq:     1,
		At:      time.Date(2017, 4, 1, 12, 0, 0, 123456000, time.UTC),
		ActorID: 3,
		Action:  "request.read",
		Object:  "request:ab12",
	}
	fmt.Printf("%x\n", Hash(e))
	// Output: 7ad278089875c309bbb024151a52d6a2f0393574e9e30e72753f27670583bf5e
}
