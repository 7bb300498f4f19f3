package translog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// Reader reads a log directory without taking the sequencer's lock, for a
// process that needs proofs while another one (a running `corridor serve`)
// sequences the log: `corridor export` does. It only reads files that
// tessera writes atomically (temporary file, rename) and that never change
// once a checkpoint covering them is published, so reading beside a
// running sequencer is safe. It signs nothing and appends nothing.
type Reader struct {
	dir   string
	fetch client.FileFetcher
}

// OpenReader opens the log in dir read-only. The log must have published a
// checkpoint (ErrNotPublished otherwise).
func OpenReader(dir string) (*Reader, error) {
	fi, err := os.Stat(filepath.Join(dir, layout.CheckpointPath))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s holds no published checkpoint", ErrNotPublished, dir)
	case err != nil:
		return nil, fmt.Errorf("translog: %w", err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("translog: %s is not a log directory", dir)
	}
	return &Reader{dir: dir, fetch: client.FileFetcher{Root: dir}}, nil
}

// InUse reports whether a sequencer (Open, in this process or another)
// holds the log directory's lock now. A directory that does not exist is
// not in use.
func InUse(dir string) (bool, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	f, err := lockDir(dir)
	if errors.Is(err, ErrLocked) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, f.Close()
}

// Checkpoint returns the latest published checkpoint note, with the
// witnesses' cosignatures.
func (r *Reader) Checkpoint(ctx context.Context) ([]byte, error) {
	cp, err := r.fetch.ReadCheckpoint(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no checkpoint published yet", ErrNotPublished)
	}
	if err != nil {
		return nil, fmt.Errorf("translog: reading the checkpoint: %w", err)
	}
	return cp, nil
}

// AwaitCheckpoint waits until a checkpoint covering at least size entries
// is published, and returns it.
func (r *Reader) AwaitCheckpoint(ctx context.Context, size uint64) ([]byte, error) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		cp, err := r.Checkpoint(ctx)
		if err != nil && !errors.Is(err, ErrNotPublished) {
			return nil, err
		}
		if err == nil {
			c, err := parseUnverified(cp)
			if err != nil {
				return nil, err
			}
			if c.Size >= size {
				return cp, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// ProofAt returns the tlog-proof for the entry at index against checkpoint,
// a checkpoint this log has published.
func (r *Reader) ProofAt(ctx context.Context, index uint64, checkpoint []byte) ([]byte, error) {
	c, err := parseUnverified(checkpoint)
	if err != nil {
		return nil, err
	}
	if index >= c.Size {
		return nil, fmt.Errorf("%w: entry %d, checkpoint of %d entries", ErrNotPublished, index, c.Size)
	}
	pb, err := client.NewProofBuilder(ctx, c.Size, r.fetch.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("translog: %w", err)
	}
	hashes, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("translog: inclusion proof for %d: %w", index, err)
	}
	ip := InclusionProof{Index: index, Hashes: hashes, Checkpoint: checkpoint}
	return ip.Marshal(), nil
}

// Consistency returns the RFC 6962 consistency proof between two tree
// sizes of the log, the larger no larger than the latest published
// checkpoint's.
func (r *Reader) Consistency(ctx context.Context, oldSize, newSize uint64) ([][]byte, error) {
	if oldSize > newSize {
		return nil, fmt.Errorf("translog: consistency from %d to the smaller %d", oldSize, newSize)
	}
	cp, err := r.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	c, err := parseUnverified(cp)
	if err != nil {
		return nil, err
	}
	if newSize > c.Size {
		return nil, fmt.Errorf("translog: the published log has %d entries, not %d", c.Size, newSize)
	}
	pb, err := client.NewProofBuilder(ctx, newSize, r.fetch.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("translog: %w", err)
	}
	hashes, err := pb.ConsistencyProof(ctx, oldSize, newSize)
	if err != nil {
		return nil, fmt.Errorf("translog: consistency proof %d → %d: %w", oldSize, newSize, err)
	}
	return hashes, nil
}

// TimestampCovering returns the smallest timestamped checkpoint that
// includes the entry at index, with its token, as Log.TimestampCovering
// does; ErrNoTimestamp if none covers it yet.
func (r *Reader) TimestampCovering(ctx context.Context, index uint64) (size uint64, checkpoint, token []byte, err error) {
	dir := filepath.Join(r.dir, timestampsDir)
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil, ErrNoTimestamp
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("translog: %w", err)
	}
	var sizes []uint64
	for _, de := range des {
		// Temporary files start with ".tmp-", checkpoint copies end in
		// ".checkpoint": neither is a decimal.
		if n, err := parseDecimal(de.Name()); err == nil && n > index {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) == 0 {
		return 0, nil, nil, ErrNoTimestamp
	}
	size = slices.Min(sizes)
	name := strconv.FormatUint(size, 10)
	// The token is written after its checkpoint copy, so if the token is
	// there, so is the copy.
	if token, err = readFileIn(dir, name); err != nil {
		return 0, nil, nil, err
	}
	if checkpoint, err = readFileIn(dir, name+checkpointSuffix); err != nil {
		return 0, nil, nil, err
	}
	return size, checkpoint, token, nil
}

func readFileIn(dir, name string) ([]byte, error) {
	if strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("translog: bad file name %q", name)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoTimestamp
	}
	if err != nil {
		return nil, fmt.Errorf("translog: %w", err)
	}
	return b, nil
}
