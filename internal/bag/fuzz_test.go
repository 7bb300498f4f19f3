package bag

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzManifest(f *testing.F) {
	for _, s := range []string{
		"",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  data/empty\n",
		"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\t\tdata/a b\r\n" +
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 data/%0D%0a%25\r",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852B855  data/mixed\n",
		"e3b0  data/../../etc/passwd\n/abs\n\n  data/x\nzz  data/y",
		"\xef\xbb\xbfe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  bagit.txt",
		"00  data/%\n00  data/%2\n00  data/%41\n00  data/\xff\n00  data\\x\n00  data//x\n00  data/./x",
	} {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 32)
	}
	f.Fuzz(func(t *testing.T, in []byte, size int) {
		size = max(0, size%65)
		es, errs, err := parseManifest(bytes.NewReader(in), size)
		if err != nil {
			t.Fatal(err) // a bytes.Reader never fails
		}
		var b strings.Builder
		for _, e := range es {
			if size > 0 && len(e.sum) != size {
				t.Fatalf("entry %q: %d-byte checksum, want %d", e.path, len(e.sum), size)
			}
			if err := checkPath(e.path); err != nil {
				t.Fatalf("entry %q accepted with a bad path: %v", e.path, err)
			}
			formatManifestLine(&b, e.sum, e.path)
		}
		for _, e := range errs {
			if e.line < 1 || e.what == "" {
				t.Fatalf("bad lineError %+v", e)
			}
		}
		// What was accepted reads back the same when written out again.
		es2, errs2, _ := parseManifest(strings.NewReader(b.String()), size)
		if len(errs2) > 0 || len(es2) != len(es) {
			t.Fatalf("re-parse of %q: %d entries, errors %v; want %d", b.String(), len(es2), errs2, len(es))
		}
		for i := range es {
			if es[i].path != es2[i].path || !bytes.Equal(es[i].sum, es2[i].sum) {
				t.Fatalf("entry %d: %q → %q", i, es[i].path, es2[i].path)
			}
		}
	})
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "100%", "\r\n%", "%0D", "../x", "/x", "a//b", "a\\b", "\xff", "x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		enc := encodePath(p)
		if strings.ContainsAny(enc, "\r\n") {
			t.Fatalf("encodePath(%q) = %q keeps a line break", p, enc)
		}
		dec, err := decodePath(enc)
		if err != nil || dec != p {
			t.Fatalf("decodePath(encodePath(%q)) = %q, %v", p, dec, err)
		}
		// Decoding is the inverse of encoding, except for the lowercase
		// escapes RFC 8493 accepts and line breaks, which are never read
		// from a manifest line.
		if d, err := decodePath(p); err == nil && encodePath(d) != p &&
			!strings.Contains(p, "%0d") && !strings.Contains(p, "%0a") && !strings.ContainsAny(p, "\r\n") {
			t.Fatalf("decodePath(%q) = %q re-encodes as %q", p, d, encodePath(d))
		}
		if checkPath(p) == nil {
			for seg := range strings.SplitSeq(p, "/") {
				if seg == "" || seg == "." || seg == ".." {
					t.Fatalf("checkPath(%q) accepted segment %q", p, seg)
				}
			}
			if strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
				t.Fatalf("checkPath(%q) accepted", p)
			}
		}
	})
}

func FuzzBagInfo(f *testing.F) {
	for _, s := range []string{
		"",
		"Source-Organization: FOO University\nBagging-Date: 2008-01-15\nPayload-Oxum: 279164409832.1198\n",
		"External-Description: Uncompressed greyscale TIFF images from the\n      FOO papers colle...\r\nBag-Count: 1 of 15\r",
		"Label:\nLabel:\tvalue\nLabel:  two spaces\n\t\nA: b\n \n",
		" leading continuation\nno colon\nLabel:x\n : x\nA : x\n\n\xff: y\n\xef\xbb\xbfBOM: z",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		info, errs, err := parseBagInfo(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		_ = errs
		for _, fl := range info {
			if err := checkField(fl); err != nil {
				t.Fatalf("parsed field %q cannot be written: %v", fl, err)
			}
		}
		out, err := formatBagInfo(info)
		if err != nil {
			t.Fatal(err)
		}
		info2, errs2, _ := parseBagInfo(bytes.NewReader(out))
		if len(errs2) > 0 || !slices.Equal(info, info2) {
			t.Fatalf("round trip of %q: %q → %q, %v", in, info, info2, errs2)
		}
		for _, v := range info.Values("Payload-Oxum") {
			if o, s, err := parseOxum(v); err == nil && (o < 0 || s < 0) {
				t.Fatalf("parseOxum(%q) = %d, %d", v, o, s)
			}
		}
	})
}

func FuzzDeclaration(f *testing.F) {
	for _, s := range []string{
		declaration,
		"BagIt-version: 1.0\r\nTag-File-Character-Encoding: utf-8",
		"BagIt-Version: 0.97\nTag-File-Character-Encoding: ISO-8859-1\n",
		"\xef\xbb\xbf" + declaration,
		"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n\n",
		"BagIt-Version: 1\nTag-File-Character-Encoding: UTF-8\n",
		"BagIt-Version:1.0\nTag-File-Character-Encoding:UTF-8\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		version, encoding, err := parseDeclaration(in)
		if err != nil {
			return
		}
		if !utf8.Valid(in) || bytes.HasPrefix(in, bom) {
			t.Fatalf("accepted %q", in)
		}
		out := "BagIt-Version: " + version + "\nTag-File-Character-Encoding: " + encoding + "\n"
		v2, e2, err := parseDeclaration([]byte(out))
		if err != nil || v2 != version || e2 != encoding {
			t.Fatalf("%q: round trip %q %q → %q %q, %v", in, version, encoding, v2, e2, err)
		}
		if checkDeclaration(version, encoding) == nil && (!strings.EqualFold(encoding, "UTF-8") || version != "1.0") {
			t.Fatalf("checkDeclaration accepted %q %q", version, encoding)
		}
	})
}

func FuzzFetch(f *testing.F) {
	for _, s := range []string{
		"https://cdn.loc.gov/master/pnp/highsm/23300/23364a.tif 216951362 data/23364a.tif\n",
		"http://x/y - data/a%0Ab\r\nftp://h/p\t7\tdata/with space\r",
		"relative 1 data/x\nhttp://x 1x data/y\nhttp://x 1\nhttp://x 1 ../z\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		es, _, err := parseFetch(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.length < -1 || checkPath(e.path) != nil || e.url == "" {
				t.Fatalf("accepted %+v", e)
			}
		}
	})
}

// FuzzSplitLines checks the line splitter against a simple reading of
// RFC 8493: lines end in LF, CR or CRLF, the last one maybe in nothing.
func FuzzSplitLines(f *testing.F) {
	for _, s := range []string{"", "a", "a\n", "a\r\nb\rc\n\rd", "\r", "\r\r\n\n", strings.Repeat("x\r", 5000)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var got []string
		errs, err := lines(bytes.NewReader(in), func(n int, line string) *lineError {
			got = append(got, line)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			return // BOM or invalid UTF-8: those lines are left out
		}
		s := strings.ReplaceAll(string(in), "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
		want := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		if s == "" {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Fatalf("lines(%q) = %q, want %q", in, got, want)
		}
	})
}
