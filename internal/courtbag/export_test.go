package courtbag

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/corridor-org/corridor/internal/bag"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/translog"
)

// scenario is a data directory with three items whose trails cover every
// case a bag has, exported into a bag.
type scenario struct {
	*fixture
	photo, testimony, gone string // item ids; gone is destroyed
	bag                    string
	sum                    *Summary
}

func testPNG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	must(t, png.Encode(&b, img))
	return b.Bytes()
}

// newScenario ingests three items, records consent, changes one's
// consent and destroys another, with the log timestamped between, so that
// the bag has several checkpoints (two timestamped), then exports them.
func newScenario(t *testing.T) *scenario {
	t.Helper()
	s := &scenario{fixture: newFixture(t, fixtureOpts{})}
	s.photo = s.add("IMG_2041.png", testPNG(t))
	s.testimony = s.add("testimony.txt", []byte("What happened on the night of 3 April.\n"))
	s.gone = s.add("gone.txt", []byte("to be destroyed"))
	for _, id := range []string{s.photo, s.testimony} {
		must(t, s.svc.SetConsent(s.ctx, s.admin, id, store.ConsentCourt))
	}
	must(t, s.integrate(s.ctx))
	s.awaitStamp(s.logged() - 1)
	must(t, s.svc.SetConsent(s.ctx, s.admin, s.testimony, store.ConsentPublicAnonymised))
	must(t, s.svc.Destroy(s.ctx, s.admin, s.gone))
	must(t, s.integrate(s.ctx))
	s.awaitStamp(s.logged() - 1)

	s.bag = filepath.Join(t.TempDir(), "bag")
	sum, err := Export(s.ctx, s.options(s.bag, evidence.Selection{All: true}))
	must(t, err)
	s.sum = sum
	return s
}

func verify(t testing.TB, dir string, tr Trust) *Report {
	t.Helper()
	r, err := Verify(dir, tr)
	must(t, err)
	return r
}

func report(r *Report) string {
	var b strings.Builder
	r.Write(&b, "bag")
	return b.String()
}

func TestExportVerify(t *testing.T) {
	s := newScenario(t)
	if s.sum.Items != 3 || s.sum.Originals != 2 || s.sum.Destroyed != 1 || s.sum.Events != 9 || s.sum.Checkpoints < 3 || s.sum.Timestamps < 2 {
		t.Fatalf("summary %+v", s.sum)
	}
	r := verify(t, s.bag, Trust{})
	if !r.OK() {
		t.Fatalf("a fresh bag does not verify:\n%s", report(r))
	}
	if r.Items != 3 || r.Originals != 2 || r.Destroyed != 1 || r.Events != 9 || r.Proofs != 9 ||
		r.Checkpoints != s.sum.Checkpoints || len(r.Stamps) != s.sum.Timestamps || r.Latest != s.sum.Latest {
		t.Errorf("report counts %+v, summary %+v", r, s.sum)
	}
	out := report(r)
	for _, want := range []string{"Result: OK", "files        OK", "consistency  OK", s.keys.LogKey + " (from the bag)",
		s.keys.Witnesses.Keys[0]} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// Checked against keys given apart from the bag, as a court should.
	given := s.keys.Witnesses
	if r := verify(t, s.bag, Trust{LogKey: s.keys.LogKey, Witnesses: &given, TSARoots: s.ca.rootPEM()}); !r.OK() || r.LogKeyFromBag || r.WitnessesFromBag || r.TSARootsFromBag {
		t.Errorf("with the keys given: %s", report(r))
	}
	otherKey := mustVKey(t, "corridor.test/evidence")
	if r := verify(t, s.bag, Trust{LogKey: otherKey}); r.OK() || r.failed(CheckKeys) == 0 || r.failed(CheckCheckpoints) == 0 {
		t.Errorf("verified against another log key:\n%s", report(r))
	}
	twoOfTwo := Witnesses{Required: 2, Keys: []string{s.keys.Witnesses.Keys[0], mustVKey(t, "witness.test/w2")}}
	if r := verify(t, s.bag, Trust{Witnesses: &twoOfTwo}); r.OK() || r.failed(CheckCheckpoints) == 0 {
		t.Errorf("verified with a witness the checkpoints lack:\n%s", report(r))
	}
	if r := verify(t, s.bag, Trust{TSARoots: newTestAuthority(t).rootPEM()}); r.OK() || r.failed(CheckTimestamps) == 0 {
		t.Errorf("verified against another timestamp authority:\n%s", report(r))
	}

	t.Run("contents", func(t *testing.T) { s.checkContents(t) })
	t.Run("every file flipped", func(t *testing.T) { s.flipEveryFile(t) })
	t.Run("every file removed", func(t *testing.T) { s.removeEveryFile(t) })
	t.Run("files added", func(t *testing.T) { s.addFiles(t) })
	t.Run("tampered and rebagged", func(t *testing.T) { s.tamperAndRebag(t) })
	t.Run("forked checkpoint", func(t *testing.T) { s.fork(t) })
}

func (s *scenario) read(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.bag, p))
	must(t, err)
	return b
}

// checkContents looks at what the bag holds.
func (s *scenario) checkContents(t *testing.T) {
	rec, err := parseRecord(s.read(t, "data/items/"+s.photo+"/record.json"))
	must(t, err)
	o := rec.Original
	sum := sha256.Sum256(s.read(t, "data/items/"+s.photo+"/original.png"))
	if o == nil || o.File != "original.png" || o.ContentType != "image/png" || o.SHA256 != fmt.Sprintf("%x", sum) ||
		o.Source != evidence.SourceCLI || o.Capture == nil || o.Capture.Width != 4 || o.Capture.Height != 3 {
		t.Errorf("photo record %+v", o)
	}
	if want := []string{"none", "court"}; !slices.Equal(consents(rec), want) {
		t.Errorf("photo consent history %v, want %v", consents(rec), want)
	}
	rec, err = parseRecord(s.read(t, "data/items/"+s.testimony+"/record.json"))
	must(t, err)
	if want := []string{"none", "court", "public_anonymised"}; !slices.Equal(consents(rec), want) {
		t.Errorf("testimony consent history %v, want %v", consents(rec), want)
	}
	rec, err = parseRecord(s.read(t, "data/items/"+s.gone+"/record.json"))
	must(t, err)
	if !rec.Destroyed || rec.Original != nil {
		t.Errorf("destroyed item's record %+v", rec)
	}
	if ms, _ := filepath.Glob(filepath.Join(s.bag, "data/items", s.gone, "original*")); len(ms) != 0 {
		t.Errorf("the destroyed item has an original: %v", ms)
	}
	last, err := evidence.ParseEvent(s.read(t, "data/items/"+s.gone+"/2.event"))
	if err != nil || last.Type != evidence.EventDestroyed {
		t.Errorf("destroyed item's trail ends with %v, %v", last.Type, err)
	}
	last, err = evidence.ParseEvent(s.read(t, "data/items/"+s.photo+"/3.event"))
	if err != nil || last.Type != evidence.EventExported {
		t.Errorf("the photo's trail ends with %v, %v", last.Type, err)
	}
	// Nothing that names anyone: not the file names as uploaded, not the
	// custodian or staff member.
	must(t, filepath.WalkDir(s.bag, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		for _, secret := range []string{"IMG_2041", "testimony.txt", "gone.txt", "Custodian", "staff:"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds %q", p, secret)
			}
		}
		return err
	}))
	info, err := os.ReadFile(filepath.Join(s.bag, "bag-info.txt"))
	must(t, err)
	if !bytes.Contains(info, []byte("Source-Organization: Test Organisation\n")) || !bytes.Contains(info, []byte(infoFormatLabel+": "+Format+"\n")) {
		t.Errorf("bag-info.txt:\n%s", info)
	}
	readme := string(s.read(t, readmeName))
	for _, want := range []string{"sha256sum -c manifest-sha256.txt", "openssl ts -verify", s.keys.LogKey, s.keys.Witnesses.Keys[0],
		"data/items/" + s.photo + "/original.png", "tools/verify-checkpoint.sh", "corridor verify"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q", want)
		}
	}
	if !bytes.Equal(s.read(t, scriptName), translog.CheckpointScript()) {
		t.Error("the bag's verify-checkpoint.sh differs")
	}
}

func consents(r *Record) []string {
	var out []string
	for _, c := range r.ConsentHistory {
		out = append(out, c.Consent)
	}
	return out
}

// files lists every regular file of the bag, relative to it.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	}))
	slices.Sort(out)
	return out
}

// flipEveryFile flips one bit in each file in turn (without rebuilding the
// manifests): every one is noticed. The bit is in the middle of the file,
// and for the manifests, in a checksum.
func (s *scenario) flipEveryFile(t *testing.T) {
	work := copyBag(t, s.bag)
	all := files(t, work)
	if len(all) < 30 {
		t.Fatalf("only %d files", len(all))
	}
	for _, name := range all {
		p := filepath.Join(work, name)
		orig, err := os.ReadFile(p)
		must(t, err)
		for _, at := range []int{0, len(orig) / 2, len(orig) - 1} {
			b := bytes.Clone(orig)
			b[at] ^= 0x01
			must(t, os.WriteFile(p, b, 0o600))
			if r := verify(t, work, Trust{}); r.OK() {
				t.Errorf("a flipped bit at byte %d of %s went unnoticed", at, name)
			}
		}
		must(t, os.WriteFile(p, orig, 0o600))
	}
	if r := verify(t, work, Trust{}); !r.OK() {
		t.Fatalf("restored bag does not verify:\n%s", report(r))
	}
}

// removeEveryFile removes each file in turn.
func (s *scenario) removeEveryFile(t *testing.T) {
	work := copyBag(t, s.bag)
	for _, name := range files(t, work) {
		p := filepath.Join(work, name)
		must(t, os.Rename(p, p+".away"))
		// .away is itself an added file; put it out of the bag.
		away := filepath.Join(t.TempDir(), "away")
		must(t, os.Rename(p+".away", away))
		if r := verify(t, work, Trust{}); r.OK() {
			t.Errorf("removing %s went unnoticed", name)
		}
		must(t, os.Rename(away, p))
	}
}

// addFiles adds files in the payload and as tags.
func (s *scenario) addFiles(t *testing.T) {
	for _, name := range []string{"data/notes.txt", "data/items/" + s.photo + "/4.event", "data/items/" + s.gone + "/original.txt",
		"data/log/checkpoints/1.checkpoint", "extra.txt", "keys/other.vkey"} {
		work := copyBag(t, s.bag)
		p := filepath.Join(work, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o700))
		must(t, os.WriteFile(p, []byte("added\n"), 0o600))
		if r := verify(t, work, Trust{}); r.OK() || r.failed(CheckFiles) == 0 {
			t.Errorf("adding %s went unnoticed:\n%s", name, report(r))
		}
	}
}

// copyBag copies a bag into a new directory.
func copyBag(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "bag")
	must(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

// rebag rebuilds a bag's manifests and bag-info.txt around its files as
// they are now: what someone altering a bag would do so that sha256sum -c
// passes. Verify must then catch the alteration from the content alone.
func rebag(t testing.TB, src string) string {
	t.Helper()
	b, err := bag.Open(src)
	must(t, err)
	var info bag.Info
	for _, f := range b.Info() {
		if !slices.Contains([]string{"Payload-Oxum", "Bag-Software-Agent"}, f.Label) {
			info = append(info, f)
		}
	}
	dst := filepath.Join(t.TempDir(), "rebagged")
	w, err := bag.Create(dst, info)
	must(t, err)
	for _, name := range files(t, src) {
		if slices.Contains([]string{"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt"}, name) {
			continue
		}
		content, err := os.ReadFile(filepath.Join(src, name))
		must(t, err)
		if p, ok := strings.CutPrefix(name, "data/"); ok {
			_, _, err = w.AddPayload(p, bytes.NewReader(content))
		} else {
			err = w.AddTag(name, content)
		}
		must(t, err)
	}
	must(t, w.Close())
	return dst
}

func (s *scenario) ev(t testing.TB, dir, id string, seq int) evidence.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data/items", id, fmt.Sprintf("%d.event", seq)))
	must(t, err)
	e, err := evidence.ParseEvent(b)
	must(t, err)
	return e
}

func write(t testing.TB, dir, name string, b []byte) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
}

func readIn(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	must(t, err)
	return b
}

func swapFiles(t testing.TB, dir, a, b string) {
	t.Helper()
	x, y := readIn(t, dir, a), readIn(t, dir, b)
	write(t, dir, a, y)
	write(t, dir, b, x)
}

// checkpointSizes lists the bag's checkpoint sizes, ascending.
func checkpointSizes(t testing.TB, dir string) []uint64 {
	t.Helper()
	ms, err := filepath.Glob(filepath.Join(dir, "data/log/checkpoints/*.checkpoint"))
	must(t, err)
	var out []uint64
	for _, m := range ms {
		n, err := parseDecimal(strings.TrimSuffix(filepath.Base(m), checkpointExt))
		must(t, err)
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// proofCheckpoint returns the checkpoint a receipt in the bag is against.
func proofCheckpoint(t testing.TB, dir, name string) *translog.InclusionProof {
	t.Helper()
	ip, err := translog.ParseProof(readIn(t, dir, name))
	must(t, err)
	return ip
}

// tamperAndRebag alters the bag's content and rebuilds its manifests:
// each alteration is caught by the check that it breaks.
func (s *scenario) tamperAndRebag(t *testing.T) {
	photoEv := func(n int) string { return fmt.Sprintf("data/items/%s/%d", s.photo, n) }
	testiEv := func(n int) string { return fmt.Sprintf("data/items/%s/%d", s.testimony, n) }
	sizes := checkpointSizes(t, s.bag)
	oldest, latest := sizes[0], sizes[len(sizes)-1]
	cpName := func(n uint64, ext string) string { return fmt.Sprintf("data/log/checkpoints/%d%s", n, ext) }

	// A checkpoint of the real log that the bag does not hold, newer than
	// the latest, properly signed and cosigned.
	s.add("later.txt", []byte("after the export"))
	must(t, s.integrate(s.ctx))
	newer, err := s.log.AwaitCheckpoint(s.ctx, s.logged())
	must(t, err)
	photo1 := s.ev(t, s.bag, s.photo, 1)
	photo1Index := proofCheckpoint(t, s.bag, photoEv(1)+proofSuffix).Index
	proofNewer, err := s.log.ProofAt(s.ctx, photo1Index, newer)
	must(t, err)
	if _, _, err := translog.VerifyProof(proofNewer, photo1.Encode(), mustPolicy(t, s.keys)); err != nil {
		t.Fatalf("the newer receipt itself is valid: %v", err)
	}

	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   []Check // checks that must fail
	}{
		{"altered original", func(t *testing.T, dir string) {
			p := "data/items/" + s.testimony + "/original.txt"
			b := readIn(t, dir, p)
			b[3] ^= 0x20
			write(t, dir, p, b)
		}, []Check{CheckItems}},
		{"original swapped with another item's", func(t *testing.T, dir string) {
			write(t, dir, "data/items/"+s.testimony+"/original.txt", []byte("a different testimony\n"))
			rec, _ := parseRecord(readIn(t, dir, "data/items/"+s.testimony+"/record.json"))
			sum := sha256.Sum256([]byte("a different testimony\n"))
			rec.Original.SHA256, rec.Original.Size = fmt.Sprintf("%x", sum), 22
			b, _ := marshalRecord(rec)
			write(t, dir, "data/items/"+s.testimony+"/record.json", b)
		}, []Check{CheckItems}},
		{"record commitment rewritten", func(t *testing.T, dir string) {
			rec, _ := parseRecord(readIn(t, dir, "data/items/"+s.photo+"/record.json"))
			rec.Commitment = strings.Repeat("ab", 32)
			b, _ := marshalRecord(rec)
			write(t, dir, "data/items/"+s.photo+"/record.json", b)
		}, []Check{CheckItems, CheckEvents}},
		{"consent history rewritten", func(t *testing.T, dir string) {
			rec, _ := parseRecord(readIn(t, dir, "data/items/"+s.photo+"/record.json"))
			rec.ConsentHistory = rec.ConsentHistory[:1]
			rec.ConsentHistory[0].Consent = store.ConsentCourt
			b, _ := marshalRecord(rec)
			write(t, dir, "data/items/"+s.photo+"/record.json", b)
		}, []Check{CheckEvents}},
		{"record not canonical", func(t *testing.T, dir string) {
			p := "data/items/" + s.photo + "/record.json"
			write(t, dir, p, bytes.Replace(readIn(t, dir, p), []byte(`"destroyed": false`), []byte(`"destroyed": false, "destroyed": true`), 1))
		}, []Check{CheckItems}},
		{"altered event", func(t *testing.T, dir string) {
			e := s.ev(t, dir, s.photo, 2)
			e.Time = e.Time.Add(-24 * time.Hour)
			write(t, dir, photoEv(2)+eventSuffix, e.Encode())
		}, []Check{CheckEvents, CheckProofs}},
		{"event not canonical", func(t *testing.T, dir string) {
			write(t, dir, photoEv(2)+eventSuffix, append(s.ev(t, dir, s.photo, 2).Encode(), '\n'))
		}, []Check{CheckEvents}},
		{"reordered events", func(t *testing.T, dir string) {
			swapFiles(t, dir, testiEv(2)+eventSuffix, testiEv(3)+eventSuffix)
			swapFiles(t, dir, testiEv(2)+proofSuffix, testiEv(3)+proofSuffix)
		}, []Check{CheckEvents}},
		{"events renumbered and rechained to hide a reordering", func(t *testing.T, dir string) {
			e2, e3, e4 := s.ev(t, dir, s.testimony, 2), s.ev(t, dir, s.testimony, 3), s.ev(t, dir, s.testimony, 4)
			e3.Seq, e3.Prev, e3.Time = 2, e2.Prev, e2.Time
			e2.Seq, e2.Prev = 3, e3.Hash()
			e4.Prev = e2.Hash()
			write(t, dir, testiEv(2)+eventSuffix, e3.Encode())
			write(t, dir, testiEv(3)+eventSuffix, e2.Encode())
			write(t, dir, testiEv(4)+eventSuffix, e4.Encode())
			rec, _ := parseRecord(readIn(t, dir, "data/items/"+s.testimony+"/record.json"))
			rec.ConsentHistory = nil
			for _, e := range []evidence.Event{s.ev(t, dir, s.testimony, 1), e3, e2, e4} {
				if n := len(rec.ConsentHistory); n == 0 || rec.ConsentHistory[n-1].Consent != e.Consent {
					rec.ConsentHistory = append(rec.ConsentHistory, ConsentChange{e.Seq, e.Time, e.Consent})
				}
			}
			b, _ := marshalRecord(rec)
			write(t, dir, "data/items/"+s.testimony+"/record.json", b)
		}, []Check{CheckProofs}},
		{"event removed from the middle", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, testiEv(2)+eventSuffix)))
			must(t, os.Remove(filepath.Join(dir, testiEv(2)+proofSuffix)))
		}, []Check{CheckEvents}},
		{"the export's event removed", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, photoEv(3)+eventSuffix)))
			must(t, os.Remove(filepath.Join(dir, photoEv(3)+proofSuffix)))
		}, []Check{CheckEvents}},
		{"event added", func(t *testing.T, dir string) {
			last := s.ev(t, dir, s.photo, 3)
			added := last
			added.Seq, added.Prev, added.Type = 4, last.Hash(), evidence.EventViewed
			write(t, dir, photoEv(4)+eventSuffix, added.Encode())
			write(t, dir, photoEv(4)+proofSuffix, readIn(t, dir, photoEv(3)+proofSuffix))
		}, []Check{CheckEvents, CheckProofs}},
		{"destruction hidden", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "data/items", s.gone, "2.event")))
			must(t, os.Remove(filepath.Join(dir, "data/items", s.gone, "2.tlog-proof")))
		}, []Check{CheckEvents}},
		{"original removed, item said destroyed", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "data/items", s.photo, "original.png")))
			rec, _ := parseRecord(readIn(t, dir, "data/items/"+s.photo+"/record.json"))
			rec.Destroyed, rec.Original = true, nil
			b, _ := marshalRecord(rec)
			write(t, dir, "data/items/"+s.photo+"/record.json", b)
		}, []Check{CheckEvents}},
		{"receipts swapped", func(t *testing.T, dir string) {
			swapFiles(t, dir, photoEv(1)+proofSuffix, photoEv(2)+proofSuffix)
		}, []Check{CheckProofs}},
		{"proof against the wrong checkpoint", func(t *testing.T, dir string) {
			ip := proofCheckpoint(t, dir, photoEv(1)+proofSuffix)
			for _, n := range sizes {
				if other := readIn(t, dir, cpName(n, checkpointExt)); !bytes.Equal(other, ip.Checkpoint) {
					ip.Checkpoint = other
					break
				}
			}
			write(t, dir, photoEv(1)+proofSuffix, ip.Marshal())
		}, []Check{CheckProofs}},
		{"proof against a checkpoint not in the bag", func(t *testing.T, dir string) {
			write(t, dir, photoEv(1)+proofSuffix, proofNewer)
		}, []Check{CheckProofs}},
		{"witness cosignature stripped", func(t *testing.T, dir string) {
			raw := readIn(t, dir, cpName(oldest, checkpointExt))
			stripped := stripSignature(t, raw, s.witness.w.Name)
			write(t, dir, cpName(oldest, checkpointExt), stripped)
			must(t, os.Remove(filepath.Join(dir, cpName(oldest, tokenExt))))
			replaceInProofs(t, dir, raw, stripped)
		}, []Check{CheckCheckpoints, CheckProofs}},
		{"checkpoint signed by another key", func(t *testing.T, dir string) {
			write(t, dir, logKeyName, []byte(mustVKey(t, testOrigin)+"\n"))
		}, []Check{CheckCheckpoints}},
		{"witness policy lowered", func(t *testing.T, dir string) {
			write(t, dir, witnessesName, []byte("required 0\n"))
		}, nil}, // the bag's own keys hold: only keys given apart catch this (below)
		{"timestamps swapped", func(t *testing.T, dir string) {
			swapFiles(t, dir, cpName(sizes[0], tokenExt), cpName(sizes[1], tokenExt))
		}, []Check{CheckTimestamps}},
		{"timestamp forged by another authority", func(t *testing.T, dir string) {
			other := newTestAuthority(t)
			sum := sha256.Sum256(readIn(t, dir, cpName(oldest, checkpointExt)))
			write(t, dir, cpName(oldest, tokenExt), other.token(t, sum[:]))
		}, []Check{CheckTimestamps}},
		{"consistency proof altered", func(t *testing.T, dir string) {
			p := cpName(oldest, consistencyExt)
			o, n, hashes, err := parseConsistency(readIn(t, dir, p))
			must(t, err)
			hashes[0][0] ^= 1
			write(t, dir, p, formatConsistency(o, n, hashes))
		}, []Check{CheckConsistency}},
		{"consistency proof removed", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, cpName(oldest, consistencyExt))))
		}, []Check{CheckConsistency}},
		{"latest checkpoint removed", func(t *testing.T, dir string) {
			for _, ext := range []string{checkpointExt, tokenExt} {
				os.Remove(filepath.Join(dir, cpName(latest, ext)))
			}
		}, []Check{CheckConsistency, CheckProofs}},
		{"file added", func(t *testing.T, dir string) {
			write(t, dir, "data/items/"+s.photo+"/notes.txt", []byte("added"))
		}, []Check{CheckFormat}},
		{"not a court bag", func(t *testing.T, dir string) {
			p := "bag-info.txt"
			write(t, dir, p, bytes.ReplaceAll(readIn(t, dir, p), []byte(Format), []byte("corridor.court-bag/v2")))
		}, []Check{CheckFormat}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := copyBag(t, s.bag)
			tc.tamper(t, work)
			r := verify(t, rebag(t, work), Trust{})
			if r.failed(CheckFiles) != 0 {
				t.Fatalf("rebagging left file problems:\n%s", report(r))
			}
			if tc.want == nil {
				if !r.OK() {
					t.Fatalf("want OK with the bag's own keys:\n%s", report(r))
				}
				given := s.keys.Witnesses
				if r := verify(t, rebag(t, work), Trust{Witnesses: &given}); r.OK() || r.failed(CheckKeys) == 0 {
					t.Errorf("keys given apart do not catch it:\n%s", report(r))
				}
				return
			}
			if r.OK() {
				t.Fatalf("not caught:\n%s", report(r))
			}
			t.Logf("%s", report(r))
			for _, c := range tc.want {
				if r.failed(c) == 0 {
					t.Errorf("the %s check did not fail:\n%s", c, report(r))
				}
			}
		})
	}
}

func mustPolicy(t testing.TB, k Keys) translog.Policy {
	t.Helper()
	p, err := translog.NewPolicy(k.LogKey, k.Witnesses.Keys, k.Witnesses.Required)
	must(t, err)
	return p
}

func mustVKey(t testing.TB, name string) string {
	t.Helper()
	_, vkey, err := note.GenerateKey(rand.Reader, name)
	must(t, err)
	return vkey
}

// stripSignature removes name's signature line from a note.
func stripSignature(t testing.TB, cp []byte, name string) []byte {
	t.Helper()
	var out [][]byte
	for l := range bytes.SplitAfterSeq(cp, []byte("\n")) {
		if !bytes.HasPrefix(l, []byte("— "+name+" ")) {
			out = append(out, l)
		}
	}
	b := bytes.Join(out, nil)
	if bytes.Equal(b, cp) {
		t.Fatalf("no signature by %s", name)
	}
	return b
}

// replaceInProofs makes every receipt against old be against new.
func replaceInProofs(t testing.TB, dir string, old, new []byte) {
	t.Helper()
	for _, name := range files(t, dir) {
		if !strings.HasSuffix(name, proofSuffix) {
			continue
		}
		ip := proofCheckpoint(t, dir, name)
		if bytes.Equal(ip.Checkpoint, old) {
			ip.Checkpoint = new
			write(t, dir, name, ip.Marshal())
		}
	}
}

// fork replaces the bag's oldest checkpoint with one from a second log
// that has the same key and origin and the same entries up to that
// checkpoint, then a different one: a history that forks from the one the
// witness saw. The forked checkpoint is signed by the log's key and
// cosigned by a witness with the witness's key (one that does not check
// consistency, or whose key was stolen), and every receipt against the
// replaced checkpoint is redone against it, so signatures and receipts
// all hold: only consistency with the latest checkpoint catches it.
func (s *scenario) fork(t *testing.T) {
	sizes := checkpointSizes(t, s.bag)
	if len(sizes) < 2 {
		t.Fatalf("the bag has %d checkpoints", len(sizes))
	}
	old := sizes[0]
	entries := s.entries()[:old]
	forked := append(slices.Clone(entries), []byte("corridor.custody/v1\nan entry the real log never had\n"))

	cfg := s.logCfg
	cfg.Dir = filepath.Join(t.TempDir(), "fork")
	cfg.TSAURL, cfg.TSARoots = "", nil
	w := newFakeWitnessWithKey(t, s.witness.skey, s.witness.w.VerifierKey, s.keys.LogKey)
	cfg.Witnesses = []translog.Witness{w.w}
	l, err := translog.Open(s.ctx, cfg)
	must(t, err)
	defer l.Close()
	if _, err := l.Integrate(s.ctx, newMemSource(forked)); err != nil {
		t.Fatal(err)
	}
	raw, err := l.AwaitCheckpoint(s.ctx, uint64(len(forked)))
	must(t, err)
	fcp, err := translog.VerifyCheckpoint(raw, mustPolicy(t, s.keys))
	if err != nil {
		t.Fatalf("the forked checkpoint is not signed and cosigned: %v", err)
	}
	if fcp.Size != old+1 || slices.Contains(sizes, fcp.Size) {
		t.Fatalf("forked checkpoint of size %d; the bag has %v", fcp.Size, sizes)
	}

	work := copyBag(t, s.bag)
	cpDir := filepath.Join(work, "data/log/checkpoints")
	realOld := readIn(t, cpDir, fmt.Sprintf("%d.checkpoint", old))
	for _, ext := range []string{checkpointExt, consistencyExt, tokenExt} {
		must(t, os.Remove(filepath.Join(cpDir, fmt.Sprintf("%d%s", old, ext))))
	}
	write(t, cpDir, fmt.Sprintf("%d.checkpoint", fcp.Size), raw)
	// A consistency "proof" from the fork to the latest: the real log's
	// proof for that size is the best there is, and it cannot hold.
	cons, err := s.log.Consistency(s.ctx, fcp.Size, sizes[len(sizes)-1])
	must(t, err)
	write(t, cpDir, fmt.Sprintf("%d.consistency", fcp.Size), formatConsistency(fcp.Size, sizes[len(sizes)-1], cons))
	redone := 0
	for _, name := range files(t, work) {
		if !strings.HasSuffix(name, proofSuffix) {
			continue
		}
		ip := proofCheckpoint(t, work, name)
		if !bytes.Equal(ip.Checkpoint, realOld) {
			continue
		}
		pr, err := l.ProofAt(s.ctx, ip.Index, raw)
		must(t, err)
		write(t, work, name, pr)
		redone++
	}
	if redone == 0 {
		t.Fatal("no receipt was against the replaced checkpoint")
	}
	r := verify(t, rebag(t, work), Trust{})
	if r.OK() || r.failed(CheckConsistency) == 0 {
		t.Fatalf("the fork went unnoticed:\n%s", report(r))
	}
	t.Logf("the report on the forked bag:\n%s", report(r))
	for _, c := range Checks() {
		if c != CheckConsistency && r.failed(c) != 0 {
			t.Errorf("the %s check failed too; want only consistency to catch the fork:\n%s", c, report(r))
		}
	}
}

// TestExportBesideRunningSequencer exports while another process would
// sequence the log (here a goroutine running the log as corridor serve
// does): the export records its events, waits for the sequencer to log
// them, and reads the proofs from the directory without its lock.
func TestExportBesideRunningSequencer(t *testing.T) {
	f := newFixture(t, fixtureOpts{noLog: true})
	a := f.add("a.txt", []byte("first"))
	b := f.add("b.txt", []byte("second"))
	l, err := translog.Open(f.ctx, f.logCfg)
	must(t, err)
	defer l.Close()
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	poke := make(chan struct{}, 1)
	go func() { l.Run(ctx, storeSource{f.st}, poke); close(done) }()
	// The server's evidence service pokes its sequencer after each change;
	// this one is not wired to, so poke often.
	go func() {
		for ctx.Err() == nil {
			select {
			case poke <- struct{}{}:
			default:
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer func() { cancel(); <-done }()

	if busy, err := translog.InUse(f.logCfg.Dir); err != nil || !busy {
		t.Fatalf("InUse = %v, %v", busy, err)
	}
	if _, err := l.AwaitCheckpoint(f.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r, err := translog.OpenReader(f.logCfg.Dir)
	must(t, err)
	f.log = nil
	o := f.options(filepath.Join(t.TempDir(), "bag"), evidence.Selection{IDs: []string{a, b}, WithoutConsent: true})
	o.Log, o.Sync = r, nil
	sum, err := Export(f.ctx, o)
	must(t, err)
	if sum.Events != 4 {
		t.Errorf("summary %+v", sum)
	}
	if rep := verify(t, o.Dir, Trust{}); !rep.OK() {
		t.Fatalf("bag made beside a running sequencer:\n%s", report(rep))
	}
}

// TestExportFailures: an export that cannot finish leaves no bag.
func TestExportFailures(t *testing.T) {
	f := newFixture(t, fixtureOpts{noWitness: true, noTSA: true})
	id := f.add("a.txt", []byte("first"))
	must(t, f.integrate(f.ctx))
	sel := evidence.Selection{IDs: []string{id}, WithoutConsent: true}

	dir := filepath.Join(t.TempDir(), "bag")
	o := f.options(dir, sel)
	o.Identities = o.Identities[:0]
	if _, err := Export(f.ctx, o); err == nil {
		t.Error("exported without an identity")
	}
	o = f.options(dir, sel)
	o.Identities[0] = mustIdentity(t)
	if _, err := Export(f.ctx, o); err == nil {
		t.Error("exported with a key the item is not sealed to")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed export left %s: %v", dir, err)
	}

	// Nobody logs the events: the export gives up after Wait.
	o = f.options(dir, sel)
	o.Sync, o.Wait = nil, 300*time.Millisecond
	if _, err := Export(f.ctx, o); !errors.Is(err, ErrNotLogged) {
		t.Errorf("unlogged export: %v, want ErrNotLogged", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed export left %s: %v", dir, err)
	}

	// A directory in use is refused.
	must(t, os.MkdirAll(filepath.Join(dir, "x"), 0o700))
	if _, err := Export(f.ctx, f.options(dir, sel)); !errors.Is(err, bag.ErrNotEmpty) {
		t.Errorf("non-empty directory: %v", err)
	}
	must(t, os.RemoveAll(dir))

	// Keys that do not match the log: nothing unverifiable is written.
	o = f.options(dir, sel)
	o.Keys.LogKey = mustVKey(t, testOrigin)
	if _, err := Export(f.ctx, o); !errors.Is(err, translog.ErrVerify) {
		t.Errorf("export under another log key: %v, want ErrVerify", err)
	}
	o = f.options(dir, sel)
	o.Keys.Witnesses = Witnesses{Required: 1, Keys: []string{mustVKey(t, "witness.test/w")}}
	if _, err := Export(f.ctx, o); !errors.Is(err, translog.ErrVerify) {
		t.Errorf("export with a witness the log lacks: %v, want ErrVerify", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed export left %s: %v", dir, err)
	}

	// Without witnesses or timestamps the bag still verifies, and says so.
	must(t, f.integrate(f.ctx))
	o = f.options(dir, sel)
	if _, err := Export(f.ctx, o); err != nil {
		t.Fatal(err)
	}
	r := verify(t, dir, Trust{})
	if !r.OK() || !strings.Contains(report(r), "none in the bag") {
		t.Errorf("bag without witnesses or timestamps:\n%s", report(r))
	}
}

func mustIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	must(t, err)
	return id
}
