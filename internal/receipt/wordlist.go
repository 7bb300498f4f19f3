package receipt

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
)

// effLarge is EFF's Long Wordlist for dice-generated passphrases
// (https://www.eff.org/dice), by the Electronic Frontier Foundation,
// licensed CC BY 3.0 US. It is embedded byte for byte as published so that
// anyone can check it with sha256sum; see NOTICE.
//
//go:embed eff_large_wordlist.txt
var effLarge string

// wordlist holds the 7776 words in dice order, which is also byte order, so
// look-ups are a binary search. It is parsed once at start-up and never
// written to afterwards.
var wordlist = mustParseWordlist(effLarge)

// mustParseWordlist panics on a malformed list: the list is part of the
// binary, so a bad one is a build mistake, and a receipt drawn from a short
// or duplicated list would silently have less entropy than documented.
func mustParseWordlist(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	words := make([]string, 0, len(lines))
	for i, line := range lines {
		dice, w, ok := strings.Cut(line, "\t")
		if !ok || len(dice) != 5 || w == "" {
			panic(fmt.Sprintf("receipt: wordlist line %d malformed", i+1))
		}
		for _, c := range w {
			if (c < 'a' || c > 'z') && c != '-' {
				panic(fmt.Sprintf("receipt: wordlist line %d: not lowercase ASCII", i+1))
			}
		}
		if len(words) > 0 && words[len(words)-1] >= w {
			panic(fmt.Sprintf("receipt: wordlist line %d: not sorted or duplicated", i+1))
		}
		words = append(words, w)
	}
	if len(words) != 6*6*6*6*6 {
		panic(fmt.Sprintf("receipt: wordlist has %d words, want 7776", len(words)))
	}
	return words
}

func isWord(w string) bool {
	_, ok := slices.BinarySearch(wordlist, w)
	return ok
}
