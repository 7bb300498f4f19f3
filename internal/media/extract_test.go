package media

import (
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name string
		head []byte
		want string
	}{
		{"jpeg", testJPEG(t, exifOpts{}), "image/jpeg"},
		{"png", testPNG(t), "image/png"},
		{"gif", testGIF(t), "image/gif"},
		{"webp", testWebP(), "image/webp"},
		{"tiff", testEXIF(exifOpts{}), "image/tiff"},
		{"mp4", testMP4(), "video/mp4"},
		{"mov", testMOV(), "video/quicktime"},
		{"pdf", []byte(testPDF), "application/pdf"},
		{"text", []byte("Здравствуйте, мне нужна помощь"), "text/plain"},
		{"empty", nil, "text/plain"},
		{"random", []byte{0x00, 0xA7, 0x13, 0xFE, 0x01, 0x99, 0x00, 0x42}, "application/octet-stream"},
	} {
		if got := Sniff(tc.head); got != tc.want {
			t.Errorf("Sniff(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func checkEXIFValues(t *testing.T, md Metadata, latSign, lonSign, altSign float64) {
	t.Helper()
	if md.Make != "CanaryMake-7Q" || md.Model != "CanaryModel-Z3" || md.Software != "CanarySoft-9" {
		t.Errorf("make/model/software = %q/%q/%q", md.Make, md.Model, md.Software)
	}
	if md.GPS == nil {
		t.Fatal("no GPS")
	}
	if math.Abs(md.GPS.Lat-latSign*wantLat) > 1e-9 || math.Abs(md.GPS.Lon-lonSign*wantLon) > 1e-9 || md.GPS.Alt != altSign*wantAlt {
		t.Errorf("GPS = %+v, want %v %v %v", *md.GPS, latSign*wantLat, lonSign*wantLon, altSign*wantAlt)
	}
	if got := md.Extra["exif.gps_time"]; got != "2017-04-02T10:45:10Z" {
		t.Errorf("gps_time = %q", got)
	}
	if got := md.Extra["exif.body_serial_number"]; got != "CanarySerial-55" {
		t.Errorf("serial = %q", got)
	}
}

func TestExtractJPEG(t *testing.T) {
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		md, err := Extract("image/jpeg", testJPEG(t, exifOpts{bo: bo, orientation: 6}))
		if err != nil {
			t.Fatal(err)
		}
		checkEXIFValues(t, md, 1, 1, 1)
		if !md.CapturedAt.Equal(wantTime) {
			t.Errorf("CapturedAt = %v, want %v", md.CapturedAt, wantTime)
		}
		if _, off := md.CapturedAt.Zone(); off != 3*3600 {
			t.Errorf("CapturedAt offset = %d s, want +3h", off)
		}
		if _, ok := md.Extra["captured_at.zone"]; ok {
			t.Error("zone reported unknown although the offset is given")
		}
		// The size is the frame's, not what IFD0 says.
		if md.Width != 64 || md.Height != 32 {
			t.Errorf("size = %d×%d, want 64×32", md.Width, md.Height)
		}
		if md.Extra["exif.orientation"] != "6" || md.Extra["jpeg.xmp"] != "present" {
			t.Errorf("Extra = %v", md.Extra)
		}
	}
}

func TestExtractEXIFVariants(t *testing.T) {
	md, err := Extract("image/jpeg", testJPEG(t, exifOpts{south: true, west: true, below: true, noOffset: true}))
	if err != nil {
		t.Fatal(err)
	}
	checkEXIFValues(t, md, -1, -1, -1)
	// A wall clock without offset: kept as UTC, flagged unknown.
	if want := time.Date(2017, 4, 2, 13, 45, 10, 250e6, time.UTC); !md.CapturedAt.Equal(want) {
		t.Errorf("CapturedAt = %v, want %v", md.CapturedAt, want)
	}
	if md.Extra["captured_at.zone"] != "unknown" {
		t.Errorf("zone not flagged unknown: %v", md.Extra)
	}

	md, err = Extract("image/jpeg", testJPEG(t, exifOpts{ifdType: true, bo: binary.BigEndian}))
	if err != nil {
		t.Fatal(err)
	}
	checkEXIFValues(t, md, 1, 1, 1)

	md, err = Extract("image/jpeg", testJPEG(t, exifOpts{noGPS: true}))
	if err != nil || md.GPS != nil {
		t.Errorf("without GPS: GPS %v, err %v", md.GPS, err)
	}

	// Content types are compared as media types.
	if _, err := Extract("Image/JPEG; charset=binary", testJPEG(t, exifOpts{})); err != nil {
		t.Errorf("parameters in the content type: %v", err)
	}
}

func TestExtractTIFF(t *testing.T) {
	md, err := Extract("image/tiff", testEXIF(exifOpts{bo: binary.BigEndian, size: [2]uint32{4000, 3000}}))
	if err != nil {
		t.Fatal(err)
	}
	checkEXIFValues(t, md, 1, 1, 1)
	if md.Width != 4000 || md.Height != 3000 {
		t.Errorf("size = %d×%d", md.Width, md.Height)
	}
}

func TestExtractPNG(t *testing.T) {
	md, err := Extract("image/png", testPNG(t))
	if err != nil {
		t.Fatal(err)
	}
	checkEXIFValues(t, md, 1, 1, 1)
	// eXIf's time wins over the earlier text chunk's.
	if !md.CapturedAt.Equal(wantTime) {
		t.Errorf("CapturedAt = %v, want %v", md.CapturedAt, wantTime)
	}
	if md.Width != 64 || md.Height != 32 {
		t.Errorf("size = %d×%d", md.Width, md.Height)
	}
	for k, want := range map[string]string{
		"png.text.Author":        "CanaryAuthor",
		"png.text.Comment":       "CanaryZText",
		"png.text.Description":   "CanaryСнимок",
		"png.text.Creation Time": "2017:04:02 13:45:10",
		"png.xmp":                "present",
		"png.time":               "2017-04-02T10:45:10Z",
	} {
		if got := md.Extra[k]; got != want {
			t.Errorf("Extra[%q] = %q, want %q", k, got, want)
		}
	}

	// A damaged chunk is passed over; the rest is still read.
	b := testPNG(t)
	i := strings.Index(string(b), "eXIf")
	b[i+10] ^= 0xFF
	md, err = Extract("image/png", b)
	if err != nil || md.GPS != nil || md.Extra["png.text.Author"] != "CanaryAuthor" {
		t.Errorf("damaged eXIf: GPS %v, Extra %v, err %v", md.GPS, md.Extra, err)
	}
	// Without eXIf the text chunk's time counts.
	if want := time.Date(2017, 4, 2, 13, 45, 10, 0, time.UTC); !md.CapturedAt.Equal(want) {
		t.Errorf("CapturedAt from text = %v", md.CapturedAt)
	}
}

func TestExtractGIFWebP(t *testing.T) {
	md, err := Extract("image/gif", testGIF(t))
	if err != nil || md.Width != 32 || md.Height != 16 {
		t.Errorf("gif: %+v, %v", md, err)
	}
	md, err = Extract("image/webp", testWebP())
	if err != nil {
		t.Fatal(err)
	}
	if md.Width != 32 || md.Height != 16 || md.Extra["webp.xmp"] != "present" {
		t.Errorf("webp: %+v", md)
	}
	checkEXIFValues(t, md, 1, 1, 1)
}

func TestExtractMP4(t *testing.T) {
	md, err := Extract("video/quicktime", testMOV())
	if err != nil {
		t.Fatal(err)
	}
	// Apple's local creation date, with its offset, wins over mvhd's UTC.
	if want := time.Date(2017, 4, 2, 13, 45, 10, 0, time.FixedZone("", 3*3600)); !md.CapturedAt.Equal(want) {
		t.Errorf("CapturedAt = %v", md.CapturedAt)
	}
	if _, off := md.CapturedAt.Zone(); off != 3*3600 {
		t.Errorf("offset = %d", off)
	}
	if md.GPS == nil || md.GPS.Lat != 43.329 || md.GPS.Lon != 45.6981 || md.GPS.Alt != 130.5 {
		t.Errorf("GPS = %+v", md.GPS)
	}
	if md.Make != "CanaryMake-Apple" || md.Model != "CanaryModel-iPhone" || md.Software != "17.4" {
		t.Errorf("device = %q %q %q", md.Make, md.Model, md.Software)
	}
	if md.Width != 1920 || md.Height != 1080 || md.Extra["mp4.rotation"] != "90" {
		t.Errorf("size %d×%d rotation %q", md.Width, md.Height, md.Extra["mp4.rotation"])
	}
	if want := 7407 * time.Second / 600; md.Duration != want {
		t.Errorf("Duration = %v, want %v", md.Duration, want)
	}
	if md.Extra["mp4.creation_time"] != "2017-04-02T10:45:10Z" || md.Extra["mp4.brand"] != "qt" {
		t.Errorf("Extra = %v", md.Extra)
	}

	md, err = Extract("video/mp4", testMP4())
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2017, 4, 2, 10, 45, 10, 0, time.UTC); !md.CapturedAt.Equal(want) {
		t.Errorf("mp4 CapturedAt = %v", md.CapturedAt)
	}
	if md.GPS == nil || md.GPS.Lat != 43.329 || md.GPS.Lon != 45.6981 {
		t.Errorf("mp4 GPS = %+v", md.GPS)
	}
	if md.Duration != 12345*time.Millisecond || md.Width != 1280 || md.Height != 720 {
		t.Errorf("mp4 duration %v size %d×%d", md.Duration, md.Width, md.Height)
	}
	if _, ok := md.Extra["mp4.rotation"]; ok {
		t.Error("rotation reported for the identity matrix")
	}

	// moov after a large mdat is beyond the head: nothing to read, no error.
	late := append(box("ftyp", []byte("isom"), u32(0), []byte("isom")), binary.BigEndian.AppendUint32(nil, 1<<30)...)
	late = append(late, "mdat"...)
	late = append(late, make([]byte, 1000)...)
	md, err = Extract("video/mp4", late)
	if err != nil || !md.CapturedAt.IsZero() || md.GPS != nil {
		t.Errorf("moov beyond head: %+v, %v", md, err)
	}
}

func TestExtractPDF(t *testing.T) {
	md, err := Extract("application/pdf", []byte(testPDF))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2017, 4, 2, 13, 45, 10, 0, time.FixedZone("", 3*3600)); !md.CapturedAt.Equal(want) {
		t.Errorf("CapturedAt = %v", md.CapturedAt)
	}
	if md.Software != "Canary (PDF) Producer.1" {
		t.Errorf("Software = %q", md.Software)
	}
	for k, want := range map[string]string{
		"pdf.creator":  "CanaryО",
		"pdf.version":  "1.7",
		"pdf.mod_date": "D:20170403",
	} {
		if got := md.Extra[k]; got != want {
			t.Errorf("Extra[%q] = %q, want %q", k, got, want)
		}
	}
}

func TestPDFDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		zone bool
		ok   bool
	}{
		{"D:20170402134510+03'00'", time.Date(2017, 4, 2, 13, 45, 10, 0, time.FixedZone("", 3*3600)), true, true},
		{"D:20170402134510-05'30", time.Date(2017, 4, 2, 13, 45, 10, 0, time.FixedZone("", -5*3600-30*60)), true, true},
		{"D:20170402134510Z", time.Date(2017, 4, 2, 13, 45, 10, 0, time.UTC), true, true},
		{"20170402", time.Date(2017, 4, 2, 0, 0, 0, 0, time.UTC), false, true},
		{"D:2017", time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), false, true},
		{"D:20170231", time.Time{}, false, false},
		{"D:20171302", time.Time{}, false, false},
		{"D:17", time.Time{}, false, false},
		{"", time.Time{}, false, false},
	} {
		got, zone, ok := pdfDate(tc.in)
		if ok != tc.ok || zone != tc.zone || !got.Equal(tc.want) {
			t.Errorf("pdfDate(%q) = %v, %v, %v; want %v, %v, %v", tc.in, got, zone, ok, tc.want, tc.zone, tc.ok)
		}
	}
}

func TestISO6709(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want GPS
		ok   bool
	}{
		{"+43.3290+045.6981/", GPS{43.329, 45.6981, 0}, true},
		{"-33.8688+151.2093+012.000/", GPS{-33.8688, 151.2093, 12}, true},
		{"+4319.74-04541.886/", GPS{43 + 19.74/60, -(45 + 41.886/60), 0}, true},
		{"+431942.0+0454153.16CRSWGS_84/", GPS{43 + 19.0/60 + 42.0/3600, 45 + 41.0/60 + 53.16/3600, 0}, true},
		{"+91.0+000.0/", GPS{}, false},
		{"+43.3+45.6/", GPS{}, false}, // longitude needs three degree digits
		{"43.3290,45.6981", GPS{}, false},
		{"+", GPS{}, false},
	} {
		got, ok := parseISO6709(tc.in)
		if ok != tc.ok || (ok && (math.Abs(got.Lat-tc.want.Lat) > 1e-9 || math.Abs(got.Lon-tc.want.Lon) > 1e-9 || got.Alt != tc.want.Alt)) {
			t.Errorf("parseISO6709(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestExtractErrors(t *testing.T) {
	for _, ct := range []string{"audio/mpeg", "text/plain", "image/heic", "", "not a type"} {
		if _, err := Extract(ct, []byte("whatever")); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Extract(%q): %v, want ErrUnsupported", ct, err)
		}
	}
	for _, ct := range []string{"image/jpeg", "image/png", "image/tiff", "image/gif", "image/webp", "video/mp4", "application/pdf"} {
		_, err := Extract(ct, []byte("\x00\x01 plainly not it"))
		if err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("Extract(%q) of garbage: %v, want a format error", ct, err)
		}
	}
}

// Every prefix of a file is what a caller with a short head has; each must
// be read without error or panic, and give a subset of what the whole gives.
func TestExtractTruncated(t *testing.T) {
	files := map[string][]byte{
		"image/jpeg":      testJPEG(t, exifOpts{}),
		"image/png":       testPNG(t),
		"image/webp":      testWebP(),
		"image/tiff":      testEXIF(exifOpts{}),
		"video/quicktime": testMOV(),
		"application/pdf": []byte(testPDF),
	}
	for ct, b := range files {
		whole, err := extract(ct, b)
		if err != nil {
			t.Fatal(ct, err)
		}
		for n := 0; n <= len(b); n++ {
			md, err := extract(ct, b[:n])
			if err != nil {
				continue // too short to recognise
			}
			// Alt 0 is "not stated": the altitude may lie past the cut.
			if g := md.GPS; g != nil && (g.Lat != whole.GPS.Lat || g.Lon != whole.GPS.Lon || g.Alt != 0 && g.Alt != whole.GPS.Alt) {
				t.Errorf("%s[:%d]: GPS %+v, whole %+v", ct, n, *md.GPS, *whole.GPS)
			}
			if md.Make != "" && md.Make != whole.Make || md.Model != "" && md.Model != whole.Model || md.Software != "" && md.Software != whole.Software {
				t.Errorf("%s[:%d]: device %q %q %q, whole %q %q %q", ct, n, md.Make, md.Model, md.Software, whole.Make, whole.Model, whole.Software)
			}
			// The offset may lie past the cut, which must then be said.
			if !md.CapturedAt.IsZero() && !md.CapturedAt.Equal(whole.CapturedAt) && md.Extra["captured_at.zone"] != "unknown" {
				t.Errorf("%s[:%d]: CapturedAt %v, whole %v", ct, n, md.CapturedAt, whole.CapturedAt)
			}
			if md.Width != 0 && (md.Width != whole.Width || md.Height != whole.Height) {
				t.Errorf("%s[:%d]: size %d×%d, whole %d×%d", ct, n, md.Width, md.Height, whole.Width, whole.Height)
			}
			for k, v := range md.Extra {
				if w, ok := whole.Extra[k]; ok && w != v {
					t.Errorf("%s[:%d]: Extra[%q] = %q, whole %q", ct, n, k, v, w)
				}
			}
			checkMetadata(t, md)
		}
	}
}

// The inputs that broke the EXIF libraries considered (see tiff.go): they
// must be read quickly and cheaply.
func TestExtractHostileTIFF(t *testing.T) {
	le := binary.LittleEndian
	// A RATIONAL whose count overflows 32-bit size arithmetic.
	overflow := []byte("II*\x00\x08\x00\x00\x00")
	overflow = le.AppendUint16(overflow, 1)
	overflow = le.AppendUint16(overflow, tagMake)
	overflow = le.AppendUint16(overflow, 5)
	overflow = le.AppendUint32(overflow, 0x20000001)
	overflow = le.AppendUint32(overflow, 26)
	overflow = le.AppendUint32(overflow, 0)
	overflow = append(overflow, 1, 0, 0, 0, 1, 0, 0, 0)
	// Directories pointing at each other, and sub-directories at IFD0.
	cycle := []byte("II*\x00\x08\x00\x00\x00")
	cycle = le.AppendUint16(cycle, 2)
	cycle = append(cycle, (&tiffSpec{}).pointer(le, tagExifIFD, 8)...)
	cycle = append(cycle, (&tiffSpec{}).pointer(le, tagGPSIFD, 8)...)
	cycle = le.AppendUint32(cycle, 8)
	// A directory claiming 65535 entries in a few bytes.
	many := []byte("II*\x00\x08\x00\x00\x00\xff\xff")

	for name, b := range map[string][]byte{"overflow": overflow, "cycle": cycle, "many": many} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := Extract("image/tiff", b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := Extract("image/jpeg", append(append([]byte{0xFF, 0xD8}, exifSegment(b)...), 0xFF, 0xD9)); err != nil {
			t.Errorf("%s in JPEG: %v", name, err)
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%s: allocated %d bytes", name, n)
		}
	}
}

func (*tiffSpec) pointer(bo byteOrder, id uint16, off uint32) []byte {
	b := bo.AppendUint16(nil, id)
	b = bo.AppendUint16(b, 4)
	b = bo.AppendUint32(b, 1)
	return bo.AppendUint32(b, off)
}

func TestExtraBounded(t *testing.T) {
	var chunks [][]byte
	for i := 0; i < 200; i++ {
		chunks = append(chunks, chunk("tEXt", []byte("Key"+strings.Repeat("k", i%70)+string(rune('A'+i%26))+"\x00"+strings.Repeat("\x01value\xff", 400))))
	}
	md, err := Extract("image/png", makePNG(t, quadImage(8, 8), chunks...))
	if err != nil {
		t.Fatal(err)
	}
	checkMetadata(t, md)
	if len(md.Extra) != maxExtra {
		t.Errorf("%d Extra entries, want the cap %d", len(md.Extra), maxExtra)
	}
}

// checkMetadata holds for anything Extract returns.
func checkMetadata(t *testing.T, md Metadata) {
	t.Helper()
	if len(md.Extra) > maxExtra {
		t.Errorf("%d Extra entries", len(md.Extra))
	}
	for k, v := range md.Extra {
		for _, s := range []string{k, v} {
			if len(s) > maxValueBytes || s != clean(s) || s == "" {
				t.Errorf("Extra entry not clean: %q: %q", k, v)
			}
		}
	}
	for _, s := range []string{md.Make, md.Model, md.Software} {
		if s != clean(s) {
			t.Errorf("string not clean: %q", s)
		}
	}
	if g := md.GPS; g != nil && !validGPS(g.Lat, g.Lon, g.Alt) {
		t.Errorf("GPS out of range: %+v", *g)
	}
	if md.Width < 0 || md.Height < 0 || md.Duration < 0 {
		t.Errorf("negative size or duration: %+v", md)
	}
}

// Version 1 headers (64-bit times and duration) and 64-bit box sizes, as
// long recordings have.
func TestExtractMP4Version1(t *testing.T) {
	md, err := Extract("video/mp4", testMP4v1())
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2017, 4, 2, 10, 45, 10, 0, time.UTC); !md.CapturedAt.Equal(want) || md.Duration != 3*time.Hour {
		t.Errorf("CapturedAt %v, Duration %v", md.CapturedAt, md.Duration)
	}
	if md.Width != 3840 || md.Height != 2160 || md.Extra["mp4.rotation"] != "180" {
		t.Errorf("size %d×%d, rotation %q", md.Width, md.Height, md.Extra["mp4.rotation"])
	}
	if md.Software != "CanaryLavf" {
		t.Errorf("Software %q", md.Software)
	}
}

func testMP4v1() []byte {
	created := time.Date(2017, 4, 2, 10, 45, 10, 0, time.UTC)
	mvhd := append(u32(1<<24), binary.BigEndian.AppendUint64(nil, uint64(created.Unix()-mp4Epoch))...)
	mvhd = binary.BigEndian.AppendUint64(mvhd, uint64(created.Unix()-mp4Epoch))
	mvhd = append(mvhd, u32(90000)...)
	mvhd = binary.BigEndian.AppendUint64(mvhd, 90000*3*3600) // three hours
	mvhd = append(mvhd, make([]byte, 80)...)
	tkhd := append(u32(1<<24|3), make([]byte, 32+16)...)
	for _, v := range []int32{-1 << 16, 0, 0, 0, -1 << 16, 0, 0, 0, 0x40000000} {
		tkhd = append(tkhd, u32(uint32(v))...)
	}
	tkhd = append(append(tkhd, u32(3840<<16)...), u32(2160<<16)...)
	// A 64-bit mdat header (size 1, then the size) before moov.
	mdat := append(u32(1), "mdat"...)
	mdat = binary.BigEndian.AppendUint64(mdat, 16+32)
	mdat = append(mdat, make([]byte, 32)...)
	udtaMeta := box("meta", u32(0), box("hdlr", make([]byte, 25)), box("ilst", box("\xa9too", box("data", u32(1), u32(0), []byte("CanaryLavf")))))
	file := append(box("ftyp", []byte("isom"), u32(0)), mdat...)
	return append(file, box("moov", box("mvhd", mvhd), box("trak", box("tkhd", tkhd)), box("udta", udtaMeta))...)
}
