package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
	"strings"
	"testing"
)

// forbidden are byte strings no working copy may contain: the canaries put
// in every metadata block of the test files, the block signatures, and the
// GPS latitude as stored.
func forbidden() []string {
	return []string{
		canary, "Exif", "http://ns.adobe.com", "xmpmeta", "ICC_PROFILE", "Photoshop", "8BIM",
		"XMP Data", "eXIf", "iCCP", "tEXt", "zTXt", "iTXt", "tIME",
		string(gpsRationals(binary.LittleEndian)), string(gpsRationals(binary.BigEndian)),
	}
}

// checkClean fails unless copy is a well-formed file of type typ made only
// of the structures that carry pixels.
func checkClean(t testing.TB, typ string, b []byte) {
	t.Helper()
	for _, f := range forbidden() {
		if bytes.Contains(b, []byte(f)) {
			t.Errorf("copy contains %q", f)
		}
	}
	switch typ {
	case "image/jpeg":
		for _, m := range jpegMarkers(t, b) {
			switch {
			case m == 0xD8, m == 0xD9, m == 0xDB, m == 0xC4, m == 0xDA, m == 0xDD, isSOF(m), m >= 0xD0 && m <= 0xD7:
			default:
				t.Errorf("copy has JPEG marker %#x", m)
			}
		}
	case "image/png":
		if !bytes.HasPrefix(b, []byte(pngSignature)) {
			t.Fatal("copy is not a PNG")
		}
		for i := len(pngSignature); i < len(b); {
			if i+12 > len(b) {
				t.Fatal("PNG copy truncated")
			}
			n := int(binary.BigEndian.Uint32(b[i:]))
			switch typ := string(b[i+4 : i+8]); typ {
			case "IHDR", "PLTE", "tRNS", "IDAT", "IEND":
			default:
				t.Errorf("copy has PNG chunk %q", typ)
			}
			i += 12 + n
		}
	case "image/gif":
		if err := gifFrames(b, MaxPixels); err != nil {
			t.Fatal(err)
		}
		for _, ext := range gifExtensions(b) {
			if ext != "\xf9" && ext != "\xffNETSCAPE2.0" {
				t.Errorf("copy has GIF extension %q", ext)
			}
		}
	default:
		t.Fatalf("copy of unexpected type %q", typ)
	}
}

// jpegMarkers lists every marker of a JPEG, scans included.
func jpegMarkers(t testing.TB, b []byte) []byte {
	t.Helper()
	var ms []byte
	for i := 0; i+1 < len(b); i++ {
		if b[i] != 0xFF || b[i+1] == 0x00 || b[i+1] == 0xFF {
			continue
		}
		m := b[i+1]
		ms = append(ms, m)
		if m == 0xD8 || m == 0xD9 || (m >= 0xD0 && m <= 0xD7) {
			i++
			continue
		}
		if i+4 > len(b) {
			t.Fatal("JPEG copy truncated")
		}
		i += 1 + int(binary.BigEndian.Uint16(b[i+2:])) // then scan bytes until the next marker
	}
	return ms
}

// gifExtensions lists the label (and application identifier) of every
// extension block of a GIF.
func gifExtensions(b []byte) []string {
	var exts []string
	i := 13
	if b[10]&0x80 != 0 {
		i += 3 << (b[10]&7 + 1)
	}
	for i < len(b) {
		switch b[i] {
		case 0x21:
			label := string(b[i+1 : i+2])
			if b[i+1] == 0xFF {
				label += string(b[i+3 : i+14])
			}
			exts = append(exts, label)
			i = skipSubBlocks(b, i+2)
		case 0x2C:
			flags := b[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (flags&7 + 1)
			}
			i = skipSubBlocks(b, i+1)
		default:
			return exts
		}
	}
	return exts
}

func stripBytes(t testing.TB, b []byte, ct string) (string, []byte, error) {
	t.Helper()
	var out bytes.Buffer
	typ, err := Strip(context.Background(), &out, bytes.NewReader(b), ct)
	return typ, out.Bytes(), err
}

func TestStripJPEG(t *testing.T) {
	in := testJPEG(t, exifOpts{orientation: 1})
	// The test is only worth something if the input has it all.
	for _, f := range []string{canary, "Exif", "http://ns.adobe.com", "ICC_PROFILE", "8BIM", string(gpsRationals(binary.LittleEndian))} {
		if !bytes.Contains(in, []byte(f)) {
			t.Fatalf("test JPEG lacks %q", f)
		}
	}
	typ, out, err := stripBytes(t, in, "image/jpeg")
	if err != nil {
		t.Fatal(err)
	}
	if typ != "image/jpeg" {
		t.Fatalf("type %q", typ)
	}
	checkClean(t, typ, out)
	m, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := quadrants(m), [4]color.RGBA{red, green, blue, white}; !nearAll(got, want) {
		t.Errorf("colours %v, want %v", got, want)
	}
	md, err := Extract("image/jpeg", out)
	if err != nil || md.GPS != nil || md.Make != "" || !md.CapturedAt.IsZero() || len(md.Extra) != 0 {
		t.Errorf("Extract of the copy: %+v, %v", md, err)
	}
}

func nearAll(got, want [4]color.RGBA) bool {
	for i := range got {
		if !near(got[i], want[i]) {
			return false
		}
	}
	return true
}

// Each EXIF orientation turns the red/green/blue/white quadrants of the
// stored image into this layout on screen (worked out by hand from CIPA
// DC-008's description of each value, not from orient's mapping).
var orientations = map[int][4]color.RGBA{
	1: {red, green, blue, white},
	2: {green, red, white, blue},
	3: {white, blue, green, red},
	4: {blue, white, red, green},
	5: {red, blue, green, white},
	6: {blue, red, white, green},
	7: {white, green, blue, red},
	8: {green, white, red, blue},
}

func TestStripJPEGOrientation(t *testing.T) {
	for o, want := range orientations {
		for _, gray := range []bool{false, true} {
			var src image.Image = quadImage(64, 32)
			wantC := want
			if gray {
				g := image.NewGray(src.Bounds())
				for y := 0; y < 32; y++ {
					for x := 0; x < 64; x++ {
						g.Set(x, y, src.At(x, y))
					}
				}
				src = g
				for i, c := range want {
					wantC[i] = color.RGBAModel.Convert(color.GrayModel.Convert(c)).(color.RGBA)
				}
			}
			in := makeJPEG(t, src, exifSegment(testEXIF(exifOpts{orientation: uint16(o)})))
			typ, out, err := stripBytes(t, in, "image/jpeg")
			if err != nil {
				t.Fatal(err)
			}
			checkClean(t, typ, out)
			m, err := jpeg.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			w, h := 64, 32
			if o >= 5 {
				w, h = 32, 64
			}
			if b := m.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Errorf("orientation %d gray %v: %v, want %d×%d", o, gray, b, w, h)
			}
			if got := quadrants(m); !nearAll(got, wantC) {
				t.Errorf("orientation %d gray %v: colours %v, want %v", o, gray, got, wantC)
			}
		}
	}
}

// orient's generic path, for decoded types other than YCbCr and Gray.
func TestOrientGeneric(t *testing.T) {
	src := image.NewNRGBA(image.Rect(10, 20, 74, 52)) // not at the origin
	q := quadImage(64, 32)
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			src.Set(10+x, 20+y, q.At(x, y))
		}
	}
	for o, want := range orientations {
		m, err := orient(context.Background(), src, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := quadrants(m); got != want {
			t.Errorf("orientation %d: %v, want %v", o, got, want)
		}
	}
}

func TestStripPNG(t *testing.T) {
	typ, out, err := stripBytes(t, testPNG(t), "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if typ != "image/png" {
		t.Fatalf("type %q", typ)
	}
	checkClean(t, typ, out)
	m, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	// Lossless, and eXIf's orientation is not applied.
	if !sameImage(m, quadImage(64, 32)) {
		t.Error("pixels changed")
	}
}

func sameImage(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if color.RGBA64Model.Convert(a.At(x, y)) != color.RGBA64Model.Convert(b.At(x, y)) {
				return false
			}
		}
	}
	return true
}

func TestStripGIF(t *testing.T) {
	in := testGIF(t)
	typ, out, err := stripBytes(t, in, "image/gif")
	if err != nil {
		t.Fatal(err)
	}
	if typ != "image/gif" {
		t.Fatalf("type %q", typ)
	}
	checkClean(t, typ, out)
	a, err := gif.DecodeAll(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := gif.DecodeAll(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Image) != 2 || b.LoopCount != a.LoopCount || b.Delay[1] != 50 {
		t.Fatalf("%d frames, loop %d, delays %v", len(b.Image), b.LoopCount, b.Delay)
	}
	for i := range a.Image {
		if !sameImage(a.Image[i], b.Image[i]) {
			t.Errorf("frame %d changed", i)
		}
	}
}

func TestStripWebP(t *testing.T) {
	in := testWebP()
	typ, out, err := stripBytes(t, in, "image/webp")
	if err != nil {
		t.Fatal(err)
	}
	if typ != "image/png" {
		t.Fatalf("type %q", typ)
	}
	checkClean(t, typ, out)
	m, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if b := m.Bounds(); b.Dx() != 32 || b.Dy() != 16 {
		t.Errorf("bounds %v", b)
	}
	if got := quadrants(m); got != [4]color.RGBA{green, green, green, green} {
		t.Errorf("colours %v", got)
	}
}

func TestStripUnsupported(t *testing.T) {
	for _, ct := range []string{"application/pdf", "image/tiff", "image/heic", "video/mp4", "", "image/svg+xml"} {
		typ, out, err := stripBytes(t, []byte(testPDF), ct)
		if !errors.Is(err, ErrUnsupported) || typ != "" || len(out) != 0 {
			t.Errorf("Strip(%q) = %q, %d bytes, %v; want ErrUnsupported", ct, typ, len(out), err)
		}
	}
	// A file that is not what it claims is an error, but not ErrUnsupported.
	for _, ct := range []string{"image/jpeg", "image/png", "image/gif", "image/webp"} {
		typ, _, err := stripBytes(t, []byte(testPDF), ct)
		if err == nil || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrTooLarge) || typ != "" {
			t.Errorf("Strip(%q) of a PDF: %q, %v", ct, typ, err)
		}
	}
}

// bombs declare more pixels than MaxPixels in a few bytes; decoding any of
// them would allocate gigabytes.
func bombs(t testing.TB) map[string]struct {
	ct   string
	data []byte
} {
	// A real 16×16 JPEG whose frame header claims 65535×65535: the
	// decoder would allocate 6 GiB of planes at the first scan.
	jpegBomb := makeJPEG(t, quadImage(16, 16))
	sof := bytes.Index(jpegBomb, []byte{0xFF, 0xC0})
	copy(jpegBomb[sof+5:], []byte{0xFF, 0xFF, 0xFF, 0xFF})

	ihdr := binary.BigEndian.AppendUint32(nil, 100_000)
	ihdr = binary.BigEndian.AppendUint32(ihdr, 100_000)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	pngBomb := append([]byte(pngSignature), chunk("IHDR", ihdr)...)
	pngBomb = append(pngBomb, chunk("IDAT", deflate(strings.Repeat("\x00", 1000)))...)
	pngBomb = append(pngBomb, chunk("IEND", nil)...)

	return map[string]struct {
		ct   string
		data []byte
	}{
		"jpeg 65535²":            {"image/jpeg", jpegBomb},
		"png 100000²":            {"image/png", pngBomb},
		"gif screen 65535²":      {"image/gif", gifBomb(65535, 65535, 1)},
		"gif 13 frames of 2000²": {"image/gif", gifBomb(2000, 2000, 13)},
		"gif 20000 frames":       {"image/gif", gifBomb(1, 1, 20_000)},
		"webp lossless 16384²":   {"image/webp", webpFile(riffChunk("VP8L", vp8l(16384, 16384, red)))},
		"webp canvas 10000²":     {"image/webp", webpFile(vp8x(0, 10000, 10000), riffChunk("VP8L", vp8l(10000, 10000, red)))},
	}
}

func TestStripBombs(t *testing.T) {
	for name, b := range bombs(t) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		typ, out, err := stripBytes(t, b.data, b.ct)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) || typ != "" || len(out) != 0 {
			t.Errorf("%s: %q, %d bytes, %v; want ErrTooLarge", name, typ, len(out), err)
		}
		// The input itself is at most a few hundred KiB.
		if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 {
			t.Errorf("%s: allocated %d bytes before refusing", name, n)
		}
	}
}

// The lossless WebP bomb is a real image: below the limit it decodes.
func TestStripLimitIsExact(t *testing.T) {
	in := webpFile(riffChunk("VP8L", vp8l(100, 50, blue)))
	var out bytes.Buffer
	if _, err := strip(context.Background(), &out, bytes.NewReader(in), "image/webp", 5000); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if _, err := strip(context.Background(), io.Discard, bytes.NewReader(in), "image/webp", 4999); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one pixel over: %v", err)
	}
	g := gifBomb(10, 10, 3)
	if err := gifFrames(g, 300); err != nil {
		t.Errorf("gif at the limit: %v", err)
	}
	if err := gifFrames(g, 299); !errors.Is(err, ErrTooLarge) {
		t.Errorf("gif one pixel over: %v", err)
	}
}

// A JPEG can put any amount of APP data before its frame header; what the
// header decoder reads is buffered, so it is bounded.
func TestStripHugeHeader(t *testing.T) {
	junk := segment(0xE3, bytes.Repeat([]byte{'j'}, 65533))
	var segs [][]byte
	for n := 0; n <= maxHeader; n += len(junk) {
		segs = append(segs, junk)
	}
	in := makeJPEG(t, quadImage(16, 16), segs...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := stripBytes(t, in, "image/jpeg")
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d MiB of APP segments: %v, want ErrTooLarge", len(in)>>20, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 3*maxHeader {
		t.Errorf("allocated %d MiB", n>>20)
	}
}

// cancelReader cancels its context after the first read.
type cancelReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c cancelReader) Read(p []byte) (int, error) {
	defer c.cancel()
	return c.r.Read(p[:min(len(p), 512)])
}

func TestStripCancelled(t *testing.T) {
	in := testJPEG(t, exifOpts{orientation: 6})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Strip(ctx, io.Discard, bytes.NewReader(in), "image/jpeg"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: %v", err)
	}
	for _, ct := range []string{"image/jpeg", "image/png", "image/gif"} {
		data := map[string][]byte{"image/jpeg": in, "image/png": testPNG(t), "image/gif": testGIF(t)}[ct]
		ctx, cancel = context.WithCancel(context.Background())
		var out bytes.Buffer
		if _, err := Strip(ctx, &out, cancelReader{bytes.NewReader(data), cancel}, ct); !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled during: %v", ct, err)
		}
	}
}

// The recover in Strip and Extract turns a decoder panic into an error.
func TestRecover(t *testing.T) {
	if _, err := Strip(context.Background(), io.Discard, panicReader{}, "image/png"); err == nil || !strings.Contains(err.Error(), "image/png") {
		t.Errorf("Strip: %v", err)
	}
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("decoder bug") }

// gifPlainTextTrick puts before the frames of testGIF a plain text
// extension whose size byte is 0 and whose next byte is the trailer. The
// decoder reads such an extension's 13 bytes whatever the size byte says; a
// walker that believed the size byte would stop at the fake trailer and
// count no frame at all.
func gifPlainTextTrick(t testing.TB) []byte {
	b := testGIF(t)
	at := 13
	if b[10]&0x80 != 0 {
		at += 3 << (b[10]&7 + 1)
	}
	ext := []byte{0x21, 0x01, 0x00, 0x3B, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00}
	return append(append(append([]byte{}, b[:at]...), ext...), b[at:]...)
}

func TestGIFCount(t *testing.T) {
	for name, b := range map[string][]byte{"plain": testGIF(t), "plain text trick": gifPlainTextTrick(t)} {
		g, err := gif.DecodeAll(bytes.NewReader(b))
		if err != nil {
			t.Fatal(name, err)
		}
		if frames, pixels := gifCount(b); frames != len(g.Image) || pixels != int64(len(g.Image))*32*16 {
			t.Errorf("%s: gifCount %d frames %d pixels; decoder %d frames", name, frames, pixels, len(g.Image))
		}
	}
}

func TestScanLimiter(t *testing.T) {
	// FF DA inside APP payloads is data, not a scan.
	fake := segment(0xE4, []byte("\xFF\xDA\x00\x08 looks like a scan \xFF\xDA"))
	var segs [][]byte
	for i := 0; i < 2*maxJPEGScans; i++ {
		segs = append(segs, fake)
	}
	in := makeJPEG(t, quadImage(32, 16), segs...)
	for _, chunk := range []int{1, 7, 4096, len(in)} {
		s := &scanLimiter{}
		for i := 0; i < len(in); i += chunk {
			if _, err := s.Write(in[i:min(i+chunk, len(in))]); err != nil {
				t.Fatalf("chunks of %d: %v", chunk, err)
			}
		}
		if s.scans != 1 || s.state != slDone {
			t.Errorf("chunks of %d: %d scans, state %d; want 1 scan, done", chunk, s.scans, s.state)
		}
	}
	if _, _, err := stripBytes(t, in, "image/jpeg"); err != nil {
		t.Errorf("Strip: %v", err)
	}

	// The same valid scan over and over: the decoder decodes each in turn.
	one := makeJPEG(t, quadImage(32, 16))
	sos := bytes.Index(one, []byte{0xFF, 0xDA})
	scans := func(n int) []byte {
		b := append([]byte{}, one[:sos]...)
		for i := 0; i < n; i++ {
			b = append(b, one[sos:len(one)-2]...)
		}
		return append(b, 0xFF, 0xD9)
	}
	if _, _, err := stripBytes(t, scans(maxJPEGScans), "image/jpeg"); err != nil {
		t.Errorf("%d scans: %v", maxJPEGScans, err)
	}
	if _, _, err := stripBytes(t, scans(maxJPEGScans+1), "image/jpeg"); !errors.Is(err, errTooManyScans) || !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d scans: %v, want errTooManyScans", maxJPEGScans+1, err)
	}
}
