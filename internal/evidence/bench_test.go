package evidence_test

import (
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/evidence"
)

const gib = 1 << 30

// writeSource writes n random-looking bytes to a file in dir (a 1 MiB
// random block repeated: incompressible enough, cheap to make).
func writeSource(b *testing.B, dir string, n int64) string {
	b.Helper()
	p := filepath.Join(dir, "source.bin")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, &repeatReader{n: n, block: randomBlock()}); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	return p
}

func randomBlock() []byte {
	block := make([]byte, 1<<20)
	rand.Read(block)
	return block
}

// repeatReader yields n bytes of block, over and over.
type repeatReader struct {
	n     int64
	off   int
	block []byte
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	k := copy(p, r.block[r.off:])
	r.off = (r.off + k) % len(r.block)
	r.n -= int64(k)
	return k, nil
}

// plainCopy is the baseline: what copying the file on the same disk
// costs, with the same durability (fsync) as a blob's commit.
func plainCopy(b *testing.B, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyBuffer(out, in, make([]byte, 1<<20)); err != nil {
		b.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	os.Remove(dst)
}

// ingestFile ingests src and returns the time it took, then destroys the
// item (untimed), or the disk would fill up over the iterations.
func ingestFile(b *testing.B, f *fixture, src string) time.Duration {
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	start := time.Now()
	got, err := f.svc.Import(f.ctx, evidence.Input{CaseID: f.caseID, Filename: "video.mp4"}, in)
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.svc.Destroy(f.ctx, f.cust, got.ID); err != nil {
		b.Fatal(err)
	}
	return took
}

// BenchmarkIngestVsCopy ingests a 1 GiB file (hash, age, blob write with
// fsync, database records) and copies the same file on the same disk
// with fsync, alternately in each iteration, and reports both rates and
// their ratio (the target is at least 0.9). Run with -benchtime=3x.
func BenchmarkIngestVsCopy(b *testing.B) {
	size := int64(gib)
	if testing.Short() {
		size = 64 << 20
	}
	f := newFixture(b, fixtureOpts{})
	src := writeSource(b, f.dir, size)
	var copyTime, ingestTime time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		plainCopy(b, src, filepath.Join(f.dir, "copy.bin"))
		copyTime += time.Since(t0)
		ingestTime += ingestFile(b, f, src)
	}
	mb := float64(size) / 1e6 * float64(b.N)
	b.ReportMetric(mb/copyTime.Seconds(), "copy-MB/s")
	b.ReportMetric(mb/ingestTime.Seconds(), "ingest-MB/s")
	b.ReportMetric(copyTime.Seconds()/ingestTime.Seconds(), "ingest/copy")
}

// BenchmarkIngestPeakHeap ingests 1 MiB (the baseline), 1 GiB and 4 GiB
// streams and reports the peak live heap seen while each ran, sampled
// every millisecond: it must not grow with the size. The 4 GiB run is
// skipped with -short.
func BenchmarkIngestPeakHeap(b *testing.B) {
	for _, c := range []struct {
		name string
		size int64
	}{{"1MiB", 1 << 20}, {"1GiB", gib}, {"4GiB", 4 * gib}} {
		b.Run(c.name, func(b *testing.B) {
			if testing.Short() && c.size > 1<<20 {
				b.Skip("large ingest skipped in -short")
			}
			f := newFixture(b, fixtureOpts{cfg: evidence.Config{MaxSize: 5 * gib}})
			block := randomBlock()
			var peak uint64
			b.SetBytes(c.size)
			for b.Loop() {
				runtime.GC()
				stop := sampleHeap(&peak)
				got, err := f.svc.Import(f.ctx, evidence.Input{CaseID: f.caseID}, &repeatReader{n: c.size, block: block})
				stop()
				if err != nil {
					b.Fatal(err)
				}
				if err := f.svc.Destroy(f.ctx, f.cust, got.ID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// sampleHeap records the largest live heap (bytes in heap objects) seen
// until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > *peak {
			*peak = v
		}
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		read()
	}
}
