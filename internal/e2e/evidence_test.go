package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/mod/sumdb/note"
)

// TestEvidenceJourney: a person sends two files from the return page with
// JavaScript off; a caseworker sees them on the case, opens the image's
// metadata-free working copy and records consent; and the public site's
// transparency log publishes a signed checkpoint that has grown by those
// custody events.
func TestEvidenceJourney(t *testing.T) {
	b := startBrowser(t) // skips without Chromium
	in := newInstallation(t, "admin")
	cw := addUser(t, in, "cw", "caseworker")
	// The server's temporary files go where the scan below looks (Go's
	// multipart parser, had it been used, spills large files there in
	// clear).
	tmp := filepath.Join(in.Root, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	srv := in.start(t)
	nameLatin, nameCyrillic, needles := canary("file name", "EVNAME", "ИМЯ")
	textLatin, textCyrillic, more := canary("file content", "EVTEXT", "ТЕКСТ")
	needles = append(needles, more...)

	pub := newHTTPClient(t, srv.PublicURL)
	verifier := logVerifier(t, pub)
	before := checkpointSize(t, pub, verifier)

	receipt := submitRequest(t, srv.PublicURL, url.Values{
		"what_happened": {"EVIDENCE they beat me at the station"},
		"urgency":       {"days"},
	})
	dir := t.TempDir()
	photo := filepath.Join(dir, "injury.jpg")
	statement := filepath.Join(dir, "statement "+nameLatin+" "+nameCyrillic+".txt")
	writeJPEG(t, photo, 24, 16)
	text := "What happened at the station, written down the next day: " + textLatin + " " + textCyrillic + "\n"
	if err := os.WriteFile(statement, []byte(strings.Repeat(text, 1000)), 0o600); err != nil {
		t.Fatal(err)
	}

	// The person, JavaScript off, comes back with the receipt and sends
	// both files with the plain form.
	person := b.newTab(t, "person", false)
	assertJavaScript(t, person, false)
	if st := person.open(srv.PublicURL + "/en/return"); st != http.StatusOK {
		t.Fatalf("return page: %d", st)
	}
	person.typeInto("#receipt", receipt)
	if st := person.submit(`form[action="/en/return"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("return with the receipt: %d: %s", st, person.text("main"))
	}
	person.do("choose files", chromedp.SetUploadFiles(chromedp.CSS(`#files`), []string{photo, statement}))
	if st := person.submit(`#evidence-send`); st != http.StatusOK {
		t.Fatalf("send files: %d: %s", st, person.text("main"))
	}
	if got := person.text("#evidence-received"); !strings.Contains(got, "2 file(s)") {
		t.Fatalf("confirmation: %q", got)
	}
	if page := person.html(); strings.Contains(page, "injury.jpg") || strings.Contains(page, canaryLatin) {
		t.Error("the confirmation names the files")
	}
	person.screenshot("evidence-1-person-sent")

	// The administrator assigns the request to the caseworker, who opens
	// a case from it.
	admin := b.newTab(t, "admin", true)
	staffLogin(t, admin, srv.StaffURL, in.Admin, "a long new password for the e2e admin")
	admin.open(srv.StaffURL + "/requests")
	href := inboxLink(t, admin, "EVIDENCE")
	admin.open(srv.StaffURL + href)
	admin.do("assignee", chromedp.SetValue(chromedp.CSS(`form[action$="/assign"] select`), strconv.FormatInt(cw.ID, 10)))
	if st := admin.submit(`form[action$="/assign"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("assign the request: %d", st)
	}
	cwTab := b.newTab(t, "caseworker", true)
	staffLogin(t, cwTab, srv.StaffURL, cw, "a long new password for the caseworker")
	cwTab.open(srv.StaffURL + href)
	if st := cwTab.submit(`form[action$="/case"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("open a case from the request: %d: %s", st, cwTab.text("main"))
	}
	caseURL := cwTab.location()

	// The case's Evidence section lists both items.
	rows := cwTab.texts("#evidence tr.evidence-item")
	if len(rows) != 2 || !strings.Contains(rows[0]+rows[1], "image/jpeg") || !strings.Contains(rows[0]+rows[1], "text/") {
		t.Fatalf("evidence rows: %q", rows)
	}
	cwTab.screenshot("evidence-2-case")
	// The working copy of the image: an image the browser shows.
	if st := cwTab.submit(`#evidence a.working-copy`); st != http.StatusOK {
		t.Fatalf("working copy: %d", st)
	}
	if ok := run(cwTab, "image shown", chromedp.Evaluate[bool](
		`document.images.length === 1 && document.images[0].complete && document.images[0].naturalWidth === 24`)); !ok {
		t.Errorf("the working copy is not shown as a 24-pixel-wide image: %s", cwTab.html())
	}
	// The image's page: consent.
	cwTab.open(caseURL)
	itemHref := run(cwTab, "image item link", chromedp.Evaluate[string](`Array.from(document.querySelectorAll("#evidence tr.evidence-item"))
		.filter(r => r.textContent.includes("image/jpeg"))[0].querySelector("a[href^='/evidence/']").getAttribute("href")`))
	if st := cwTab.open(srv.StaffURL + itemHref); st != http.StatusOK {
		t.Fatalf("item page: %d", st)
	}
	cwTab.click(`input[name=consent][value=court]`)
	if st := cwTab.submit(`form[action$="/consent"] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("record consent: %d: %s", st, cwTab.text("main"))
	}
	if got := cwTab.text("dl.answer"); !strings.Contains(got, "May be used in court") || !strings.Contains(got, "injury.jpg") {
		t.Errorf("item record after consent: %q", got)
	}
	// ingested, working_copy, viewed, consent_changed
	if got := cwTab.texts("tr.event"); len(got) != 4 {
		t.Errorf("custody trail: %q", got)
	}
	cwTab.screenshot("evidence-3-item")

	// Two ingests, a working copy, a view and a consent change: five
	// events, in a signed checkpoint on the public site.
	deadline := time.Now().Add(90 * time.Second)
	for {
		size := checkpointSize(t, pub, verifier)
		if size >= before+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log's checkpoint has %d entries, want at least %d", size, before+5)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Neither the file's name nor its content is anywhere in clear: not
	// in the data directory (database, blobs, log), not in a temporary
	// file, not in what the server printed.
	hits := scanTree(t, "running server's disk", in.Root, needles)
	hits = append(hits, scan("server output", append(srv.Stdout.Bytes(), srv.Stderr.Bytes()...), needles)...)
	for _, h := range hits {
		t.Error(h)
	}
}

// TestResumableUploadInBrowser: the staff upload page's script resumes an
// upload that a closed page left half done, through a dropped request.
// The caseworker's first chunk arrived in an earlier session (sent here
// over HTTP); the page knows its address, as tus.js keeps it, and on
// "start" it asks the server how much it has (the first attempt fails,
// as on a bad link), then sends the rest, and lands on the case with the
// file stored.
func TestResumableUploadInBrowser(t *testing.T) {
	b := startBrowser(t)
	in := newInstallation(t, "admin")
	cw := addUser(t, in, "cw", "caseworker")
	srv := in.start(t)
	tab := b.newTab(t, "caseworker", true)
	staffLogin(t, tab, srv.StaffURL, cw, "a long new password for the caseworker")
	tab.typeInto("#name", "Walk-in")
	if st := tab.submit(`form[action="/cases"][method=post] button[type=submit]`); st != http.StatusOK {
		t.Fatalf("open a case: %d: %s", st, tab.text("main"))
	}
	caseURL := tab.location()
	caseID := caseURL[strings.LastIndex(caseURL, "/")+1:]

	const chunk = 8 << 20
	data := make([]byte, 2*chunk+chunk/2)
	for i := range data {
		data[i] = byte(i*31 + i>>13)
	}
	path := filepath.Join(t.TempDir(), "interview.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	// The first chunk, from another session of the same caseworker.
	hc := cw.login(t, srv.StaffURL, "")
	csrf := hc.get("/account").csrf(t)
	tusReq := func(method, u string, hdr map[string]string, body []byte) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Tus-Resumable", "1.0.0")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := hc.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	r := tusReq("POST", srv.StaffURL+"/evidence/uploads/", map[string]string{
		"Upload-Length": strconv.Itoa(len(data)), "X-CSRF-Token": csrf,
		"Upload-Metadata": "filename " + b64("interview.bin") + ",case " + b64(caseID),
	}, nil)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", r.StatusCode)
	}
	uploadURL := srv.StaffURL + r.Header.Get("Location")
	if r := tusReq("PATCH", uploadURL, map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "X-CSRF-Token": csrf}, data[:chunk]); r.StatusCode != http.StatusNoContent {
		t.Fatalf("first chunk: %d", r.StatusCode)
	}

	if st := tab.open(srv.StaffURL + "/cases/" + caseID + "/evidence/new"); st != http.StatusOK {
		t.Fatalf("upload page: %d", st)
	}
	if shown := run(tab, "resumable section shown", chromedp.Evaluate[bool](`!document.getElementById("resumable").hidden`)); !shown {
		t.Fatal("the script did not start (the resumable section is hidden)")
	}
	tab.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS(`#tus-files`), []string{path}))
	// Where tus.js keeps an unfinished upload: under a hash of the file's
	// case, name, size, date and type.
	run(tab, "remember the upload", chromedp.Evaluate[bool](`(async () => {
		const f = document.getElementById("tus-files").files[0];
		const s = [`+jsString(caseID)+`, f.name, f.size, f.lastModified, f.type].join("\n");
		const h = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
		localStorage.setItem("corridor-tus:" + Array.from(h, b => b.toString(16).padStart(2, "0")).join(""), `+jsString(uploadURL)+`);
		return true;
	})()`, chromedp.EvalAwaitPromise))

	// The link drops on the first request the page makes to the upload.
	var paused, failed atomic.Int32
	ctx, cancel := context.WithCancel(tab.ctx)
	defer cancel()
	events := chromedp.Events(ctx, fetch.RequestPaused)
	tab.call(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/evidence/uploads/*"}}})
		return err
	}, "intercept upload requests")
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if paused.Add(1) == 1 {
				failed.Add(1)
				_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
				_, _ = chromedp.Call(ctx, fetch.Disable, cdp.Empty{})
				continue
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()

	tab.click(`#tus-start`)
	deadline := time.Now().Add(90 * time.Second)
	for !strings.HasSuffix(tab.location(), "#evidence") {
		if time.Now().After(deadline) {
			t.Fatalf("the upload did not finish; page: %s", tab.text("#resumable"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if failed.Load() != 1 {
		t.Errorf("%d requests were failed, want 1", failed.Load())
	}
	if rows := tab.texts("#evidence tr.evidence-item"); len(rows) != 1 {
		t.Fatalf("evidence rows: %q", rows)
	}
	// The upload that was resumed is the one that finished: the server
	// reports it whole. (A new one would have left it at one chunk.)
	head := tusReq("HEAD", uploadURL, nil, nil)
	if head.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Errorf("the first upload is at %q of %d: the page started another", head.Header.Get("Upload-Offset"), len(data))
	}
	itemHref := run(tab, "item link", chromedp.Evaluate[string](`document.querySelector("#evidence tr.evidence-item a[href^='/evidence/']").getAttribute("href")`))
	tab.open(srv.StaffURL + itemHref)
	if got := tab.text("dl.answer"); !strings.Contains(got, fmt.Sprintf("(%d bytes)", len(data))) || !strings.Contains(got, "interview.bin") {
		t.Errorf("item record: %q", got)
	}
}

// writeJPEG writes a plain w×h JPEG photo.
func writeJPEG(t testing.TB, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 3)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// logVerifier reads the log's verifier key from the public site, once the
// server has opened the log (it answers 503 until then).
func logVerifier(t testing.TB, pub *httpClient) note.Verifier {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	p := pub.get("/log/key")
	for p.Status == http.StatusServiceUnavailable && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		p = pub.get("/log/key")
	}
	p.mustStatus(t, http.StatusOK, "log key")
	v, err := note.NewVerifier(strings.TrimSpace(p.Body))
	if err != nil {
		t.Fatalf("log key %q: %v", p.Body, err)
	}
	return v
}

// checkpointSize fetches the public checkpoint, checks its signature and
// returns the tree size it commits to.
func checkpointSize(t testing.TB, pub *httpClient, v note.Verifier) uint64 {
	t.Helper()
	// A log that has just opened may not have published its first
	// checkpoint yet.
	deadline := time.Now().Add(30 * time.Second)
	p := pub.get("/log/checkpoint")
	for (p.Status == http.StatusServiceUnavailable || p.Status == http.StatusNotFound) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		p = pub.get("/log/checkpoint")
	}
	p.mustStatus(t, http.StatusOK, "checkpoint")
	if cc := p.Header.Get("Cache-Control"); strings.Contains(cc, "no-store") {
		t.Errorf("checkpoint Cache-Control %q", cc)
	}
	n, err := note.Open([]byte(p.Body), note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v\n%s", err, p.Body)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 3 {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size %q", lines[1])
	}
	return size
}
