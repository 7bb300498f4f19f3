package bag

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxLine bounds one line of a tag file. RFC 8493 sets no limit on path
// length, but a line this long is an attack, not a path.
const maxLine = 1 << 20

// bom is the UTF-8 byte-order mark, which RFC 8493 forbids at the start of
// a UTF-8 tag file.
var bom = []byte{0xEF, 0xBB, 0xBF}

// lineError is a problem with one line of a tag file.
type lineError struct {
	line int // 1-based; 0 for the file as a whole
	kind Kind
	what string
}

func (e lineError) String() string {
	if e.line == 0 {
		return e.what
	}
	return fmt.Sprintf("line %d: %s", e.line, e.what)
}

// splitLines is a bufio.SplitFunc for RFC 8493 text tag files, whose lines
// end with LF, CR or CRLF. The last line need not end at all.
func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		switch {
		case data[i] == '\n':
			return i + 1, data[:i], nil
		case i+1 < len(data):
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		case atEOF:
			return i + 1, data[:i], nil
		}
		return 0, nil, nil // a CR at the end of the buffer may start a CRLF
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// lines calls fn with each line of r and its 1-based number. It stops at
// the first error fn returns. A line longer than maxLine, a leading BOM or
// invalid UTF-8 become lineErrors; only a read error is returned as error.
func lines(r io.Reader, fn func(n int, line string) *lineError) ([]lineError, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	sc.Split(splitLines)
	var errs []lineError
	n := 0
	for sc.Scan() {
		n++
		b := sc.Bytes()
		if n == 1 && bytes.HasPrefix(b, bom) {
			errs = append(errs, lineError{n, KindMalformed, "starts with a byte-order mark"})
			b = b[len(bom):]
		}
		if !utf8.Valid(b) {
			errs = append(errs, lineError{n, KindMalformed, "not valid UTF-8"})
			continue
		}
		if e := fn(n, string(b)); e != nil {
			errs = append(errs, *e)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return append(errs, lineError{n + 1, KindMalformed, "line too long"}), nil
		}
		return errs, err
	}
	return errs, nil
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// parseDeclaration parses bagit.txt, which RFC 8493 says is exactly two
// lines, "BagIt-Version: M.N" and "Tag-File-Character-Encoding: ENCODING",
// in UTF-8 without a byte-order mark. Labels compare without case, as ABNF
// literals do.
func parseDeclaration(b []byte) (version, encoding string, err error) {
	if bytes.HasPrefix(b, bom) {
		return "", "", errors.New("starts with a byte-order mark")
	}
	if !utf8.Valid(b) {
		return "", "", errors.New("not valid UTF-8")
	}
	var ls []string
	for len(b) > 0 {
		adv, tok, _ := splitLines(b, true)
		ls = append(ls, string(tok))
		b = b[adv:]
	}
	if len(ls) != 2 {
		return "", "", fmt.Errorf("has %d lines, want exactly 2", len(ls))
	}
	version, ok := cutLabel(ls[0], "BagIt-Version: ")
	if !ok {
		return "", "", errors.New(`first line is not "BagIt-Version: M.N"`)
	}
	major, minor, ok := strings.Cut(version, ".")
	if !ok || !isDigits(major) || !isDigits(minor) {
		return "", "", fmt.Errorf("version %q is not M.N", version)
	}
	encoding, ok = cutLabel(ls[1], "Tag-File-Character-Encoding: ")
	if !ok || encoding == "" {
		return "", "", errors.New(`second line is not "Tag-File-Character-Encoding: ENCODING"`)
	}
	for i := 0; i < len(encoding); i++ {
		if encoding[i] <= ' ' || encoding[i] >= 0x7F {
			return "", "", fmt.Errorf("encoding %q is not a character set name", encoding)
		}
	}
	return version, encoding, nil
}

// cutLabel returns what follows prefix in line, comparing prefix without
// regard to case.
func cutLabel(line, prefix string) (string, bool) {
	if len(line) < len(prefix) || !strings.EqualFold(line[:len(prefix)], prefix) {
		return "", false
	}
	return line[len(prefix):], true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// declaration is the content of bagit.txt this package writes.
const declaration = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

// checkDeclaration reports whether version and encoding are ones this
// package reads: BagIt 1.0 in UTF-8.
func checkDeclaration(version, encoding string) error {
	if version != "1.0" {
		return fmt.Errorf("BagIt version %q is not supported (only 1.0)", version)
	}
	if !strings.EqualFold(encoding, "UTF-8") {
		return fmt.Errorf("tag file encoding %q is not supported (only UTF-8)", encoding)
	}
	return nil
}

// entry is one manifest line.
type entry struct {
	path string // decoded
	sum  []byte
	line int
}

// parseManifest parses a payload or tag manifest whose checksums are size
// bytes long (0: any length, for algorithms this package cannot compute).
// Each line is "checksum filepath", separated by spaces or tabs, the path
// percent-encoded as RFC 8493 says. Bad lines are returned as lineErrors
// and left out.
func parseManifest(r io.Reader, size int) ([]entry, []lineError, error) {
	var es []entry
	errs, err := lines(r, func(n int, line string) *lineError {
		i := strings.IndexAny(line, " \t")
		if i <= 0 {
			return &lineError{n, KindMalformed, `not "checksum filepath"`}
		}
		sum, err := parseChecksum(line[:i], size)
		if err != nil {
			return &lineError{n, KindMalformed, err.Error()}
		}
		raw := strings.TrimLeft(line[i:], " \t")
		if raw == "" {
			return &lineError{n, KindMalformed, "no file path"}
		}
		p, err := decodePath(raw)
		if err != nil {
			return &lineError{n, KindMalformed, fmt.Sprintf("path %q: %v", raw, err)}
		}
		if err := checkPath(p); err != nil {
			return &lineError{n, KindPath, fmt.Sprintf("path %q: %v", raw, err)}
		}
		es = append(es, entry{p, sum, n})
		return nil
	})
	return es, errs, err
}

// parseChecksum decodes a hex checksum of size bytes (any size if 0).
// RFC 8493 allows either case; a digest mixing both is refused, because
// nothing covers the tag manifest and a flip of the case bit would
// otherwise go unnoticed.
func parseChecksum(s string, size int) ([]byte, error) {
	if size > 0 && len(s) != 2*size {
		return nil, fmt.Errorf("checksum has %d hex digits, want %d", len(s), 2*size)
	}
	if strings.ContainsAny(s, "abcdef") && strings.ContainsAny(s, "ABCDEF") {
		return nil, errors.New("checksum mixes upper and lower case")
	}
	sum, err := hex.DecodeString(s)
	if err != nil || len(sum) == 0 {
		return nil, errors.New("checksum is not hexadecimal")
	}
	return sum, nil
}

// formatManifestLine is one manifest line as sha256sum prints it: the
// checksum, two spaces, the path.
func formatManifestLine(b *strings.Builder, sum []byte, path string) {
	b.WriteString(hex.EncodeToString(sum))
	b.WriteString("  ")
	b.WriteString(encodePath(path))
	b.WriteByte('\n')
}

// parseBagInfo parses bag-info.txt: "Label: value" lines, where a line
// starting with a space or tab continues the previous value. RFC 8493
// says the line break stays part of the value but the indentation does
// not, so a continuation adds "\n" and the line without its leading
// whitespace.
func parseBagInfo(r io.Reader) (Info, []lineError, error) {
	var info Info
	errs, err := lines(r, func(n int, line string) *lineError {
		if line == "" {
			return &lineError{n, KindMalformed, "empty line"}
		}
		if isWSP(line[0]) {
			if len(info) == 0 {
				return &lineError{n, KindMalformed, "continuation line before any label"}
			}
			info[len(info)-1].Value += "\n" + strings.TrimLeft(line, " \t")
			return nil
		}
		label, value, ok := strings.Cut(line, ":")
		if !ok {
			return &lineError{n, KindMalformed, `not "Label: value"`}
		}
		if err := checkLabel(label); err != nil {
			return &lineError{n, KindMalformed, err.Error()}
		}
		if value != "" {
			if !isWSP(value[0]) {
				return &lineError{n, KindMalformed, "no space after the colon"}
			}
			value = value[1:]
		}
		info = append(info, Field{label, value})
		return nil
	})
	return info, errs, err
}

// checkLabel applies RFC 8493's rules for a bag-info.txt label.
func checkLabel(label string) error {
	switch {
	case label == "":
		return errors.New("empty label")
	case !utf8.ValidString(label):
		return errors.New("label is not valid UTF-8")
	case strings.ContainsAny(label, ":\r\n"):
		return errors.New("label contains a colon or line break")
	case isWSP(label[0]) || isWSP(label[len(label)-1]):
		return errors.New("label starts or ends with whitespace")
	case strings.HasPrefix(label, "\uFEFF"):
		// Written first, it would read as a byte-order mark.
		return errors.New("label starts with U+FEFF")
	}
	return nil
}

// checkField reports whether f can be written to bag-info.txt and read
// back unchanged.
func checkField(f Field) error {
	if err := checkLabel(f.Label); err != nil {
		return fmt.Errorf("%w: %v", ErrBadInfo, err)
	}
	if !utf8.ValidString(f.Value) || strings.ContainsRune(f.Value, '\r') {
		return fmt.Errorf("%w: %s: value is not UTF-8 text without carriage returns", ErrBadInfo, f.Label)
	}
	_, rest, _ := strings.Cut(f.Value, "\n")
	for l := range strings.SplitSeq(rest, "\n") {
		if l != "" && isWSP(l[0]) {
			return fmt.Errorf("%w: %s: a line after the first starts with whitespace, which a reader drops", ErrBadInfo, f.Label)
		}
	}
	return nil
}

// formatBagInfo writes info as bag-info.txt. Each line feed in a value
// becomes a continuation line indented by two spaces.
func formatBagInfo(info Info) ([]byte, error) {
	var b bytes.Buffer
	for _, f := range info {
		if err := checkField(f); err != nil {
			return nil, err
		}
		b.WriteString(f.Label)
		b.WriteString(": ")
		b.WriteString(strings.ReplaceAll(f.Value, "\n", "\n  "))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// parseOxum parses a Payload-Oxum value, "OctetCount.StreamCount".
func parseOxum(v string) (octets int64, streams int64, err error) {
	o, s, ok := strings.Cut(v, ".")
	if !ok || !isDigits(o) || !isDigits(s) {
		return 0, 0, fmt.Errorf("Payload-Oxum %q is not OctetCount.StreamCount", v)
	}
	octets, err1 := strconv.ParseInt(o, 10, 64)
	streams, err2 := strconv.ParseInt(s, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("Payload-Oxum %q is out of range", v)
	}
	return octets, streams, nil
}

// fetchEntry is one line of fetch.txt.
type fetchEntry struct {
	url    string
	length int64 // -1 when "-"
	path   string
	line   int
}

// parseFetch parses fetch.txt: "url length filepath" lines, separated by
// spaces or tabs, url absolute, length digits or "-".
func parseFetch(r io.Reader) ([]fetchEntry, []lineError, error) {
	var es []fetchEntry
	errs, err := lines(r, func(n int, line string) *lineError {
		u, rest, ok1 := cutField(line)
		length, raw, ok2 := cutField(rest)
		if !ok1 || !ok2 || raw == "" {
			return &lineError{n, KindMalformed, `not "url length filepath"`}
		}
		if pu, err := url.Parse(u); err != nil || !pu.IsAbs() {
			return &lineError{n, KindMalformed, fmt.Sprintf("%q is not an absolute URL", u)}
		}
		l := int64(-1)
		if length != "-" {
			var err error
			if l, err = strconv.ParseInt(length, 10, 64); err != nil || !isDigits(length) {
				return &lineError{n, KindMalformed, fmt.Sprintf("length %q is not a number or \"-\"", length)}
			}
		}
		p, err := decodePath(raw)
		if err != nil {
			return &lineError{n, KindMalformed, fmt.Sprintf("path %q: %v", raw, err)}
		}
		if err := checkPath(p); err != nil {
			return &lineError{n, KindPath, fmt.Sprintf("path %q: %v", raw, err)}
		}
		es = append(es, fetchEntry{u, l, p, n})
		return nil
	})
	return es, errs, err
}

// cutField splits s at its first run of spaces or tabs.
func cutField(s string) (field, rest string, ok bool) {
	i := strings.IndexAny(s, " \t")
	if i <= 0 {
		return "", "", false
	}
	return s[:i], strings.TrimLeft(s[i:], " \t"), true
}
