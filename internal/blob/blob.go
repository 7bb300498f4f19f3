// Package blob keeps immutable blobs: large opaque byte strings (here,
// evidence already sealed with age) named by random ids. A blob becomes
// visible only once it is complete and durable (written to a temporary
// file, synced, renamed into place, directory synced), so a crash at any
// point leaves either nothing or a whole blob, never part of one.
//
// A blob that no database record refers to (because the process died
// between Commit and the transaction that records it) is harmless but
// takes space; Sweep removes such orphans, and forgotten temporary files,
// once they are old enough that no writer can still be about to record
// them.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: no blob has this id (never had, or deleted).
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidID: the id is not of the form ids have, so it cannot name
	// a blob (and must not be turned into a path).
	ErrInvalidID = errors.New("blob: invalid id")
	// ErrClosed: Write, Commit or Abort on a writer that was already
	// committed or aborted.
	ErrClosed = errors.New("blob: writer already committed or aborted")
)

// Store keeps blobs.
type Store interface {
	// Create starts a new blob. Nothing is visible until Commit.
	Create(ctx context.Context) (Writer, error)
	// Open reads a committed blob; ErrNotFound if there is none.
	Open(ctx context.Context, id string) (io.ReadCloser, error)
	// Delete removes a blob for good; ErrNotFound if there is none.
	Delete(ctx context.Context, id string) error
	// Size is a committed blob's size in bytes; ErrNotFound if there is none.
	Size(ctx context.Context, id string) (int64, error)
	// Sweep removes temporary files and blobs last written before
	// olderThan: the temporary files always, the blobs only when known
	// reports them unknown (no record refers to them). It returns how many
	// it removed. An error from known stops the sweep.
	Sweep(ctx context.Context, olderThan time.Time, known func(id string) (bool, error)) (int, error)
}

// Writer writes one blob.
type Writer interface {
	io.Writer
	// Commit makes the blob durable and visible and returns its id. After
	// an error nothing is visible.
	Commit() (id string, err error)
	// Abort discards the blob. It is safe to call after Commit (then it
	// does nothing), so callers can defer it.
	Abort()
}
