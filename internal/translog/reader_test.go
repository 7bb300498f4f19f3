package translog

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestReader reads a log while its sequencer holds it, as `corridor
// export` does beside a running server: the proofs, consistency proofs
// and timestamps it gives are the sequencer's own and verify.
func TestReader(t *testing.T) {
	ctx := t.Context()
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	dir := t.TempDir()

	if _, err := OpenReader(dir); !errors.Is(err, ErrNotPublished) {
		t.Fatalf("OpenReader on an empty directory: %v, want ErrNotPublished", err)
	}
	if busy, err := InUse(dir + "/missing"); err != nil || busy {
		t.Fatalf("InUse(missing) = %v, %v", busy, err)
	}

	a := testCA(t)
	cfg := testConfig(t, dir)
	cfg.TSAURL = tsaServer(t, a, nil).URL
	cfg.TSARoots = a.roots()
	l := openLog(t, cfg)
	if busy, err := InUse(dir); err != nil || !busy {
		t.Fatalf("InUse while the log is open = %v, %v", busy, err)
	}
	src := newMemSource()
	for i := range 300 {
		src.add(entry(i))
	}
	if _, err := l.Integrate(ctx, src); err != nil {
		t.Fatal(err)
	}
	cp1, err := l.AwaitCheckpoint(wait, 300)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	policy := testPolicy(t, nil, 0)

	got, err := r.AwaitCheckpoint(wait, 300)
	if err != nil || !bytes.Equal(got, cp1) {
		t.Fatalf("reader's checkpoint differs from the log's: %v", err)
	}
	for _, i := range []uint64{0, 1, 255, 256, 299} {
		want, err := l.ProofAt(ctx, i, cp1)
		if err != nil {
			t.Fatal(err)
		}
		pr, err := r.ProofAt(ctx, i, cp1)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pr, want) {
			t.Errorf("proof for %d differs from the log's", i)
		}
		if _, _, err := VerifyProof(pr, entry(int(i)), policy); err != nil {
			t.Errorf("proof for %d: %v", i, err)
		}
	}
	if _, err := r.ProofAt(ctx, 300, cp1); !errors.Is(err, ErrNotPublished) {
		t.Errorf("proof beyond the checkpoint: %v", err)
	}

	// The timestamp of the first checkpoint, then more entries: the
	// older checkpoint stays provable and consistent with the newer one.
	var tsSize uint64
	var tsCP, token []byte
	for {
		tsSize, tsCP, token, err = r.TimestampCovering(ctx, 299)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNoTimestamp) {
			t.Fatal(err)
		}
		select {
		case <-wait.Done():
			t.Fatal("no timestamp in time")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if s, c, tok, err := l.TimestampCovering(ctx, 299); err != nil || s != tsSize || !bytes.Equal(c, tsCP) || !bytes.Equal(tok, token) {
		t.Fatalf("reader's timestamp differs from the log's: %v", err)
	}
	if _, err := VerifyTimestamp(token, tsCP, a.roots()); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.TimestampCovering(ctx, tsSize); !errors.Is(err, ErrNoTimestamp) {
		t.Errorf("timestamp covering an entry beyond every stamp: %v", err)
	}

	for i := 300; i < 700; i++ {
		src.add(entry(i))
	}
	if _, err := l.Integrate(ctx, src); err != nil {
		t.Fatal(err)
	}
	cp2raw, err := r.AwaitCheckpoint(wait, 700)
	if err != nil {
		t.Fatal(err)
	}
	old, err := VerifyCheckpoint(tsCP, policy)
	if err != nil {
		t.Fatal(err)
	}
	cp2, err := VerifyCheckpoint(cp2raw, policy)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := r.Consistency(ctx, old.Size, cp2.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyConsistency(old, cp2, cons); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Consistency(ctx, old.Size, cp2.Size+1); err == nil {
		t.Error("consistency to a size never published")
	}
	pr, err := r.ProofAt(ctx, 5, tsCP)
	if err != nil {
		t.Fatal(err)
	}
	if _, c, err := VerifyProof(pr, entry(5), policy); err != nil || c.Size != tsSize {
		t.Fatalf("proof against the older, timestamped checkpoint: %v", err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if busy, err := InUse(dir); err != nil || busy {
		t.Fatalf("InUse after Close = %v, %v", busy, err)
	}
	// InUse let go of the lock it took to look.
	l = openLog(t, cfg)
	l.Close()
}
