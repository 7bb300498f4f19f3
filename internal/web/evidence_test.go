package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/blob"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/ratelimit"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/upload"
)

// Limits of the test harness: small, so that going over them is cheap.
const (
	testMaxSize    = 2 << 20 // one file
	testMaxRequest = 6 << 20 // one multipart upload
)

// Roles that may see a case's evidence (those who read its testimony),
// and those who may also read originals and record consent.
var (
	evidenceReaders = []string{"admin", "coordinator", "operator", "caseworker", "custodian"}
	evidenceKeepers = []string{"admin", "coordinator", "caseworker", "custodian"}
)

// vaultKeyring wraps resumable uploads' data keys with the vault, as serve
// does.
type vaultKeyring struct{ v *keys.Vault }

func (k vaultKeyring) Wrap(id string, dk []byte) ([]byte, error) {
	return k.v.WrapDataKey("upload/"+id, dk)
}

func (k vaultKeyring) Unwrap(id string, w []byte) ([]byte, error) {
	return k.v.UnwrapDataKey("upload/"+id, w)
}

// newEvidenceDeps gives the harness an evidence vault (blobs in a
// temporary directory, no custodian: items are sealed to the vault), a
// resumable-upload store keyed by the vault, and a stand-in for the
// transparency log.
func newEvidenceDeps(t testing.TB, st store.Store, v *keys.Vault, a *audit.Log, cs *cases.Service) (*evidence.Service, *upload.Store, *fakeLog) {
	t.Helper()
	dir := t.TempDir()
	bs, err := blob.NewFS(filepath.Join(dir, "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	ev := evidence.New(st, v, a, bs, cs, evidence.Config{MaxSize: testMaxSize, PersonQuota: 1 << 30})
	up, err := upload.New(filepath.Join(dir, "uploads"), vaultKeyring{v}, upload.Options{MaxSize: testMaxSize})
	if err != nil {
		t.Fatal(err)
	}
	return ev, up, &fakeLog{}
}

// fakeLog stands in for *translog.Log (tested against the real one in
// internal/e2e): it serves a checkpoint and a tile the way the log does,
// and makes receipts naming the index.
type fakeLog struct {
	mu     sync.Mutex
	proofs []uint64
}

func (l *fakeLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/checkpoint":
		w.Header().Set("Cache-Control", "public, max-age=5")
		io.WriteString(w, "example.org/log\n3\nAAAA\n\n— example.org/log sig\n")
	case "/tile/0/000":
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Write(make([]byte, 32))
	default:
		http.NotFound(w, r)
	}
}

func (l *fakeLog) Proof(_ context.Context, index uint64) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.proofs = append(l.proofs, index)
	return fmt.Appendf(nil, "c2sp.org/tlog-proof@v1\nindex %d\n\nexample.org/log\n", index), nil
}

// drainOutbox records every pending custody event as logged, as the log's
// sequencer does.
func (h *harness) drainOutbox() {
	h.t.Helper()
	ctx := context.Background()
	n, err := h.st.OutboxLoggedCount(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	pending, err := h.st.OutboxPending(ctx, 10000)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, p := range pending {
		if err := h.st.OutboxDone(ctx, p.Seq, n); err != nil {
			h.t.Fatal(err)
		}
		n++
	}
}

// addEvidence files data into a case as a staff member who has it shared.
func (h *harness) addEvidence(caseID, name string, data []byte) string {
	h.t.Helper()
	ctx := context.Background()
	clerk := h.addUser(store.RoleCaseworker)
	if err := h.cases.Share(ctx, h.admin.user, caseID, clerk.user.ID); err != nil {
		h.t.Fatal(err)
	}
	in, err := h.evidence.IngestStaff(ctx, clerk.user, evidence.Input{CaseID: caseID, Filename: name}, bytes.NewReader(data))
	if err != nil {
		h.t.Fatal(err)
	}
	return in.ID
}

// items lists what the store holds for a case or request.
func (h *harness) items(f store.EvidenceFilter) []*store.EvidenceItem {
	h.t.Helper()
	list, err := h.st.ListEvidence(context.Background(), f)
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

func (h *harness) trail(id string) []string {
	h.t.Helper()
	evs, err := h.st.CustodyEvents(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	return types
}

// testPNG is a small image.
func testPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gpsJPEG is a JPEG photo whose EXIF says where it was taken (43.317°N,
// 45.698°E: Grozny) and carries a marker in its camera model, which a
// working copy must not contain.
func gpsJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(3, 3, color.RGBA{255, 0, 0, 255})
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, img, nil); err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	// TIFF: IFD0 with Model and the GPS IFD pointer; the GPS IFD with
	// latitude and longitude as degrees, minutes, seconds.
	model := "CANARYCAM\x00"
	const ifd0 = 8
	ifd0Size := 2 + 2*12 + 4
	modelOff := ifd0 + ifd0Size
	gpsOff := modelOff + len(model)
	gpsSize := 2 + 4*12 + 4
	ratOff := gpsOff + gpsSize
	tiff := []byte("MM\x00\x2a")
	tiff = be.AppendUint32(tiff, ifd0)
	entry := func(b []byte, tag, typ uint16, count, value uint32) []byte {
		b = be.AppendUint16(b, tag)
		b = be.AppendUint16(b, typ)
		b = be.AppendUint32(b, count)
		return be.AppendUint32(b, value)
	}
	tiff = be.AppendUint16(tiff, 2)
	tiff = entry(tiff, 0x0110, 2, uint32(len(model)), uint32(modelOff)) // Model
	tiff = entry(tiff, 0x8825, 4, 1, uint32(gpsOff))                    // GPS IFD
	tiff = be.AppendUint32(tiff, 0)
	tiff = append(tiff, model...)
	tiff = be.AppendUint16(tiff, 4)
	tiff = entry(tiff, 0x0001, 2, 2, uint32('N')<<24) // GPSLatitudeRef
	tiff = entry(tiff, 0x0002, 5, 3, uint32(ratOff))  // GPSLatitude
	tiff = entry(tiff, 0x0003, 2, 2, uint32('E')<<24) // GPSLongitudeRef
	tiff = entry(tiff, 0x0004, 5, 3, uint32(ratOff+24))
	tiff = be.AppendUint32(tiff, 0)
	for _, r := range [][2]uint32{{43, 1}, {19, 1}, {1, 1}, {45, 1}, {41, 1}, {53, 1}} {
		tiff = be.AppendUint32(tiff, r[0])
		tiff = be.AppendUint32(tiff, r[1])
	}
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xff, 0xe1}
	seg = be.AppendUint16(seg, uint16(len(app1)+2))
	seg = append(seg, app1...)
	jpg := enc.Bytes()
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// upFile is a file in a multipart upload.
type upFile struct {
	name, ctype string
	data        []byte
}

// multipartBody writes fields (in order) then files, as a browser sends
// the forms here.
func multipartBody(t testing.TB, fields [][2]string, files []upFile) (body []byte, ctype string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		hd := textproto.MIMEHeader{}
		hd.Set("Content-Disposition", fmt.Sprintf(`form-data; name="files"; filename=%q`, f.name))
		hd.Set("Content-Type", f.ctype)
		w, err := mw.CreatePart(hd)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), mw.FormDataContentType()
}

// postBody sends a raw body; a negative length sends it chunked (no
// Content-Length).
func (c *client) postBody(path, ctype string, body []byte, chunked bool) resp {
	c.t.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // hides the length
	}
	req, _ := http.NewRequest("POST", c.base+path, rd)
	req.Header.Set("Content-Type", ctype)
	return c.do(req)
}

var evidenceFormRE = regexp.MustCompile(`action="/(\w+)/evidence" enctype="multipart/form-data">\s*<input type="hidden" name="csrf" value="([^"]+)">\s*<input type="hidden" name="nonce" value="([^"]+)">`)

// personForm returns the csrf and one-time token of the evidence form on
// a conversation page.
func personForm(t testing.TB, page string) (csrf, nonce string) {
	t.Helper()
	m := evidenceFormRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no evidence form on the page:\n%s", page)
	}
	return m[2], m[3]
}

// returnAsPerson files a request and returns with its receipt: the client
// and the conversation page.
func (h *harness) returnAsPerson(what string) (*client, string, resp) {
	h.t.Helper()
	rc, id := h.submit(what)
	c := h.client(h.publicURL)
	r := c.post("/en/return", url.Values{"receipt": {rc}})
	if r.status != http.StatusOK {
		h.t.Fatalf("return = %d %s", r.status, r.body)
	}
	return c, id, r
}

var receivedRE = regexp.MustCompile(`id="evidence-received">[^<]*?(\d+) file`)

func TestPersonUploadsEvidence(t *testing.T) {
	h := newHarness(t, true)
	var logs bytes.Buffer
	h.srv.cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	person, reqID, page := h.returnAsPerson("they took my brother")
	csrf, nonce := personForm(t, page.body)
	photo := gpsJPEG(t)
	note := []byte("CANARY-TESTIMONY what I saw on the night of 1 April")
	body, ctype := multipartBody(t, [][2]string{{"csrf", csrf}, {"nonce", nonce}},
		[]upFile{{"IMG_CANARY.jpg", "image/jpeg", photo}, {"CANARY-notes.txt", "text/plain", note}})
	r := person.postBody("/en/evidence", ctype, body, false)
	if r.status != http.StatusOK {
		t.Fatalf("upload = %d %s", r.status, r.body)
	}
	if m := receivedRE.FindStringSubmatch(r.body); m == nil || m[1] != "2" {
		t.Fatalf("no confirmation of 2 files: %s", r.body)
	}
	if strings.Contains(r.body, "CANARY") {
		t.Error("the confirmation shows a file's name or content")
	}
	if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	items := h.items(store.EvidenceFilter{RequestID: reqID})
	if len(items) != 2 {
		t.Fatalf("items on the request = %d, want 2", len(items))
	}
	ctx := context.Background()
	id, _ := h.vault.EvidenceIdentity()
	for i, want := range [][]byte{photo, note} {
		rec, err := evidence.OpenRecord(items[i].Record, id)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(want); !bytes.Equal(rec.SHA256, sum[:]) || rec.Source != evidence.SourcePerson || rec.Size != int64(len(want)) {
			t.Errorf("item %d: record %+v", i, rec)
		}
	}

	// A reload of the page sends the same form again: refused, nothing
	// stored twice.
	if r := person.postBody("/en/evidence", ctype, body, false); r.status != http.StatusConflict {
		t.Errorf("reused form = %d", r.status)
	}
	// A forged CSRF token, and no session at all.
	_, nonce2 := personForm(t, r.body)
	forged, fctype := multipartBody(t, [][2]string{{"csrf", "forged"}, {"nonce", nonce2}}, []upFile{{"a.txt", "text/plain", note}})
	if r := person.postBody("/en/evidence", fctype, forged, false); r.status != http.StatusForbidden {
		t.Errorf("forged csrf = %d", r.status)
	}
	stranger := h.client(h.publicURL)
	if r := stranger.postBody("/en/evidence", ctype, body, false); r.status != http.StatusSeeOther {
		t.Errorf("no session = %d", r.status)
	}
	if n := len(h.items(store.EvidenceFilter{RequestID: reqID})); n != 2 {
		t.Fatalf("items after refused uploads = %d, want 2", n)
	}

	// One file over the limit: the one before it is stored, it is not.
	page = person.post("/en/conversation/show", nil)
	csrf, nonce = personForm(t, page.body)
	big := bytes.Repeat([]byte("x"), testMaxSize+1)
	body, ctype = multipartBody(t, [][2]string{{"csrf", csrf}, {"nonce", nonce}},
		[]upFile{{"small.txt", "text/plain", []byte("small")}, {"big.bin", "application/octet-stream", big}, {"after.txt", "text/plain", []byte("after")}})
	r = person.postBody("/en/evidence", ctype, body, false)
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "larger than the limit of 2.0 MB") {
		t.Fatalf("file over the limit = %d %s", r.status, r.body)
	}
	if m := receivedRE.FindStringSubmatch(r.body); m == nil || m[1] != "1" {
		t.Errorf("the stored file is not confirmed: %s", r.body)
	}
	if n := len(h.items(store.EvidenceFilter{RequestID: reqID})); n != 3 {
		t.Fatalf("items = %d, want 3", n)
	}

	// The whole upload over its limit: refused before it is read (with a
	// length), or when the limit is reached (without).
	for _, chunked := range []bool{false, true} {
		csrf, nonce = personForm(t, r.body)
		files := []upFile{{"1.bin", "", bytes.Repeat([]byte("a"), testMaxSize-10)}, {"2.bin", "", bytes.Repeat([]byte("b"), testMaxSize-10)},
			{"3.bin", "", bytes.Repeat([]byte("c"), testMaxSize-10)}, {"4.bin", "", bytes.Repeat([]byte("d"), testMaxSize-10)}}
		body, ctype = multipartBody(t, [][2]string{{"csrf", csrf}, {"nonce", nonce}}, files)
		r = person.postBody("/en/evidence", ctype, body, chunked)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked=%v: upload over the total = %d %s", chunked, r.status, r.body)
		}
		want := 3
		if chunked {
			want = 6 // 6 MiB + slack: three whole files fit
		}
		if n := len(h.items(store.EvidenceFilter{RequestID: reqID})); n != want {
			t.Fatalf("chunked=%v: items = %d, want %d", chunked, n, want)
		}
	}

	// A body cut short in the middle of a file stores nothing of it.
	csrf, nonce = personForm(t, r.body)
	body, ctype = multipartBody(t, [][2]string{{"csrf", csrf}, {"nonce", nonce}}, []upFile{{"cut.txt", "text/plain", bytes.Repeat([]byte("z"), 100000)}})
	r = person.postBody("/en/evidence", ctype, body[:len(body)/2], true)
	if r.status != http.StatusBadRequest {
		t.Fatalf("truncated = %d %s", r.status, r.body)
	}
	if n := len(h.items(store.EvidenceFilter{RequestID: reqID})); n != 6 {
		t.Fatalf("items after a truncated upload = %d, want 6", n)
	}
	// No file chosen.
	csrf, nonce = personForm(t, r.body)
	body, ctype = multipartBody(t, [][2]string{{"csrf", csrf}, {"nonce", nonce}}, []upFile{{"", "application/octet-stream", nil}})
	if r := person.postBody("/en/evidence", ctype, body, false); r.status != http.StatusUnprocessableEntity {
		t.Errorf("no file = %d", r.status)
	}

	// Nothing about the person or the files reached the log.
	if strings.Contains(logs.String(), "CANARY") || strings.Contains(logs.String(), reqID) {
		t.Errorf("the log names a file or the request:\n%s", logs.String())
	}
	// The staff see the person's files on a case linked to the request.
	cw := h.addUser(store.RoleCaseworker)
	caseID := h.openCase(reqID, cw.user.ID)
	if err := h.st.SetAssignee(ctx, reqID, cw.user.ID, cw.user.CreatedAt); err != nil {
		t.Fatal(err)
	}
	staffC := h.login(cw)
	cp := staffC.get("/cases/" + caseID)
	if n := strings.Count(cp.body, `class="evidence-item"`); n != 6 || !strings.Contains(cp.body, "(sent by the person)") {
		t.Errorf("case page lists %d items, want 6:\n%s", n, cp.body)
	}
	if rp := staffC.get("/requests/" + reqID); strings.Count(rp.body, `class="evidence-item"`) != 6 {
		t.Errorf("request page lists %d items, want 6", strings.Count(rp.body, `class="evidence-item"`))
	}
}

func TestStaffEvidencePages(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	cw := h.addUser(store.RoleCaseworker)
	caseID := h.openCase("", cw.user.ID)
	c := h.login(cw)

	// The upload page runs the resumable uploader: its CSP allows this
	// site's script, and only on this page.
	up := c.get("/cases/" + caseID + "/evidence/new")
	if up.status != http.StatusOK || !strings.Contains(up.body, `<script src="/static/tus.js"`) ||
		!strings.Contains(up.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("upload page = %d %q", up.status, up.header.Get("Content-Security-Policy"))
	}
	if cp := c.get("/cases/" + caseID); strings.Contains(cp.header.Get("Content-Security-Policy"), "script-src") {
		t.Errorf("the case page allows scripts: %q", cp.header.Get("Content-Security-Policy"))
	}
	js := c.get("/static/tus.js")
	if js.status != 200 || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") || !strings.Contains(js.body, "Tus-Resumable") {
		t.Errorf("tus.js = %d %q", js.status, js.header.Get("Content-Type"))
	}

	photo := gpsJPEG(t)
	text := []byte("a testimony, typed up")
	body, ctype := multipartBody(t, [][2]string{{"csrf", c.csrf}}, []upFile{{"photo.jpg", "image/jpeg", photo}, {"statement.txt", "text/plain", text}})
	if r := c.postBody("/cases/"+caseID+"/evidence", ctype, body, false); r.status != http.StatusSeeOther || r.header.Get("Location") != "/cases/"+caseID+"#evidence" {
		t.Fatalf("staff upload = %d %s", r.status, r.body)
	}
	items := h.items(store.EvidenceFilter{CaseID: caseID})
	if len(items) != 2 {
		t.Fatalf("items = %d", len(items))
	}
	photoID, textID := items[0].ID, items[1].ID

	// A forged token, or files before the token, store nothing.
	forged, fctype := multipartBody(t, [][2]string{{"csrf", "forged"}}, []upFile{{"x.txt", "text/plain", text}})
	if r := c.postBody("/cases/"+caseID+"/evidence", fctype, forged, false); r.status != http.StatusForbidden {
		t.Errorf("forged csrf = %d", r.status)
	}
	late, lctype := multipartBody(t, nil, []upFile{{"x.txt", "text/plain", text}})
	if r := c.postBody("/cases/"+caseID+"/evidence", lctype, late, false); r.status != http.StatusBadRequest {
		t.Errorf("files before the token = %d", r.status)
	}
	// A file over the limit on the staff form.
	big, bctype := multipartBody(t, [][2]string{{"csrf", c.csrf}}, []upFile{{"big.bin", "", bytes.Repeat([]byte{1}, testMaxSize+1)}})
	if r := c.postBody("/cases/"+caseID+"/evidence", bctype, big, false); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("staff file over the limit = %d", r.status)
	}
	if n := len(h.items(store.EvidenceFilter{CaseID: caseID})); n != 2 {
		t.Fatalf("items after refused uploads = %d", n)
	}

	// The case page's section.
	cp := c.get("/cases/" + caseID)
	if n := strings.Count(cp.body, `class="evidence-item"`); n != 2 {
		t.Fatalf("case page lists %d items:\n%s", n, cp.body)
	}
	if !strings.Contains(cp.body, `href="/evidence/`+photoID+`/copy"`) || strings.Contains(cp.body, `href="/evidence/`+textID+`/copy"`) {
		t.Error("working copy links: want one for the photo only")
	}
	if !strings.Contains(cp.body, "image/jpeg") || !strings.Contains(cp.body, "text/plain") {
		t.Error("types not shown")
	}

	// The item page: the decrypted record, GPS as text, the trail.
	ip := c.get("/evidence/" + photoID)
	sum := sha256.Sum256(photo)
	for _, want := range []string{"photo.jpg", hex.EncodeToString(sum[:]), "43.316944, 45.698056", "CANARYCAM", "Received"} {
		if !strings.Contains(ip.body, want) {
			t.Errorf("item page lacks %q", want)
		}
	}

	// The working copy: an image without its metadata, never cached.
	wc := c.get("/evidence/" + photoID + "/copy")
	if wc.status != http.StatusOK || wc.header.Get("Content-Type") != "image/jpeg" || !strings.Contains(wc.header.Get("Cache-Control"), "no-store") ||
		wc.header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(wc.header.Get("Content-Disposition"), "inline; filename=") {
		t.Fatalf("working copy = %d %v", wc.status, wc.header)
	}
	if _, err := jpeg.Decode(strings.NewReader(wc.body)); err != nil {
		t.Errorf("working copy is not a JPEG: %v", err)
	}
	if strings.Contains(wc.body, "CANARYCAM") || strings.Contains(wc.body, "Exif") {
		t.Error("the working copy kept the photo's metadata")
	}
	if got := h.trail(photoID); strings.Join(got, ",") != "ingested,working_copy,viewed" {
		t.Errorf("trail = %v", got)
	}
	if r := c.get("/evidence/" + textID + "/copy"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("working copy of text = %d", r.status)
	}
	// The original, checked and named; never rendered by the browser.
	orig := c.get("/evidence/" + textID + "/original")
	if orig.status != 200 || orig.body != string(text) || orig.header.Get("Content-Type") != "application/octet-stream" ||
		orig.header.Get("Content-Disposition") != `attachment; filename=statement.txt` {
		t.Errorf("original = %d %v %q", orig.status, orig.header, orig.body)
	}

	// Consent: a custody event carrying the new value.
	if r := c.post("/evidence/"+photoID+"/consent", url.Values{"consent": {"sell"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad consent = %d", r.status)
	}
	if r := c.post("/evidence/"+photoID+"/consent", url.Values{"consent": {"court"}}); r.status != http.StatusSeeOther {
		t.Fatalf("consent = %d %s", r.status, r.body)
	}
	it, _ := h.st.GetEvidence(ctx, photoID)
	if it.Consent != store.ConsentCourt || h.trail(photoID)[3] != "consent_changed" {
		t.Errorf("consent %q, trail %v", it.Consent, h.trail(photoID))
	}

	// Receipts: for logged events only.
	if r := c.get("/evidence/" + photoID + "/proof/1"); r.status != http.StatusServiceUnavailable {
		t.Errorf("receipt of an unlogged event = %d", r.status)
	}
	h.drainOutbox()
	ip = c.get("/evidence/" + photoID)
	if !strings.Contains(ip.body, `href="/evidence/`+photoID+`/proof/4"`) || strings.Count(ip.body, `class="log-index"`) != 4 {
		t.Errorf("item page: no receipt links or log indexes:\n%s", ip.body)
	}
	pr := c.get("/evidence/" + photoID + "/proof/4")
	if pr.status != 200 || !strings.HasPrefix(pr.body, "c2sp.org/tlog-proof@v1\nindex ") || !strings.Contains(pr.header.Get("Content-Disposition"), ".tlog-proof") {
		t.Errorf("receipt = %d %q %v", pr.status, pr.body, pr.header)
	}
	if r := c.get("/evidence/" + photoID + "/proof/99"); r.status != http.StatusNotFound {
		t.Errorf("receipt of no event = %d", r.status)
	}

	// Who may not: a caseworker without the case, logistics with it (no
	// testimony), an operator for originals.
	other := h.login(h.addUser(store.RoleCaseworker))
	logi := h.addUser(store.RoleLogistics)
	if err := h.cases.Share(ctx, h.admin.user, caseID, logi.user.ID); err != nil {
		t.Fatal(err)
	}
	lc := h.login(logi)
	op := h.addUser(store.RoleOperator)
	if err := h.cases.Share(ctx, h.admin.user, caseID, op.user.ID); err != nil {
		t.Fatal(err)
	}
	oc := h.login(op)
	for _, tc := range []struct {
		c    *client
		path string
	}{
		{other, "/evidence/" + photoID}, {other, "/evidence/" + photoID + "/copy"}, {other, "/cases/" + caseID + "/evidence/new"},
		{lc, "/evidence/" + photoID}, {lc, "/evidence/" + photoID + "/copy"}, {oc, "/evidence/" + textID + "/original"},
	} {
		if r := tc.c.get(tc.path); r.status != http.StatusForbidden {
			t.Errorf("%s = %d, want 403", tc.path, r.status)
		}
	}
	if r := lc.get("/cases/" + caseID); strings.Contains(r.body, `id="evidence"`) {
		t.Error("logistics sees the evidence section")
	}
	body, ctype = multipartBody(t, [][2]string{{"csrf", other.csrf}}, []upFile{{"x.txt", "text/plain", text}})
	if r := other.postBody("/cases/"+caseID+"/evidence", ctype, body, false); r.status != http.StatusForbidden {
		t.Errorf("upload without access = %d", r.status)
	}
	if n := len(h.items(store.EvidenceFilter{CaseID: caseID})); n != 2 {
		t.Fatalf("items = %d", n)
	}

	// Destroying: managers only, with the word typed.
	if r := c.post("/evidence/"+photoID+"/destroy", url.Values{"confirm": {"DESTROY"}}); r.status != http.StatusForbidden {
		t.Errorf("caseworker destroys = %d", r.status)
	}
	coord := h.addUser(store.RoleCoordinator)
	if err := h.cases.Share(ctx, h.admin.user, caseID, coord.user.ID); err != nil {
		t.Fatal(err)
	}
	cc := h.login(coord)
	if r := cc.post("/evidence/"+photoID+"/destroy", url.Values{"confirm": {"destroy"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("destroy without the word = %d", r.status)
	}
	if r := cc.post("/evidence/"+photoID+"/destroy", url.Values{"confirm": {"DESTROY"}}); r.status != http.StatusSeeOther {
		t.Fatalf("destroy = %d %s", r.status, r.body)
	}
	if got := h.trail(photoID); got[len(got)-1] != "destroyed" {
		t.Errorf("trail = %v", got)
	}
	if r := c.get("/evidence/" + photoID + "/copy"); r.status != http.StatusGone {
		t.Errorf("working copy of a destroyed item = %d", r.status)
	}
	if r := c.get("/evidence/" + photoID); r.status != 200 || !strings.Contains(r.body, "was destroyed") || strings.Contains(r.body, "photo.jpg") {
		t.Errorf("destroyed item page = %d", r.status)
	}
}

func TestCustodiansPage(t *testing.T) {
	h := newHarness(t, true)
	c := h.login(h.admin)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	rcpt := id.Recipient().String()
	if r := c.post("/admin/custodians", url.Values{"name": {"Anna (lawyer)"}, "recipient": {rcpt}}); r.status != http.StatusSeeOther {
		t.Fatalf("add = %d %s", r.status, r.body)
	}
	for _, bad := range []url.Values{
		{"name": {"Anna again"}, "recipient": {rcpt}},
		{"name": {"Bob"}, "recipient": {"age1notakey"}},
		{"name": {""}, "recipient": {rcpt}},
	} {
		if r := c.post("/admin/custodians", bad); r.status != http.StatusUnprocessableEntity {
			t.Errorf("add %v = %d", bad, r.status)
		}
	}
	page := c.get("/admin/custodians")
	if !strings.Contains(page.body, "Anna (lawyer)") || !strings.Contains(page.body, rcpt) {
		t.Fatalf("list: %s", page.body)
	}
	cid := regexp.MustCompile(`action="/admin/custodians/(u[a-z0-9]+)/disable"`).FindStringSubmatch(page.body)[1]
	if r := c.post("/admin/custodians/"+cid+"/disable", nil); r.status != http.StatusSeeOther {
		t.Fatalf("disable = %d", r.status)
	}
	if page := c.get("/admin/custodians"); !strings.Contains(page.body, "disabled on") {
		t.Error("not shown as disabled")
	}
	entries, err := h.st.ListAudit(context.Background(), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "custodian.") {
			actions = append(actions, e.Action)
		}
	}
	if strings.Join(actions, ",") != "custodian.disable,custodian.add" {
		t.Errorf("audit = %v", actions)
	}
}

// The log is served beside the public site: cacheable where the log says
// so, open to other origins, while every page about a person stays
// no-store.
func TestPublicLogMount(t *testing.T) {
	h := newHarness(t, true)
	c := h.client(h.publicURL)
	cp := c.get("/log/checkpoint")
	if cp.status != 200 || cp.header.Get("Cache-Control") != "public, max-age=5" || cp.header.Get("Access-Control-Allow-Origin") != "*" ||
		cp.header.Get("X-Content-Type-Options") != "nosniff" || cp.header.Get("Pragma") != "" || cp.header.Get("Set-Cookie") != "" {
		t.Errorf("checkpoint = %d %v", cp.status, cp.header)
	}
	if tile := c.get("/log/tile/0/000"); tile.header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("tile = %d %v", tile.status, tile.header)
	}
	req, _ := http.NewRequest("POST", h.publicURL+"/log/checkpoint", strings.NewReader("x"))
	if r := c.do(req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST to the log = %d", r.status)
	}
	if r := c.get("/log/nothing"); r.status != http.StatusNotFound {
		t.Errorf("unknown log path = %d", r.status)
	}
	for _, p := range []string{"/en/", "/en/return", "/en/request"} {
		if r := c.get(p); !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: Cache-Control = %q", p, r.header.Get("Cache-Control"))
		}
	}
	// Without a log: 404 there, the site unchanged.
	cfg := h.srv.cfg
	cfg.Log = nil
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := httpGet(t, srv.PublicHandler(), "/log/checkpoint"); r.StatusCode != http.StatusNotFound {
		t.Errorf("no log: %d", r.StatusCode)
	}
}

// tusClient speaks tus to the staff site as static/tus.js does.
type tusClient struct {
	t    *testing.T
	c    *client
	csrf string
}

func (tc *tusClient) req(method, path string, hdr map[string]string, body []byte) *http.Response {
	tc.t.Helper()
	req, _ := http.NewRequest(method, tc.c.base+path, bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	r, err := tc.c.c.Do(req)
	if err != nil {
		tc.t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return r
}

func tusMeta(kv ...string) string {
	var parts []string
	for i := 0; i < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

func TestResumableUpload(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	cw := h.addUser(store.RoleCaseworker)
	caseID := h.openCase("", cw.user.ID)
	tc := &tusClient{t: t, c: h.login(cw)}
	tc.csrf = tc.c.csrf
	data := make([]byte, 1<<20+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	meta := tusMeta("filename", "video.mp4", "filetype", "video/mp4", "case", caseID)
	create := map[string]string{"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": meta, "X-CSRF-Token": tc.csrf}

	// Refusals before anything is stored.
	noToken := map[string]string{"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": meta}
	if r := tc.req("POST", "/evidence/uploads/", noToken, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("create without the CSRF header = %d", r.StatusCode)
	}
	anon := &tusClient{t: t, c: h.client(h.staffURL)}
	if r := anon.req("POST", "/evidence/uploads/", create, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("create without a session = %d", r.StatusCode)
	}
	noCase := map[string]string{"Upload-Length": "10", "Upload-Metadata": tusMeta("filename", "x"), "X-CSRF-Token": tc.csrf}
	if r := tc.req("POST", "/evidence/uploads/", noCase, nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("create without a case = %d", r.StatusCode)
	}
	outsider := h.addUser(store.RoleCaseworker)
	oc := &tusClient{t: t, c: h.login(outsider)}
	oc.csrf = oc.c.csrf
	if r := oc.req("POST", "/evidence/uploads/", map[string]string{"Upload-Length": "10", "Upload-Metadata": meta, "X-CSRF-Token": oc.csrf}, nil); r.StatusCode != http.StatusForbidden {
		t.Errorf("create on someone else's case = %d", r.StatusCode)
	}

	r := tc.req("POST", "/evidence/uploads/", create, nil)
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusCreated || !strings.HasPrefix(loc, "/evidence/uploads/") {
		t.Fatalf("create = %d %q", r.StatusCode, loc)
	}
	patch := func(c *tusClient, off int, chunk []byte) *http.Response {
		return c.req("PATCH", loc, map[string]string{"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream", "X-CSRF-Token": c.csrf}, chunk)
	}
	const step = 400 << 10
	if r := patch(tc, 0, data[:step]); r.StatusCode != http.StatusNoContent {
		t.Fatalf("first chunk = %d", r.StatusCode)
	}
	// Someone else cannot touch it; a wrong offset is refused.
	if r := patch(oc, step, data[step:2*step]); r.StatusCode != http.StatusForbidden {
		t.Errorf("another staff member's PATCH = %d", r.StatusCode)
	}
	if r := patch(tc, 5, data[5:10]); r.StatusCode != http.StatusConflict {
		t.Errorf("wrong offset = %d", r.StatusCode)
	}
	// The link "drops": the client asks where to go on.
	head := tc.req("HEAD", loc, nil, nil)
	off, _ := strconv.Atoi(head.Header.Get("Upload-Offset"))
	if head.StatusCode != http.StatusOK || off != step {
		t.Fatalf("HEAD = %d offset %d", head.StatusCode, off)
	}
	// Sealed: uploads pause (503) rather than fail.
	h.vault.Seal()
	if r := patch(tc, off, data[off:off+step]); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("PATCH while sealed = %d", r.StatusCode)
	}
	if err := h.vault.Unseal(ctx, []byte(testPassphrase)); err != nil {
		t.Fatal(err)
	}
	if len(h.items(store.EvidenceFilter{CaseID: caseID})) != 0 {
		t.Fatal("an item exists before the upload finished")
	}
	for off < len(data) {
		end := min(off+step, len(data))
		r := patch(tc, off, data[off:end])
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH at %d = %d", off, r.StatusCode)
		}
		off, _ = strconv.Atoi(r.Header.Get("Upload-Offset"))
	}
	items := h.items(store.EvidenceFilter{CaseID: caseID})
	if len(items) != 1 {
		t.Fatalf("items = %d", len(items))
	}
	id, _ := h.vault.EvidenceIdentity()
	rec, err := evidence.OpenRecord(items[0].Record, id)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if rec.Filename != "video.mp4" || !bytes.Equal(rec.SHA256, sum[:]) || rec.Actor != fmt.Sprintf("staff:%d", cw.user.ID) {
		t.Errorf("record = %+v", rec)
	}
}

// With in-app viewing off the server cannot read an item: its page still
// shows the custody trail, and working copies are refused.
func TestCustodianOnlyItemPage(t *testing.T) {
	h := newHarness(t, true)
	ctx := context.Background()
	bs, err := blob.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ev := evidence.New(h.st, h.vault, nil, bs, h.cases, evidence.Config{CustodianOnly: true})
	custodian, _ := age.GenerateX25519Identity()
	if _, err := ev.AddCustodian(ctx, nil, "Anna", custodian.Recipient().String()); err != nil {
		t.Fatal(err)
	}
	cfg := h.srv.cfg
	cfg.Evidence = ev
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ss := httptest.NewServer(srv.StaffHandler())
	defer ss.Close()
	cw := h.addUser(store.RoleCaseworker)
	caseID := h.openCase("", cw.user.ID)
	in, err := ev.IngestStaff(ctx, cw.user, evidence.Input{CaseID: caseID, Filename: "secret.png"}, bytes.NewReader(testPNG(t)))
	if err != nil {
		t.Fatal(err)
	}
	h.staffURL = ss.URL
	c := h.login(cw)
	ip := c.get("/evidence/" + in.ID)
	if ip.status != http.StatusOK || !strings.Contains(ip.body, "cannot be read here") || strings.Count(ip.body, `class="event"`) != 1 ||
		strings.Contains(ip.body, "/original") || strings.Contains(ip.body, "/copy") {
		t.Errorf("item page = %d:\n%s", ip.status, ip.body)
	}
	if r := c.get("/evidence/" + in.ID + "/copy"); r.status != http.StatusConflict {
		t.Errorf("working copy = %d", r.status)
	}
	if cp := c.get("/cases/" + caseID); !strings.Contains(cp.body, "In-app viewing is off") || strings.Count(cp.body, `class="evidence-item"`) != 1 {
		t.Errorf("case page:\n%s", cp.body)
	}
}

// BenchmarkEvidenceUpload: a file sent from the return page (multipart,
// over HTTP, through the session, CSRF and one-time checks) against the
// same file ingested directly: what the web layer costs on top of the
// vault's streaming ingest.
func BenchmarkEvidenceUpload(b *testing.B) {
	const size = 32 << 20
	h := newHarness(b, true)
	bs, err := blob.NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ev := evidence.New(h.st, h.vault, nil, bs, h.cases, evidence.Config{MaxSize: 1 << 30})
	cfg := h.srv.cfg
	cfg.Evidence, cfg.EvidenceMaxRequest = ev, 1<<30
	srv, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	srv.messageLimit = ratelimit.NewKeyed(1e9, 1e9, 100, time.Now)
	ps := httptest.NewServer(srv.PublicHandler())
	defer ps.Close()
	h.publicURL = ps.URL
	person, reqID, page := h.returnAsPerson("benchmark")
	csrf, _ := personForm(b, page.body)
	var cookie string
	for _, c := range page.header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, cookiePerson+"="); ok {
			cookie, _, _ = strings.Cut(v, ";")
		}
	}
	session := srv.persons.get(cookie)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*131 + i>>11)
	}
	ctx := context.Background()

	b.Run("ingest", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := ev.IngestPerson(ctx, reqID, evidence.Input{Filename: "f.bin"}, bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("return-page", func(b *testing.B) {
		b.SetBytes(size)
		const boundary = "benchmarkboundary"
		head := func(nonce string) string {
			return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + csrf + "\r\n" +
				"--" + boundary + "\r\nContent-Disposition: form-data; name=\"nonce\"\r\n\r\n" + nonce + "\r\n" +
				"--" + boundary + "\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
		}
		tail := "\r\n--" + boundary + "--\r\n"
		for b.Loop() {
			hd := head(srv.persons.nonce(session))
			req, _ := http.NewRequest("POST", ps.URL+"/en/evidence", io.MultiReader(strings.NewReader(hd), bytes.NewReader(data), strings.NewReader(tail)))
			req.ContentLength = int64(len(hd) + len(data) + len(tail))
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
			r := person.do(req)
			if r.status != http.StatusOK {
				b.Fatalf("upload = %d", r.status)
			}
		}
	})
}

// An upload may take longer than the server's ReadTimeout (2 minutes in
// serve; here 300 ms) as long as its bytes keep coming: the upload
// handlers move the connection's deadlines as they read.
func TestSlowUploadOutlastsReadTimeout(t *testing.T) {
	h := newHarness(t, true)
	hs := httptest.NewUnstartedServer(h.srv.PublicHandler())
	hs.Config.ReadTimeout, hs.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	hs.Start()
	defer hs.Close()
	h.publicURL = hs.URL
	person, reqID, page := h.returnAsPerson("slow link")
	csrf, nonce := personForm(t, page.body)
	body, ctype := multipartBody(t, [][2]string{{"csrf", csrf}, {"nonce", nonce}}, []upFile{{"slow.bin", "", bytes.Repeat([]byte("s"), 64<<10)}})
	pr, pw := io.Pipe()
	go func() {
		// Four times the timeout, a little at a time.
		for off := 0; off < len(body); off += len(body) / 12 {
			time.Sleep(100 * time.Millisecond)
			if _, err := pw.Write(body[off:min(off+len(body)/12, len(body))]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", hs.URL+"/en/evidence", pr)
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", ctype)
	if r := person.do(req); r.status != http.StatusOK {
		t.Fatalf("slow upload = %d %s", r.status, r.body)
	}
	if n := len(h.items(store.EvidenceFilter{RequestID: reqID})); n != 1 {
		t.Fatalf("items = %d", n)
	}
}
