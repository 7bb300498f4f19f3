package translog

import (
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// TestSignerAnySeed signs and verifies with many seeds: about half of all
// keys have a '+' in their base64 form, which once broke the key's
// encoding.
func TestSignerAnySeed(t *testing.T) {
	const origin = "corridor.invalid/0011223344556677"
	plus := 0
	for i := range 200 {
		seed := make([]byte, 32)
		for j := range seed {
			seed[j] = byte(i*31 + j*7)
		}
		s, err := NewSigner(origin, seed)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		vkey, err := VerifierKey(origin, seed)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(vkey, "+") > 2 {
			plus++
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		msg, err := note.Sign(&note.Note{Text: "hello\n"}, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
	if plus == 0 {
		t.Fatal("no key with '+' in its base64 form was tried")
	}
}
