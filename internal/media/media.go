// Package media reads what an evidence file says about itself and makes
// working copies that say nothing.
//
// An evidence file (a photo of an injury, a recording, a medical report) is
// kept sealed and untouched; what it says about its capture — when, where,
// with what device — goes into the item's sealed record, because a court may
// need it; staff look at working copies from which all of that is gone,
// because a working copy may leak (a screenshot, a forwarded file) and the
// GPS position in a photo can lead straight to a safe house.
//
// Every byte handled here comes from people the organisation cannot vet, and
// some of it will be crafted to hurt: decompression bombs, directories that
// point at themselves, lengths larger than the file. The readers therefore
// work on a bounded prefix of the file (HeadSize), never allocate by a
// declared length before checking it against the data present, and give up
// quietly on anything they do not understand. Strip refuses images over
// MaxPixels before it decodes a single pixel.
package media

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	// mimetype: pure Go, no dependencies, actively kept, fuzzed upstream, and
	// it looks only at the first 3 KiB, so sniffing costs the same whatever
	// the caller passes.
	"github.com/gabriel-vasile/mimetype"
)

// HeadSize is how many leading bytes of a file callers capture for Sniff and
// Extract. Extract ignores anything past it.
const HeadSize = 256 << 10

// MaxPixels is the largest image, in pixels, that Strip decodes: more than
// any phone takes. Stripping allocates about 1.5 bytes a pixel for a JPEG
// photo, 5.5 if it must be turned, 4 for a PNG (BenchmarkStrip); the worst
// case, a progressive JPEG without chroma subsampling that must be turned,
// is about 19, so about 1 GB at the limit for each image stripped at once.
const MaxPixels = 50_000_000

var (
	// ErrUnsupported reports a content type that Extract or Strip does not
	// read. It is not a failure: the original is kept all the same.
	ErrUnsupported = errors.New("media: unsupported type")
	// ErrTooLarge reports an image whose declared size is over MaxPixels (or
	// an animation whose frames add up to more), whose header alone is over
	// 16 MiB, or a JPEG of more than 256 scans: work out of proportion to
	// any honest photo.
	ErrTooLarge = errors.New("media: image too large")
)

// GPS is a position in WGS 84 degrees; Alt is metres above sea level, 0 if
// the file did not say.
type GPS struct{ Lat, Lon, Alt float64 }

// Metadata is what a file says about its own capture. Every field is
// optional; the zero value means "not stated".
//
// CapturedAt carries the offset the file stated. When the file gave a wall
// clock without an offset (common in EXIF), CapturedAt holds that wall clock
// in UTC and Extra["captured_at.zone"] is "unknown".
//
// Extra holds further values under dotted lower-case keys named for where
// they came from ("exif.orientation", "exif.gps_time", "png.text.Author",
// "mp4.rotation", "pdf.creator", …). It is bounded: at most 64 entries of at
// most 1024 bytes each, all valid UTF-8 without control characters.
type Metadata struct {
	CapturedAt            time.Time
	GPS                   *GPS
	Make, Model, Software string
	Width, Height         int
	Duration              time.Duration
	Extra                 map[string]string
}

// Sniff returns the media type of a file from its first bytes (at most
// HeadSize are needed, fewer are fine): "image/jpeg", "video/mp4", … without
// parameters, or "application/octet-stream" when it cannot tell.
func Sniff(head []byte) string {
	t, _, err := mime.ParseMediaType(mimetype.Detect(head).String())
	if err != nil || t == "" {
		return "application/octet-stream"
	}
	return t
}

// Extract reads capture metadata from the first bytes of a file (head, of
// which at most HeadSize are read) of the given content type.
//
// It reads JPEG and TIFF (EXIF), PNG (IHDR, text chunks, eXIf), GIF and WebP
// (dimensions; WebP's EXIF), the MP4/QuickTime family (mvhd, track size and
// rotation, location and Apple's creation date and device keys, when the
// moov box is within head) and PDF (the Info strings within head). Other
// types give ErrUnsupported.
//
// It is best effort: a damaged metadata block inside a valid file is
// skipped and the rest still read. It fails only when head is not a file of
// the stated type at all. It never panics.
func Extract(contentType string, head []byte) (md Metadata, err error) {
	// A reader of hostile input must not take the server down with it; the
	// fuzz tests call extract directly, so a panic here is still found.
	defer func() {
		if recover() != nil {
			md, err = Metadata{}, fmt.Errorf("media: reading %s metadata failed", normType(contentType))
		}
	}()
	return extract(contentType, head)
}

func extract(contentType string, head []byte) (Metadata, error) {
	ct := normType(contentType)
	if len(head) > HeadSize {
		head = head[:HeadSize]
	}
	var c collector
	var err error
	switch {
	case ct == "image/jpeg":
		err = c.jpeg(head)
	case ct == "image/tiff":
		err = c.tiff(head)
	case ct == "image/png" || ct == "image/apng":
		err = c.png(head)
	case ct == "image/gif":
		err = c.gif(head)
	case ct == "image/webp":
		err = c.webp(head)
	case mp4Types[ct]:
		err = c.mp4(head)
	case ct == "application/pdf":
		err = c.pdf(head)
	default:
		return Metadata{}, fmt.Errorf("%w: %q", ErrUnsupported, ct)
	}
	if err != nil {
		return Metadata{}, fmt.Errorf("media: %s: %w", ct, err)
	}
	return c.md, nil
}

var mp4Types = map[string]bool{
	"video/mp4":       true,
	"video/quicktime": true,
	"video/x-m4v":     true,
	"video/3gpp":      true,
	"video/3gpp2":     true,
	"audio/mp4":       true,
	"audio/x-m4a":     true,
}

// normType reduces a Content-Type to its lower-case media type, so that
// "Image/JPEG; charset=binary" and "image/jpeg" are read alike.
func normType(contentType string) string {
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return t
}

// errFormat reports head that is not a file of the stated type.
var errFormat = errors.New("not a file of this type")

const (
	maxExtra      = 64
	maxValueBytes = 1024
)

// collector gathers Metadata; its setters keep the first value found and
// clean every string, so the readers need not.
type collector struct {
	md Metadata
}

func (c *collector) extra(key, value string) {
	key, value = clean(key), clean(value)
	if key == "" || value == "" {
		return
	}
	if c.md.Extra == nil {
		c.md.Extra = make(map[string]string)
	}
	if _, ok := c.md.Extra[key]; ok || len(c.md.Extra) >= maxExtra {
		return
	}
	c.md.Extra[key] = value
}

func (c *collector) setString(dst *string, value string) {
	if *dst == "" {
		*dst = clean(value)
	}
}

// setTime records the capture time; zoneKnown false means t is a wall clock
// shown as UTC.
func (c *collector) setTime(t time.Time, zoneKnown bool) {
	if !c.md.CapturedAt.IsZero() || t.IsZero() {
		return
	}
	c.md.CapturedAt = t
	if !zoneKnown {
		c.extra("captured_at.zone", "unknown")
	}
}

func (c *collector) setSize(w, h int) {
	if c.md.Width == 0 && c.md.Height == 0 && w > 0 && h > 0 {
		c.md.Width, c.md.Height = w, h
	}
}

func (c *collector) setGPS(lat, lon, alt float64) {
	if c.md.GPS != nil || !validGPS(lat, lon, alt) {
		return
	}
	c.md.GPS = &GPS{Lat: lat, Lon: lon, Alt: alt}
}

func validGPS(lat, lon, alt float64) bool {
	// The comparisons also reject NaN; 1e6 m is above any camera.
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && alt >= -1e6 && alt <= 1e6
}

// clean makes a metadata string safe to store and show: valid UTF-8, no
// control characters, no surrounding space or NULs, at most maxValueBytes.
func clean(s string) string {
	if len(s) > 4*maxValueBytes {
		s = s[:4*maxValueBytes]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\uFEFF' {
			if r == '\n' || r == '\t' {
				return ' '
			}
			return -1
		}
		return r
	}, s)
	if len(s) > maxValueBytes {
		cut := maxValueBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.TrimSpace(s)
}

// latin1 turns ISO 8859-1 bytes (PNG tEXt, PDFDocEncoding near enough) into
// a string.
func latin1(b []byte) string {
	if len(b) > 4*maxValueBytes {
		b = b[:4*maxValueBytes]
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
