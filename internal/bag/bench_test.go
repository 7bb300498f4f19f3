package bag

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkVerify measures Verify on a bag of 10,000 payload files of
// 4 KiB, beside baselines that do nothing but SHA-256 the same files: on
// as many goroutines as Verify uses, and on one. The gap between "verify"
// and "sha256-only" is what walking, parsing and matching the manifests
// costs. The bag is built once; after the first run it is in the page
// cache, so this measures CPU and system-call cost, not the disk.
func BenchmarkVerify(b *testing.B) {
	const files, size = 10000, 4 << 10
	dir := filepath.Join(b.TempDir(), "bag")
	start := time.Now()
	w, err := Create(dir, Info{{"Bagging-Date", "2026-01-02"}})
	if err != nil {
		b.Fatal(err)
	}
	content := make([]byte, size)
	paths := make([]string, 0, files)
	for i := range files {
		binary.LittleEndian.PutUint64(content, uint64(i)) // distinct files
		name := fmt.Sprintf("items/%03d/%05d.bin", i/100, i)
		if _, _, err := w.AddPayload(name, bytesReader(content)); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, filepath.Join(dir, "data", filepath.FromSlash(name)))
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a bag of %d files of %d bytes in %v (every file synced)", files, size, time.Since(start).Round(time.Millisecond))

	filesPerSec := func(b *testing.B) {
		b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
	}
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			r, err := Verify(dir)
			if err != nil || !r.OK() || r.PayloadFiles != files {
				b.Fatalf("Verify = %+v, %v", r, err)
			}
		}
		filesPerSec(b)
	})
	b.Run("sha256-only", func(b *testing.B) {
		for b.Loop() {
			hashAll(b, paths, hashWorkers(), size)
		}
		filesPerSec(b)
	})
	b.Run("sha256-only-serial", func(b *testing.B) {
		for b.Loop() {
			hashAll(b, paths, 1, size)
		}
		filesPerSec(b)
	})
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct {
	b []byte
	i int
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

// hashAll SHA-256s every file in paths on workers goroutines, the least a
// verifier must do.
func hashAll(b *testing.B, paths []string, workers, bufSize int) {
	next := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, bufSize+1)
			for p := range next {
				f, err := os.Open(p)
				if err != nil {
					b.Error(err)
					continue
				}
				h := sha256.New()
				if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
					b.Error(err)
				}
				f.Close()
				h.Sum(nil)
			}
		})
	}
	for _, p := range paths {
		next <- p
	}
	close(next)
	wg.Wait()
}
