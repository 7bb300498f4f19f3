package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image/gif"
	"io"
	"strings"
	"time"

	"golang.org/x/image/webp"
)

// jpegSegments calls fn with each marker segment of a JPEG before its first
// scan: the marker byte and the payload after the length field. A segment
// cut short by the end of b is passed with what there is, and is the last.
// It stops when fn returns false.
func jpegSegments(b []byte, fn func(marker byte, payload []byte) bool) error {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return errFormat
	}
	i := 2
	for i < len(b) {
		if b[i] != 0xFF {
			return nil // not a marker: damaged, stop reading
		}
		for i < len(b) && b[i] == 0xFF { // fill bytes
			i++
		}
		if i >= len(b) {
			return nil
		}
		m := b[i]
		i++
		switch {
		case m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7): // no payload
			continue
		case m == 0xD9 || m == 0xDA || m == 0x00: // end of image, start of scan, damaged
			return nil
		}
		if i+2 > len(b) {
			return nil
		}
		end := i + int(binary.BigEndian.Uint16(b[i:]))
		if end < i+2 {
			return nil
		}
		if end > len(b) {
			fn(m, b[i+2:])
			return nil
		}
		if !fn(m, b[i+2:end]) {
			return nil
		}
		i = end
	}
	return nil
}

const exifPrefix = "Exif\x00\x00"

func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

func (c *collector) jpeg(head []byte) error {
	seenExif := false
	return jpegSegments(head, func(m byte, p []byte) bool {
		switch {
		case m == 0xE1 && !seenExif && bytes.HasPrefix(p, []byte(exifPrefix)):
			seenExif = true
			c.exif(p[len(exifPrefix):], false)
		case m == 0xE1 && bytes.HasPrefix(p, []byte("http://ns.adobe.com/xap/1.0/\x00")):
			c.extra("jpeg.xmp", "present")
		case isSOF(m) && len(p) >= 5:
			c.setSize(int(binary.BigEndian.Uint16(p[3:])), int(binary.BigEndian.Uint16(p[1:])))
			return false // everything that says where and when comes before the frame
		}
		return true
	})
}

// pngSignature starts every PNG file.
const pngSignature = "\x89PNG\r\n\x1a\n"

// pngChunks calls fn with the type and data of each chunk whose CRC holds,
// until IEND, the end of b, or fn returning false.
func pngChunks(b []byte, fn func(typ string, data []byte) bool) error {
	if !bytes.HasPrefix(b, []byte(pngSignature)) {
		return errFormat
	}
	for i := uint64(len(pngSignature)); i+12 <= uint64(len(b)); {
		n := uint64(binary.BigEndian.Uint32(b[i:]))
		end := i + 12 + n
		if n > 1<<31-1 || end > uint64(len(b)) {
			return nil
		}
		typ, data := b[i+4:i+8], b[i+8:i+8+n]
		if crc32.ChecksumIEEE(b[i+4:i+8+n]) == binary.BigEndian.Uint32(b[i+8+n:]) {
			if !fn(string(typ), data) || string(typ) == "IEND" {
				return nil
			}
		}
		i = end
	}
	return nil
}

func (c *collector) png(head []byte) error {
	// A text "Creation Time" is taken only if eXIf, wherever it is, has none.
	var textTime time.Time
	var textZone bool
	defer func() { c.setTime(textTime, textZone) }()
	return pngChunks(head, func(typ string, d []byte) bool {
		switch typ {
		case "IHDR":
			if len(d) >= 8 {
				w, h := binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
				if w <= 1<<31-1 && h <= 1<<31-1 {
					c.setSize(int(w), int(h))
				}
			}
		case "eXIf":
			c.exif(d, false)
		case "tIME":
			if len(d) >= 7 && d[2] >= 1 && d[2] <= 12 && d[3] >= 1 && d[3] <= 31 && d[4] < 24 && d[5] < 60 && d[6] < 61 {
				t := time.Date(int(binary.BigEndian.Uint16(d)), time.Month(d[2]), int(d[3]), int(d[4]), int(d[5]), int(d[6]), 0, time.UTC)
				c.extra("png.time", t.Format(time.RFC3339))
			}
		case "tEXt", "zTXt", "iTXt":
			if kw, text, ok := pngText(typ, d); ok {
				if t, zone, ok := c.pngText(kw, text); ok && textTime.IsZero() {
					textTime, textZone = t, zone
				}
			}
		}
		return true
	})
}

// pngText decodes a tEXt, zTXt or iTXt chunk (PNG §11.3.3), inflating at
// most maxValueBytes of compressed text so that a small chunk cannot expand
// into a large one.
func pngText(typ string, d []byte) (keyword, text string, ok bool) {
	kw, rest, found := bytes.Cut(d, []byte{0})
	if !found || len(kw) == 0 || len(kw) > 79 {
		return "", "", false
	}
	keyword = latin1(kw)
	switch typ {
	case "tEXt":
		return keyword, latin1(rest), true
	case "zTXt":
		if len(rest) < 1 || rest[0] != 0 {
			return "", "", false
		}
		t, err := inflate(rest[1:])
		return keyword, latin1(t), err == nil
	default: // iTXt
		if len(rest) < 2 {
			return "", "", false
		}
		compressed, method := rest[0], rest[1]
		_, rest, found = bytes.Cut(rest[2:], []byte{0}) // language tag
		if !found {
			return "", "", false
		}
		_, rest, found = bytes.Cut(rest, []byte{0}) // translated keyword
		if !found {
			return "", "", false
		}
		if compressed == 0 {
			return keyword, string(rest), true
		}
		if method != 0 {
			return "", "", false
		}
		t, err := inflate(rest)
		return keyword, string(t), err == nil
	}
}

func inflate(b []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxValueBytes))
	if err == io.ErrUnexpectedEOF && len(out) > 0 {
		err = nil // keep what a truncated stream gave
	}
	return out, err
}

// pngText records one text chunk, and returns the time it states if it is
// the creation time.
func (c *collector) pngText(keyword, text string) (t time.Time, zoneKnown, ok bool) {
	switch {
	case keyword == "XML:com.adobe.xmp":
		c.extra("png.xmp", "present")
	case strings.HasPrefix(keyword, "Raw profile type"):
		// ImageMagick's hex dumps of EXIF/IPTC: useless as text.
		c.extra("png.raw_profile", "present")
	case keyword == "Software":
		c.setString(&c.md.Software, text)
	case keyword == "Creation Time":
		c.extra("png.text."+keyword, text)
		for _, layout := range []string{time.RFC1123Z, time.RFC1123, time.RFC3339} {
			if t, err := time.Parse(layout, strings.TrimSpace(text)); err == nil {
				return t, true, true
			}
		}
		return exifTime(text, "", "")
	default:
		c.extra("png.text."+keyword, text)
	}
	return time.Time{}, false, false
}

func (c *collector) gif(head []byte) error {
	cfg, err := gif.DecodeConfig(bytes.NewReader(head))
	if err != nil {
		return fmt.Errorf("%w: %v", errFormat, err)
	}
	c.setSize(cfg.Width, cfg.Height)
	return nil
}

// riffChunks calls fn with the FourCC and data of each chunk of a RIFF WEBP
// file, until the end of b or fn returning false.
func riffChunks(b []byte, fn func(fourcc string, data []byte) bool) error {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return errFormat
	}
	for i := uint64(12); i+8 <= uint64(len(b)); {
		n := uint64(binary.LittleEndian.Uint32(b[i+4:]))
		end := i + 8 + n
		if end > uint64(len(b)) {
			return nil
		}
		if !fn(string(b[i:i+4]), b[i+8:end]) {
			return nil
		}
		i = end + n&1 // chunks are padded to an even length
	}
	return nil
}

func (c *collector) webp(head []byte) error {
	if err := riffChunks(head, func(fourcc string, d []byte) bool {
		switch fourcc {
		case "EXIF":
			// The WebP container says raw TIFF; some writers keep JPEG's prefix.
			c.exif(bytes.TrimPrefix(d, []byte(exifPrefix)), false)
		case "XMP ":
			c.extra("webp.xmp", "present")
		}
		return true
	}); err != nil {
		return err
	}
	if cfg, err := webp.DecodeConfig(bytes.NewReader(head)); err == nil {
		c.setSize(cfg.Width, cfg.Height)
	}
	return nil
}
