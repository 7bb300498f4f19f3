package media

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"
)

// The MP4 family (ISO/IEC 14496-12 and Apple's QuickTime File Format) keeps
// what Corridor wants in the moov box: the movie header (creation time,
// duration), the track headers (frame size, rotation) and user data or
// metadata items (location, Apple's local creation date and device names).
// Phones write moov at the start or the end; at the end it is past HeadSize
// and Extract finds nothing, which is not an error.

// boxes calls fn with the type and payload of each box in b. A box cut short
// by the end of b is passed with what there is, complete false, and is the
// last: a container's first children may still be whole, but a value must
// not be read from part of it (a longitude cut after its degrees is a
// different place).
func boxes(b []byte, fn func(typ string, payload []byte, complete bool)) {
	for i := uint64(0); i+8 <= uint64(len(b)); {
		size, typ, hdr := uint64(binary.BigEndian.Uint32(b[i:])), string(b[i+4:i+8]), uint64(8)
		switch size {
		case 1:
			if i+16 > uint64(len(b)) {
				return
			}
			size, hdr = binary.BigEndian.Uint64(b[i+8:]), 16
		case 0: // to the end of the file
			size = uint64(len(b)) - i
		}
		if size < hdr {
			return
		}
		if size > uint64(len(b))-i {
			fn(typ, b[i+hdr:], false)
			return
		}
		fn(typ, b[i+hdr:i+size], true)
		i += size
	}
}

func (c *collector) mp4(head []byte) error {
	if len(head) < 8 || !topLevel[string(head[4:8])] {
		return errFormat
	}
	boxes(head, func(typ string, p []byte, complete bool) {
		switch typ {
		case "ftyp":
			if complete && len(p) >= 4 && fourCC(p[:4]) {
				c.extra("mp4.brand", string(p[:4]))
			}
		case "moov":
			c.moov(p)
		}
	})
	return nil
}

// topLevel are the box types a file of the MP4 family starts with.
var topLevel = map[string]bool{
	"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true,
	"wide": true, "pnot": true, "uuid": true, "styp": true, "pdin": true,
}

func fourCC(b []byte) bool {
	for _, x := range b {
		if x < 0x20 || (x > 0x7E && x != 0xA9) { // 0xA9 is "©" in QuickTime's user data types
			return false
		}
	}
	return true
}

func (c *collector) moov(b []byte) {
	var created time.Time
	boxes(b, func(typ string, p []byte, complete bool) {
		switch typ {
		case "mvhd":
			if !complete {
				return
			}
			var d time.Duration
			created, d = mvhd(p)
			if c.md.Duration == 0 && d > 0 {
				c.md.Duration = d
			}
		case "trak":
			boxes(p, func(typ string, p []byte, complete bool) {
				if typ == "tkhd" && complete {
					c.tkhd(p)
				}
			})
		case "udta":
			c.udta(p)
		case "meta":
			c.meta(p)
		}
	})
	if !created.IsZero() {
		c.extra("mp4.creation_time", created.Format(time.RFC3339))
		// Apple's creation date, with its offset, was taken first if present.
		c.setTime(created, true)
	}
}

// mp4Epoch is 1904-01-01, from which the MP4 family counts seconds, in Unix
// seconds.
const mp4Epoch = -2082844800

func mvhd(p []byte) (created time.Time, dur time.Duration) {
	if len(p) < 4 {
		return
	}
	var ctime, timescale, duration, unknown uint64
	switch p[0] {
	case 0:
		if len(p) < 20 {
			return
		}
		ctime, timescale, duration = uint64(binary.BigEndian.Uint32(p[4:])), uint64(binary.BigEndian.Uint32(p[12:])), uint64(binary.BigEndian.Uint32(p[16:]))
		unknown = 1<<32 - 1
	case 1:
		if len(p) < 32 {
			return
		}
		ctime, timescale, duration = binary.BigEndian.Uint64(p[4:]), uint64(binary.BigEndian.Uint32(p[20:])), binary.BigEndian.Uint64(p[24:])
		unknown = 1<<64 - 1
	default:
		return
	}
	// 0 means "not set"; anything after the year 3000 is garbage.
	if ctime != 0 && ctime < 1<<36 {
		if t := time.Unix(int64(ctime)+mp4Epoch, 0).UTC(); t.Year() >= 1970 && t.Year() < 3000 {
			created = t
		}
	}
	if timescale != 0 && duration != unknown {
		if secs := duration / timescale; secs < 1<<32 {
			dur = time.Duration(secs)*time.Second + time.Duration((duration%timescale)*uint64(time.Second)/timescale)
		}
	}
	return created, dur
}

// tkhd reads a track's frame size (16.16 fixed point) and rotation matrix.
// Sound tracks have size 0 and are passed over.
func (c *collector) tkhd(p []byte) {
	if len(p) < 1 {
		return
	}
	off := 4 + 20
	if p[0] == 1 {
		off = 4 + 32
	}
	matrix, size := off+16, off+52
	if len(p) < size+8 {
		return
	}
	w, h := int(binary.BigEndian.Uint32(p[size:])>>16), int(binary.BigEndian.Uint32(p[size+4:])>>16)
	if w == 0 || h == 0 || c.md.Width != 0 {
		return
	}
	c.setSize(w, h)
	m := func(i int) int32 { return int32(binary.BigEndian.Uint32(p[matrix+4*i:])) }
	const one = 1 << 16
	switch a, b, cc, d := m(0), m(1), m(3), m(4); {
	case a == 0 && b == one && cc == -one && d == 0:
		c.extra("mp4.rotation", "90")
	case a == -one && b == 0 && cc == 0 && d == -one:
		c.extra("mp4.rotation", "180")
	case a == 0 && b == -one && cc == one && d == 0:
		c.extra("mp4.rotation", "270")
	}
}

// udta reads QuickTime user data: "©xyz" and friends hold a 16-bit length, a
// 16-bit language code and text; "meta" holds iTunes-style items.
func (c *collector) udta(b []byte) {
	boxes(b, func(typ string, p []byte, complete bool) {
		if typ == "meta" {
			c.meta(p)
			return
		}
		if !complete || typ[0] != 0xA9 || len(p) < 4 {
			return
		}
		n := int(binary.BigEndian.Uint16(p))
		text := p[4:]
		if n < len(text) {
			text = text[:n]
		}
		c.item(typ, string(text))
	})
}

// meta reads a metadata box: a "keys" box naming Apple's "mdta" items, and
// an "ilst" box of items, each named by its box type or, with keys, by the
// 1-based key index its type encodes. ISO's meta is a full box (4 bytes of
// version and flags before the children); QuickTime's is not.
func (c *collector) meta(b []byte) {
	if len(b) >= 8 && !(string(b[4:8]) == "hdlr" || string(b[4:8]) == "keys" || string(b[4:8]) == "ilst") {
		b = b[4:]
	}
	var keys []string
	boxes(b, func(typ string, p []byte, _ bool) {
		if typ != "keys" || len(p) < 8 || keys != nil {
			return
		}
		n := binary.BigEndian.Uint32(p[4:])
		p = p[8:]
		keys = []string{}
		for i := uint32(0); i < n && len(keys) < 256 && len(p) >= 8; i++ {
			size := binary.BigEndian.Uint32(p)
			if size < 8 || uint64(size) > uint64(len(p)) {
				break
			}
			keys = append(keys, string(p[8:size]))
			p = p[size:]
		}
	})
	boxes(b, func(typ string, p []byte, _ bool) {
		if typ != "ilst" {
			return
		}
		boxes(p, func(typ string, item []byte, _ bool) {
			name := typ
			if idx := binary.BigEndian.Uint32([]byte(typ)); len(keys) > 0 && idx >= 1 && uint64(idx) <= uint64(len(keys)) {
				name = keys[idx-1]
			}
			boxes(item, func(typ string, d []byte, complete bool) {
				// data: type indicator (1 = UTF-8), locale, value.
				if typ == "data" && complete && len(d) >= 8 && binary.BigEndian.Uint32(d) == 1 {
					c.item(name, string(d[8:]))
				}
			})
		})
	})
}

// item records one named text value from user data or metadata items.
func (c *collector) item(name, value string) {
	switch name {
	case "\xa9xyz", "com.apple.quicktime.location.ISO6709":
		if g, ok := parseISO6709(value); ok {
			c.setGPS(g.Lat, g.Lon, g.Alt)
		}
		c.extra("mp4.location", value)
	case "com.apple.quicktime.creationdate":
		c.extra("mp4.creationdate", value)
		for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339} {
			if t, err := time.Parse(layout, strings.TrimSpace(value)); err == nil {
				c.setTime(t, true)
				break
			}
		}
	case "\xa9mak", "com.apple.quicktime.make":
		c.setString(&c.md.Make, value)
	case "\xa9mod", "com.apple.quicktime.model":
		c.setString(&c.md.Model, value)
	case "\xa9swr", "\xa9too", "com.apple.quicktime.software":
		c.setString(&c.md.Software, value)
	case "\xa9day":
		c.extra("mp4.day", value)
	case "com.android.version":
		c.extra("mp4.android_version", value)
	}
}

// parseISO6709 reads a point in the form phones write (ISO 6709 Annex H):
// "+DD.DDDD+DDD.DDDD[+AAA.AAA][CRS…]/", with degrees, degrees and minutes
// (±DDMM.M) or degrees, minutes and seconds (±DDMMSS.S).
func parseISO6709(s string) (GPS, bool) {
	s = strings.TrimSpace(s)
	var parts []string
	for len(parts) < 3 && s != "" && (s[0] == '+' || s[0] == '-') {
		j := 1
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		parts = append(parts, s[:j])
		s = s[j:]
	}
	if len(parts) < 2 {
		return GPS{}, false
	}
	lat, ok1 := isoCoord(parts[0], 2)
	lon, ok2 := isoCoord(parts[1], 3)
	if !ok1 || !ok2 {
		return GPS{}, false
	}
	g := GPS{Lat: lat, Lon: lon}
	if len(parts) == 3 {
		if alt, err := strconv.ParseFloat(parts[2], 64); err == nil {
			g.Alt = alt
		}
	}
	return g, validGPS(g.Lat, g.Lon, g.Alt)
}

func isoCoord(s string, degDigits int) (float64, bool) {
	sign := 1.0
	if s[0] == '-' {
		sign = -1
	}
	s = s[1:]
	intPart, frac, _ := strings.Cut(s, ".")
	if !allDigits(intPart) || (frac != "" && !allDigits(frac)) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	switch len(intPart) {
	case degDigits:
		return sign * v, true
	case degDigits + 2: // DDMM.M
		deg, min := float64(int(v)/100), v-float64(int(v)/100*100)
		return sign * (deg + min/60), min < 60
	case degDigits + 4: // DDMMSS.S
		deg, rest := float64(int(v)/10000), v-float64(int(v)/10000*10000)
		min, sec := float64(int(rest)/100), rest-float64(int(rest)/100*100)
		return sign * (deg + min/60 + sec/3600), min < 60 && sec < 60
	}
	return 0, false
}
