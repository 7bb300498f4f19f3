package media

import (
	"bytes"
	"context"
	"image"
	"io"
	"runtime"
	"testing"
)

// BenchmarkStrip strips a 12-megapixel phone photo: JPEG as stored, JPEG
// turned by its EXIF orientation (the extra copy orient makes), and PNG,
// reporting the bytes allocated per pixel beside the time.
func BenchmarkStrip(b *testing.B) {
	const w, h = 4000, 3000
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := m.PixOffset(x, y)
			m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = uint8(x), uint8(y), uint8(x^y), 255
		}
	}
	for _, tc := range []struct {
		name, ct string
		data     []byte
	}{
		{"jpeg", "image/jpeg", makeJPEG(b, m, exifSegment(testEXIF(exifOpts{orientation: 1})))},
		{"jpeg-rotated", "image/jpeg", makeJPEG(b, m, exifSegment(testEXIF(exifOpts{orientation: 6})))},
		{"png", "image/png", makePNG(b, m)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.SetBytes(int64(len(tc.data)))
			for b.Loop() {
				if _, err := Strip(context.Background(), io.Discard, bytes.NewReader(tc.data), tc.ct); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(w*h), "alloc-B/pixel")
		})
	}
}
