package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"golang.org/x/crypto/chacha20poly1305"
)

func fileInfo(size int64) handler.FileInfo {
	return handler.FileInfo{Size: size, MetaData: handler.MetaData{"filename": "x.jpg"}}
}

// stage creates an upload in s and writes data[:n] to it, in chunks.
func stage(t *testing.T, s *Store, data []byte, n, chunk int) string {
	t.Helper()
	ctx := context.Background()
	up, err := s.NewUpload(withOwner(ctx, "alice"), fileInfo(int64(len(data))))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := up.GetInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < n; off += chunk {
		end := min(off+chunk, n)
		w, err := up.WriteChunk(ctx, int64(off), bytes.NewReader(data[off:end]))
		if err != nil || w != int64(end-off) {
			t.Fatalf("WriteChunk at %d: %d, %v", off, w, err)
		}
	}
	return fi.ID
}

func offsetOf(t *testing.T, s *Store, id string) int64 {
	t.Helper()
	up, err := s.GetUpload(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := up.GetInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fi.Offset
}

func readAll(t *testing.T, s *Store, id string) []byte {
	t.Helper()
	r, _, err := s.Reader(context.Background(), id)
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

func finish(t *testing.T, s *Store, id string, data []byte) {
	t.Helper()
	ctx := context.Background()
	off := offsetOf(t, s, id)
	up, err := s.GetUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n, err := up.WriteChunk(ctx, off, bytes.NewReader(data[off:]))
	if err != nil || n != int64(len(data))-off {
		t.Fatalf("WriteChunk at %d: %d, %v", off, n, err)
	}
}

// TestCrashRecovery: whatever a crash left after the last whole frame is
// discarded, never counted, and the upload resumes from the frame before.
func TestCrashRecovery(t *testing.T) {
	data := randomBytes(1<<20 + 333)
	// Two chunks of 100 KiB: frames of 64, 36, 64 and 36 KiB.
	const staged = 200 << 10
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantOff int64
	}{
		{"clean", func(*testing.T, string) {}, staged},
		{"torn header", func(t *testing.T, p string) { appendFile(t, p, []byte{0, 1, 0}) }, staged},
		{"torn frame", func(t *testing.T, p string) {
			h := binary.BigEndian.AppendUint32(nil, frameSize)
			appendFile(t, p, append(h, randomBytes(24+1000)...))
		}, staged},
		{"zeros after the end", func(t *testing.T, p string) { appendFile(t, p, make([]byte, 70000)) }, staged},
		{"whole frame of garbage", func(t *testing.T, p string) {
			h := binary.BigEndian.AppendUint32(nil, 100)
			appendFile(t, p, append(h, randomBytes(24+100+16)...))
		}, staged},
		{"last frame damaged", func(t *testing.T, p string) { flipByte(t, p, -5) }, 164 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kr := newKeyring()
			s := newStore(t, dir, kr, Options{})
			id := stage(t, s, data, staged, 100<<10)
			tc.damage(t, filepath.Join(dir, id+".data"))

			s2 := newStore(t, dir, kr, Options{}) // a restarted process
			if off := offsetOf(t, s2, id); off != tc.wantOff {
				t.Fatalf("offset %d, want %d", off, tc.wantOff)
			}
			finish(t, s2, id, data)
			if got := readAll(t, s2, id); !bytes.Equal(got, data) {
				t.Fatal("data differs after recovery")
			}
			// And once more from disk, as another restart would see it.
			if got := readAll(t, newStore(t, dir, kr, Options{}), id); !bytes.Equal(got, data) {
				t.Fatal("data differs after a second restart")
			}
		})
	}
}

// TestCompleteButNotIngested: a process that died after the last byte but
// before the ingest answered leaves an upload that reports its last frame
// missing, so that the client's resume triggers the ingest again.
func TestCompleteButNotIngested(t *testing.T) {
	dir := t.TempDir()
	kr := newKeyring()
	data := randomBytes(700<<10 + 5)
	s := newStore(t, dir, kr, Options{})
	id := stage(t, s, data, len(data), 256<<10)

	hs := newHarness(t, newStore(t, dir, kr, Options{}), nil)
	c := hs.client("alice")
	path := testBase + id
	off := c.head(path).offset(t)
	if want := int64(len(data)) - int64(len(data)%frameSize); off != want {
		t.Fatalf("offset %d, want %d", off, want)
	}
	if r := c.send(path, data, off, 1<<20); r.status != http.StatusNoContent {
		t.Fatalf("resume: %d %q", r.status, r.body)
	}
	if sums, _, _ := hs.ingest.done(); len(sums) != 1 || sums[0] != sha256.Sum256(data) {
		t.Fatal("not ingested exactly")
	}
}

// TestCanary: an upload interrupted before its end leaves nothing of the
// file, its name or its owner readable in the upload directory.
func TestCanary(t *testing.T) {
	const canary = "CANARY-7e1f-witness"
	dir := t.TempDir()
	hs := newHarness(t, newStore(t, dir, newKeyring(), Options{}), nil)
	c := hs.client(canary + "-staff")
	data := bytes.Repeat([]byte(canary+" statement of the witness\n"), (3<<20)/45)
	path := c.create(int64(len(data)), map[string]string{"filename": canary + ".txt", "filetype": "text/plain"})
	if r := c.send(path, data[:len(data)-100<<10], 0, 1<<20); r.status != http.StatusNoContent {
		t.Fatalf("PATCH: %d", r.status)
	}
	if off := c.head(path).offset(t); off != int64(len(data)-100<<10) {
		t.Fatalf("offset %d", off)
	}
	needles := [][]byte{
		[]byte(canary),
		[]byte(strings.ToLower(canary)),
		[]byte(hex.EncodeToString([]byte(canary))),
		[]byte(base64.StdEncoding.EncodeToString([]byte(canary))[:20]),
	}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s contains %q", d.Name(), n)
			}
		}
		if fi, _ := d.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", d.Name(), fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 2 {
		t.Errorf("%d files, want 2", files)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v", fi.Mode())
	}
}

// TestWrongKey: under another key nothing is readable, and nothing is
// returned instead.
func TestWrongKey(t *testing.T) {
	dir := t.TempDir()
	data := randomBytes(300 << 10)
	id := stage(t, newStore(t, dir, newKeyring(), Options{}), data, len(data), 1<<20)
	ctx := context.Background()

	other := newStore(t, dir, newKeyring(), Options{})
	r, _, err := other.Reader(ctx, id)
	if !errors.Is(err, ErrKeyUnavailable) || r != nil {
		t.Errorf("Reader with another keyring: %v", err)
	}
	if _, err := other.GetUpload(ctx, id); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("GetUpload with another keyring: %v", err)
	}

	// A keyring that hands out a wrong key without noticing.
	liar := newStore(t, dir, liarKeyring{}, Options{})
	r, _, err = liar.Reader(ctx, id)
	if !errors.Is(err, ErrCorrupt) || r != nil {
		t.Errorf("Reader with a wrong key: %v", err)
	}
}

type liarKeyring struct{}

func (liarKeyring) Wrap(string, []byte) ([]byte, error)   { return []byte("w"), nil }
func (liarKeyring) Unwrap(string, []byte) ([]byte, error) { return randomBytes(32), nil }

// TestTamper: altered, reordered or transplanted frames are detected by
// the reader, which then fails instead of returning wrong bytes.
func TestTamper(t *testing.T) {
	data := randomBytes(3*frameSize + 100)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir, id, other string)
	}{
		{"bit flipped in the middle", func(t *testing.T, dir, id, _ string) {
			flipByte(t, filepath.Join(dir, id+".data"), frameOverhead+frameSize+500)
		}},
		{"frames swapped", func(t *testing.T, dir, id, _ string) {
			p := filepath.Join(dir, id+".data")
			b, _ := os.ReadFile(p)
			fl := frameOverhead + frameSize
			swapped := append(append(append([]byte{}, b[fl:2*fl]...), b[:fl]...), b[2*fl:]...)
			os.WriteFile(p, swapped, 0o600)
		}},
		{"data of another upload", func(t *testing.T, dir, id, other string) {
			b, _ := os.ReadFile(filepath.Join(dir, other+".data"))
			os.WriteFile(filepath.Join(dir, id+".data"), b, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kr := newKeyring()
			s := newStore(t, dir, kr, Options{})
			id := stage(t, s, data, len(data), len(data))
			other := stage(t, s, data, len(data), len(data))
			tc.damage(t, dir, id, other)

			// A process that scanned the file before the damage reads
			// until the damaged frame, then fails.
			r, _, err := s.Reader(context.Background(), id)
			if err != nil {
				t.Fatalf("Reader: %v", err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, data[:len(got)]) {
				t.Fatal("returned bytes that were not uploaded")
			}
			// A restarted process finds the upload incomplete.
			if _, _, err := newStore(t, dir, kr, Options{}).Reader(context.Background(), id); !errors.Is(err, ErrNotFinished) {
				t.Fatalf("Reader after a restart: %v", err)
			}
		})
	}
}

// TestSweep: uploads untouched for longer than the expiry are refused,
// then deleted with what crashes left; others stay.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	kr := newKeyring()
	s := newStore(t, dir, kr, Options{Expiry: time.Hour})
	data := randomBytes(100 << 10)
	old := stage(t, s, data, 50<<10, 50<<10)
	done := stage(t, s, data, len(data), len(data))
	if err := s.markDone(context.Background(), done); err != nil {
		t.Fatal(err)
	}
	fresh := stage(t, s, data, 10<<10, 10<<10)
	orphan := newID()
	os.WriteFile(filepath.Join(dir, orphan+".data"), []byte("torn"), 0o600)
	tmp := filepath.Join(dir, tmpPrefix+"123")
	os.WriteFile(tmp, []byte("torn"), 0o600)
	stranger := filepath.Join(dir, "README")
	os.WriteFile(stranger, []byte("not ours"), 0o600)

	past := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{old + ".info", old + ".data", done + ".info", orphan + ".data", tmpPrefix + "123", "README"} {
		if err := os.Chtimes(filepath.Join(dir, p), past, past); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetUpload(context.Background(), old); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired upload: %v", err)
	}
	n, err := s.Sweep(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("Sweep: %d, %v; want 3", n, err)
	}
	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{"README", fresh + ".data", fresh + ".info"}
	sort.Strings(want)
	if strings.Join(left, " ") != strings.Join(want, " ") {
		t.Errorf("left %v, want %v", left, want)
	}
	if off := offsetOf(t, s, fresh); off != 10<<10 {
		t.Errorf("fresh upload: offset %d", off)
	}

	// The clock says when: everything is old a day later.
	later := newStore(t, dir, kr, Options{Expiry: time.Hour, Now: func() time.Time { return time.Now().Add(24 * time.Hour) }})
	if n, err := later.Sweep(context.Background()); n != 1 || err != nil {
		t.Errorf("Sweep a day later: %d, %v", n, err)
	}
}

func TestReaderNotFinished(t *testing.T) {
	s := newStore(t, t.TempDir(), newKeyring(), Options{})
	data := randomBytes(100 << 10)
	id := stage(t, s, data, 50<<10, 50<<10)
	if _, _, err := s.Reader(context.Background(), id); !errors.Is(err, ErrNotFinished) {
		t.Errorf("Reader of a partial upload: %v", err)
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("A", 32), newID()} {
		if _, _, err := s.Reader(context.Background(), bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Reader(%q): %v", bad, err)
		}
		if _, err := s.GetUpload(context.Background(), bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetUpload(%q): %v", bad, err)
		}
	}
	if err := s.Remove(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(context.Background(), id); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
}

func TestReaderInfo(t *testing.T) {
	s := newStore(t, t.TempDir(), newKeyring(), Options{})
	data := randomBytes(10)
	id := stage(t, s, data, len(data), len(data))
	r, info, err := s.Reader(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if info.ID != id || info.Size != 10 || info.Owner != "alice" || info.Metadata["filename"] != "x.jpg" ||
		time.Since(info.Created) > time.Minute {
		t.Errorf("info %+v", info)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, data) {
		t.Error("data differs")
	}
}

func TestMetadataTooLarge(t *testing.T) {
	s := newStore(t, t.TempDir(), newKeyring(), Options{})
	_, err := s.NewUpload(context.Background(), handler.FileInfo{Size: 1, MetaData: handler.MetaData{"filename": strings.Repeat("x", maxRecord)}})
	if !errors.Is(err, ErrMetadataTooLarge) {
		t.Errorf("NewUpload: %v", err)
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// flipByte flips a byte at i (from the end if negative).
func flipByte(t *testing.T, path string, i int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if i < 0 {
		i += len(b)
	}
	b[i] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFrameBinding: a frame opens only for its upload and its offset,
// even under the same key.
func TestFrameBinding(t *testing.T) {
	const a, b = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	aead, err := chacha20poly1305.NewX(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	first := sealFrame(nil, aead, a, 0, []byte("first"))
	second := sealFrame(nil, aead, a, 5, []byte("second"))
	for _, tc := range []struct {
		name string
		file []byte
		id   string
		want int64
	}{
		{"in order", append(append([]byte{}, first...), second...), a, 11},
		{"other upload", append(append([]byte{}, first...), second...), b, 0},
		{"reordered", append(append([]byte{}, second...), first...), a, 0},
		{"first dropped", second, a, 0},
	} {
		tl, err := scanFrames(bytes.NewReader(tc.file), aead, tc.id, 100)
		if err != nil || tl.plain != tc.want {
			t.Errorf("%s: %+v, %v; want %d bytes", tc.name, tl, err, tc.want)
		}
	}
}
