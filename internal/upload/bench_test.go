package upload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The sealed sub-benchmarks run at two sizes: B/op must not grow with the
// size (constant memory).
var benchSizes = []int{8 << 20, 32 << 20}

// BenchmarkWriteChunk: a chunk sealed into frames and fsynced, beside the
// same bytes written plainly to a file on the same disk and fsynced.
func BenchmarkWriteChunk(b *testing.B) {
	for _, size := range benchSizes {
		data := randomBytes(size)
		b.Run(fmt.Sprintf("plain-file/%dMiB", size>>20), func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.Create(filepath.Join(dir, "plain"))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
		b.Run(fmt.Sprintf("sealed/%dMiB", size>>20), func(b *testing.B) {
			s := newStore(b, b.TempDir(), newKeyring(), Options{})
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				up, err := s.NewUpload(ctx, fileInfo(int64(size)))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := up.WriteChunk(ctx, 0, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				fi, _ := up.GetInfo(ctx)
				s.Remove(ctx, fi.ID)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkReader: streaming a finished upload (authenticating every
// frame) beside reading the same bytes from a plain file.
func BenchmarkReader(b *testing.B) {
	for _, size := range benchSizes {
		data := randomBytes(size)
		b.Run(fmt.Sprintf("plain-file/%dMiB", size>>20), func(b *testing.B) {
			p := filepath.Join(b.TempDir(), "plain")
			if err := os.WriteFile(p, data, 0o600); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, f); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
		b.Run(fmt.Sprintf("sealed/%dMiB", size>>20), func(b *testing.B) {
			s := newStore(b, b.TempDir(), newKeyring(), Options{})
			ctx := context.Background()
			up, err := s.NewUpload(ctx, fileInfo(int64(size)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := up.WriteChunk(ctx, 0, bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			fi, _ := up.GetInfo(ctx)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				r, _, err := s.Reader(ctx, fi.ID)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}
