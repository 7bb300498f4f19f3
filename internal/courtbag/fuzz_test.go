package courtbag

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// The parsers of bag files: they read what an adversary may have written.
// Each must never panic, and accept only what its writer produces.

func FuzzParseRecord(f *testing.F) {
	ts := time.Date(2017, 4, 3, 22, 15, 0, 0, time.UTC)
	ca := time.Date(2017, 4, 3, 21, 0, 0, 0, time.FixedZone("", 3*3600))
	for _, r := range []*Record{
		{Format: itemFormat, ID: "vabc", Commitment: strings.Repeat("0a", 32), Destroyed: true,
			ConsentHistory: []ConsentChange{{1, ts, "none"}}},
		{Format: itemFormat, ID: "vabc", Commitment: strings.Repeat("0a", 32), ConsentHistory: []ConsentChange{{1, ts, "none"}, {3, ts, "court"}},
			Original: &Original{File: "original.jpg", SHA256: strings.Repeat("1b", 32), Salt: strings.Repeat("2c", 32), Size: 1234,
				ContentType: "image/jpeg", Source: "person", IngestedAt: ts,
				Capture: &Capture{CapturedAt: &ca, GPS: &GPS{43.3, 45.7, 120.5}, Make: "Phone <&>", Width: 4000, Height: 3000,
					Extra: map[string]string{"exif.orientation": "6", "captured_at.zone": "unknown"}}}},
	} {
		b, err := marshalRecord(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"format":"corridor.court-item/v1"}`))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRecord(b)
		if err != nil {
			return
		}
		again, err := marshalRecord(r)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted a record that does not re-encode to itself: %q", b)
		}
		if r.Destroyed != (r.Original == nil) || !isHex32(r.Commitment) || !validItemID(r.ID) {
			t.Fatalf("accepted an invalid record: %+v", r)
		}
	})
}

func FuzzParseConsistency(f *testing.F) {
	h := bytes.Repeat([]byte{7}, 32)
	f.Add(formatConsistency(5, 9, [][]byte{h, h}))
	f.Add(formatConsistency(0, 0, nil))
	f.Add([]byte(consistencyHeader + "\nold 01\nnew 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, n, hashes, err := parseConsistency(b)
		if err != nil {
			return
		}
		if again := formatConsistency(o, n, hashes); !bytes.Equal(again, b) {
			t.Fatalf("accepted %q, which re-encodes as %q", b, again)
		}
	})
}

func FuzzParseWitnesses(f *testing.F) {
	f.Add(Witnesses{Required: 1, Keys: []string{"w1.example+01234567+AaMlVP83HFr9i2mo7IiUya6mCF6sqa6ygwdPQdQPh7bp"}}.Format())
	f.Add(Witnesses{}.Format())
	f.Add([]byte("required 2\nwitness a\nwitness a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseWitnesses(b)
		if err != nil {
			return
		}
		if again := w.Format(); !bytes.Equal(again, b) {
			t.Fatalf("accepted %q, which re-encodes as %q", b, again)
		}
		if w.Required > len(w.Keys) {
			t.Fatalf("accepted %d required of %d", w.Required, len(w.Keys))
		}
	})
}

func FuzzParseLogKey(f *testing.F) {
	f.Add([]byte("corridor.test/evidence+b6fe8b4e+Aan0NO06czzwN7obxSwY6Lg9W83GrI0wCc79qnw1Ttn4\n"))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseLogKey(b)
		if err != nil {
			return
		}
		if k+"\n" != string(b) {
			t.Fatalf("accepted %q as %q", b, k)
		}
	})
}

func FuzzParsePayloadName(f *testing.F) {
	for _, s := range []string{"items/vabc/record.json", "items/vabc/original.jpg", "items/vabc/12.event",
		"items/vabc/1.tlog-proof", "log/checkpoints/1301.checkpoint", "log/checkpoints/5.consistency",
		"log/checkpoints/5.tst", "items/vabc/01.event", "items/../x", "log/checkpoints/.checkpoint"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		pf, ok := parsePayloadName(p)
		if !ok {
			return
		}
		var again string
		switch pf.kind {
		case kindRecord:
			again = itemPath(pf.item, recordName)
		case kindOriginal:
			again = itemPath(pf.item, pf.name)
		case kindEvent:
			again = eventPath(pf.item, int64(pf.n), eventSuffix)
		case kindProof:
			again = eventPath(pf.item, int64(pf.n), proofSuffix)
		case kindCheckpoint:
			again = checkpointPath(pf.n, checkpointExt)
		case kindConsistency:
			again = checkpointPath(pf.n, consistencyExt)
		case kindToken:
			again = checkpointPath(pf.n, tokenExt)
		}
		if again != p || (pf.kind == kindEvent || pf.kind == kindProof) && (pf.n < 1 || pf.n > 1<<62) {
			t.Fatalf("accepted %q as %+v (%q)", p, pf, again)
		}
	})
}

func FuzzParseManifestSums(f *testing.F) {
	sum := strings.Repeat("ab", 32)
	f.Add([]byte(sum + "  data/items/vabc/original.jpg\n" + sum + " data/x\n"))
	f.Add([]byte(sum + "  data/a%0Ab\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for p, s := range parseManifestSums(b) {
			if p == "" || strings.Contains(p, "%") || !bytes.Contains(b, []byte(p)) || !bytes.Contains(bytes.ToLower(b), []byte(hex.EncodeToString(s[:]))) {
				t.Fatalf("parsed %q → %x from %q", p, s, b)
			}
		}
	})
}
