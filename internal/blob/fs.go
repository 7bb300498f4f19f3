package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// FS is a Store in a local directory: dir/tmp holds blobs being written,
// dir/ab/abcdef… the committed ones (the first two characters of the id
// name a subdirectory, so no directory grows past a few thousand
// entries per million blobs). Directories are 0700 and files 0600.
type FS struct {
	dir string
}

var _ Store = (*FS)(nil)

const (
	idBytes   = 16 // 128 random bits: ids never collide and cannot be guessed
	tmpDir    = "tmp"
	shredSize = 64 << 10

	// Writes go to the kernel in writeBuf pieces, writeBufs of them in
	// flight (so a writer holds writeBufs × writeBuf of memory, whatever
	// the blob's size), and to the disk in writebackChunk pieces.
	writeBuf       = 1 << 20
	writeBufs      = 4
	writebackChunk = 8 << 20
)

// NewFS returns a Store in dir, creating it (and dir/tmp) if needed.
func NewFS(dir string) (*FS, error) {
	for _, d := range []string{dir, filepath.Join(dir, tmpDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
	}
	return &FS{dir: dir}, nil
}

// ValidID reports whether id has the form of a blob id (32 lower-case hex
// digits), the only form that is ever turned into a path.
func ValidID(id string) bool {
	if len(id) != 2*idBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *FS) path(id string) string { return filepath.Join(s.dir, id[:2], id) }

// Create starts a blob in a temporary file.
func (s *FS) Create(ctx context.Context) (Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "w-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("blob: create: %w", err)
	}
	w := &fsWriter{s: s, f: f, free: make(chan []byte, writeBufs), full: make(chan []byte, writeBufs), done: make(chan error, 1)}
	for range writeBufs {
		w.free <- make([]byte, 0, writeBuf)
	}
	w.buf = <-w.free
	go w.drain()
	return w, nil
}

// fsWriter hands full buffers to a goroutine that writes them to the
// file, so that whatever produces the bytes (here, age encrypting them)
// runs while the previous ones go to the kernel. The goroutine also asks
// the kernel to start writing each few megabytes to the disk as they come
// (and waits for the ones before), so dirty pages never pile up and the
// fsync in Commit has little left to do.
type fsWriter struct {
	s          *FS
	f          *os.File
	buf        []byte
	free, full chan []byte
	done       chan error
	failed     atomic.Bool // the goroutine hit an error; Commit reports it
	finished   bool        // the goroutine was stopped
	closed     bool        // committed or aborted
}

func (w *fsWriter) drain() {
	var err error
	var off, started, waited int64
	for b := range w.full {
		if err == nil {
			var n int
			n, err = w.f.Write(b)
			off += int64(n)
			if err == nil && off-started >= writebackChunk {
				flushBehind(w.f, waited, started, off)
				waited, started = started, off
			}
			if err != nil {
				w.failed.Store(true)
			}
		}
		w.free <- b[:0]
	}
	w.done <- err
}

// stop ends the goroutine and returns its error.
func (w *fsWriter) stop() error {
	if w.finished {
		return nil
	}
	w.finished = true
	close(w.full)
	return <-w.done
}

func (w *fsWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if w.failed.Load() {
		return 0, errors.New("blob: write failed")
	}
	n := 0
	for len(p) > 0 {
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p, n = p[k:], n+k
		if len(w.buf) == cap(w.buf) {
			w.full <- w.buf
			w.buf = <-w.free
		}
	}
	return n, nil
}

// Commit: flush, fsync the file, rename it into place, fsync the
// directory (and the new subdirectory's parent when it was just made),
// so that once Commit returns the blob survives a power cut.
func (w *fsWriter) Commit() (string, error) {
	if w.closed {
		return "", ErrClosed
	}
	w.closed = true
	f := w.f
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("blob: commit: %w", err)
	}
	if len(w.buf) > 0 {
		w.full <- w.buf
	}
	if err := w.stop(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("blob: commit: %w", err)
	}
	id, err := newID()
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	sub := filepath.Join(w.s.dir, id[:2])
	if _, err := os.Stat(sub); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(sub, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			os.Remove(f.Name())
			return "", fmt.Errorf("blob: commit: %w", err)
		}
		if err := syncDir(w.s.dir); err != nil {
			os.Remove(f.Name())
			return "", err
		}
	}
	if err := os.Rename(f.Name(), w.s.path(id)); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("blob: commit: %w", err)
	}
	if err := syncDir(sub); err != nil {
		// The rename may or may not survive a crash: the caller must
		// not record the blob, and Sweep will remove it if it does.
		return "", err
	}
	return id, nil
}

func (w *fsWriter) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.stop()
	w.f.Close()
	os.Remove(w.f.Name())
}

func newID() (string, error) {
	b := make([]byte, idBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("blob: id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob: sync directory: %w", err)
	}
	return nil
}

// Open opens a committed blob for reading.
func (s *FS) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !ValidID(id) {
		return nil, ErrInvalidID
	}
	f, err := os.Open(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	return f, nil
}

// Size returns a committed blob's size.
func (s *FS) Size(ctx context.Context, id string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !ValidID(id) {
		return 0, ErrInvalidID
	}
	fi, err := os.Stat(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("blob: size: %w", err)
	}
	return fi.Size(), nil
}

// Delete overwrites the start of the blob with zeros, syncs, then unlinks
// it. Blobs here are age files, whose header (the file key wrapped to each
// recipient) sits in the first bytes: with it overwritten, even a copy of
// the rest recovered from the disk's free space cannot be decrypted by
// anyone, custodians included. (On copy-on-write or flash storage the old
// blocks may survive the overwrite; the operations guide says so.)
func (s *FS) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ValidID(id) {
		return ErrInvalidID
	}
	return s.shred(s.path(id))
}

func (s *FS) shred(name string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("blob: delete: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		_, err = f.WriteAt(make([]byte, min(fi.Size(), shredSize)), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blob: delete: %w", err)
	}
	if err := os.Remove(name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ErrNotFound
		}
		return fmt.Errorf("blob: delete: %w", err)
	}
	return syncDir(filepath.Dir(name))
}

// Sweep removes temporary files and unknown blobs last written before
// olderThan. Files whose names are not blob ids are left alone (they are
// not ours to judge).
func (s *FS) Sweep(ctx context.Context, olderThan time.Time, known func(id string) (bool, error)) (int, error) {
	removed := 0
	old := func(e fs.DirEntry) bool {
		fi, err := e.Info()
		return err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(olderThan)
	}
	tmps, err := os.ReadDir(filepath.Join(s.dir, tmpDir))
	if err != nil {
		return 0, fmt.Errorf("blob: sweep: %w", err)
	}
	for _, e := range tmps {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if old(e) {
			if err := s.shred(filepath.Join(s.dir, tmpDir, e.Name())); err != nil && !errors.Is(err, ErrNotFound) {
				return removed, err
			}
			removed++
		}
	}
	subs, err := os.ReadDir(s.dir)
	if err != nil {
		return removed, fmt.Errorf("blob: sweep: %w", err)
	}
	for _, sub := range subs {
		if !sub.IsDir() || len(sub.Name()) != 2 {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.dir, sub.Name()))
		if err != nil {
			return removed, fmt.Errorf("blob: sweep: %w", err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return removed, err
			}
			id := e.Name()
			if !ValidID(id) || id[:2] != sub.Name() || !old(e) {
				continue
			}
			ok, err := known(id)
			if err != nil {
				return removed, fmt.Errorf("blob: sweep: %w", err)
			}
			if ok {
				continue
			}
			if err := s.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}
