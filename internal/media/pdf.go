package media

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf16"
)

// A PDF's document information dictionary (ISO 32000-1 §14.3.3) is found by
// its keys rather than by following the trailer, which is at the end of the
// file and past HeadSize: the first /CreationDate, /ModDate, /Producer and
// /Creator in head whose value is a string are taken. Values in compressed
// object streams, or given by indirect reference, are not read.

const maxPDFTries = 64 // occurrences of one key looked at, so crafted input stays linear

func (c *collector) pdf(head []byte) error {
	i := bytes.Index(head[:min(len(head), 1024)], []byte("%PDF-"))
	if i < 0 {
		return errFormat
	}
	if v := head[i+5:]; len(v) >= 3 && v[0] >= '1' && v[0] <= '9' && v[1] == '.' && v[2] >= '0' && v[2] <= '9' {
		c.extra("pdf.version", string(v[:3]))
	}
	if s, ok := pdfValue(head, "/Producer"); ok {
		c.setString(&c.md.Software, s)
	}
	if s, ok := pdfValue(head, "/Creator"); ok {
		c.extra("pdf.creator", s)
	}
	if s, ok := pdfValue(head, "/ModDate"); ok {
		c.extra("pdf.mod_date", s)
	}
	if s, ok := pdfValue(head, "/CreationDate"); ok {
		c.extra("pdf.creation_date", s)
		if t, zone, ok := pdfDate(s); ok {
			c.setTime(t, zone)
		}
	}
	return nil
}

// pdfValue finds key followed by a literal or hexadecimal string and
// returns the string as text.
func pdfValue(b []byte, key string) (string, bool) {
	for try, from := 0, 0; try < maxPDFTries; try++ {
		j := bytes.Index(b[from:], []byte(key))
		if j < 0 {
			return "", false
		}
		p := from + j + len(key)
		from = p
		if p < len(b) && pdfRegular(b[p]) {
			continue // a longer name, like /CreatorTool
		}
		for p < len(b) && pdfSpace(b[p]) {
			p++
		}
		var raw []byte
		var ok bool
		switch {
		case p < len(b) && b[p] == '(':
			raw, ok = pdfLiteral(b[p+1:])
		case p+1 < len(b) && b[p] == '<' && b[p+1] != '<':
			raw, ok = pdfHex(b[p+1:])
		}
		if ok {
			return pdfText(raw), true
		}
	}
	return "", false
}

func pdfSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func pdfRegular(c byte) bool {
	return !pdfSpace(c) && !bytes.ContainsRune([]byte("()<>[]{}/%"), rune(c))
}

// maxPDFString bounds the bytes of one string value read, escapes included.
const maxPDFString = 4 * maxValueBytes

// pdfLiteral reads a literal string after its "(" (ISO 32000-1 §7.3.4.2):
// balanced parentheses, backslash escapes, octal codes, line continuations.
func pdfLiteral(b []byte) ([]byte, bool) {
	var out []byte
	depth := 0
	for i := 0; i < len(b) && i < maxPDFString; i++ {
		c := b[i]
		switch c {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return out, true
			}
			depth--
		case '\\':
			i++
			if i >= len(b) {
				return nil, false
			}
			switch e := b[i]; e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r', '\n': // line continuation
				if e == '\r' && i+1 < len(b) && b[i+1] == '\n' {
					i++
				}
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '7'; k++ {
						i++
						v = v*8 + int(b[i]-'0')
					}
					c = byte(v)
				} else {
					c = e
				}
			}
		}
		out = append(out, c)
	}
	return nil, false
}

// pdfHex reads a hexadecimal string after its "<".
func pdfHex(b []byte) ([]byte, bool) {
	var out []byte
	var hi byte
	half := false
	for i := 0; i < len(b) && i < 2*maxPDFString; i++ {
		c := b[i]
		var v byte
		switch {
		case c == '>':
			if half {
				out = append(out, hi<<4)
			}
			return out, true
		case pdfSpace(c):
			continue
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return nil, false
		}
		if half {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	return nil, false
}

// pdfText decodes a PDF text string: UTF-16BE after a byte order mark,
// UTF-8 after one (PDF 2.0), otherwise PDFDocEncoding, read as Latin-1 (they
// differ only in a few symbols).
func pdfText(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF:
		u := make([]uint16, (len(b)-2)/2)
		for i := range u {
			u[i] = uint16(b[2+2*i])<<8 | uint16(b[3+2*i])
		}
		return clean(string(utf16.Decode(u)))
	case bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")):
		return clean(string(b[3:]))
	}
	return clean(latin1(b))
}

// pdfDate reads a PDF date, "D:YYYYMMDDHHmmSSOHH'mm'", where everything
// after the year is optional. Without O the zone is unknown.
func pdfDate(s string) (t time.Time, zoneKnown, ok bool) {
	if len(s) >= 2 && s[:2] == "D:" {
		s = s[2:]
	}
	num := func(n, lo, hi, def int) int {
		if len(s) < n || !allDigits(s[:n]) {
			return def
		}
		v, _ := strconv.Atoi(s[:n])
		s = s[n:]
		if v < lo || v > hi {
			ok = false
		}
		return v
	}
	ok = true
	if len(s) < 4 || !allDigits(s[:4]) {
		return time.Time{}, false, false
	}
	year := num(4, 1900, 2999, 0)
	month := num(2, 1, 12, 1)
	day := num(2, 1, 31, 1)
	hour := num(2, 0, 23, 0)
	minute := num(2, 0, 59, 0)
	sec := num(2, 0, 59, 0)
	if !ok {
		return time.Time{}, false, false
	}
	loc := time.UTC
	if s != "" {
		switch s[0] {
		case 'Z':
			zoneKnown = true
		case '+', '-':
			sign := 1
			if s[0] == '-' {
				sign = -1
			}
			s = s[1:]
			oh := num(2, 0, 23, -1)
			if len(s) > 0 && s[0] == '\'' {
				s = s[1:]
			}
			om := num(2, 0, 59, 0)
			if oh >= 0 && ok {
				loc, zoneKnown = time.FixedZone("", sign*(oh*3600+om*60)), true
			}
		}
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, 0, loc)
	if t.Day() != day { // 31 February
		return time.Time{}, false, false
	}
	return t, zoneKnown, true
}
