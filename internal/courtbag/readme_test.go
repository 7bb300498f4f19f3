package courtbag

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestDocs keeps docs/export-format.md's copy of the README equal to what
// the code writes.
func TestDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/export-format.md")
	must(t, err)
	if !bytes.Contains(doc, []byte("```text\n"+string(renderReadme(exampleReadme))+"```\n")) {
		t.Error("docs/export-format.md does not show the README renderReadme(exampleReadme) writes")
	}
}

// TestReadmeVariants: the README says what the bag has, and nothing it
// does not.
func TestReadmeVariants(t *testing.T) {
	full := string(renderReadme(exampleReadme))
	bare := exampleReadme
	bare.Witnesses, bare.Required, bare.StampSize, bare.Organisation = nil, 0, 0, ""
	plain := string(renderReadme(bare))
	for _, tc := range []struct {
		text      string
		has, lack []string
	}{
		{full, []string{"Exported by Example Organisation", "cosigned by independent witnesses", "openssl ts -verify", "keys/tsa-roots.pem",
			"At least 1 witness cosignature(s)", exampleReadme.Witnesses[0]}, []string{"no\nindependent witness", "no timestamp token"}},
		{plain, []string{"Exported on", "no\nindependent witness", "no timestamp token", "rest on the log's key alone"},
			[]string{"openssl ts -verify", "keys/tsa-roots.pem", "cosigned by independent", "witnesses cosigned"}},
	} {
		for _, s := range tc.has {
			if !strings.Contains(tc.text, s) {
				t.Errorf("README lacks %q", s)
			}
		}
		for _, s := range tc.lack {
			if strings.Contains(tc.text, s) {
				t.Errorf("README says %q", s)
			}
		}
	}
	odd := exampleReadme
	odd.Organisation = "Org\xff"
	if b := renderReadme(odd); !bytes.Contains(b, []byte("Org\uFFFD")) {
		t.Error("invalid UTF-8 in the organisation's name reached the README")
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain text ‖ ok":           "plain text ‖ ok",
		"red \x1b[31m here\nnext":   `red \x1b[31m here\nnext`,
		"bidi \u202e txt.exe":       `bidi \u202e txt.exe`,
		"bad \xff utf-8\ttabulated": "bad \uFFFD utf-8 tabulated",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
