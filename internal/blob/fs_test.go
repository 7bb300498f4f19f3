package blob_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/blob"
)

func newFS(t *testing.T) (*blob.FS, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := blob.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func put(t *testing.T, s blob.Store, data []byte) string {
	t.Helper()
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	id, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func read(t *testing.T, s blob.Store, id string) []byte {
	t.Helper()
	r, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// files lists every regular file under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	s, dir := newFS(t)
	for _, size := range []int{0, 1, 4096, 3<<20 + 7} {
		data := make([]byte, size)
		rand.Read(data)
		id := put(t, s, data)
		if !blob.ValidID(id) {
			t.Fatalf("Commit gave id %q, not a valid id", id)
		}
		if got := read(t, s, id); !bytes.Equal(got, data) {
			t.Fatalf("size %d: read back %d bytes, not what was written", size, len(got))
		}
		if _, err := os.Stat(filepath.Join(dir, id[:2], id)); err != nil {
			t.Fatalf("blob not at dir/%s/%s: %v", id[:2], id, err)
		}
	}
	if tmp := files(t, filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Fatalf("temporary files left after commits: %v", tmp)
	}
}

func TestModes(t *testing.T) {
	s, dir := newFS(t)
	id := put(t, s, []byte("x"))
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, "tmp"), 0o700},
		{filepath.Join(dir, id[:2]), 0o700},
		{filepath.Join(dir, id[:2], id), 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %o, want %o", c.path, got, c.want)
		}
	}
	// An existing directory with loose permissions is tightened.
	loose := filepath.Join(t.TempDir(), "loose")
	if err := os.Mkdir(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.NewFS(loose); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Errorf("existing directory left at %o", fi.Mode().Perm())
	}
}

func TestUncommittedIsInvisible(t *testing.T) {
	s, dir := newFS(t)
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("half"), 1<<18)); err != nil {
		t.Fatal(err)
	}
	for _, f := range files(t, dir) {
		if !strings.HasPrefix(f, "tmp"+string(filepath.Separator)) {
			t.Fatalf("file %s visible outside tmp before Commit", f)
		}
	}
	w.Abort()
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("Abort left %v", got)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, blob.ErrClosed) {
		t.Fatalf("Write after Abort = %v, want ErrClosed", err)
	}
	if _, err := w.Commit(); !errors.Is(err, blob.ErrClosed) {
		t.Fatalf("Commit after Abort = %v, want ErrClosed", err)
	}
}

func TestCommitTwice(t *testing.T) {
	s, _ := newFS(t)
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); !errors.Is(err, blob.ErrClosed) {
		t.Fatalf("second Commit = %v, want ErrClosed", err)
	}
	w.Abort() // after Commit: must not remove the blob
	if got := read(t, s, id); len(got) != 0 {
		t.Fatalf("empty blob read back %d bytes", len(got))
	}
}

func TestIDsAreDistinct(t *testing.T) {
	s, _ := newFS(t)
	seen := map[string]bool{}
	for range 200 {
		id := put(t, s, []byte("same"))
		if seen[id] {
			t.Fatalf("id %s given twice", id)
		}
		seen[id] = true
	}
}

func TestInvalidIDs(t *testing.T) {
	s, _ := newFS(t)
	ctx := t.Context()
	for _, id := range []string{"", "..", "../../etc/passwd", "tmp", strings.Repeat("A", 32),
		strings.Repeat("a", 31), strings.Repeat("a", 33), "0123456789abcdef0123456789abcde/", "0123456789abcdef0123456789abcdeg"} {
		if _, err := s.Open(ctx, id); !errors.Is(err, blob.ErrInvalidID) {
			t.Errorf("Open(%q) = %v, want ErrInvalidID", id, err)
		}
		if err := s.Delete(ctx, id); !errors.Is(err, blob.ErrInvalidID) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidID", id, err)
		}
	}
	missing := strings.Repeat("ab", 16)
	if _, err := s.Open(ctx, missing); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, missing); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Delete(missing) = %v, want ErrNotFound", err)
	}
}

// TestDeleteOverwrites checks that Delete zeroes the blob's first bytes
// (where an age header sits) before unlinking it: a reader that had the
// file open still sees the inode, and must see zeros there.
func TestDeleteOverwrites(t *testing.T) {
	s, _ := newFS(t)
	data := bytes.Repeat([]byte("age-encryption.org/v1 header "), 10000)
	id := put(t, s, data)
	r, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := s.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(data) {
		t.Fatalf("read %d bytes through the old handle, want %d", len(got), len(data))
	}
	if !bytes.Equal(got[:64<<10], make([]byte, 64<<10)) {
		t.Fatal("the first 64 KiB were not overwritten with zeros")
	}
	if !bytes.Equal(got[64<<10:], data[64<<10:]) {
		t.Fatal("bytes after the first 64 KiB changed")
	}
	if _, err := s.Open(t.Context(), id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open after Delete = %v, want ErrNotFound", err)
	}
}

func TestSweep(t *testing.T) {
	s, dir := newFS(t)
	ctx := t.Context()
	old := time.Now().Add(-2 * time.Hour)
	age := func(p string) {
		t.Helper()
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	known := put(t, s, []byte("known"))
	orphan := put(t, s, []byte("orphan"))
	recent := put(t, s, []byte("recent orphan"))
	age(filepath.Join(dir, known[:2], known))
	age(filepath.Join(dir, orphan[:2], orphan))

	// A temporary file left by a crash, and one being written now.
	stale, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stale.Write([]byte("abandoned"))
	live, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	tmps := files(t, filepath.Join(dir, "tmp"))
	if len(tmps) != 2 {
		t.Fatalf("want 2 temporary files, have %v", tmps)
	}
	// Age one of them (which one does not matter): it stands for the
	// file a crashed writer left.
	age(filepath.Join(dir, "tmp", tmps[0]))
	youngTmp := tmps[1]

	// Something that is not ours stays.
	foreign := filepath.Join(dir, known[:2], "README")
	if err := os.WriteFile(foreign, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	age(foreign)

	var asked []string
	n, err := s.Sweep(ctx, time.Now().Add(-time.Hour), func(id string) (bool, error) {
		asked = append(asked, id)
		return id == known, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("Sweep removed %d, want 2 (one temporary file, one orphan)", n)
	}
	for _, id := range asked {
		if id == recent {
			t.Error("Sweep asked about a blob newer than olderThan")
		}
	}
	if _, err := s.Open(ctx, orphan); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("old orphan still there: %v", err)
	}
	if got := read(t, s, known); string(got) != "known" {
		t.Errorf("known blob damaged: %q", got)
	}
	if got := read(t, s, recent); string(got) != "recent orphan" {
		t.Errorf("recent blob damaged: %q", got)
	}
	if tmps := files(t, filepath.Join(dir, "tmp")); len(tmps) != 1 || tmps[0] != youngTmp {
		t.Errorf("temporary files after sweep: %v, want only %s", tmps, youngTmp)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}

	// An error from known stops the sweep and is reported.
	age(filepath.Join(dir, recent[:2], recent))
	boom := errors.New("database down")
	if _, err := s.Sweep(ctx, time.Now(), func(string) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("Sweep with failing known = %v, want it wrapped", err)
	}
	if got := read(t, s, recent); string(got) != "recent orphan" {
		t.Fatal("blob removed although known failed")
	}
}
