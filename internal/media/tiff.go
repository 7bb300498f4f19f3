package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// EXIF is read by the small, bounded TIFF reader below rather than by an
// EXIF library. Both candidates were tried on hostile input first:
// github.com/rwcarlsen/goexif (the smaller, no dependencies, last changed
// 2019) allocated 12 GiB for a 34-byte directory whose RATIONAL count
// overflows, and looped forever on two directories that point at each
// other; github.com/dsoprea/go-exif/v3 (last release 2022) survived both but
// brings golang/geo, yaml.v2, go-logging and go-utility and uses panics for
// control flow. Corridor needs a dozen tags from three directories at fixed
// depth, so it reads them here: every offset and length is checked against
// the data present before use, nothing is allocated by a declared count, and
// no chain of directories is followed, so no cycle can form.

// tiffData is a TIFF structure: a TIFF file, a JPEG's APP1 EXIF block after
// its "Exif\0\0" prefix, a PNG eXIf chunk or a WebP EXIF chunk. Offsets in
// it are relative to its first byte.
type tiffData struct {
	b  []byte
	bo binary.ByteOrder
}

type tiffTag struct {
	typ   uint16
	count uint32
	val   []byte // count values of typ, within tiffData.b
}

const maxIFDEntries = 1024

var errTIFFHeader = errors.New("bad TIFF header")

// parseTIFF checks the header and returns the offset of the first directory.
func parseTIFF(b []byte) (tiffData, uint32, error) {
	if len(b) < 8 {
		return tiffData{}, 0, errTIFFHeader
	}
	var bo binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return tiffData{}, 0, errTIFFHeader
	}
	if bo.Uint16(b[2:]) != 42 {
		return tiffData{}, 0, errTIFFHeader
	}
	return tiffData{b: b, bo: bo}, bo.Uint32(b[4:]), nil
}

// tiffTypeSize is the size in bytes of one value of each TIFF field type; 0
// for types this reader does not know, whose tags are skipped.
func tiffTypeSize(typ uint16) uint64 {
	switch typ {
	case 1, 2, 6, 7: // BYTE, ASCII, SBYTE, UNDEFINED
		return 1
	case 3, 8: // SHORT, SSHORT
		return 2
	case 4, 9, 11, 13: // LONG, SLONG, FLOAT, IFD (an offset, as some writers type sub-directory pointers)
		return 4
	case 5, 10, 12: // RATIONAL, SRATIONAL, DOUBLE
		return 8
	}
	return 0
}

// ifd reads the directory at off. Entries whose value lies outside the data
// (a truncated head, or a lie) are left out; a directory that is itself
// outside is an error.
func (t tiffData) ifd(off uint32) (map[uint16]tiffTag, error) {
	start := uint64(off)
	if start < 8 || start+2 > uint64(len(t.b)) {
		return nil, fmt.Errorf("directory offset %d outside data", off)
	}
	n := uint64(t.bo.Uint16(t.b[start:]))
	if avail := (uint64(len(t.b)) - start - 2) / 12; n > avail {
		n = avail
	}
	n = min(n, maxIFDEntries)
	tags := make(map[uint16]tiffTag, n)
	for i := uint64(0); i < n; i++ {
		e := t.b[start+2+12*i:][:12]
		id, typ, count := t.bo.Uint16(e), t.bo.Uint16(e[2:]), t.bo.Uint32(e[4:])
		size := tiffTypeSize(typ) * uint64(count)
		if size == 0 {
			continue
		}
		var val []byte
		if size <= 4 {
			val = e[8 : 8+size]
		} else {
			vo := uint64(t.bo.Uint32(e[8:]))
			if vo+size > uint64(len(t.b)) {
				continue
			}
			val = t.b[vo : vo+size]
		}
		if _, dup := tags[id]; !dup {
			tags[id] = tiffTag{typ: typ, count: count, val: val}
		}
	}
	return tags, nil
}

// str reads an ASCII value (or BYTE/UNDEFINED, which some writers use) up to
// its first NUL.
func (t tiffData) str(g tiffTag) string {
	switch g.typ {
	case 1, 2, 7:
	default:
		return ""
	}
	s := string(g.val)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return clean(s)
}

// uint reads the i-th value of an unsigned integer tag.
func (t tiffData) uint(g tiffTag, i int) (uint32, bool) {
	if i < 0 || uint64(i) >= uint64(g.count) {
		return 0, false
	}
	switch g.typ {
	case 1, 7:
		return uint32(g.val[i]), true
	case 3:
		return uint32(t.bo.Uint16(g.val[2*i:])), true
	case 4, 13:
		return t.bo.Uint32(g.val[4*i:]), true
	}
	return 0, false
}

// rat reads the i-th value of a RATIONAL or SRATIONAL tag.
func (t tiffData) rat(g tiffTag, i int) (float64, bool) {
	if i < 0 || uint64(i) >= uint64(g.count) {
		return 0, false
	}
	v := g.val[8*i:]
	switch g.typ {
	case 5:
		num, den := t.bo.Uint32(v), t.bo.Uint32(v[4:])
		if den == 0 {
			return 0, false
		}
		return float64(num) / float64(den), true
	case 10:
		num, den := int32(t.bo.Uint32(v)), int32(t.bo.Uint32(v[4:]))
		if den == 0 {
			return 0, false
		}
		return float64(num) / float64(den), true
	}
	return 0, false
}

// TIFF and EXIF tag numbers read here (EXIF 2.32, CIPA DC-008).
const (
	tagImageWidth         = 0x0100
	tagImageLength        = 0x0101
	tagMake               = 0x010F
	tagModel              = 0x0110
	tagOrientation        = 0x0112
	tagSoftware           = 0x0131
	tagDateTime           = 0x0132
	tagExifIFD            = 0x8769
	tagGPSIFD             = 0x8825
	tagDateTimeOriginal   = 0x9003
	tagDateTimeDigitized  = 0x9004
	tagOffsetTime         = 0x9010
	tagOffsetTimeOriginal = 0x9011
	tagOffsetTimeDigit    = 0x9012
	tagSubSecOriginal     = 0x9291
	tagSubSecDigitized    = 0x9292
	tagBodySerialNumber   = 0xA431
	tagLensMake           = 0xA433
	tagLensModel          = 0xA434

	gpsLatitudeRef  = 1
	gpsLatitude     = 2
	gpsLongitudeRef = 3
	gpsLongitude    = 4
	gpsAltitudeRef  = 5
	gpsAltitude     = 6
	gpsTimeStamp    = 7
	gpsDateStamp    = 29
)

// exif reads EXIF from a TIFF structure. withSize takes the image size from
// IFD0, which is right for a TIFF file but not for a JPEG, whose SOF is the
// authority.
func (c *collector) exif(b []byte, withSize bool) {
	t, off, err := parseTIFF(b)
	if err != nil {
		return
	}
	ifd0, err := t.ifd(off)
	if err != nil {
		return
	}
	c.setString(&c.md.Make, t.str(ifd0[tagMake]))
	c.setString(&c.md.Model, t.str(ifd0[tagModel]))
	c.setString(&c.md.Software, t.str(ifd0[tagSoftware]))
	if o, ok := t.uint(ifd0[tagOrientation], 0); ok && o >= 1 && o <= 8 {
		c.extra("exif.orientation", strconv.Itoa(int(o)))
	}
	c.extra("exif.datetime", t.str(ifd0[tagDateTime]))
	if withSize {
		w, okw := t.uint(ifd0[tagImageWidth], 0)
		h, okh := t.uint(ifd0[tagImageLength], 0)
		if okw && okh && w <= math.MaxInt32 && h <= math.MaxInt32 {
			c.setSize(int(w), int(h))
		}
	}

	if p, ok := t.uint(ifd0[tagExifIFD], 0); ok {
		if sub, err := t.ifd(p); err == nil {
			c.exifSub(t, sub)
		}
	}
	if p, ok := t.uint(ifd0[tagGPSIFD], 0); ok {
		if gps, err := t.ifd(p); err == nil {
			c.exifGPS(t, gps)
		}
	}
}

func (c *collector) exifSub(t tiffData, sub map[uint16]tiffTag) {
	orig, dig := t.str(sub[tagDateTimeOriginal]), t.str(sub[tagDateTimeDigitized])
	c.extra("exif.datetime_original", orig)
	c.extra("exif.offset_time_original", t.str(sub[tagOffsetTimeOriginal]))
	c.extra("exif.datetime_digitized", dig)
	c.extra("exif.body_serial_number", t.str(sub[tagBodySerialNumber]))
	c.extra("exif.lens_make", t.str(sub[tagLensMake]))
	c.extra("exif.lens_model", t.str(sub[tagLensModel]))
	if tm, zone, ok := exifTime(orig, t.str(sub[tagSubSecOriginal]), t.str(sub[tagOffsetTimeOriginal])); ok {
		c.setTime(tm, zone)
	} else if tm, zone, ok := exifTime(dig, t.str(sub[tagSubSecDigitized]), t.str(sub[tagOffsetTimeDigit])); ok {
		c.setTime(tm, zone)
	}
	c.extra("exif.offset_time", t.str(sub[tagOffsetTime]))
}

// exifTime reads an EXIF date ("2006:01:02 15:04:05"), its sub-seconds
// ("25" = .25 s) and its offset ("+03:00"). Without an offset the wall clock
// is returned in UTC and zoneKnown is false.
func exifTime(dt, subsec, offset string) (t time.Time, zoneKnown, ok bool) {
	dt = strings.TrimSpace(dt)
	var err error
	for _, layout := range []string{"2006:01:02 15:04:05", "2006-01-02 15:04:05", "2006:01:02T15:04:05"} {
		if t, err = time.Parse(layout, dt); err == nil {
			break
		}
	}
	if err != nil || t.Year() < 1900 || t.Year() > 2999 {
		return time.Time{}, false, false
	}
	if subsec = strings.TrimSpace(subsec); subsec != "" && len(subsec) <= 9 && allDigits(subsec) {
		ns, _ := strconv.Atoi((subsec + "000000000")[:9])
		t = t.Add(time.Duration(ns))
	}
	if off, err := time.Parse("-07:00", strings.TrimSpace(offset)); err == nil {
		_, secs := off.Zone()
		y, mo, d := t.Date()
		h, mi, s := t.Clock()
		return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.FixedZone("", secs)), true, true
	}
	return t, false, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (c *collector) exifGPS(t tiffData, gps map[uint16]tiffTag) {
	lat, okLat := dms(t, gps[gpsLatitude])
	lon, okLon := dms(t, gps[gpsLongitude])
	if okLat && okLon {
		if strings.EqualFold(t.str(gps[gpsLatitudeRef]), "S") {
			lat = -lat
		}
		if strings.EqualFold(t.str(gps[gpsLongitudeRef]), "W") {
			lon = -lon
		}
		alt, _ := t.rat(gps[gpsAltitude], 0)
		if ref, ok := t.uint(gps[gpsAltitudeRef], 0); ok && ref == 1 {
			alt = -alt
		}
		c.setGPS(lat, lon, alt)
	}
	// GPS time is UTC by definition, which makes it the one trustworthy
	// zone when the camera's own clock has no offset.
	date := t.str(gps[gpsDateStamp])
	h, okh := t.rat(gps[gpsTimeStamp], 0)
	m, okm := t.rat(gps[gpsTimeStamp], 1)
	s, oks := t.rat(gps[gpsTimeStamp], 2)
	if d, err := time.Parse("2006:01:02", date); err == nil && okh && okm && oks &&
		h >= 0 && h < 24 && m >= 0 && m < 60 && s >= 0 && s < 61 {
		ts := d.Add(time.Duration((h*3600 + m*60 + s) * float64(time.Second)))
		c.extra("exif.gps_time", ts.UTC().Format(time.RFC3339Nano))
	}
}

// dms reads degrees, minutes and seconds (as many as are present) as
// decimal degrees.
func dms(t tiffData, g tiffTag) (float64, bool) {
	var v float64
	n := 0
	for i, div := range []float64{1, 60, 3600} {
		x, ok := t.rat(g, i)
		if !ok {
			break
		}
		v += x / div
		n++
	}
	return v, n > 0
}

// exifOrientation returns the EXIF orientation (1–8) of a TIFF structure,
// or 1 if it has none.
func exifOrientation(b []byte) int {
	t, off, err := parseTIFF(b)
	if err != nil {
		return 1
	}
	ifd0, err := t.ifd(off)
	if err != nil {
		return 1
	}
	if o, ok := t.uint(ifd0[tagOrientation], 0); ok && o >= 1 && o <= 8 {
		return int(o)
	}
	return 1
}

// tiff reads a TIFF file's first directory and its EXIF and GPS directories.
func (c *collector) tiff(head []byte) error {
	if _, _, err := parseTIFF(head); err != nil {
		return errFormat
	}
	c.exif(head, true)
	return nil
}
