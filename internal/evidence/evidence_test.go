package evidence_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestIngestRoundTrip(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, size := range []int{0, 1, 5000, 3<<20 + 17} {
		data := randomData(size)
		in, err := f.svc.IngestStaff(f.ctx, f.cw, evidence.Input{CaseID: f.caseID, Filename: `C:\Users\x\IMG 1.jpg`, DeclaredType: "Image/JPEG; q=1"}, bytes.NewReader(data))
		must(t, err)
		if in.Size != int64(size) || in.SHA256 != sha256.Sum256(data) {
			t.Fatalf("Ingested %+v for %d bytes", in, size)
		}
		got, rec := f.openOffline(t, in.ID)
		if !bytes.Equal(got, data) {
			t.Fatalf("custodian opened %d bytes, not the %d ingested", len(got), size)
		}
		if rec.Filename != "IMG 1.jpg" || rec.DeclaredType != "image/jpeg" || rec.Size != int64(size) ||
			rec.Source != evidence.SourceStaff || rec.Actor != "staff:4" || rec.ItemID != in.ID ||
			!rec.IngestedAt.Equal(f.clock.Now()) || len(rec.Salt) != 32 || rec.Commitment() != in.Commitment {
			t.Fatalf("record %+v", rec)
		}

		// The vault opens it too (in-app viewing is on by default).
		vid, err := f.vault.EvidenceIdentity()
		must(t, err)
		it, err := f.st.GetEvidence(f.ctx, in.ID)
		must(t, err)
		if _, err := evidence.OpenRecord(it.Record, vid); err != nil {
			t.Fatalf("vault cannot open the record: %v", err)
		}
		if it.CaseID != f.caseID || it.Consent != store.ConsentNone || !bytes.Equal(it.Commitment, in.Commitment[:]) {
			t.Fatalf("item row %+v", it)
		}

		es := f.events(t, in.ID)
		if len(es) != 1 || es[0].Type != evidence.EventIngested || es[0].Commitment != in.Commitment ||
			es[0].Consent != store.ConsentNone || !es[0].Time.Equal(f.clock.Now().Truncate(time.Second)) {
			t.Fatalf("events %+v", es)
		}
		if got := f.auditActions(t, "evidence:"+in.ID); !slices.Equal(got, []string{"evidence.ingest"}) {
			t.Fatalf("audit %v", got)
		}
	}
	// Every event is in the outbox, in order, as encoded.
	ob := f.outbox(t)
	if len(ob) != 4 {
		t.Fatalf("%d outbox entries, want 4", len(ob))
	}
	for _, e := range ob {
		if _, err := evidence.ParseEvent(e.Entry); err != nil {
			t.Fatal(err)
		}
	}
}

// TestImportWhileSealed: sealing needs only public keys, so the command
// line imports while the vault is sealed and nobody has typed the
// passphrase; the vault reads the item once unsealed.
func TestImportWhileSealed(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.vault.Seal()
	data := []byte("brought on a USB stick")
	in := f.importBytes(t, "testimony.txt", data)
	if got, _ := f.openOffline(t, in.ID); !bytes.Equal(got, data) {
		t.Fatal("custodian cannot open an item imported while sealed")
	}
	_, err := f.svc.Item(f.ctx, f.cw, in.ID)
	wantErr(t, "Item while sealed", err, keys.ErrSealed)
	must(t, f.vault.Unseal(f.ctx, []byte(testPassphrase)))
	v, err := f.svc.Item(f.ctx, f.cw, in.ID)
	must(t, err)
	if v.Record == nil || v.Record.Source != evidence.SourceCLI || v.Record.Actor != "cli" {
		t.Fatalf("record %+v", v.Record)
	}
}

func TestNoRecipients(t *testing.T) {
	f := newFixture(t, fixtureOpts{noCustodians: true, cfg: evidence.Config{CustodianOnly: true}})
	_, err := f.svc.Import(f.ctx, evidence.Input{CaseID: f.caseID}, strings.NewReader("x"))
	wantErr(t, "ingest with nobody to seal to", err, evidence.ErrNoRecipients)
	if files := f.blobFiles(t); len(files) != 0 {
		t.Fatalf("refused ingest left %v", files)
	}
	// The same installation with in-app viewing has the vault to seal to.
	g := newFixture(t, fixtureOpts{noCustodians: true})
	in := g.importBytes(t, "a", []byte("x"))
	vid, _ := g.vault.EvidenceIdentity()
	var b bytes.Buffer
	if _, err := g.svc.OpenWithIdentity(g.ctx, &b, in.ID, vid); err != nil || b.String() != "x" {
		t.Fatalf("vault-only item: %q, %v", b.String(), err)
	}
}

// TestCustodianOnly: with in-app viewing off the server cannot read what
// it ingested; custodians can, offline.
func TestCustodianOnly(t *testing.T) {
	f := newFixture(t, fixtureOpts{cfg: evidence.Config{CustodianOnly: true}})
	in := f.importBytes(t, "photo.jpg", testJPEG(t, "x"))
	vid, _ := f.vault.EvidenceIdentity()
	it, _ := f.st.GetEvidence(f.ctx, in.ID)
	if _, err := evidence.OpenRecord(it.Record, vid); err == nil {
		t.Fatal("the vault opened a custodian-only record")
	}
	var b bytes.Buffer
	if _, err := f.svc.OpenWithIdentity(f.ctx, &b, in.ID, vid); err == nil {
		t.Fatal("the vault opened a custodian-only original")
	}
	f.openOffline(t, in.ID)
	_, err := f.svc.Item(f.ctx, f.cw, in.ID)
	wantErr(t, "Item", err, evidence.ErrCustodianOnly)
	_, _, err = f.svc.OpenWorkingCopy(f.ctx, f.cw, in.ID)
	wantErr(t, "OpenWorkingCopy", err, evidence.ErrCustodianOnly)
	_, _, err = f.svc.Download(f.ctx, f.cw, in.ID)
	wantErr(t, "Download", err, evidence.ErrCustodianOnly)
	list, err := f.svc.Items(f.ctx, f.cw, f.caseID)
	must(t, err)
	if len(list) != 1 || list[0].Record != nil {
		t.Fatalf("Items = %+v", list)
	}
}

// checkNothingLeft asserts that a failed ingest left no trace: no item,
// no event, no blob or temporary file.
func checkNothingLeft(t *testing.T, f *fixture) {
	t.Helper()
	if files := f.blobFiles(t); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	list, err := f.st.ListEvidence(f.ctx, store.EvidenceFilter{})
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("%d items stored", len(list))
	}
	if ob := f.outbox(t); len(ob) != 0 {
		t.Fatalf("%d outbox entries", len(ob))
	}
}

func TestSizeLimit(t *testing.T) {
	const limit = 3<<20 + 5
	f := newFixture(t, fixtureOpts{cfg: evidence.Config{MaxSize: limit}})
	if f.svc.MaxSize() != limit {
		t.Fatalf("MaxSize = %d", f.svc.MaxSize())
	}
	for _, n := range []int{limit + 1, limit + 1<<20, 2 * limit} {
		_, err := f.svc.Import(f.ctx, evidence.Input{CaseID: f.caseID}, bytes.NewReader(randomData(n)))
		wantErr(t, "over the limit", err, evidence.ErrTooLarge)
		checkNothingLeft(t, f)
	}
	f.importBytes(t, "exactly", randomData(limit))
	if def := newFixture(t, fixtureOpts{}); def.svc.MaxSize() != 4<<30 {
		t.Fatalf("default limit %d, want 4 GiB", def.svc.MaxSize())
	}
}

func TestInterruptedIngest(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	dropped := errors.New("connection reset")
	_, err := f.svc.Import(f.ctx, evidence.Input{CaseID: f.caseID}, &errReader{n: 5<<20 + 3, err: dropped})
	wantErr(t, "interrupted reader", err, dropped)
	checkNothingLeft(t, f)

	ctx, cancel := context.WithCancel(f.ctx)
	r := io.MultiReader(bytes.NewReader(randomData(3<<20)), readerFunc(func(p []byte) (int, error) {
		cancel()
		return copy(p, make([]byte, len(p))), nil
	}), bytes.NewReader(randomData(3<<20)))
	_, err = f.svc.Import(ctx, evidence.Input{CaseID: f.caseID}, r)
	wantErr(t, "cancelled", err, context.Canceled)
	checkNothingLeft(t, f)

	// A failure after the blob is committed (here: the case does not
	// exist, found only by the transaction) removes the blob too.
	_, err = f.svc.Import(f.ctx, evidence.Input{CaseID: "cnosuchcase"}, strings.NewReader("orphan?"))
	wantErr(t, "unknown case", err, evidence.ErrNotFound)
	checkNothingLeft(t, f)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// testJPEG makes a small JPEG with an EXIF-like APP1 segment and a
// comment, both carrying marker; a working copy must carry neither.
func testJPEG(t testing.TB, marker string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 90, 255})
		}
	}
	var enc bytes.Buffer
	must(t, jpeg.Encode(&enc, img, nil))
	segment := func(kind byte, body []byte) []byte {
		s := []byte{0xFF, kind, 0, 0}
		binary.BigEndian.PutUint16(s[2:], uint16(len(body)+2))
		return append(s, body...)
	}
	// A big-endian TIFF with an empty IFD, then the marker.
	exif := append([]byte("Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00"), marker...)
	out := []byte{0xFF, 0xD8}
	out = append(out, segment(0xE1, exif)...)
	out = append(out, segment(0xFE, []byte("GPS "+marker))...)
	return append(out, enc.Bytes()[2:]...)
}

func TestWorkingCopy(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	const marker = "GPS-CANARY-43.31N-45.69E"
	orig := testJPEG(t, marker)
	in := f.importBytes(t, "injury.jpg", orig)

	rc, typ, err := f.svc.OpenWorkingCopy(f.ctx, f.cw, in.ID)
	must(t, err)
	wc, err := io.ReadAll(rc)
	must(t, err)
	rc.Close()
	if typ != "image/jpeg" {
		t.Fatalf("working copy type %q", typ)
	}
	if bytes.Contains(wc, []byte(marker)) || bytes.Contains(wc, []byte("Exif")) {
		t.Fatal("the working copy still carries the metadata")
	}
	if _, err := jpeg.Decode(bytes.NewReader(wc)); err != nil {
		t.Fatalf("working copy is not a JPEG: %v", err)
	}
	// The original is untouched.
	if got, _ := f.openOffline(t, in.ID); !bytes.Equal(got, orig) {
		t.Fatal("the original changed")
	}
	// A second view reuses the copy: one working_copy event, two views.
	rc, _, err = f.svc.OpenWorkingCopy(f.ctx, f.cust, in.ID)
	must(t, err)
	again, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(again, wc) {
		t.Fatal("the second view got another copy")
	}
	want := []evidence.EventType{evidence.EventIngested, evidence.EventWorkingCopy, evidence.EventViewed, evidence.EventViewed}
	if got := types(f.events(t, in.ID)); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if got := f.auditActions(t, "evidence:"+in.ID); !slices.Equal(got, []string{"evidence.ingest", "evidence.copy", "evidence.view", "evidence.view"}) {
		t.Fatalf("audit %v", got)
	}
	// The copy is sealed like the original: the custodian can read it.
	wcRow, err := f.st.GetWorkingCopy(f.ctx, in.ID)
	must(t, err)
	raw, err := f.blobs.Open(f.ctx, wcRow.BlobID)
	must(t, err)
	dec, err := age.Decrypt(raw, f.custKey)
	must(t, err)
	if b, _ := io.ReadAll(dec); !bytes.Equal(b, wc) {
		t.Fatal("custodian reads another working copy")
	}
	raw.Close()

	// Not an image: no working copy, and nothing recorded.
	txt := f.importBytes(t, "notes.txt", []byte("plain text testimony"))
	_, _, err = f.svc.OpenWorkingCopy(f.ctx, f.cw, txt.ID)
	wantErr(t, "text", err, evidence.ErrNoWorkingCopy)
	if got := types(f.events(t, txt.ID)); len(got) != 1 {
		t.Fatalf("events after a refused copy: %v", got)
	}
	// Sealed vault: nothing opens.
	f.vault.Seal()
	_, _, err = f.svc.OpenWorkingCopy(f.ctx, f.cw, in.ID)
	wantErr(t, "sealed", err, keys.ErrSealed)
}

func TestDownload(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	a := randomData(300 << 10)
	b := randomData(300 << 10)
	ia := f.importBytes(t, "a.bin", a)
	ib := f.importBytes(t, "b.bin", b)
	rc, rec, err := f.svc.Download(f.ctx, f.cust, ia.ID)
	must(t, err)
	got, err := io.ReadAll(rc)
	rc.Close()
	must(t, err)
	if !bytes.Equal(got, a) || rec.Filename != "a.bin" {
		t.Fatal("download is not the original")
	}
	if got := types(f.events(t, ia.ID)); !slices.Equal(got, []evidence.EventType{evidence.EventIngested, evidence.EventDownloaded}) {
		t.Fatalf("events %v", got)
	}

	// Someone with the database swaps the two items' blobs: both still
	// decrypt (same recipients), but the hashes give it away.
	db := f.rawSQL(t)
	ra, _ := f.st.GetEvidence(f.ctx, ia.ID)
	rb, _ := f.st.GetEvidence(f.ctx, ib.ID)
	_, err = db.Exec(`UPDATE evidence_items SET blob_id = CASE id WHEN ? THEN ? ELSE ? END WHERE id IN (?, ?)`,
		ia.ID, rb.BlobID, ra.BlobID, ia.ID, ib.ID)
	must(t, err)
	rc, _, err = f.svc.Download(f.ctx, f.cust, ia.ID)
	must(t, err)
	_, err = io.ReadAll(rc)
	rc.Close()
	wantErr(t, "swapped blob", err, evidence.ErrIntegrity)
	var sink bytes.Buffer
	_, err = f.svc.OpenWithIdentity(f.ctx, &sink, ia.ID, f.custKey)
	wantErr(t, "swapped blob, offline", err, evidence.ErrIntegrity)
}

// TestAccess runs every action as every kind of user: what the need-to-
// know rules allow works, the rest is ErrForbidden.
func TestAccess(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	in := f.importBytes(t, "p.jpg", testJPEG(t, "m"))
	type action func(u *store.User) error
	actions := map[string]action{
		"list": func(u *store.User) error { _, err := f.svc.Items(f.ctx, u, f.caseID); return err },
		"item": func(u *store.User) error { _, err := f.svc.Item(f.ctx, u, in.ID); return err },
		"view": func(u *store.User) error {
			rc, _, err := f.svc.OpenWorkingCopy(f.ctx, u, in.ID)
			if err == nil {
				rc.Close()
			}
			return err
		},
		"download": func(u *store.User) error {
			rc, _, err := f.svc.Download(f.ctx, u, in.ID)
			if err == nil {
				rc.Close()
			}
			return err
		},
		"events":  func(u *store.User) error { _, err := f.svc.Events(f.ctx, u, in.ID); return err },
		"consent": func(u *store.User) error { return f.svc.SetConsent(f.ctx, u, in.ID, store.ConsentCourt) },
		"upload": func(u *store.User) error {
			_, err := f.svc.IngestStaff(f.ctx, u, evidence.Input{CaseID: f.caseID}, strings.NewReader("more"))
			return err
		},
	}
	allowed := map[string][]string{
		// cw is assigned; op and cust have shares; logi has one but does
		// not read testimony; cw2 and coord have no access; gone is disabled.
		"list":     {"cw", "op", "cust"},
		"item":     {"cw", "op", "cust"},
		"view":     {"cw", "op", "cust"},
		"download": {"cw", "cust"},
		"events":   {"cw", "op", "cust"},
		"consent":  {"cw", "cust"},
		"upload":   {"cw", "op", "cust"},
	}
	users := map[string]*store.User{"cw": f.cw, "op": f.op, "cust": f.cust, "logi": f.logi, "cw2": f.cw2, "coord": f.coord, "gone": f.gone}
	for name, act := range actions {
		for uname, u := range users {
			err := act(u)
			if slices.Contains(allowed[name], uname) {
				if err != nil {
					t.Errorf("%s as %s: %v", name, uname, err)
				}
			} else if !errors.Is(err, evidence.ErrForbidden) {
				t.Errorf("%s as %s: %v, want ErrForbidden", name, uname, err)
			}
		}
	}
	// Destruction last: custodians (with access) only, of these.
	for _, u := range []*store.User{f.cw, f.op, f.logi, f.cw2, f.coord, f.gone} {
		wantErr(t, "destroy", f.svc.Destroy(f.ctx, u, in.ID), evidence.ErrForbidden)
	}
	must(t, f.svc.Destroy(f.ctx, f.cust, in.ID))
	if got := f.auditActions(t, "evidence:"+in.ID); !slices.Contains(got, "evidence.denied") {
		t.Errorf("refusals not audited: %v", got)
	}
	_, err := f.svc.Item(f.ctx, f.cw, "../../etc")
	wantErr(t, "bad id", err, evidence.ErrNotFound)
}

func TestRequestEvidence(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := &store.Request{ID: "rabc", LookupID: randomData(32), CreatedAt: f.clock.Now(), Status: store.StatusNew,
		KeyIntake: randomData(40), KeyPerson: randomData(40), Answers: randomData(40), AssigneeID: f.cw2.ID}
	must(t, f.st.CreateRequest(f.ctx, r))
	f.vault.Seal() // the public site keeps taking uploads while sealed
	in, err := f.svc.IngestPerson(f.ctx, "rabc", evidence.Input{Filename: "photo.jpg"}, strings.NewReader("from the person"))
	must(t, err)
	must(t, f.vault.Unseal(f.ctx, []byte(testPassphrase)))
	got, rec := f.openOffline(t, in.ID)
	if string(got) != "from the person" || rec.Source != evidence.SourcePerson || rec.Actor != "person" {
		t.Fatalf("%q %+v", got, rec)
	}
	for u, ok := range map[*store.User]bool{f.op: true, f.admin: true, f.cw2: true, f.cw: false, f.logi: false, f.cust: false} {
		list, err := f.svc.RequestItems(f.ctx, u, "rabc")
		if ok && (err != nil || len(list) != 1 || list[0].Record == nil) {
			t.Errorf("%s: %v, %v", u.Role, list, err)
		}
		if !ok && !errors.Is(err, evidence.ErrForbidden) {
			t.Errorf("%s (%d): %v, want ErrForbidden", u.Role, u.ID, err)
		}
	}
	_, err = f.svc.IngestPerson(f.ctx, "rnosuch", evidence.Input{}, strings.NewReader("x"))
	wantErr(t, "unknown request", err, evidence.ErrNotFound)
}

func TestConsent(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	in := f.importBytes(t, "t.txt", []byte("testimony"))
	must(t, f.svc.SetConsent(f.ctx, f.cust, in.ID, store.ConsentCourt))
	f.clock.Advance(time.Minute)
	must(t, f.svc.SetConsent(f.ctx, f.cust, in.ID, store.ConsentCourt)) // unchanged: nothing recorded
	must(t, f.svc.SetConsent(f.ctx, f.cw, in.ID, store.ConsentPublicAnonymised))
	wantErr(t, "bad value", f.svc.SetConsent(f.ctx, f.cw, in.ID, "yes please"), evidence.ErrInvalid)
	es := f.events(t, in.ID)
	var consents []string
	for _, e := range es {
		consents = append(consents, string(e.Type)+":"+e.Consent)
	}
	want := []string{"ingested:none", "consent_changed:court", "consent_changed:public_anonymised"}
	if !slices.Equal(consents, want) {
		t.Fatalf("trail %v, want %v", consents, want)
	}
	it, _ := f.st.GetEvidence(f.ctx, in.ID)
	if it.Consent != store.ConsentPublicAnonymised {
		t.Fatalf("stored consent %q", it.Consent)
	}
	// Who did it is sealed to the custodians, and checks out.
	stored, _ := f.st.CustodyEvents(f.ctx, in.ID)
	for i, who := range []string{"cli", "staff:" + itoa(f.cust.ID), "staff:" + itoa(f.cw.ID)} {
		got, err := evidence.OpenActor(es[i], stored[i].ActorSeal, f.custKey)
		if err != nil || got != who {
			t.Errorf("event %d: actor %q, %v, want %q", i+1, got, err, who)
		}
		if bytes.Contains(stored[i].Entry, []byte(who)) {
			t.Errorf("event %d names its actor in clear", i+1)
		}
	}
	if _, err := evidence.OpenActor(es[1], stored[2].ActorSeal, f.custKey); !errors.Is(err, evidence.ErrIntegrity) {
		t.Errorf("another event's opening accepted: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestDestroy(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	in := f.importBytes(t, "p.jpg", testJPEG(t, "m"))
	keep := f.importBytes(t, "keep.txt", []byte("another item"))
	rc, _, err := f.svc.OpenWorkingCopy(f.ctx, f.cw, in.ID)
	must(t, err)
	rc.Close()
	it, _ := f.st.GetEvidence(f.ctx, in.ID)
	wc, _ := f.st.GetWorkingCopy(f.ctx, in.ID)
	before := len(f.blobFiles(t))

	must(t, f.svc.Destroy(f.ctx, f.cust, in.ID))
	for _, id := range []string{it.BlobID, wc.BlobID} {
		if _, err := os.Stat(filepath.Join(f.dir, "blobs", id[:2], id)); !os.IsNotExist(err) {
			t.Fatalf("blob %s still on disk: %v", id, err)
		}
	}
	if after := len(f.blobFiles(t)); after != before-2 {
		t.Fatalf("%d blob files after destroying, want %d", after, before-2)
	}
	gone, _ := f.st.GetEvidence(f.ctx, in.ID)
	if gone.Record != nil || gone.BlobID != "" || gone.DestroyedAt.IsZero() {
		t.Fatalf("tombstone %+v", gone)
	}
	want := []evidence.EventType{evidence.EventIngested, evidence.EventWorkingCopy, evidence.EventViewed, evidence.EventDestroyed}
	if got := types(f.events(t, in.ID)); !slices.Equal(got, want) {
		t.Fatalf("trail %v, want %v", got, want)
	}
	var sink bytes.Buffer
	_, err = f.svc.OpenWithIdentity(f.ctx, &sink, in.ID, f.custKey)
	wantErr(t, "open destroyed", err, evidence.ErrDestroyed)
	_, _, err = f.svc.Download(f.ctx, f.cust, in.ID)
	wantErr(t, "download destroyed", err, evidence.ErrDestroyed)
	_, _, err = f.svc.OpenWorkingCopy(f.ctx, f.cust, in.ID)
	wantErr(t, "view destroyed", err, evidence.ErrDestroyed)
	wantErr(t, "consent destroyed", f.svc.SetConsent(f.ctx, f.cust, in.ID, store.ConsentCourt), evidence.ErrDestroyed)
	wantErr(t, "destroy twice", f.svc.Destroy(f.ctx, f.cust, in.ID), evidence.ErrDestroyed)
	// The trail can still be read, and the other item is untouched.
	les, err := f.svc.Events(f.ctx, f.cust, in.ID)
	must(t, err)
	if len(les) != 4 {
		t.Fatalf("%d events", len(les))
	}
	if got, _ := f.openOffline(t, keep.ID); string(got) != "another item" {
		t.Fatal("another item was damaged")
	}
}

func TestSweepBlobs(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	in := f.importBytes(t, "keep", []byte("recorded"))
	// A crash between the blob's commit and the transaction leaves an
	// orphan; one during streaming, a temporary file.
	w, err := f.blobs.Create(f.ctx)
	must(t, err)
	w.Write([]byte("sealed but never recorded"))
	orphan, err := w.Commit()
	must(t, err)
	// (Nothing is written to it: a write in flight would touch the file
	// after the test ages it.)
	_, err = f.blobs.Create(f.ctx)
	must(t, err)
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range f.blobFiles(t) {
		must(t, os.Chtimes(p, old, old))
	}
	n, err := f.svc.SweepBlobs(f.ctx, time.Now().Add(-time.Hour))
	must(t, err)
	if n != 2 {
		t.Fatalf("swept %d, want 2", n)
	}
	if _, err := f.blobs.Open(f.ctx, orphan); err == nil {
		t.Fatal("orphan survived")
	}
	if got, _ := f.openOffline(t, in.ID); string(got) != "recorded" {
		t.Fatal("a recorded blob was swept")
	}
}

func TestCustodians(t *testing.T) {
	installPlugin(t)
	f := newFixture(t, fixtureOpts{})
	old := f.importBytes(t, "before", []byte("sealed to custodian one"))

	hw, _ := age.GenerateX25519Identity()
	pluginRecipient := plugin.EncodeRecipient(testPlugin, []byte(hw.Recipient().String()))
	pluginIdentity := plugin.EncodeIdentity(testPlugin, []byte(hw.String()))
	pq, _ := age.GenerateHybridIdentity()
	for name, c := range map[string]struct {
		actor     *store.User
		recipient string
		want      error
	}{
		"not admin":    {f.coord, pluginRecipient, evidence.ErrForbidden},
		"custodian":    {f.cust, pluginRecipient, evidence.ErrForbidden},
		"garbage":      {f.admin, "hello", evidence.ErrInvalid},
		"identity":     {f.admin, hw.String(), evidence.ErrInvalid},
		"post-quantum": {f.admin, pq.Recipient().String(), evidence.ErrInvalid},
		"duplicate":    {f.admin, f.custKey.Recipient().String(), evidence.ErrDuplicateCustodian},
	} {
		_, err := f.svc.AddCustodian(f.ctx, c.actor, "Name", c.recipient)
		wantErr(t, name, err, c.want)
	}
	_, err := f.svc.AddCustodian(f.ctx, f.admin, "bad\nname", pluginRecipient)
	wantErr(t, "name with newline", err, evidence.ErrInvalid)
	f.vault.Seal()
	_, err = f.svc.AddCustodian(f.ctx, f.admin, "Hardware key", pluginRecipient)
	wantErr(t, "sealed", err, keys.ErrSealed)
	must(t, f.vault.Unseal(f.ctx, []byte(testPassphrase)))
	f.clock.Advance(time.Minute) // the list is by creation time
	added, err := f.svc.AddCustodian(f.ctx, f.admin, "Hardware key", pluginRecipient)
	must(t, err)

	// New items are sealed to the plugin recipient too (through the real
	// plugin protocol), and the plugin identity opens them.
	in := f.importBytes(t, "after", []byte("sealed to both"))
	ids, err := evidence.ParseIdentities(strings.NewReader("# hardware key\n\n"+pluginIdentity+"\n"), &plugin.ClientUI{})
	must(t, err)
	var b bytes.Buffer
	if _, err := f.svc.OpenWithIdentity(f.ctx, &b, in.ID, ids...); err != nil || b.String() != "sealed to both" {
		t.Fatalf("plugin identity: %q, %v", b.String(), err)
	}
	b.Reset()
	if _, err := f.svc.OpenWithIdentity(f.ctx, &b, old.ID, ids...); err == nil {
		t.Fatal("a custodian added later opened an earlier item")
	}

	list, err := f.svc.Custodians(f.ctx, f.admin)
	must(t, err)
	if len(list) != 2 || list[0].Name != "Custodian One" || list[1].Name != "Hardware key" || list[1].Recipient != pluginRecipient {
		t.Fatalf("custodians %+v", list)
	}
	_, err = f.svc.Custodians(f.ctx, f.cw)
	wantErr(t, "list as caseworker", err, evidence.ErrForbidden)

	// Disabled: later items are not sealed to them.
	must(t, f.svc.DisableCustodian(f.ctx, f.admin, added.ID))
	later := f.importBytes(t, "later", []byte("not for the hardware key"))
	b.Reset()
	if _, err := f.svc.OpenWithIdentity(f.ctx, &b, later.ID, ids...); err == nil {
		t.Fatal("a disabled custodian opened a later item")
	}
	wantErr(t, "disable unknown", f.svc.DisableCustodian(f.ctx, f.admin, "unosuch"), evidence.ErrNotFound)
	if got := f.auditActions(t, "custodian:"+added.ID); !slices.Equal(got, []string{"custodian.add", "custodian.disable"}) {
		t.Fatalf("audit %v", got)
	}
	// The names are not in the database in clear.
	raw, err := os.ReadFile(filepath.Join(f.dir, "corridor.db"))
	must(t, err)
	wal, _ := os.ReadFile(filepath.Join(f.dir, "corridor.db-wal"))
	if bytes.Contains(raw, []byte("Hardware key")) || bytes.Contains(wal, []byte("Hardware key")) {
		t.Fatal("a custodian's name is stored in clear")
	}

	_, err = evidence.ParseIdentities(strings.NewReader("AGE-SECRET-KEY-1NOTAKEY\n"), nil)
	if err == nil || strings.Contains(err.Error(), "NOTAKEY") {
		t.Fatalf("bad identity file: %v (must not echo the line)", err)
	}
}

// TestTruncatedSourceRefused: a source that ends with io.ErrUnexpectedEOF
// (a multipart part or body cut short) is refused, never stored as whole.
func TestTruncatedSourceRefused(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := io.MultiReader(strings.NewReader(strings.Repeat("x", 5000)), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := f.svc.IngestStaff(f.ctx, f.cw, evidence.Input{CaseID: f.caseID, Filename: "cut.bin"}, r); err == nil {
		t.Fatal("a truncated upload was stored")
	}
	items, err := f.st.ListEvidence(f.ctx, store.EvidenceFilter{CaseID: f.caseID})
	if err != nil || len(items) != 0 {
		t.Fatalf("items after a truncated upload: %d, %v", len(items), err)
	}
}

// TestWorkingCopyOfBombRefused: an image whose header declares more pixels
// than may be decoded gets no working copy (and no decoding is tried); the
// original is kept.
func TestWorkingCopyOfBombRefused(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	sof := bytes.Index(b, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no SOF0 marker")
	}
	// SOF0: marker, length (2), precision (1), height (2), width (2).
	binary.BigEndian.PutUint16(b[sof+5:], 60000)
	binary.BigEndian.PutUint16(b[sof+7:], 60000)
	got, err := f.svc.IngestStaff(f.ctx, f.cw, evidence.Input{CaseID: f.caseID, Filename: "bomb.jpg"}, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.OpenWorkingCopy(f.ctx, f.cw, got.ID); !errors.Is(err, evidence.ErrNoWorkingCopy) {
		t.Fatalf("working copy of a bomb: %v, want ErrNoWorkingCopy", err)
	}
	if _, err := f.svc.OpenWithIdentity(f.ctx, io.Discard, got.ID, f.custKey); err != nil {
		t.Fatalf("the original: %v", err)
	}
}

// TestPersonQuota: a person's uploads to one request stop at the quota
// (what is stored, sealed); staff uploads don't count against it, and a
// destroyed item frees its share.
func TestPersonQuota(t *testing.T) {
	f := newFixture(t, fixtureOpts{cfg: evidence.Config{MaxSize: 1 << 20, PersonQuota: 1<<20 + 1<<19}})
	r := &store.Request{ID: "rquota", LookupID: randomData(32), CreatedAt: f.clock.Now(), Status: store.StatusNew,
		KeyIntake: randomData(40), KeyPerson: randomData(40), Answers: randomData(40), AssigneeID: f.cw.ID}
	must(t, f.st.CreateRequest(f.ctx, r))
	put := func(n int) (*evidence.Ingested, error) {
		return f.svc.IngestPerson(f.ctx, "rquota", evidence.Input{Filename: "f.bin"}, bytes.NewReader(make([]byte, n)))
	}
	first, err := put(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	// About half a MiB is left: a file of 600 KiB is over it.
	if _, err := put(600 << 10); !errors.Is(err, evidence.ErrQuota) {
		t.Fatalf("over the allowance: %v, want ErrQuota", err)
	}
	if _, err := put(100 << 10); err != nil {
		t.Fatalf("within the allowance: %v", err)
	}
	must(t, f.svc.Destroy(f.ctx, f.admin, first.ID))
	if _, err := put(1 << 20); err != nil {
		t.Fatalf("after a destruction: %v", err)
	}
	if _, err := put(1 << 19); !errors.Is(err, evidence.ErrQuota) {
		t.Fatalf("full again: %v, want ErrQuota", err)
	}
	items, err := f.st.ListEvidence(f.ctx, store.EvidenceFilter{RequestID: "rquota"})
	if err != nil || len(items) != 3 {
		t.Fatalf("items = %d, %v; want 3", len(items), err)
	}
}

// TestUploadKeyIdempotent: ingesting the same upload twice (a client
// retrying after the answer was lost) returns the first item and stores
// nothing more; another key makes another item.
func TestUploadKeyIdempotent(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	in := evidence.Input{CaseID: f.caseID, Filename: "video.mp4", UploadKey: "tus:abc"}
	first, err := f.svc.IngestStaff(f.ctx, f.cw, in, strings.NewReader("the whole video"))
	if err != nil || first.Repeat {
		t.Fatalf("first: %+v, %v", first, err)
	}
	again, err := f.svc.IngestStaff(f.ctx, f.cw, in, strings.NewReader("the whole video"))
	if err != nil || !again.Repeat || again.ID != first.ID || again.Commitment != first.Commitment {
		t.Fatalf("retry: %+v, %v; want the first item again", again, err)
	}
	// Another staff member without access to the case learns nothing.
	if _, err := f.svc.IngestStaff(f.ctx, f.cw2, in, strings.NewReader("x")); !errors.Is(err, evidence.ErrForbidden) && !errors.Is(err, evidence.ErrNotFound) {
		t.Fatalf("retry by an outsider: %v", err)
	}
	in.UploadKey = "tus:def"
	other, err := f.svc.IngestStaff(f.ctx, f.cw, in, strings.NewReader("the whole video"))
	if err != nil || other.ID == first.ID {
		t.Fatalf("another upload: %+v, %v", other, err)
	}
	items, err := f.st.ListEvidence(f.ctx, store.EvidenceFilter{CaseID: f.caseID})
	if err != nil || len(items) != 2 {
		t.Fatalf("items = %d, %v; want 2", len(items), err)
	}
}
