package translog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// Pending is one outbox entry waiting to be logged.
type Pending struct {
	Seq   int64  // the outbox's order
	Entry []byte // the exact bytes to log
}

// Source is the outbox the log drains. The store implements it; the log
// relies on these properties:
//   - Pending returns the oldest entries first, in Seq order;
//   - Logged atomically records the entry's index and removes it from the
//     outbox, and is idempotent for the same (seq, index);
//   - LoggedCount counts the entries recorded with an index. Because the log
//     records them in index order, these are always entries 0..count-1.
type Source interface {
	Pending(ctx context.Context, max int) ([]Pending, error)
	Logged(ctx context.Context, seq int64, index uint64) error
	LoggedCount(ctx context.Context) (uint64, error)
}

// Record says where an outbox entry landed in the log.
type Record struct {
	Seq   int64
	Index uint64
}

// BatchSource is a Source that can record a whole round at once. Integrate
// uses LoggedBatch when the source has it: one database transaction per
// round instead of one per entry (see BenchmarkAppend).
type BatchSource interface {
	Source
	// LoggedBatch atomically records every entry (as Logged does for
	// one), in the order given, which is index order.
	LoggedBatch(ctx context.Context, recs []Record) error
}

// Integrate drains the outbox into the log now, in outbox order, and
// returns how many entries it logged (including any found already in the
// log after a crash and recorded now). It returns when the outbox is empty
// or on the first error; what was logged before an error stays recorded.
func (l *Log) Integrate(ctx context.Context, src Source) (int, error) {
	l.integrate.Lock()
	defer l.integrate.Unlock()
	if l.appender == nil {
		return 0, errors.New("translog: log is closed")
	}
	total, err := l.reconcile(ctx, src)
	if err != nil {
		return total, err
	}
	for {
		n, more, err := l.round(ctx, src)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// round appends up to one batch from the outbox and records it. more
// reports whether the batch was full (the outbox may hold more).
func (l *Log) round(ctx context.Context, src Source) (n int, more bool, err error) {
	pending, err := src.Pending(ctx, l.cfg.batch)
	if err != nil {
		return 0, false, fmt.Errorf("translog: reading the outbox: %w", err)
	}
	if len(pending) == 0 {
		return 0, false, nil
	}
	for _, p := range pending {
		if len(p.Entry) > maxEntrySize {
			return 0, false, fmt.Errorf("%w: outbox entry %d is %d bytes", ErrEntryTooLarge, p.Seq, len(p.Entry))
		}
	}
	// Add the whole round before resolving any future, so that tessera
	// sequences it as one batch: in the log whole or not at all.
	futures := make([]tessera.IndexFuture, len(pending))
	for i, p := range pending {
		futures[i] = l.appender.Add(ctx, tessera.NewEntry(p.Entry))
	}
	recs := make([]Record, 0, len(pending))
	var addErr error
	for i, f := range futures {
		idx, err := f()
		if err != nil {
			// A later future may still resolve if tessera split the
			// round; whatever reached the log is recorded below, or by
			// the next reconcile.
			addErr = errors.Join(addErr, err)
			continue
		}
		if addErr != nil {
			l.log.WarnContext(ctx, "transparency log entries appended out of outbox order", "index", idx.Index)
		}
		recs = append(recs, Record{Seq: pending[i].Seq, Index: idx.Index})
	}
	if l.afterAppend != nil {
		l.afterAppend()
	}
	if err := l.record(ctx, src, recs); err != nil {
		return 0, false, err
	}
	if addErr != nil {
		return len(recs), false, fmt.Errorf("translog: appending: %w", addErr)
	}
	return len(recs), len(pending) == l.cfg.batch, nil
}

// record tells the source where entries landed, in index order, so that
// what the source has recorded is always a prefix of the log.
func (l *Log) record(ctx context.Context, src Source, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	slices.SortFunc(recs, func(a, b Record) int { return cmp.Compare(a.Index, b.Index) })
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq < recs[i-1].Seq {
			l.log.WarnContext(ctx, "transparency log entries appended out of outbox order", "index", recs[i].Index)
		}
	}
	if bs, ok := src.(BatchSource); ok {
		if err := bs.LoggedBatch(ctx, recs); err != nil {
			return fmt.Errorf("translog: recording indices %d–%d: %w", recs[0].Index, recs[len(recs)-1].Index, err)
		}
		return nil
	}
	for _, m := range recs {
		if err := src.Logged(ctx, m.Seq, m.Index); err != nil {
			return fmt.Errorf("translog: recording index %d: %w", m.Index, err)
		}
	}
	return nil
}

// reconcile finds entries that are in the log but not recorded in the
// source — the process died between appending and recording — and records
// them, matching them to outbox entries by content. Without this, those
// entries would be appended a second time.
func (l *Log) reconcile(ctx context.Context, src Source) (int, error) {
	size, err := l.reader.IntegratedSize(ctx)
	if err != nil {
		return 0, fmt.Errorf("translog: reading the tree size: %w", err)
	}
	done := 0
	last := uint64(0)
	for first := true; ; first = false {
		known, err := src.LoggedCount(ctx)
		if err != nil {
			return done, fmt.Errorf("translog: reading the logged count: %w", err)
		}
		if !first && known <= last {
			// Logged succeeded but the count did not move: the source
			// breaks its contract, and looping would never end.
			return done, fmt.Errorf("translog: the outbox recorded entries but its logged count stayed at %d", known)
		}
		last = known
		if known > size {
			return done, fmt.Errorf("%w: the database records %d logged entries, the log holds %d", ErrDiverged, known, size)
		}
		if known == size {
			if done > 0 {
				l.log.InfoContext(ctx, "transparency log recovered entries appended before a crash", "entries", done)
			}
			return done, nil
		}
		n, err := l.reconcileChunk(ctx, src, known, min(size, known+uint64(l.cfg.batch)), size)
		done += n
		if err != nil {
			return done, err
		}
	}
}

// reconcileChunk records log entries [from, to) of a tree of treeSize.
func (l *Log) reconcileChunk(ctx context.Context, src Source, from, to, treeSize uint64) (int, error) {
	entries, err := l.readEntries(ctx, from, to, treeSize)
	if err != nil {
		return 0, err
	}
	// Normally the entries are the oldest pending ones, in order. A round
	// that tessera split, whose first part failed while a later part was
	// written, puts entries out of order; look one batch further.
	pending, err := src.Pending(ctx, len(entries)+l.cfg.batch)
	if err != nil {
		return 0, fmt.Errorf("translog: reading the outbox: %w", err)
	}
	bySeq := make(map[string][]int, len(pending))
	for i, p := range pending {
		bySeq[string(p.Entry)] = append(bySeq[string(p.Entry)], i)
	}
	recs := make([]Record, 0, len(entries))
	for j, e := range entries {
		idx := bySeq[string(e)]
		if len(idx) == 0 {
			return 0, fmt.Errorf("%w: log entry %d is not in the outbox", ErrDiverged, from+uint64(j))
		}
		if idx[0] != j {
			l.log.WarnContext(ctx, "transparency log entries appended out of outbox order", "index", from+uint64(j))
		}
		recs = append(recs, Record{Seq: pending[idx[0]].Seq, Index: from + uint64(j)})
		bySeq[string(e)] = idx[1:]
	}
	if err := l.record(ctx, src, recs); err != nil {
		return 0, err
	}
	return len(recs), nil
}

// readEntries returns log entries [from, to) from the entry bundles of a
// tree of treeSize.
func (l *Log) readEntries(ctx context.Context, from, to, treeSize uint64) ([][]byte, error) {
	out := make([][]byte, 0, to-from)
	for r := range layout.Range(from, to-from, treeSize) {
		raw, err := l.reader.ReadEntryBundle(ctx, r.Index, r.Partial)
		if err != nil {
			return nil, fmt.Errorf("translog: reading entry bundle %d: %w", r.Index, err)
		}
		var b api.EntryBundle
		if err := b.UnmarshalText(raw); err != nil {
			return nil, fmt.Errorf("translog: entry bundle %d: %w", r.Index, err)
		}
		if uint(len(b.Entries)) < r.First+r.N {
			return nil, fmt.Errorf("translog: entry bundle %d holds %d entries, want %d", r.Index, len(b.Entries), r.First+r.N)
		}
		out = append(out, b.Entries[r.First:r.First+r.N]...)
	}
	return out, nil
}

// Run integrates until ctx is done: whenever poke receives (the store pokes
// after committing an outbox entry), and every few seconds in case a poke
// was missed or an error is worth retrying. Errors are logged, with a
// growing pause between attempts.
func (l *Log) Run(ctx context.Context, src Source, poke <-chan struct{}) {
	const idle = 5 * time.Second
	wait := idle
	backoff := time.Second
	for {
		n, err := l.Integrate(ctx, src)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.log.ErrorContext(ctx, "transparency log integration failed", "err", err)
			wait = backoff
			backoff = min(2*backoff, time.Minute)
		default:
			if n > 0 {
				l.log.DebugContext(ctx, "transparency log integrated", "entries", n)
			}
			wait, backoff = idle, time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-poke:
		case <-t.C:
		}
		t.Stop()
	}
}
