// Package receipt makes and reads the receipt a person gets after asking for
// help. The receipt is their only credential: there is no account, no e-mail,
// no phone number. Whoever holds it can read the replies, so it must be
// unguessable; whoever seizes the person's phone must not recognise it, so it
// can look like something ordinary; and a frightened person typing it back on
// a cheap phone, maybe in the wrong keyboard layout, must still get in.
//
// A receipt comes in one of two kinds:
//
//   - Digits (the default): 15 random decimal digits and a Damm check digit,
//     shown as a phone number with an extension, "+12 345 678-90-12, 3456".
//   - Words: 6 words from the EFF long wordlist, "abacus-zoom-…".
//
// Normalise turns whatever the person typed into the canonical form, which is
// what the key derivation must consume: 16 ASCII digits, or lowercase words
// joined by "-". Errors never contain any part of the input, so they can be
// logged and shown without leaking a credential.
package receipt

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
	"unicode"
)

// Kind is the form of a receipt. The zero value is Digits, so that the
// innocuous-looking form is what a caller gets without asking.
type Kind int

const (
	Digits Kind = iota
	Words
)

func (k Kind) String() string {
	switch k {
	case Digits:
		return "digits"
	case Words:
		return "words"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Sentinel errors callers branch on, e.g. to tell a person "one digit is
// wrong" rather than "this is not a receipt". None carries any of the input.
var (
	// ErrMalformed reports input that is not a receipt: wrong number of
	// digits or words, letters mixed with digits, empty, or absurdly long.
	ErrMalformed = errors.New("receipt: malformed")
	// ErrChecksum reports 16 digits whose check digit does not match: almost
	// certainly a typo (the Damm check catches every single wrong digit and
	// every swap of two adjacent digits).
	ErrChecksum = errors.New("receipt: check digit does not match")
	// ErrUnknownWord reports a word that is not in the wordlist.
	ErrUnknownWord = errors.New("receipt: unknown word")
	// ErrUnknownKind reports a Kind other than Digits or Words.
	ErrUnknownKind = errors.New("receipt: unknown kind")
)

const (
	// digitCount is the number of random digits; one check digit follows.
	digitCount = 15
	// wordCount words of log2(7776) ≈ 12.925 bits each.
	wordCount = 6
	// maxInput bounds the work Normalise does on hostile input; a real
	// receipt, however spaced out, is far shorter.
	maxInput = 1024
)

// Entropy reports the number of random bits in a receipt of kind k, or 0 for
// an unknown kind: 15·log2(10) ≈ 49.8 bits for Digits (the check digit adds
// none) and 6·log2(7776) ≈ 77.5 bits for Words.
//
// 49.8 bits are not enough against an offline attack on their own; they are
// enough because the person's key is derived with argon2id under an
// installation salt and online guessing is rate-limited. Words are there for
// organisations that want a margin against a leaked database.
func Entropy(k Kind) float64 {
	switch k {
	case Digits:
		return digitCount * math.Log2(10)
	case Words:
		return wordCount * math.Log2(float64(len(wordlist)))
	}
	return 0
}

// Generate returns a new receipt of kind k in its display form, drawn from
// crypto/rand. Pass the result through Normalise to get the canonical form
// that keys are derived from.
func Generate(k Kind) (string, error) {
	return generate(rand.Reader, k)
}

// generate draws from r so that tests can use a seeded source.
func generate(r io.Reader, k Kind) (string, error) {
	switch k {
	case Digits:
		// rand.Int samples uniformly in [0, max) by rejection, so every
		// 15-digit string is equally likely: no modulo bias.
		n, err := rand.Int(r, new(big.Int).Exp(big.NewInt(10), big.NewInt(digitCount), nil))
		if err != nil {
			return "", fmt.Errorf("receipt: reading randomness: %w", err)
		}
		d := make([]byte, 0, digitCount+1)
		for _, c := range fmt.Sprintf("%0*d", digitCount, n) {
			d = append(d, byte(c-'0'))
		}
		d = append(d, damm(d))
		return formatDigits(d), nil
	case Words:
		size := big.NewInt(int64(len(wordlist)))
		w := make([]string, wordCount)
		for i := range w {
			n, err := rand.Int(r, size)
			if err != nil {
				return "", fmt.Errorf("receipt: reading randomness: %w", err)
			}
			w[i] = wordlist[n.Int64()]
		}
		return strings.Join(w, "-"), nil
	}
	return "", fmt.Errorf("%w: %d", ErrUnknownKind, int(k))
}

// Format returns the display form of a receipt given in any form Normalise
// accepts: for a page that shows a person their receipt again.
func Format(receipt string) (string, error) {
	canon, k, err := Normalise(receipt)
	if err != nil {
		return "", err
	}
	if k == Words {
		return canon, nil
	}
	d := make([]byte, len(canon))
	for i := range canon {
		d[i] = canon[i] - '0'
	}
	return formatDigits(d), nil
}

// formatDigits lays out 16 digit values (0–9) as
//
//	+DD DDD DDD-DD-DD, DDDD
//
// which reads as an international number (two-digit country code, ten-digit
// national number grouped the Russian way) followed by an extension. The
// comma is what phones themselves use for "pause, then dial the extension",
// so the receipt can sit in a contacts app as a plain contact. A single
// phone number could not hold 16 digits: E.164 allows at most 15.
func formatDigits(d []byte) string {
	var b strings.Builder
	b.Grow(23)
	for i, v := range d {
		switch i {
		case 0:
			b.WriteByte('+')
		case 2, 5:
			b.WriteByte(' ')
		case 8, 10:
			b.WriteByte('-')
		case 12:
			b.WriteString(", ")
		}
		b.WriteByte('0' + v)
	}
	return b.String()
}

// Normalise reads a receipt as a person might type it and returns its
// canonical form and kind.
//
// Anything that is neither a letter nor a digit separates: spaces, dashes,
// parentheses, plus signs, commas, new lines, and between digits the words a
// person writes before an extension ("ext", "доб."). Digits may come from any
// script (full-width, Arabic-Indic, Devanagari, …); letters in any case,
// including full-width. A receipt typed with a Russian keyboard layout left
// on ("фифсгы" for "abacus") is read as the keys pressed.
//
// Digits must number 16 with a valid check digit (else ErrMalformed or
// ErrChecksum); words must number 6 and all be in the list (else
// ErrMalformed or ErrUnknownWord). The canonical form is a fixed point:
// Normalise(canonical) returns canonical.
//
// On error the kind tells what the input looked like, so that a page can say
// "check the digits" or "check the words"; it is Digits when neither can be
// told.
func Normalise(input string) (string, Kind, error) {
	if len(input) > maxInput {
		return "", 0, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxInput)
	}
	layout := typedInRussianLayout(input)
	var (
		digits []byte   // digit values 0–9
		tokens []string // runs of letters
		cur    []byte
	)
	flush := func() {
		if len(cur) > 0 {
			tokens = append(tokens, string(cur))
			cur = cur[:0]
		}
	}
	for _, r := range input {
		r = foldLetter(r)
		if layout {
			if m, ok := russianToQwerty(r); ok {
				r = m
			}
		}
		if v, ok := digitValue(r); ok {
			flush()
			digits = append(digits, v)
			continue
		}
		// Marks stay in the word so that "abacuś" is an unknown word rather
		// than "abacus" followed by a separator.
		if unicode.IsLetter(r) || unicode.IsMark(r) {
			cur = append(cur, string(r)...)
			continue
		}
		flush()
	}
	flush()

	if len(digits) > 0 {
		for _, t := range tokens {
			if !isExtensionMarker(t) {
				return "", 0, fmt.Errorf("%w: mixes letters and digits", ErrMalformed)
			}
		}
		canon, err := normaliseDigits(digits)
		return canon, Digits, err
	}
	if len(tokens) > 0 {
		canon, err := normaliseWords(tokens)
		return canon, Words, err
	}
	return "", 0, fmt.Errorf("%w: empty", ErrMalformed)
}

// isExtensionMarker reports whether t is a word a person may write between
// the number and the extension of a Digits receipt, as they would for a real
// phone number; "p" and "w" are how some phones store a pause or a wait
// before an extension.
func isExtensionMarker(t string) bool {
	switch t {
	case "ext", "x", "p", "w", "tel", "доб", "вн", "тел":
		return true
	}
	return false
}

func normaliseDigits(d []byte) (string, error) {
	if len(d) != digitCount+1 {
		return "", fmt.Errorf("%w: %d digits, want %d", ErrMalformed, len(d), digitCount+1)
	}
	if damm(d) != 0 {
		return "", ErrChecksum
	}
	b := make([]byte, len(d))
	for i, v := range d {
		b[i] = '0' + v
	}
	return string(b), nil
}

// normaliseWords joins letter runs back into words. Four words in the list
// contain a hyphen ("drop-down", "felt-tip", "t-shirt", "yo-yo"), so they
// arrive as two runs. Joining a run with the next whenever the pair is a
// word is unambiguous because no hyphenated word's first half is itself a
// word (TestHyphenatedWordsParseUniquely checks it): "drop" can only be the
// start of "drop-down".
func normaliseWords(tokens []string) (string, error) {
	words := make([]string, 0, wordCount)
	for i := 0; i < len(tokens); {
		if i+1 < len(tokens) {
			if w := tokens[i] + "-" + tokens[i+1]; isWord(w) {
				words = append(words, w)
				i += 2
				continue
			}
		}
		if !isWord(tokens[i]) {
			return "", fmt.Errorf("%w: word %d", ErrUnknownWord, len(words)+1)
		}
		words = append(words, tokens[i])
		i++
	}
	if len(words) != wordCount {
		return "", fmt.Errorf("%w: %d words, want %d", ErrMalformed, len(words), wordCount)
	}
	return strings.Join(words, "-"), nil
}

// dammTable is the order-10 totally anti-symmetric quasigroup from Damm's
// thesis (2004), as given on Wikipedia. Unlike Luhn, Damm catches every
// single-digit error and every adjacent transposition, including 09↔90.
var dammTable = [10][10]byte{
	{0, 3, 1, 7, 5, 9, 8, 6, 4, 2},
	{7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
	{4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
	{1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
	{6, 1, 2, 3, 0, 4, 5, 9, 7, 8},
	{3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
	{5, 8, 6, 9, 7, 2, 0, 1, 3, 4},
	{8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
	{9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
	{2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
}

// damm returns the interim digit after digit values d: the check digit to
// append to d, or 0 if d already ends in a valid check digit.
func damm(d []byte) byte {
	var interim byte
	for _, v := range d {
		interim = dammTable[interim][v]
	}
	return interim
}

// digitValue returns the value of a decimal digit from any script. Unicode
// guarantees that characters of General_Category Nd come in contiguous runs
// of ten, 0 through 9, and the standard library's Nd table is built from
// whole runs (TestDigitRanges checks both), so the value is the offset from
// the start of the range modulo 10.
func digitValue(r rune) (byte, bool) {
	if '0' <= r && r <= '9' {
		return byte(r - '0'), true
	}
	if r < 0x80 || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	for _, rg := range unicode.Nd.R16 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	return 0, false
}

// foldLetter lowercases r and maps full-width Latin letters (what some
// Asian input methods produce) to ASCII.
func foldLetter(r rune) rune {
	switch {
	case 'Ａ' <= r && r <= 'Ｚ':
		r = r - 'Ａ' + 'a'
	case 'ａ' <= r && r <= 'ｚ':
		r = r - 'ａ' + 'a'
	}
	return unicode.ToLower(r)
}

// typedInRussianLayout reports whether input looks like Latin words typed
// with a Russian (ЙЦУКЕН) layout active: Cyrillic letters and no Latin
// ones, and no digits. Mixed input is left alone, so that the mapping never
// turns an obviously wrong receipt into a different, valid one by accident.
func typedInRussianLayout(input string) bool {
	cyrillic := false
	for _, r := range input {
		r = foldLetter(r)
		if _, ok := digitValue(r); ok {
			// Digits are the same in both layouts: this is a Digits
			// receipt, perhaps with "доб." before the extension.
			return false
		}
		switch {
		case 'a' <= r && r <= 'z':
			return false
		case unicode.Is(unicode.Cyrillic, r):
			cyrillic = true
		}
	}
	return cyrillic
}

// russianToQwerty maps a lowercase Cyrillic letter to the character on the
// same key of a US QWERTY keyboard. Keys that carry punctuation there
// (б ю ж э х ъ ё) become separators.
func russianToQwerty(r rune) (rune, bool) {
	const (
		cyr    = "йцукенгшщзхъфывапролджэячсмитьбюё"
		qwerty = "qwertyuiop[]asdfghjkl;'zxcvbnm,.`"
	)
	i := strings.IndexRune(cyr, r)
	if i < 0 {
		return 0, false
	}
	// cyr is 2 bytes a letter in UTF-8; qwerty is ASCII.
	return rune(qwerty[i/2]), true
}
