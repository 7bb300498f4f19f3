package i18n

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestEmbeddedCatalogueLoads(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Languages(); len(got) < 2 || got[0] != "en" {
		t.Fatalf("languages = %v, want en first and at least ru", got)
	}
	for _, l := range c.Languages() {
		p := c.Printer(l)
		for _, k := range c.Keys() {
			if strings.TrimSpace(p.T(k)) == "" {
				t.Errorf("%s: %s is empty", l, k)
			}
			// Format verbs must match across languages, or Sprintf
			// prints garbage in one of them.
			if verbs(p.T(k)) != verbs(c.Printer("en").T(k)) {
				t.Errorf("%s: %s has format verbs %q, English has %q", l, k, verbs(p.T(k)), verbs(c.Printer("en").T(k)))
			}
		}
	}
}

func verbs(s string) string {
	var b strings.Builder
	for i := 0; i < len(s)-1; i++ {
		if s[i] == '%' {
			b.WriteByte(s[i+1])
			i++
		}
	}
	return b.String()
}

func TestMissingKeyRefused(t *testing.T) {
	fsys := fstest.MapFS{
		"messages/en.toml": {Data: []byte(`"a" = "A"` + "\n" + `"b" = "B"`)},
		"messages/ru.toml": {Data: []byte(`"a" = "А"`)},
	}
	if _, err := load(fsys); err == nil || !strings.Contains(err.Error(), "ru lacks [b]") {
		t.Fatalf("err = %v, want missing key b", err)
	}
	fsys["messages/ru.toml"] = &fstest.MapFile{Data: []byte(`"a" = "А"` + "\n" + `"b" = "Б"` + "\n" + `"c" = "В"`)}
	if _, err := load(fsys); err == nil {
		t.Fatal("extra key accepted")
	}
}

func TestMatch(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ header, want string }{
		{"", "en"},
		{"ru-RU,ru;q=0.9,en;q=0.8", "ru"},
		{"en-US,en;q=0.5", "en"},
		{"de-DE", "en"},
		{"uk, ru;q=0.5", "ru"},
		{"garbage;;;", "en"},
	} {
		if got := c.Match(tc.header); got != tc.want {
			t.Errorf("Match(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
	if got := c.Printer("xx").Lang; got != "en" {
		t.Errorf("unknown language printer = %q", got)
	}
	if got := c.Printer("en").T("no.such.key"); got != "[no.such.key]" {
		t.Errorf("unknown key = %q", got)
	}
	if c.Printer("ru").Dir() != "ltr" {
		t.Error("ru should be ltr")
	}
}
