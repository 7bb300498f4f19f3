package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/webp"
)

var extractTypes = []string{
	"image/jpeg", "image/tiff", "image/png", "image/gif", "image/webp", "video/mp4", "application/pdf",
}

// seeds are every file the tests build, each kind a few ways.
func seeds(t testing.TB) [][]byte {
	s := [][]byte{
		testJPEG(t, exifOpts{orientation: 6}),
		testJPEG(t, exifOpts{bo: binary.BigEndian, south: true, west: true, noOffset: true}),
		makeJPEG(t, image.NewGray(image.Rect(0, 0, 8, 8))),
		testEXIF(exifOpts{size: [2]uint32{4000, 3000}}),
		testPNG(t),
		testGIF(t),
		testWebP(),
		webpFile(riffChunk("VP8L", vp8l(3, 2, red))),
		testMOV(),
		testMP4(),
		testMP4v1(),
		[]byte(testPDF),
	}
	for _, b := range bombs(t) {
		s = append(s, b.data)
	}
	return s
}

// FuzzExtract runs every reader on every input, without Extract's recover,
// so that a panic is found rather than hidden.
func FuzzExtract(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, ct := range extractTypes {
			md, err := extract(ct, b)
			if errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s: %v", ct, err)
			}
			checkMetadata(t, md)
		}
	})
}

// FuzzStrip runs Strip's work, without its recover, on every input as each
// image type, with a small pixel limit so each run stays cheap. Whatever it
// accepts must come out as a clean, decodable image no larger than allowed.
func FuzzStrip(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	const limit = 1 << 16
	decodeConfig := map[string]func([]byte) (image.Config, error){
		"image/jpeg": func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) },
		"image/png":  func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) },
		"image/gif":  func(b []byte) (image.Config, error) { return gif.DecodeConfig(bytes.NewReader(b)) },
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, ct := range []string{"image/jpeg", "image/png", "image/gif", "image/webp"} {
			var out bytes.Buffer
			typ, err := strip(context.Background(), &out, bytes.NewReader(b), ct, limit)
			if err != nil {
				if typ != "" || errors.Is(err, ErrUnsupported) {
					t.Fatalf("%s: %q, %v", ct, typ, err)
				}
				continue
			}
			checkClean(t, typ, out.Bytes())
			cfg, err := decodeConfig[typ](out.Bytes())
			if err != nil {
				t.Fatalf("%s: copy does not decode: %v", ct, err)
			}
			if int64(cfg.Width)*int64(cfg.Height) > limit {
				t.Fatalf("%s: copy is %d×%d", ct, cfg.Width, cfg.Height)
			}
		}
	})
}

// FuzzWebPConfig checks the assumption Strip's limit rests on for WebP: a
// file that decodes is no larger than its header said.
func FuzzWebPConfig(f *testing.F) {
	f.Add(testWebP())
	f.Add(webpFile(riffChunk("VP8L", vp8l(3, 2, red))))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := webp.DecodeConfig(bytes.NewReader(b))
		if err != nil || int64(cfg.Width)*int64(cfg.Height) > 1<<16 {
			return
		}
		m, err := webp.Decode(bytes.NewReader(b))
		if err == nil && (m.Bounds().Dx() != cfg.Width || m.Bounds().Dy() != cfg.Height) {
			t.Fatalf("header %d×%d, image %v", cfg.Width, cfg.Height, m.Bounds())
		}
	})
}

// FuzzGIFCount holds gifCount to image/gif's decoder: every frame the
// decoder returns must have been counted, or the pixel limit could be
// walked around.
func FuzzGIFCount(f *testing.F) {
	f.Add(testGIF(f))
	f.Add(gifBomb(3, 2, 4))
	f.Add(gifPlainTextTrick(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := gif.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width*cfg.Height > 1<<16 {
			return
		}
		frames, pixels := gifCount(b)
		g, err := gif.DecodeAll(bytes.NewReader(b))
		if err != nil {
			return
		}
		var sum int64
		for _, m := range g.Image {
			sum += int64(m.Bounds().Dx()) * int64(m.Bounds().Dy())
		}
		if len(g.Image) != frames || sum != pixels {
			t.Fatalf("decoder: %d frames, %d pixels; gifCount: %d, %d", len(g.Image), sum, frames, pixels)
		}
	})
}

func FuzzISO6709(f *testing.F) {
	for _, s := range []string{"+43.3290+045.6981+130.500/", "-33.8688+151.2093/", "+4319.74-04541.886/", "+431942.0+0454153.16CRSWGS_84/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if g, ok := parseISO6709(s); ok && !validGPS(g.Lat, g.Lon, g.Alt) {
			t.Fatalf("%q: %+v out of range", s, g)
		}
	})
}

func FuzzPDFDate(f *testing.F) {
	for _, s := range []string{"D:20170402134510+03'00'", "D:2017", "20170402134510Z", "D:20170231"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tm, _, ok := pdfDate(s); ok && (tm.Year() < 1900 || tm.Year() > 2999) {
			t.Fatalf("%q: %v", s, tm)
		}
	})
}
