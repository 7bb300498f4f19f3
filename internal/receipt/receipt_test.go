package receipt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Valid receipts used across tests (check digits computed independently).
const (
	validDigits  = "7912345678901232"
	validDisplay = "+79 123 456-78-90, 1232"
	validWords   = "abacus-t-shirt-zoom-yo-yo-drop-down-felt-tip"
)

func TestWordlistIsThePublishedFile(t *testing.T) {
	sum := sha256.Sum256([]byte(effLarge))
	const want = "addd35536511597a02fa0a9ff1e5284677b8883b83e986e43f15a3db996b903e"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("eff_large_wordlist.txt SHA-256 = %s, want %s (the published file)", got, want)
	}
	if len(wordlist) != 7776 {
		t.Fatalf("len(wordlist) = %d, want 7776", len(wordlist))
	}
	seen := make(map[string]bool, len(wordlist))
	for _, w := range wordlist {
		if seen[w] {
			t.Errorf("duplicate word %q", w)
		}
		seen[w] = true
		if w != strings.ToLower(w) {
			t.Errorf("word %q is not lowercase", w)
		}
	}
	// The dice numbers run 11111 … 66666 in order, so index i is the word
	// the EFF's own instructions would give for those dice.
	for i, line := range strings.Split(strings.TrimSuffix(effLarge, "\n"), "\n") {
		want := make([]byte, 5)
		for j, n := 4, i; j >= 0; j, n = j-1, n/6 {
			want[j] = byte('1' + n%6)
		}
		if dice, _, _ := strings.Cut(line, "\t"); dice != string(want) {
			t.Fatalf("line %d: dice %q, want %q", i+1, dice, want)
		}
	}
	if wordlist[0] != "abacus" || wordlist[7775] != "zoom" {
		t.Errorf("first, last = %q, %q", wordlist[0], wordlist[7775])
	}
}

func TestMustParseWordlistRejects(t *testing.T) {
	for name, s := range map[string]string{
		"short":     "11111\tabacus\n",
		"no tab":    "11111 abacus\n",
		"uppercase": "11111\tAbacus\n",
		"unsorted":  "11111\tzoom\n11112\tabacus\n",
		"duplicate": "11111\tzoom\n11112\tzoom\n",
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			mustParseWordlist(s)
		})
	}
}

func TestHyphenatedWordsParseUniquely(t *testing.T) {
	// normaliseWords joins two letter runs whenever the pair is a word. That
	// is only unambiguous if the first half of a hyphenated word is never a
	// word on its own.
	n := 0
	for _, w := range wordlist {
		first, _, ok := strings.Cut(w, "-")
		if !ok {
			continue
		}
		n++
		if isWord(first) {
			t.Errorf("%q: first half %q is also a word", w, first)
		}
		if strings.Count(w, "-") != 1 {
			t.Errorf("%q has more than one hyphen", w)
		}
	}
	if n != 4 {
		t.Errorf("%d hyphenated words, want 4 (drop-down, felt-tip, t-shirt, yo-yo)", n)
	}
}

func TestDamm(t *testing.T) {
	tests := []struct {
		digits string
		check  byte
	}{
		{"572", 4}, // Wikipedia's worked example
		{"5724", 0},
		{"123456789012345", 0},
		{"791234567890123", 2},
		{"", 0},
	}
	for _, tt := range tests {
		if got := damm(values(tt.digits)); got != tt.check {
			t.Errorf("damm(%q) = %d, want %d", tt.digits, got, tt.check)
		}
	}
}

func TestDammTableIsAQuasigroup(t *testing.T) {
	for i := range 10 {
		var row, col [10]bool
		for j := range 10 {
			row[dammTable[i][j]] = true
			col[dammTable[j][i]] = true
		}
		for v := range 10 {
			if !row[v] || !col[v] {
				t.Fatalf("row or column %d lacks %d", i, v)
			}
		}
		if dammTable[i][i] != 0 {
			t.Errorf("diagonal %d = %d, want 0", i, dammTable[i][i])
		}
	}
}

// Every single wrong digit and every swap of two different adjacent digits
// must be caught, not just most.
func TestChecksumCatchesTypos(t *testing.T) {
	r := rand.NewChaCha8([32]byte{1})
	for range 300 {
		s, err := generate(r, Digits)
		if err != nil {
			t.Fatal(err)
		}
		canon, _, err := Normalise(s)
		if err != nil {
			t.Fatal(err)
		}
		b := []byte(canon)
		for i := range b {
			orig := b[i]
			for c := byte('0'); c <= '9'; c++ {
				if c == orig {
					continue
				}
				b[i] = c
				if _, _, err := Normalise(string(b)); !errors.Is(err, ErrChecksum) {
					t.Fatalf("substitution at %d: err = %v, want ErrChecksum", i, err)
				}
			}
			b[i] = orig
		}
		for i := 0; i+1 < len(b); i++ {
			if b[i] == b[i+1] {
				continue
			}
			b[i], b[i+1] = b[i+1], b[i]
			if _, _, err := Normalise(string(b)); !errors.Is(err, ErrChecksum) {
				t.Fatalf("transposition at %d: err = %v, want ErrChecksum", i, err)
			}
			b[i], b[i+1] = b[i+1], b[i]
		}
	}
}

func TestDigitRanges(t *testing.T) {
	for _, rg := range unicode.Nd.R16 {
		if rg.Stride != 1 || (int(rg.Hi)-int(rg.Lo)+1)%10 != 0 {
			t.Errorf("Nd range %U–%U stride %d is not whole runs of ten", rg.Lo, rg.Hi, rg.Stride)
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rg.Stride != 1 || (int(rg.Hi)-int(rg.Lo)+1)%10 != 0 {
			t.Errorf("Nd range %U–%U stride %d is not whole runs of ten", rg.Lo, rg.Hi, rg.Stride)
		}
	}
	zeros := []rune{
		'0',
		'\u0660',     // Arabic-Indic
		'\u06F0',     // Extended Arabic-Indic (Persian, Urdu)
		'\u0966',     // Devanagari
		'\u09E6',     // Bengali
		'\u0E50',     // Thai
		'\u1040',     // Myanmar
		'\uFF10',     // full-width
		'\U0001D7CE', // mathematical bold
		'\U0001D7D8', // mathematical double-struck, inside a merged range
	}
	for _, z := range zeros {
		for v := range rune(10) {
			got, ok := digitValue(z + v)
			if !ok || rune(got) != v {
				t.Errorf("digitValue(%U) = %d, %v; want %d", z+v, got, ok, v)
			}
		}
	}
	for _, r := range []rune{'a', '/', ':', '²', '①', 'Ⅷ', '½', ' '} {
		if _, ok := digitValue(r); ok {
			t.Errorf("digitValue(%q) ok, want not a decimal digit", r)
		}
	}
}

func TestNormalise(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		canon string
		kind  Kind
		err   error
	}{
		{"canonical digits", validDigits, validDigits, Digits, nil},
		{"display form", validDisplay, validDigits, Digits, nil},
		{"spaces", " 7 9 1 2 3 4 5 6 7 8 9 0 1 2 3 2 ", validDigits, Digits, nil},
		{"phone punctuation", "+7 (912) 345-67-89 (012) 32", validDigits, Digits, nil},
		{"dots and slashes", "791.234.567/890.1232", validDigits, Digits, nil},
		{"new lines and tabs", "7912\n3456\t7890\r\n1232", validDigits, Digits, nil},
		{"comma pause", "+79123456789,01232", validDigits, Digits, nil},
		{"full-width", inScript(validDisplay, '\uFF10'), validDigits, Digits, nil},
		{"Arabic-Indic", inScript(validDisplay, '\u0660'), validDigits, Digits, nil},
		{"Eastern Arabic-Indic", inScript(validDisplay, '\u06F0'), validDigits, Digits, nil},
		{"Devanagari", inScript(validDigits, '\u0966'), validDigits, Digits, nil},
		{"mixed scripts", "٧٩١2345678901232", validDigits, Digits, nil},
		{"literal Arabic-Indic", "٧٩١٢٣٤٥٦٧٨٩٠١٢٣٢", validDigits, Digits, nil},
		{"all zeros is valid", "0000 0000 0000 0000", "0000000000000000", Digits, nil},

		{"typo", "7912345678901233", "", Digits, ErrChecksum},
		{"transposed", "9712345678901232", "", Digits, ErrChecksum},
		{"15 digits", "791234567890123", "", Digits, ErrMalformed},
		{"17 digits", "79123456789012321", "", Digits, ErrMalformed},
		{"empty", "", "", Digits, ErrMalformed},
		{"only separators", " +-() ", "", Digits, ErrMalformed},
		{"letters and digits", "abacus 1234", "", Digits, ErrMalformed},
		{"ext", "+79 123 456-78-90 ext. 1232", validDigits, Digits, nil},
		{"EXT", "+79 123 456-78-90 EXT 1232", validDigits, Digits, nil},
		{"доб.", "+79 123 456-78-90 доб. 1232", validDigits, Digits, nil},
		{"pause", "+79123456789p01232", validDigits, Digits, nil},
		{"other word with digits", "+79 123 456-78-90 call 1232", "", Digits, ErrMalformed},
		{"marker alone", "ext", "", Words, ErrUnknownWord},
		{"superscript is not a digit", "791234567890123²", "", Digits, ErrMalformed},
		{"too long", validDigits + strings.Repeat(" ", maxInput), "", Digits, ErrMalformed},

		{"canonical words", validWords, validWords, Words, nil},
		{"upper case", strings.ToUpper(validWords), validWords, Words, nil},
		{"spaces", "abacus t shirt zoom yo yo drop down felt tip", validWords, Words, nil},
		{"hyphenated kept", "Abacus T-Shirt Zoom Yo-Yo Drop-Down Felt-Tip", validWords, Words, nil},
		{"any separators", "  abacus,,t_shirt. zoom;yo/yo\ndrop+down (felt)tip  ", validWords, Words, nil},
		{"full-width letters", "ａｂａｃｕｓ　ＴＳＨＩＲＴ", "", Words, ErrUnknownWord},
		{"full-width words", "ａｂａｃｕｓ　ｔ－ｓｈｉｒｔ zoom yo-yo drop-down felt-tip", validWords, Words, nil},
		{"halves that are words", "down shirt abacus zoom yoyo able", "down-shirt-abacus-zoom-yoyo-able", Words, nil},
		{"Russian layout", "фифсгы ящщь фиду нщнщ фсшв е-ыршке", "abacus-zoom-able-yoyo-acid-t-shirt", Words, nil},
		{"Russian layout caps lock", "ФИФСГЫ ЯЩЩЬ ФИДУ НЩНЩ ФСШВ Е-ЫРШКЕ", "abacus-zoom-able-yoyo-acid-t-shirt", Words, nil},
		{"Russian layout, period key", "фифсгыюящщьюфидуюнщнщюфсшвюе-ыршке", "abacus-zoom-able-yoyo-acid-t-shirt", Words, nil},
		{"Cyrillic mixed with Latin", "abacus ящщь able yoyo acid zoom", "", Words, ErrUnknownWord},

		{"unknown word", "abacus zoom able yoyo acid zzzzz", "", Words, ErrUnknownWord},
		{"accented", "abacuś zoom able yoyo acid zoom", "", Words, ErrUnknownWord},
		{"decomposed accent", "abacus\u0301 zoom able yoyo acid zoom", "", Words, ErrUnknownWord},
		{"half a hyphenated word", "abacus zoom able yoyo acid drop", "", Words, ErrUnknownWord},
		{"joined hyphenated word", "abacus zoom able yoyo acid dropdown", "", Words, ErrUnknownWord},
		{"five words", "abacus zoom able yoyo acid", "", Words, ErrMalformed},
		{"seven words", "abacus zoom able yoyo acid zoom zoom", "", Words, ErrMalformed},
		{"one word", "abacus", "", Words, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			canon, kind, err := Normalise(tt.in)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Normalise(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if canon != tt.canon || kind != tt.kind {
				t.Errorf("Normalise(%q) = %q, %v; want %q, %v", tt.in, canon, kind, tt.canon, tt.kind)
			}
		})
	}
}

// Errors get logged and shown; they must never carry the credential.
func TestErrorsDoNotLeakInput(t *testing.T) {
	for _, in := range []string{
		"7912345678901233",
		"79123456789012",
		"abacus zoom able yoyo acid secretword",
		"secretword",
		"abacus zoom able yoyo acid 791234",
		"abacus zoom able yoyo acid",
	} {
		_, _, err := Normalise(in)
		if err == nil {
			t.Fatalf("Normalise(%q): no error", in)
		}
		msg := err.Error()
		for _, part := range []string{"791234", "secretword", "abacus", "yoyo"} {
			if strings.Contains(msg, part) {
				t.Errorf("error %q contains %q from the input", msg, part)
			}
		}
	}
}

func TestGenerate(t *testing.T) {
	shapes := map[Kind]*regexp.Regexp{
		Digits: regexp.MustCompile(`^\+\d{2} \d{3} \d{3}-\d{2}-\d{2}, \d{4}$`),
		Words:  regexp.MustCompile(`^[a-z]+(-[a-z]+){5,}$`),
	}
	for kind, shape := range shapes {
		t.Run(kind.String(), func(t *testing.T) {
			seen := make(map[string]bool)
			for range 500 {
				s, err := Generate(kind)
				if err != nil {
					t.Fatal(err)
				}
				if !shape.MatchString(s) {
					t.Fatalf("Generate(%v) = %q, does not match %v", kind, s, shape)
				}
				canon, k, err := Normalise(s)
				if err != nil || k != kind {
					t.Fatalf("Normalise(%q) = %q, %v, %v", s, canon, k, err)
				}
				if disp, err := Format(canon); err != nil || disp != s {
					t.Fatalf("Format(%q) = %q, %v; want %q", canon, disp, err, s)
				}
				if seen[canon] {
					t.Fatalf("Generate(%v) repeated %q", kind, canon)
				}
				seen[canon] = true
			}
		})
	}
	if _, err := Generate(Kind(7)); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("Generate(Kind(7)) error = %v, want ErrUnknownKind", err)
	}
}

func TestGenerateReadError(t *testing.T) {
	for _, kind := range []Kind{Digits, Words} {
		_, err := generate(failingReader{}, kind)
		if !errors.Is(err, errRead) {
			t.Errorf("generate(%v) with failing reader: err = %v, want errRead", kind, err)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ in, want string }{
		{validDigits, validDisplay},
		{inScript(validDigits, '\u0660'), validDisplay},
		{"0000000000000000", "+00 000 000-00-00, 0000"},
		{"ABACUS T SHIRT ZOOM YO YO DROP DOWN FELT TIP", validWords},
	}
	for _, tt := range tests {
		if got, err := Format(tt.in); err != nil || got != tt.want {
			t.Errorf("Format(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := Format("7912345678901233"); !errors.Is(err, ErrChecksum) {
		t.Errorf("Format(typo) error = %v, want ErrChecksum", err)
	}
}

// chiSquare returns Pearson's statistic for counts against a uniform
// expectation.
func chiSquare(counts []int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	exp := float64(total) / float64(len(counts))
	var x float64
	for _, c := range counts {
		d := float64(c) - exp
		x += d * d / exp
	}
	return x
}

// The source is seeded, so these tests are deterministic; the thresholds are
// far in the tail (p < 1e-6) so a correct generator passes for any seed, and
// a biased one (e.g. byte%10, which favours 0–5 by 1/25) fails.
func TestUniformDigits(t *testing.T) {
	r := rand.NewChaCha8([32]byte{2})
	const n = 40000
	var perPos [digitCount][10]int
	for range n {
		s, err := generate(r, Digits)
		if err != nil {
			t.Fatal(err)
		}
		canon, _, err := Normalise(s)
		if err != nil {
			t.Fatal(err)
		}
		for i := range digitCount {
			perPos[i][canon[i]-'0']++
		}
	}
	var all [10]int
	for i, counts := range perPos {
		if x := chiSquare(counts[:]); x > 45 { // 9 degrees of freedom
			t.Errorf("position %d: chi-square %.1f, counts %v", i, x, counts)
		}
		for d, c := range counts {
			all[d] += c
		}
	}
	// All positions together: 600,000 digits, enough to see a bias of the
	// size byte%10 has (TestBiasWouldBeCaught).
	if x := chiSquare(all[:]); x > 45 {
		t.Errorf("all positions: chi-square %.1f, counts %v", x, all)
	}
}

func TestUniformWords(t *testing.T) {
	r := rand.NewChaCha8([32]byte{3})
	index := make(map[string]int, len(wordlist))
	for i, w := range wordlist {
		index[w] = i
	}
	counts := make([]int, 16) // 7776 = 16 × 486
	for range 10000 {
		s, err := generate(r, Words)
		if err != nil {
			t.Fatal(err)
		}
		w := strings.Split(s, "-")
		// Hyphenated words make splitting ambiguous; re-join as
		// normaliseWords does.
		for i := 0; i < len(w); i++ {
			if i+1 < len(w) && isWord(w[i]+"-"+w[i+1]) {
				w[i+1] = w[i] + "-" + w[i+1]
				continue
			}
			counts[index[w[i]]/486]++
		}
	}
	if x := chiSquare(counts); x > 60 { // 15 degrees of freedom
		t.Errorf("chi-square %.1f, counts %v", x, counts)
	}
}

func TestBiasWouldBeCaught(t *testing.T) {
	// Guard against the uniformity test being vacuous: the classic mistake,
	// byte % 10 (0–5 come up 26 times in 256, 6–9 only 25), must fail the
	// same threshold with as many samples as TestUniformDigits pools.
	r := rand.NewChaCha8([32]byte{4})
	var counts [10]int
	var b [1]byte
	for range 40000 * digitCount {
		r.Read(b[:])
		counts[b[0]%10]++
	}
	if x := chiSquare(counts[:]); x <= 45 {
		t.Errorf("byte%%10 passed the uniformity threshold (chi-square %.1f)", x)
	}
}

func TestEntropy(t *testing.T) {
	tests := []struct {
		kind Kind
		want float64
	}{
		{Digits, 49.83},
		{Words, 77.55},
		{Kind(-1), 0},
	}
	for _, tt := range tests {
		if got := Entropy(tt.kind); math.Abs(got-tt.want) > 0.01 {
			t.Errorf("Entropy(%v) = %.3f, want %.2f", tt.kind, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Digits: "digits", Words: "words", Kind(9): "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}

func TestRussianLayoutTable(t *testing.T) {
	// Every letter of the Russian alphabet maps, and to a distinct key.
	seen := make(map[rune]rune)
	for _, r := range "абвгдеёжзийклмнопрстуфхцчшщъыьэюя" {
		q, ok := russianToQwerty(r)
		if !ok {
			t.Errorf("%q does not map", r)
			continue
		}
		if prev, dup := seen[q]; dup {
			t.Errorf("%q and %q both map to %q", prev, r, q)
		}
		seen[q] = r
	}
	if q, ok := russianToQwerty('ф'); !ok || q != 'a' {
		t.Errorf("ф → %q, want a", q)
	}
	if _, ok := russianToQwerty('a'); ok {
		t.Error("Latin a maps")
	}
}

func FuzzNormalise(f *testing.F) {
	for _, s := range []string{
		validDigits, validDisplay, validWords, "", "0", "+", "t-", "-t",
		"yo yo yo yo yo yo yo", "drop-down-drop-down", "фифсгы", "ЁЁЁ",
		inScript(validDisplay, '\u0660'), "ａｂａｃｕｓ", "\xff\xfe", "abacus\u0301",
		strings.Repeat("9", 16), strings.Repeat("zoom ", 6),
	} {
		f.Add(s)
	}
	r := rand.NewChaCha8([32]byte{5})
	for range 20 {
		for _, k := range []Kind{Digits, Words} {
			s, err := generate(r, k)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(s)
		}
	}
	digitsRE := regexp.MustCompile(`^[0-9]{16}$`)
	f.Fuzz(func(t *testing.T, in string) {
		canon, kind, err := Normalise(in)
		if err != nil {
			if canon != "" {
				t.Fatalf("error %v with canonical %q", err, canon)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrUnknownWord) {
				t.Fatalf("error %v is not a sentinel", err)
			}
			return
		}
		switch kind {
		case Digits:
			if !digitsRE.MatchString(canon) {
				t.Fatalf("digits canonical %q", canon)
			}
		case Words:
			if !utf8.ValidString(canon) || canon != strings.ToLower(canon) || strings.ContainsAny(canon, " \t\n") {
				t.Fatalf("words canonical %q", canon)
			}
		default:
			t.Fatalf("kind %v", kind)
		}
		again, kind2, err := Normalise(canon)
		if err != nil || again != canon || kind2 != kind {
			t.Fatalf("Normalise(%q) = %q, %v, %v; not a fixed point", canon, again, kind2, err)
		}
		disp, err := Format(in)
		if err != nil {
			t.Fatalf("Format(%q): %v", in, err)
		}
		if back, _, err := Normalise(disp); err != nil || back != canon {
			t.Fatalf("Normalise(Format(%q)) = %q, %v; want %q", in, back, err, canon)
		}
	})
}

// inScript rewrites the ASCII digits of s in the script whose zero is zero.
func inScript(s string, zero rune) string {
	var b strings.Builder
	for _, r := range s {
		if '0' <= r && r <= '9' {
			r = zero + r - '0'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func values(s string) []byte {
	b := make([]byte, len(s))
	for i := range s {
		b[i] = s[i] - '0'
	}
	return b
}

var errRead = errors.New("read failed")

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errRead }

func ExampleNormalise() {
	canon, kind, err := Normalise("+79 (123) 456 78 90 доб. 1232")
	fmt.Println(canon, kind, err)
	canon, kind, err = Normalise("ABACUS T SHIRT zoom yo yo drop down felt tip")
	fmt.Println(canon, kind, err)
	_, _, err = Normalise("+79 123 456-78-90, 1233")
	fmt.Println(err)
	// Output:
	// 7912345678901232 digits <nil>
	// abacus-t-shirt-zoom-yo-yo-drop-down-felt-tip words <nil>
	// receipt: check digit does not match
}
