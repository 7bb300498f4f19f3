// Package i18n holds the translation catalogue. Every string a person or
// staff member reads goes through it; Russian and English ship from the
// start, and a language that reads right-to-left only needs a catalogue
// file with dir = "rtl".
package i18n

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/text/language"
)

//go:embed messages/*.toml
var files embed.FS

// Catalogue maps language → key → text.
type Catalogue struct {
	langs   []string // in preference order for matching; the first is the default
	msgs    map[string]map[string]string
	matcher language.Matcher
}

// Load reads the embedded catalogue and checks that every language has
// exactly the same keys, so a missing translation fails at start-up
// rather than showing a key to a person in danger.
func Load() (*Catalogue, error) {
	return load(files)
}

func load(fsys fs.FS) (*Catalogue, error) {
	c := &Catalogue{msgs: map[string]map[string]string{}}
	entries, err := fs.Glob(fsys, "messages/*.toml")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := fs.ReadFile(fsys, e)
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		if _, err := toml.Decode(string(data), &m); err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", e, err)
		}
		lang := strings.TrimSuffix(strings.TrimPrefix(e, "messages/"), ".toml")
		c.msgs[lang] = m
	}
	if _, ok := c.msgs["en"]; !ok {
		return nil, fmt.Errorf("i18n: no English catalogue")
	}
	c.langs = []string{"en"}
	for l := range c.msgs {
		if l != "en" {
			c.langs = append(c.langs, l)
		}
	}
	sort.Strings(c.langs[1:])
	var tags []language.Tag
	for _, l := range c.langs {
		tags = append(tags, language.Make(l))
	}
	c.matcher = language.NewMatcher(tags)
	for _, l := range c.langs[1:] {
		if missing := diff(c.msgs["en"], c.msgs[l]); len(missing) > 0 {
			return nil, fmt.Errorf("i18n: %s lacks %v", l, missing)
		}
		if extra := diff(c.msgs[l], c.msgs["en"]); len(extra) > 0 {
			return nil, fmt.Errorf("i18n: %s has keys English lacks: %v", l, extra)
		}
	}
	return c, nil
}

func diff(a, b map[string]string) []string {
	var out []string
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Languages lists the catalogue's languages, English first.
func (c *Catalogue) Languages() []string { return c.langs }

// Has reports whether lang is in the catalogue.
func (c *Catalogue) Has(lang string) bool {
	_, ok := c.msgs[lang]
	return ok
}

// Match picks the best language for an Accept-Language header.
func (c *Catalogue) Match(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return c.langs[0]
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return c.langs[0]
	}
	return c.langs[i]
}

// Keys returns every key, sorted (for tests).
func (c *Catalogue) Keys() []string {
	var ks []string
	for k := range c.msgs["en"] {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Printer translates into one language.
type Printer struct {
	Lang string
	c    *Catalogue
}

// Printer returns a printer for lang (English if unknown).
func (c *Catalogue) Printer(lang string) *Printer {
	if !c.Has(lang) {
		lang = c.langs[0]
	}
	return &Printer{Lang: lang, c: c}
}

// T returns the text for key, formatted with args (fmt verbs). An unknown
// key returns the key itself in brackets, which tests catch.
func (p *Printer) T(key string, args ...any) string {
	s, ok := p.c.msgs[p.Lang][key]
	if !ok {
		return "[" + key + "]"
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// TOr returns the text for key, or fallback when the catalogue has no
// such key (a field name an organisation added itself).
func (p *Printer) TOr(key, fallback string) string {
	if s, ok := p.c.msgs[p.Lang][key]; ok {
		return s
	}
	return fallback
}

// Dir is the writing direction of the language, for <html dir>.
func (p *Printer) Dir() string {
	if d := p.c.msgs[p.Lang]["meta.dir"]; d == "rtl" {
		return "rtl"
	}
	return "ltr"
}

// Name is the language's own name, for the language switch.
func (c *Catalogue) Name(lang string) string { return c.msgs[lang]["meta.name"] }
