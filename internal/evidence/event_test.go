package evidence_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/evidence"
)

func sampleEvent() evidence.Event {
	e := evidence.Event{
		Type: evidence.EventViewed, ItemID: "vabc234", Seq: 2,
		Time:    time.Date(2026, 3, 1, 12, 34, 56, 0, time.UTC),
		Consent: "court",
	}
	e.Commitment = sha256.Sum256([]byte("commitment"))
	e.Prev = sha256.Sum256([]byte("prev"))
	e.Actor = sha256.Sum256([]byte("actor"))
	return e
}

const sampleText = "corridor.custody/v1\n" +
	"type viewed\n" +
	"item vabc234\n" +
	"seq 2\n" +
	"time 2026-03-01T12:34:56Z\n" +
	"commitment 6d5aa8a8c4a1d5bdc0d7e0e1a1b6c0d3a6c6f3b8aa4b3a4fa0e7b9d9e0b6b2d0\n"

// TestEncodeGolden pins the format down: a change to Encode that changes
// bytes breaks every log already written.
func TestEncodeGolden(t *testing.T) {
	e := sampleEvent()
	got := string(e.Encode())
	want := "corridor.custody/v1\n" +
		"type viewed\n" +
		"item vabc234\n" +
		"seq 2\n" +
		"time 2026-03-01T12:34:56Z\n" +
		"commitment " + hexOf(e.Commitment) + "\n" +
		"prev " + hexOf(e.Prev) + "\n" +
		"actor " + hexOf(e.Actor) + "\n" +
		"consent court\n"
	if got != want {
		t.Fatalf("Encode =\n%s\nwant\n%s", got, want)
	}
	if e.Hash() != sha256.Sum256([]byte(want)) {
		t.Fatal("Hash is not SHA-256 of the encoding")
	}
}

func hexOf(b [32]byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}

func TestParseRoundTrip(t *testing.T) {
	for _, typ := range evidence.EventTypes() {
		for _, consent := range evidence.Consents() {
			e := sampleEvent()
			e.Type, e.Consent = typ, consent
			got, err := evidence.ParseEvent(e.Encode())
			if err != nil {
				t.Fatalf("%s/%s: %v", typ, consent, err)
			}
			if got != e {
				t.Fatalf("round trip changed the event:\n%+v\n%+v", got, e)
			}
		}
	}
	first := sampleEvent()
	first.Seq, first.Prev = 1, [32]byte{}
	if _, err := evidence.ParseEvent(first.Encode()); err != nil {
		t.Fatalf("first event: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	good := string(sampleEvent().Encode())
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("sample has no %q", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	first := sampleEvent()
	first.Seq = 1
	cases := map[string]string{
		"empty":              "",
		"no final newline":   strings.TrimSuffix(good, "\n"),
		"extra newline":      good + "\n",
		"extra line":         good + "note hello\n",
		"CRLF":               strings.ReplaceAll(good, "\n", "\r\n"),
		"other version":      replace("corridor.custody/v1", "corridor.custody/v2"),
		"unknown type":       replace("type viewed", "type looked_at"),
		"type with text":     replace("type viewed", "type viewed by Anna"),
		"upper-case field":   replace("type viewed", "Type viewed"),
		"two spaces":         replace("type viewed", "type  viewed"),
		"fields swapped":     replace("type viewed\nitem vabc234", "item vabc234\ntype viewed"),
		"item with space":    replace("item vabc234", "item vabc 234"),
		"item upper-case":    replace("item vabc234", "item VABC234"),
		"item too short":     replace("item vabc234", "item v"),
		"item with slash":    replace("item vabc234", "item v/../x"),
		"seq zero":           replace("seq 2", "seq 0"),
		"seq negative":       replace("seq 2", "seq -2"),
		"seq leading zero":   replace("seq 2", "seq 02"),
		"seq plus":           replace("seq 2", "seq +2"),
		"seq overflow":       replace("seq 2", "seq 9223372036854775808"),
		"time with offset":   replace("2026-03-01T12:34:56Z", "2026-03-01T15:34:56+03:00"),
		"time with fraction": replace("2026-03-01T12:34:56Z", "2026-03-01T12:34:56.5Z"),
		"time lower-case z":  replace("2026-03-01T12:34:56Z", "2026-03-01T12:34:56z"),
		"time out of range":  replace("2026-03-01T12:34:56Z", "2026-02-30T12:34:56Z"),
		"commitment short":   replace("commitment "+hexOf(sampleEvent().Commitment), "commitment "+hexOf(sampleEvent().Commitment)[:62]),
		"commitment upper":   replace("commitment "+hexOf(sampleEvent().Commitment), "commitment "+strings.ToUpper(hexOf(sampleEvent().Commitment))),
		"prev zero at seq 2": replace("prev "+hexOf(sampleEvent().Prev), "prev "+strings.Repeat("0", 64)),
		"prev set at seq 1":  string(first.Encode()),
		"unknown consent":    replace("consent court", "consent yes"),
		"consent with text":  replace("consent court", "consent court only"),
		"too long":           good + strings.Repeat("x", 2000),
		"NUL":                replace("item vabc234", "item vabc\x00234"),
		"missing last field": good[:strings.LastIndex(good, "consent")],
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := evidence.ParseEvent([]byte(in)); !errors.Is(err, evidence.ErrMalformedEvent) {
				t.Fatalf("ParseEvent = %v, want ErrMalformedEvent", err)
			}
		})
	}
}

func chain(n int) []evidence.Event {
	var out []evidence.Event
	c := sha256.Sum256([]byte("original"))
	for i := range n {
		e := evidence.Event{Type: evidence.EventViewed, ItemID: "vitem", Seq: int64(i + 1),
			Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC), Commitment: c, Consent: "none"}
		if i == 0 {
			e.Type = evidence.EventIngested
		} else {
			e.Prev = out[i-1].Hash()
		}
		out = append(out, e)
	}
	return out
}

func TestCheckChain(t *testing.T) {
	if err := evidence.CheckChain(chain(5)); err != nil {
		t.Fatal(err)
	}
	if err := evidence.CheckChain(nil); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func([]evidence.Event) []evidence.Event{
		"reordered": func(es []evidence.Event) []evidence.Event { es[2], es[3] = es[3], es[2]; return es },
		"reordered, seqs fixed": func(es []evidence.Event) []evidence.Event {
			es[2], es[3] = es[3], es[2]
			es[2].Seq, es[3].Seq = 3, 4
			return es
		},
		"dropped":            func(es []evidence.Event) []evidence.Event { return append(es[:2], es[3:]...) },
		"first dropped":      func(es []evidence.Event) []evidence.Event { return es[1:] },
		"type altered":       func(es []evidence.Event) []evidence.Event { es[1].Type = evidence.EventExported; return es },
		"time altered":       func(es []evidence.Event) []evidence.Event { es[1].Time = es[1].Time.Add(time.Second); return es },
		"other item":         func(es []evidence.Event) []evidence.Event { es[4].ItemID = "vother"; return es },
		"other commitment":   func(es []evidence.Event) []evidence.Event { es[4].Commitment[0] ^= 1; return es },
		"time goes backward": func(es []evidence.Event) []evidence.Event { es[4].Time = es[0].Time.Add(-time.Hour); return es },
	} {
		if err := evidence.CheckChain(mutate(chain(5))); err == nil {
			t.Errorf("%s: CheckChain accepted it", name)
		}
	}
}

func TestCommitments(t *testing.T) {
	sum := sha256.Sum256([]byte("photo"))
	salt := bytes.Repeat([]byte{7}, 32)
	want := sha256.Sum256(append(bytes.Clone(salt), sum[:]...))
	if got := evidence.Commitment(salt, sum); got != want {
		t.Fatal("Commitment is not SHA-256(salt ‖ SHA-256(original))")
	}
	if evidence.Commitment(bytes.Repeat([]byte{8}, 32), sum) == want {
		t.Fatal("the salt does not change the commitment")
	}
	a := evidence.ActorCommitment(salt, "staff:3")
	if a == evidence.ActorCommitment(salt, "staff:4") || a == evidence.ActorCommitment(bytes.Repeat([]byte{9}, 32), "staff:3") {
		t.Fatal("actor commitment ignores the actor or the salt")
	}
	if a == sha256.Sum256(append(bytes.Clone(salt), "staff:3"...)) {
		t.Fatal("actor commitment has no domain separation")
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(sampleEvent().Encode())
	for _, e := range chain(3) {
		f.Add(e.Encode())
	}
	f.Add([]byte(sampleText))
	f.Add([]byte("corridor.custody/v1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := evidence.ParseEvent(b)
		if err != nil {
			if !errors.Is(err, evidence.ErrMalformedEvent) {
				t.Fatalf("error %v is not ErrMalformedEvent", err)
			}
			return
		}
		if enc := e.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("accepted a non-canonical encoding:\n%q\nre-encodes to\n%q", b, enc)
		}
	})
}
