package media

// Files made in code for the tests and as fuzz seeds. Every piece of
// metadata they carry that a working copy must lose contains "Canary", so a
// test can look for that one word in a copy's bytes.

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"slices"
	"testing"
	"time"
)

const canary = "Canary"

// ---- TIFF / EXIF ----

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type ifdEntry struct {
	id, typ uint16
	count   uint32
	data    []byte
}

func asciiTag(id uint16, s string) ifdEntry {
	d := append([]byte(s), 0)
	return ifdEntry{id, 2, uint32(len(d)), d}
}

func shortTag(bo byteOrder, id, v uint16) ifdEntry {
	return ifdEntry{id, 3, 1, bo.AppendUint16(nil, v)}
}

func longTag(bo byteOrder, id uint16, v uint32) ifdEntry {
	return ifdEntry{id, 4, 1, bo.AppendUint32(nil, v)}
}

func byteTag(id uint16, v byte) ifdEntry { return ifdEntry{id, 1, 1, []byte{v}} }

func ratTag(bo byteOrder, id uint16, v ...[2]uint32) ifdEntry {
	var d []byte
	for _, r := range v {
		d = bo.AppendUint32(bo.AppendUint32(d, r[0]), r[1])
	}
	return ifdEntry{id, 5, uint32(len(v)), d}
}

type tiffSpec struct {
	bo              byteOrder
	ifd0, exif, gps []ifdEntry
	ifdType         bool // type the sub-directory pointers IFD (13), not LONG
}

func ifdSize(es []ifdEntry) int {
	n := 2 + 12*len(es) + 4
	for _, e := range es {
		if len(e.data) > 4 {
			n += len(e.data) + len(e.data)&1
		}
	}
	return n
}

func appendIFD(b []byte, bo byteOrder, es []ifdEntry) []byte {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b ifdEntry) int { return int(a.id) - int(b.id) })
	dataOff := len(b) + 2 + 12*len(es) + 4
	var data []byte
	b = bo.AppendUint16(b, uint16(len(es)))
	for _, e := range es {
		b = bo.AppendUint16(b, e.id)
		b = bo.AppendUint16(b, e.typ)
		b = bo.AppendUint32(b, e.count)
		if len(e.data) <= 4 {
			b = append(b, append(slices.Clone(e.data), make([]byte, 4-len(e.data))...)...)
			continue
		}
		b = bo.AppendUint32(b, uint32(dataOff+len(data)))
		data = append(data, e.data...)
		if len(data)&1 == 1 {
			data = append(data, 0)
		}
	}
	b = bo.AppendUint32(b, 0)
	return append(b, data...)
}

func (s tiffSpec) bytes() []byte {
	ifd0 := slices.Clone(s.ifd0)
	// Pointer entries are 4-byte LONGs, so the sizes do not depend on their values.
	if s.exif != nil {
		ifd0 = append(ifd0, longTag(s.bo, tagExifIFD, 0))
	}
	if s.gps != nil {
		ifd0 = append(ifd0, longTag(s.bo, tagGPSIFD, 0))
	}
	ptr := func(id uint16, off int) ifdEntry {
		e := longTag(s.bo, id, uint32(off))
		if s.ifdType {
			e.typ = 13
		}
		return e
	}
	offExif := 8 + ifdSize(ifd0)
	offGPS := offExif
	if s.exif != nil {
		offGPS += ifdSize(s.exif)
	}
	for i, e := range ifd0 {
		switch e.id {
		case tagExifIFD:
			ifd0[i] = ptr(tagExifIFD, offExif)
		case tagGPSIFD:
			ifd0[i] = ptr(tagGPSIFD, offGPS)
		}
	}
	b := []byte("II*\x00")
	if s.bo == binary.BigEndian {
		b = []byte("MM\x00*")
	}
	b = s.bo.AppendUint32(b, 8)
	b = appendIFD(b, s.bo, ifd0)
	if s.exif != nil {
		b = appendIFD(b, s.bo, s.exif)
	}
	if s.gps != nil {
		b = appendIFD(b, s.bo, s.gps)
	}
	return b
}

// The capture the test EXIF describes: Grozny, 2 April 2017.
var (
	wantLat  = 43 + 19.0/60 + 4.2/3600
	wantLon  = 45 + 41.0/60 + 53.16/3600
	wantAlt  = 130.5
	wantTime = time.Date(2017, 4, 2, 13, 45, 10, 250e6, time.FixedZone("", 3*3600))
)

// gpsRationals is the latitude as stored, which no copy may contain.
func gpsRationals(bo byteOrder) []byte {
	return ratTag(bo, gpsLatitude, [2]uint32{43, 1}, [2]uint32{19, 1}, [2]uint32{42, 10}).data
}

type exifOpts struct {
	bo          byteOrder
	orientation uint16 // 0: none
	noOffset    bool
	south, west bool
	below       bool
	noGPS       bool
	size        [2]uint32 // IFD0 ImageWidth/ImageLength, for TIFF files
	ifdType     bool
}

func testEXIF(o exifOpts) []byte {
	bo := o.bo
	if bo == nil {
		bo = binary.LittleEndian
	}
	s := tiffSpec{bo: bo, ifdType: o.ifdType}
	s.ifd0 = []ifdEntry{
		asciiTag(tagMake, "CanaryMake-7Q"),
		asciiTag(tagModel, "CanaryModel-Z3"),
		asciiTag(tagSoftware, "CanarySoft-9"),
		asciiTag(tagDateTime, "2017:04:05 09:00:00"),
	}
	if o.orientation != 0 {
		s.ifd0 = append(s.ifd0, shortTag(bo, tagOrientation, o.orientation))
	}
	if o.size != [2]uint32{} {
		s.ifd0 = append(s.ifd0, longTag(bo, tagImageWidth, o.size[0]), shortTag(bo, tagImageLength, uint16(o.size[1])))
	}
	s.exif = []ifdEntry{
		asciiTag(tagDateTimeOriginal, "2017:04:02 13:45:10"),
		asciiTag(tagSubSecOriginal, "25"),
		asciiTag(tagBodySerialNumber, "CanarySerial-55"),
	}
	if !o.noOffset {
		s.exif = append(s.exif, asciiTag(tagOffsetTimeOriginal, "+03:00"))
	}
	if !o.noGPS {
		ns, ew, below := "N", "E", byte(0)
		if o.south {
			ns = "S"
		}
		if o.west {
			ew = "W"
		}
		if o.below {
			below = 1
		}
		s.gps = []ifdEntry{
			asciiTag(gpsLatitudeRef, ns),
			ratTag(bo, gpsLatitude, [2]uint32{43, 1}, [2]uint32{19, 1}, [2]uint32{42, 10}),
			asciiTag(gpsLongitudeRef, ew),
			ratTag(bo, gpsLongitude, [2]uint32{45, 1}, [2]uint32{41, 1}, [2]uint32{5316, 100}),
			byteTag(gpsAltitudeRef, below),
			ratTag(bo, gpsAltitude, [2]uint32{1305, 10}),
			ratTag(bo, gpsTimeStamp, [2]uint32{10, 1}, [2]uint32{45, 1}, [2]uint32{10, 1}),
			asciiTag(gpsDateStamp, "2017:04:02"),
		}
	}
	return s.bytes()
}

// ---- pixels ----

var (
	red   = color.RGBA{255, 0, 0, 255}
	green = color.RGBA{0, 255, 0, 255}
	blue  = color.RGBA{0, 0, 255, 255}
	white = color.RGBA{255, 255, 255, 255}
)

// quadImage is w×h with red, green, blue and white quadrants (top left,
// top right, bottom left, bottom right), so any turn or flip shows.
func quadImage(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := red
			switch {
			case x >= w/2 && y < h/2:
				c = green
			case x < w/2 && y >= h/2:
				c = blue
			case x >= w/2 && y >= h/2:
				c = white
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// quadrants returns the colour at the centre of each quadrant of m: top
// left, top right, bottom left, bottom right.
func quadrants(m image.Image) [4]color.RGBA {
	b := m.Bounds()
	at := func(fx, fy int) color.RGBA {
		return color.RGBAModel.Convert(m.At(b.Min.X+fx*b.Dx()/4, b.Min.Y+fy*b.Dy()/4)).(color.RGBA)
	}
	return [4]color.RGBA{at(1, 1), at(3, 1), at(1, 3), at(3, 3)}
}

func near(a, b color.RGBA) bool {
	d := func(x, y uint8) bool { return math.Abs(float64(x)-float64(y)) <= 48 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

// ---- JPEG ----

func segment(marker byte, payload []byte) []byte {
	b := []byte{0xFF, marker}
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)+2))
	return append(b, payload...)
}

// canarySegments are the metadata blocks a JPEG can carry besides EXIF.
func canarySegments() [][]byte {
	return [][]byte{
		segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description exif:GPSLatitude=\"43,19.7N\" tiff:Make=\"CanaryXMP\"/></x:xmpmeta>")),
		segment(0xED, []byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x10\x1c\x02\x50\x00\x0aCanaryIPTC")),
		segment(0xE2, []byte("ICC_PROFILE\x00\x01\x01CanaryICC-profile-desc")),
		segment(0xFE, []byte("CanaryComment")),
	}
}

// makeJPEG encodes m and puts segs right after SOI, where cameras put them.
func makeJPEG(t testing.TB, m image.Image, segs ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	out := append([]byte{}, b[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, b[2:]...)
}

func exifSegment(tiff []byte) []byte {
	return segment(0xE1, append([]byte(exifPrefix), tiff...))
}

// testJPEG is a 64×32 photo with EXIF (GPS, orientation o) and every other
// kind of metadata block.
func testJPEG(t testing.TB, o exifOpts) []byte {
	return makeJPEG(t, quadImage(64, 32), append([][]byte{exifSegment(testEXIF(o))}, canarySegments()...)...)
}

// ---- PNG ----

func chunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

func deflate(s string) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write([]byte(s))
	zw.Close()
	return buf.Bytes()
}

func makePNG(t testing.TB, m image.Image, chunks ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	const afterIHDR = 8 + 12 + 13
	out := append([]byte{}, b[:afterIHDR]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, b[afterIHDR:]...)
}

func testPNG(t testing.TB) []byte {
	return makePNG(t, quadImage(64, 32),
		chunk("iCCP", append([]byte("CanaryICC\x00\x00"), deflate("CanaryICC profile body")...)),
		chunk("tEXt", []byte("Author\x00CanaryAuthor")),
		chunk("tEXt", []byte("Creation Time\x002017:04:02 13:45:10")),
		chunk("zTXt", append([]byte("Comment\x00\x00"), deflate("CanaryZText")...)),
		chunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta CanaryXMP/>")),
		chunk("iTXt", append([]byte("Description\x00\x01\x00ru\x00\x00"), deflate("CanaryСнимок")...)),
		chunk("eXIf", testEXIF(exifOpts{bo: binary.BigEndian})),
		chunk("tIME", []byte{0x07, 0xE1, 4, 2, 10, 45, 10}),
	)
}

// ---- GIF ----

func testGIF(t testing.TB) []byte {
	t.Helper()
	pal := color.Palette{red, green, blue, white}
	g := &gif.GIF{LoopCount: 0}
	for i := 0; i < 2; i++ {
		m := image.NewPaletted(image.Rect(0, 0, 32, 16), pal)
		for y := 0; y < 16; y++ {
			for x := 0; x < 32; x++ {
				m.SetColorIndex(x, y, uint8((x/16+2*(y/8)+i)%4))
			}
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 50)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	at := 13
	if b[10]&0x80 != 0 {
		at += 3 << (b[10]&7 + 1)
	}
	ext := []byte{0x21, 0xFE, 13}
	ext = append(ext, "CanaryComment"...)
	ext = append(ext, 0, 0x21, 0xFF, 11)
	ext = append(ext, "XMP DataXMP"...)
	ext = append(ext, 9)
	ext = append(ext, "CanaryXMP"...)
	ext = append(ext, 0)
	return append(append(append([]byte{}, b[:at]...), ext...), b[at:]...)
}

// gifBomb declares a w×h screen holding n frames of w×h, whose pixel data
// is a stub: enough for the block structure, not for decoding.
func gifBomb(w, h uint16, n int) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0x80, 0, 0, 0, 0, 0, 255, 255, 255) // 2-colour global table
	for i := 0; i < n; i++ {
		b = append(b, 0x2C, 0, 0, 0, 0)
		b = binary.LittleEndian.AppendUint16(b, w)
		b = binary.LittleEndian.AppendUint16(b, h)
		b = append(b, 0, 2, 2, 0x4C, 0x01, 0)
	}
	return append(b, 0x3B)
}

// ---- WebP ----

// bitWriter packs bits least significant first, as VP8L reads them.
type bitWriter struct {
	b    []byte
	nbit uint
}

func (w *bitWriter) put(v uint32, n uint) {
	for i := uint(0); i < n; i++ {
		if w.nbit%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (w.nbit % 8)
		w.nbit++
	}
}

// vp8l is a lossless WebP bitstream of a w×h image in one colour: every
// prefix code has a single symbol, so pixels cost no bits at all, which is
// also what makes a tiny file decode into a huge image.
func vp8l(w, h int, c color.RGBA) []byte {
	bw := &bitWriter{b: []byte{0x2F}, nbit: 8}
	bw.put(uint32(w-1), 14)
	bw.put(uint32(h-1), 14)
	bw.put(0, 1) // alpha not used
	bw.put(0, 3) // version
	bw.put(0, 1) // no transform
	bw.put(0, 1) // no colour cache
	bw.put(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} {
		bw.put(1, 1) // simple code
		bw.put(0, 1) // one symbol
		bw.put(1, 1) // of 8 bits
		bw.put(uint32(sym), 8)
	}
	return bw.b
}

func riffChunk(fourcc string, data []byte) []byte {
	b := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)&1 == 1 {
		b = append(b, 0)
	}
	return b
}

func webpFile(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))...)
	return append(append(b, "WEBP"...), body...)
}

func vp8x(flags byte, w, h int) []byte {
	d := []byte{flags, 0, 0, 0}
	d = append(d, byte(w-1), byte((w-1)>>8), byte((w-1)>>16))
	d = append(d, byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	return riffChunk("VP8X", d)
}

// testWebP is a 32×16 green image in the extended format, with an ICC
// profile, EXIF and XMP.
func testWebP() []byte {
	return webpFile(
		vp8x(0x20|0x08|0x04, 32, 16),
		riffChunk("ICCP", []byte("CanaryICC profile")),
		riffChunk("VP8L", vp8l(32, 16, green)),
		riffChunk("EXIF", testEXIF(exifOpts{})),
		riffChunk("XMP ", []byte("<x:xmpmeta CanaryXMP/>")),
	)
}

// ---- MP4 / QuickTime ----

func box(typ string, payload ...[]byte) []byte {
	var p []byte
	for _, x := range payload {
		p = append(p, x...)
	}
	return append(append(binary.BigEndian.AppendUint32(nil, uint32(8+len(p))), typ...), p...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// mp4Secs is t in the MP4 family's seconds since 1904.
func mp4Secs(t time.Time) uint32 { return uint32(t.Unix() - mp4Epoch) }

func mvhdBox(created time.Time, timescale, duration uint32) []byte {
	p := append(u32(0), u32(mp4Secs(created))...)
	p = append(p, u32(mp4Secs(created))...)
	p = append(p, u32(timescale)...)
	p = append(p, u32(duration)...)
	p = append(p, u32(0x00010000)...)
	p = append(p, make([]byte, 2+10+36+24)...)
	p = append(p, u32(3)...)
	return box("mvhd", p)
}

func tkhdBox(w, h uint32, matrix [4]int32) []byte {
	p := append(u32(3), make([]byte, 20)...)
	p = append(p, make([]byte, 16)...)
	m := []int32{matrix[0], matrix[1], 0, matrix[2], matrix[3], 0, 0, 0, 0x40000000}
	for _, v := range m {
		p = append(p, u32(uint32(v))...)
	}
	p = append(p, u32(w<<16)...)
	p = append(p, u32(h<<16)...)
	return box("tkhd", p)
}

func qtText(typ, s string) []byte {
	p := binary.BigEndian.AppendUint16(nil, uint16(len(s)))
	p = binary.BigEndian.AppendUint16(p, 0x15C7)
	return box(typ, p, []byte(s))
}

// appleMeta is QuickTime's moov/meta with mdta keys and their items.
func appleMeta(kv ...[2]string) []byte {
	keys := append(u32(0), u32(uint32(len(kv)))...)
	var items []byte
	for i, e := range kv {
		keys = append(keys, u32(uint32(8+len(e[0])))...)
		keys = append(keys, "mdta"...)
		keys = append(keys, e[0]...)
		data := box("data", u32(1), u32(0), []byte(e[1]))
		items = append(items, box(string(u32(uint32(i+1))), data)...)
	}
	hdlr := box("hdlr", u32(0), u32(0), []byte("mdta"), make([]byte, 13))
	return box("meta", hdlr, box("keys", keys), box("ilst", items))
}

var rotate90 = [4]int32{0, 1 << 16, -1 << 16, 0}

// testMOV is an iPhone-like QuickTime movie whose moov comes first.
func testMOV() []byte {
	created := time.Date(2017, 4, 2, 10, 45, 10, 0, time.UTC)
	sound := box("trak", tkhdBox(0, 0, [4]int32{1 << 16, 0, 0, 1 << 16}))
	video := box("trak", tkhdBox(1920, 1080, rotate90))
	moov := box("moov",
		mvhdBox(created, 600, 7407),
		sound, video,
		appleMeta(
			[2]string{"com.apple.quicktime.location.ISO6709", "+43.3290+045.6981+130.500/"},
			[2]string{"com.apple.quicktime.make", "CanaryMake-Apple"},
			[2]string{"com.apple.quicktime.model", "CanaryModel-iPhone"},
			[2]string{"com.apple.quicktime.software", "17.4"},
			[2]string{"com.apple.quicktime.creationdate", "2017-04-02T13:45:10+0300"},
		),
	)
	return append(append(box("ftyp", []byte("qt  "), u32(0), []byte("qt  ")), moov...), box("mdat", make([]byte, 64))...)
}

// testMP4 is an Android-like MP4: location in udta/©xyz, no Apple keys.
func testMP4() []byte {
	created := time.Date(2017, 4, 2, 10, 45, 10, 0, time.UTC)
	moov := box("moov",
		mvhdBox(created, 1000, 12345),
		box("trak", tkhdBox(1280, 720, [4]int32{1 << 16, 0, 0, 1 << 16})),
		box("udta", qtText("\xa9xyz", "+43.3290+045.6981/")),
	)
	return append(append(box("ftyp", []byte("isom"), u32(0x200), []byte("isommp42")), moov...), box("mdat", make([]byte, 64))...)
}

// ---- PDF ----

const testPDF = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" +
	"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
	"5 0 obj\n<< /CreatorTool (not this) /Producer (Canary \\(PDF\\) Producer\\0561)\n" +
	"/Creator <FEFF0043 0061006E 00610072 0079 041E> /CreationDate (D:20170402134510+03'00')\n" +
	"/ModDate (D:20170403) >>\nendobj\ntrailer\n<< /Root 1 0 R /Info 5 0 R >>\n%%EOF\n"
