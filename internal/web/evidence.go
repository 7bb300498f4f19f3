package web

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/i18n"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/upload"
	"github.com/tus/tusd/v2/pkg/handler"
)

// This file is the evidence vault in the staff site: the Evidence section
// of a case, an item's page (its sealed record, custody trail and log
// receipts), the working copy and the original, consent, destruction,
// uploads (a plain multipart form, and resumable tus uploads for large
// files over poor links) and the custodians' page. The person's upload
// from the return page and the public log are in evidence_public.go.

// ProofSource makes the offline receipt (C2SP tlog-proof) of the log entry
// at index: *translog.Log. An error means no receipt can be given now
// (typically: no published checkpoint covers the entry yet).
type ProofSource interface {
	Proof(ctx context.Context, index uint64) ([]byte, error)
}

const (
	// tusBase is where the tus endpoint is mounted on the staff site.
	tusBase = "/evidence/uploads/"
	// tusChunk is the size of the PATCH requests static/tus.js sends: each
	// acknowledged chunk is on the disk, so a broken link costs at most one.
	tusChunk = 8 << 20
	// defaultMaxFiles caps the files of one multipart upload.
	defaultMaxFiles = 20
	// multipartSlack is what a multipart body may hold beyond its files'
	// bytes: boundaries, part headers and the small fields.
	multipartSlack = 1 << 20
	// maxSmallField bounds a form field read from a multipart body (the
	// CSRF token, the one-time token).
	maxSmallField = 256
	// uploadIdle is how long an upload may go without a byte arriving
	// before its connection is cut; uploadFinish is what is left to store
	// the last file and answer once the last byte is in.
	uploadIdle   = 2 * time.Minute
	uploadFinish = 5 * time.Minute
	// confirmDestroy is what a manager types to destroy an item.
	confirmDestroy = "DESTROY"
)

//go:embed static/tus.js
var tusJS []byte

// evidenceWeb is what the evidence pages need beyond Config.
type evidenceWeb struct {
	maxRequest int64 // one multipart upload, all files together
	maxFiles   int
	tus        http.Handler // nil without Config.Uploads
	// large routes, per site, the requests whose bodies may exceed
	// Config.MaxFormBytes, to the limit they get instead.
	large map[style]*http.ServeMux
	limit map[string]int64 // by pattern
}

// multipartRoutes are the staff routes whose POST bodies are multipart
// uploads: the gate reads their CSRF token from the first part.
var multipartRoutes = map[string]bool{"POST /cases/{id}/evidence": true}

func (s *Server) newEvidenceWeb() (*evidenceWeb, error) {
	ev := &evidenceWeb{large: map[style]*http.ServeMux{}, limit: map[string]int64{}}
	if s.cfg.Evidence == nil {
		return ev, nil
	}
	ev.maxRequest = s.cfg.EvidenceMaxRequest
	if ev.maxRequest <= 0 {
		ev.maxRequest = s.cfg.Evidence.MaxSize()
	}
	ev.maxFiles = s.cfg.EvidenceMaxFiles
	if ev.maxFiles <= 0 {
		ev.maxFiles = defaultMaxFiles
	}
	add := func(st style, pattern string, limit int64) {
		if ev.large[st] == nil {
			ev.large[st] = http.NewServeMux()
		}
		ev.large[st].Handle(pattern, http.NotFoundHandler())
		ev.limit[pattern] = limit
	}
	add(stylePublic, "POST /{lang}/evidence", ev.maxRequest+multipartSlack)
	add(styleStaff, "POST /cases/{id}/evidence", ev.maxRequest+multipartSlack)
	if s.cfg.Uploads != nil {
		h, err := upload.NewHandler(s.cfg.Uploads, upload.HandlerConfig{
			BasePath:   tusBase,
			MaxSize:    s.cfg.Evidence.MaxSize(),
			Authorize:  tusAuthorize,
			Owner:      tusOwner,
			OnComplete: s.tusComplete,
		})
		if err != nil {
			return nil, err
		}
		ev.tus = s.tusGate(h)
		// A client may send a whole file in one PATCH; tusd stops it at
		// the length it declared, which the store caps.
		add(styleStaff, tusBase, s.cfg.Evidence.MaxSize()+multipartSlack)
	}
	return ev, nil
}

// bodyLimit is the largest request body r may have on site st.
func (s *Server) bodyLimit(r *http.Request, st style) int64 {
	if mux := s.ev.large[st]; mux != nil {
		if _, pattern := mux.Handler(r); pattern != "" {
			return s.ev.limit[pattern]
		}
	}
	return s.cfg.MaxFormBytes
}

// withTus mounts the resumable-upload endpoint beside the staff pages,
// under the same headers and limits. It is not in the route table: tus
// clients cannot send the form field the gate reads, so tusGate does the
// gate's work (see tusUser).
func (s *Server) withTus(pages http.Handler) http.Handler {
	if s.ev.tus == nil {
		return pages
	}
	mux := http.NewServeMux()
	mux.Handle("/", pages)
	mux.Handle(tusBase, s.ev.tus)
	return mux
}

// --- multipart bodies ---

type ctxMultipart struct{}

// postedCSRF returns the CSRF token of a staff POST. A multipart upload
// carries it as its first part (the form puts the hidden field before the
// file input, and browsers send fields in order), read here so that the
// gate checks it before any file is read; the reader, now at the files,
// goes on to the handler in the request's context. Any other POST is a
// urlencoded form, as before.
func (s *Server) postedCSRF(w http.ResponseWriter, r *http.Request) (*http.Request, string, error) {
	if multipartRoutes[r.Pattern] && isMultipart(r) {
		mr, vals, err := leadingFields(w, r, "csrf")
		if err != nil {
			return r, "", err
		}
		return r.WithContext(context.WithValue(r.Context(), ctxMultipart{}, mr)), vals[0], nil
	}
	if err := r.ParseForm(); err != nil {
		return r, "", err
	}
	return r, r.PostForm.Get("csrf"), nil
}

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

func multipartFrom(r *http.Request) *multipart.Reader {
	mr, _ := r.Context().Value(ctxMultipart{}).(*multipart.Reader)
	return mr
}

var errMultipart = errors.New("web: malformed upload")

// leadingFields starts reading a multipart body and returns the values of
// its first parts, which must be the small fields names, in that order.
// Large uploads outlast the server's ReadTimeout, so from here on the
// connection's deadlines move forward as long as bytes keep arriving.
func leadingFields(w http.ResponseWriter, r *http.Request, names ...string) (*multipart.Reader, []string, error) {
	r.Body = newProgressBody(w, r.Body)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errMultipart, err)
	}
	vals := make([]string, len(names))
	for i, name := range names {
		p, err := mr.NextPart()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errMultipart, err)
		}
		if p.FormName() != name || p.FileName() != "" {
			return nil, nil, fmt.Errorf("%w: part %d is not %s", errMultipart, i+1, name)
		}
		b, err := io.ReadAll(io.LimitReader(p, maxSmallField+1))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errMultipart, err)
		}
		if len(b) > maxSmallField {
			return nil, nil, fmt.Errorf("%w: field %s too long", errMultipart, name)
		}
		vals[i] = string(b)
	}
	return mr, vals, nil
}

// progressBody moves the connection's read and write deadlines uploadIdle
// ahead whenever bytes arrive: the server's ReadTimeout would cut any
// upload longer than that, while a connection that stalls is still cut.
type progressBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	next time.Time
}

func newProgressBody(w http.ResponseWriter, body io.ReadCloser) *progressBody {
	b := &progressBody{ReadCloser: body, rc: http.NewResponseController(w)}
	b.extend(time.Now())
	return b
}

// Deadlines are wall-clock times of the connection, so the real clock is
// used, not Config.Now.
func (b *progressBody) extend(now time.Time) {
	// Unsupported (a test recorder): there is no deadline to move either.
	_ = b.rc.SetReadDeadline(now.Add(uploadIdle))
	_ = b.rc.SetWriteDeadline(now.Add(uploadIdle + uploadFinish))
	b.next = now.Add(uploadIdle / 8)
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		if now := time.Now(); now.After(b.next) {
			b.extend(now)
		}
	}
	return n, err
}

// errTruncated: the upload ended before its end (the connection dropped,
// or the body was cut short).
var errTruncated = errors.New("web: the upload was cut short")

// bodyError is a failure to read the uploader's body: a malformed or
// truncated multipart body, a dropped connection. It is the uploader's
// problem, not the server's.
type bodyError struct{ err error }

func (e bodyError) Error() string { return "web: reading the upload: " + e.err.Error() }
func (e bodyError) Unwrap() error { return e.err }

// strictReader reads a file out of the uploader's body, marking its
// failures as bodyError. It also turns an io.ErrUnexpectedEOF from below
// into errTruncated: the evidence ingest reads with io.ReadFull, for which
// io.ErrUnexpectedEOF means a short last read, the normal end of a file,
// while a multipart part or a request body that is cut short reports
// exactly that error, and must not pass for a complete file.
type strictReader struct{ r io.Reader }

func (s strictReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	switch {
	case err == nil, err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = bodyError{errTruncated}
	default:
		err = bodyError{err}
	}
	return n, err
}

// uploadResult is what a multipart upload stored, and what stopped it.
type uploadResult struct {
	Sizes   []int64 // of the files stored, in order
	Problem string  // translation key; "" if every file was stored
	Arg     string  // for Problem's text
	Status  int     // with Problem
}

// ingestParts stores the files of a multipart body, each streamed straight
// into ingest: never r.ParseMultipartForm or FormFile, which spill large
// files to temporary files in clear. Each file is one item, stored whole
// or not at all; a problem (a file over the limit, a malformed body) stops
// the upload there, and the files before it stay stored and are reported.
// An error is returned only for trouble that is not the uploader's.
func (s *Server) ingestParts(mr *multipart.Reader, field string, L *i18n.Printer,
	ingest func(in evidence.Input, body io.Reader) (*evidence.Ingested, error)) (uploadResult, error) {
	var res uploadResult
	stop := func(status int, key, arg string) (uploadResult, error) {
		res.Status, res.Problem, res.Arg = status, key, arg
		return res, nil
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return s.uploadStopped(res, bodyError{err}, L, stop)
		}
		if p.FormName() != field {
			return stop(http.StatusBadRequest, "evidence.bad_upload", "")
		}
		if p.FileName() == "" {
			// An empty file input is sent as a part without a name.
			if n, err := io.Copy(io.Discard, io.LimitReader(p, 1)); err != nil || n > 0 {
				return stop(http.StatusBadRequest, "evidence.bad_upload", "")
			}
			continue
		}
		body := bufio.NewReaderSize(strictReader{p}, 64<<10)
		if _, err := body.Peek(1); err == io.EOF {
			continue // an empty file is no evidence
		} else if err != nil {
			return s.uploadStopped(res, err, L, stop)
		}
		if len(res.Sizes) == s.ev.maxFiles {
			return stop(http.StatusRequestEntityTooLarge, "evidence.too_many", strconv.Itoa(s.ev.maxFiles))
		}
		in := evidence.Input{Filename: p.FileName(), DeclaredType: p.Header.Get("Content-Type")}
		got, err := ingest(in, body)
		if err != nil {
			return s.uploadStopped(res, err, L, stop)
		}
		res.Sizes = append(res.Sizes, got.Size)
	}
}

// uploadStopped sorts the error that ended an upload into the uploader's
// problems, reported on the page, and the server's, returned.
func (s *Server) uploadStopped(res uploadResult, err error, L *i18n.Printer, stop func(int, string, string) (uploadResult, error)) (uploadResult, error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, evidence.ErrQuota):
		return stop(http.StatusRequestEntityTooLarge, "evidence.quota", "")
	case errors.Is(err, evidence.ErrTooLarge):
		return stop(http.StatusRequestEntityTooLarge, "evidence.file_too_large", formatSize(L, s.cfg.Evidence.MaxSize()))
	case errors.As(err, &mbe):
		return stop(http.StatusRequestEntityTooLarge, "evidence.total_too_large", formatSize(L, s.ev.maxRequest))
	case errors.As(err, new(bodyError)):
		return stop(http.StatusBadRequest, "evidence.bad_upload", "")
	case errors.Is(err, evidence.ErrNoRecipients):
		s.cfg.Logger.Error("evidence refused: no custodian and in-app viewing off", "event", "evidence.no_recipients")
		return stop(http.StatusServiceUnavailable, "evidence.unavailable", "")
	}
	return res, err
}

// formatSize shows a size the way people read them.
func formatSize(L *i18n.Printer, n int64) string {
	switch {
	case n < 1<<10:
		return L.T("size.bytes", n)
	case n < 1<<20:
		return L.T("size.kib", float64(n)/(1<<10))
	case n < 1<<30:
		return L.T("size.mib", float64(n)/(1<<20))
	}
	return L.T("size.gib", float64(n)/(1<<30))
}

// evidenceProblem maps the vault's refusals to what the client is told.
func evidenceProblem(err error) error {
	switch {
	case errors.Is(err, evidence.ErrNotFound):
		return httpError(http.StatusNotFound, "error.not_found", err)
	case errors.Is(err, evidence.ErrForbidden):
		return httpError(http.StatusForbidden, "error.forbidden", err)
	case errors.Is(err, evidence.ErrDestroyed):
		return httpError(http.StatusGone, "evidence.destroyed", err)
	case errors.Is(err, evidence.ErrCustodianOnly):
		return httpError(http.StatusConflict, "evidence.custodian_only", err)
	case errors.Is(err, evidence.ErrNoWorkingCopy):
		return httpError(http.StatusUnprocessableEntity, "evidence.no_working_copy", err)
	case errors.Is(err, evidence.ErrIntegrity):
		return httpError(http.StatusInternalServerError, "evidence.integrity", err)
	case errors.Is(err, evidence.ErrInvalid):
		return httpError(http.StatusUnprocessableEntity, "evidence.invalid", err)
	case errors.Is(err, evidence.ErrNoRecipients):
		return httpError(http.StatusServiceUnavailable, "evidence.unavailable", err)
	case errors.Is(err, evidence.ErrDuplicateCustodian):
		return httpError(http.StatusConflict, "custodians.duplicate", err)
	}
	return caseProblem(err)
}

func (s *Server) needEvidence() error {
	if s.cfg.Evidence == nil {
		return errNotFound
	}
	return nil
}

// Display hints only: the vault decides, these just avoid offering
// buttons that would be refused (evidence/access.go has the rules).
var (
	originalRoles = []string{store.RoleAdmin, store.RoleCoordinator, store.RoleCaseworker, store.RoleCustodian}
	consentRoles  = originalRoles
)

// imageTypes are the working copies a browser may show: media.Strip makes
// only these.
var imageTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}

// --- the case page's section ---

// caseEvidence is the Evidence section of a case page.
type caseEvidence struct {
	Items         []evidenceRow
	CustodianOnly bool
}

type evidenceRow struct {
	ID        string
	Type      string // detected type; "" if the record cannot be read here
	Size      string // "" likewise
	Consent   string
	Trail     int
	Image     bool // has a viewable working copy
	Destroyed bool
	Request   string // the request the person sent it with; "" if filed into the case
}

// caseEvidence lists what a viewer may see of a case's evidence: the
// case's own items and those the people sent with its requests (each by
// the hotline's rules). Nil for a viewer who may not read the case's
// testimony, or when evidence is off: the section is not shown.
func (s *Server) caseEvidence(r *http.Request, u *store.User, caseID string, requests []string) (*caseEvidence, error) {
	if s.cfg.Evidence == nil {
		return nil, nil
	}
	ctx := r.Context()
	items, err := s.cfg.Evidence.Items(ctx, u, caseID)
	if errors.Is(err, evidence.ErrForbidden) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, rid := range requests {
		more, err := s.cfg.Evidence.RequestItems(ctx, u, rid)
		if errors.Is(err, evidence.ErrForbidden) || errors.Is(err, evidence.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		items = append(items, more...)
	}
	return s.evidenceRows(r, items)
}

// requestEvidence lists what the person sent with a request, for its page
// on the staff site; nil when there is nothing, or the viewer may not see
// it.
func (s *Server) requestEvidence(r *http.Request, u *store.User, requestID string) (*caseEvidence, error) {
	if s.cfg.Evidence == nil {
		return nil, nil
	}
	items, err := s.cfg.Evidence.RequestItems(r.Context(), u, requestID)
	if errors.Is(err, evidence.ErrForbidden) {
		return nil, nil
	}
	if err != nil || len(items) == 0 {
		return nil, err
	}
	return s.evidenceRows(r, items)
}

func (s *Server) evidenceRows(r *http.Request, items []evidence.Item) (*caseEvidence, error) {
	ctx := r.Context()
	L := s.newPage(r).L
	ce := &caseEvidence{CustodianOnly: s.cfg.Evidence.CustodianOnly()}
	for _, it := range items {
		row := evidenceRow{ID: it.ID, Consent: it.Consent, Destroyed: !it.DestroyedAt.IsZero(), Request: it.RequestID}
		if rec := it.Record; rec != nil {
			row.Type, row.Size = rec.SniffedType, formatSize(L, rec.Size)
			_, row.Image = imageTypes[rec.SniffedType]
			row.Image = row.Image && !row.Destroyed && !ce.CustodianOnly
		}
		// The trail's events are public in the log; the viewer may see
		// the item, which the listing checked.
		trail, err := s.cfg.Store.CustodyEvents(ctx, it.ID)
		if err != nil {
			return nil, err
		}
		row.Trail = len(trail)
		ce.Items = append(ce.Items, row)
	}
	return ce, nil
}

// --- an item's page ---

type evidenceItemView struct {
	Item        *evidence.Item
	Events      []eventRow
	SHA256      string
	Commitment  string
	Size        string
	GPS         string
	Captured    string
	Duration    string
	Extra       [][2]string
	Consents    []string
	Image       bool
	CanOriginal bool
	CanConsent  bool
	CanDestroy  bool
	Proofs      bool
	Confirm     string
	Problem     string
}

// eventRow is one custody event on an item's page, with its canonical
// encoding: what the log holds, and what its receipt proves.
type eventRow struct {
	Seq     int64
	Type    string
	Time    time.Time
	Consent string
	Logged  bool
	Index   uint64
	Entry   string
}

func (s *Server) evidenceItem(w http.ResponseWriter, r *http.Request) error {
	return s.showEvidenceItem(w, r, http.StatusOK, "")
}

func (s *Server) showEvidenceItem(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	u, id := staffFrom(r).user, r.PathValue("id")
	events, err := s.cfg.Evidence.Events(r.Context(), u, id)
	if err != nil {
		return evidenceProblem(err)
	}
	it, err := s.cfg.Evidence.Item(r.Context(), u, id)
	if errors.Is(err, evidence.ErrCustodianOnly) {
		// The server cannot read the record; the trail and what is clear
		// about the item (Events checked access) are still shown.
		var raw *store.EvidenceItem
		if raw, err = s.cfg.Store.GetEvidence(r.Context(), id); err == nil {
			it = &evidence.Item{EvidenceItem: raw}
		}
	}
	if err != nil {
		return evidenceProblem(err)
	}
	p := s.newPage(r)
	p.Title = p.L.T("evidence.item_title", shortCaseID(id))
	live := it.DestroyedAt.IsZero()
	v := evidenceItemView{Item: it, Commitment: hex.EncodeToString(it.Commitment), Consents: evidence.Consents(), Proofs: s.cfg.Proofs != nil,
		CanOriginal: live && it.Record != nil && slices.Contains(originalRoles, u.Role), CanConsent: live && slices.Contains(consentRoles, u.Role),
		CanDestroy: live && permManage.allows(u.Role), Confirm: confirmDestroy, Problem: problem}
	for _, e := range events {
		v.Events = append(v.Events, eventRow{Seq: e.Seq, Type: string(e.Type), Time: e.Time, Consent: e.Consent,
			Logged: e.Logged, Index: e.LogIndex, Entry: string(e.Encode())})
	}
	if rec := it.Record; rec != nil {
		v.SHA256, v.Size = hex.EncodeToString(rec.SHA256), formatSize(p.L, rec.Size)
		_, v.Image = imageTypes[rec.SniffedType]
		md := rec.Metadata
		if md.GPS != nil {
			// Where a photo was taken can lead to a safe house: shown here
			// only, as text, never in a working copy.
			v.GPS = fmt.Sprintf("%.6f, %.6f", md.GPS.Lat, md.GPS.Lon)
			if md.GPS.Alt != 0 {
				v.GPS += fmt.Sprintf(" (%.0f m)", md.GPS.Alt)
			}
		}
		if !md.CapturedAt.IsZero() {
			v.Captured = md.CapturedAt.Format(time.RFC3339)
		}
		if md.Duration > 0 {
			v.Duration = md.Duration.Round(time.Second).String()
		}
		for _, k := range slices.Sorted(maps.Keys(md.Extra)) {
			v.Extra = append(v.Extra, [2]string{k, md.Extra[k]})
		}
	}
	p.Data = v
	s.render(w, r, status, "evidence_item", p)
	return nil
}

// serveEvidence sends decrypted bytes. Once the status is out, a failure
// can no longer be reported: the connection is cut instead, so that the
// browser sees a failed transfer rather than a complete, wrong file.
func (s *Server) serveEvidence(w http.ResponseWriter, r *http.Request, rc io.Reader) {
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(w, rc, buf); err != nil {
		if errors.Is(err, evidence.ErrIntegrity) {
			s.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "evidence failed its integrity check", slog.String("route", r.Pattern))
		}
		panic(http.ErrAbortHandler)
	}
}

// evidenceCopy shows an item's metadata-free working copy: a viewed event
// (and, the first time, a working_copy event).
func (s *Server) evidenceCopy(w http.ResponseWriter, r *http.Request) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	id := r.PathValue("id")
	rc, ctype, err := s.cfg.Evidence.OpenWorkingCopy(r.Context(), staffFrom(r).user, id)
	if err != nil {
		return evidenceProblem(err)
	}
	defer rc.Close()
	ext, ok := imageTypes[ctype]
	if !ok {
		ctype, ext = "application/octet-stream", ".bin"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": id + "-copy" + ext}))
	// The browser's image viewer needs to load the image itself; nothing
	// else may run or load.
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	s.serveEvidence(w, r, rc)
	return nil
}

// evidenceOriginal downloads an item's original, checked against the
// SHA-256 taken at ingest: a downloaded event.
func (s *Server) evidenceOriginal(w http.ResponseWriter, r *http.Request) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	id := r.PathValue("id")
	rc, rec, err := s.cfg.Evidence.Download(r.Context(), staffFrom(r).user, id)
	if err != nil {
		return evidenceProblem(err)
	}
	defer rc.Close()
	name := rec.Filename
	if name == "" {
		name = id
	}
	h := w.Header()
	// Never the uploader's type: a hostile file must not render as a page
	// of this site.
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.FormatInt(rec.Size, 10))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	s.serveEvidence(w, r, rc)
	return nil
}

// evidenceProof downloads the offline receipt (tlog-proof) of one custody
// event, against the log's latest checkpoint.
func (s *Server) evidenceProof(w http.ResponseWriter, r *http.Request) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	id := r.PathValue("id")
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return errNotFound
	}
	events, err := s.cfg.Evidence.Events(r.Context(), staffFrom(r).user, id)
	if err != nil {
		return evidenceProblem(err)
	}
	i := slices.IndexFunc(events, func(e evidence.LoggedEvent) bool { return e.Seq == seq })
	if i < 0 || s.cfg.Proofs == nil {
		return errNotFound
	}
	if !events[i].Logged {
		return httpError(http.StatusServiceUnavailable, "evidence.proof_pending", nil)
	}
	proof, err := s.cfg.Proofs.Proof(r.Context(), events[i].LogIndex)
	if err != nil {
		// Usually no published checkpoint covers the entry yet (they
		// follow within seconds); the log says why, nothing personal.
		s.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "no receipt for a logged event", slog.Any("err", err))
		w.Header().Set("Retry-After", "10")
		return httpError(http.StatusServiceUnavailable, "evidence.proof_pending", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fmt.Sprintf("%s-%d.tlog-proof", id, seq)}))
	_, err = w.Write(proof)
	return err
}

func (s *Server) evidenceConsent(w http.ResponseWriter, r *http.Request) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	id := r.PathValue("id")
	err := s.cfg.Evidence.SetConsent(r.Context(), staffFrom(r).user, id, r.PostForm.Get("consent"))
	if errors.Is(err, evidence.ErrInvalid) {
		return s.showEvidenceItem(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("evidence.invalid"))
	}
	if err != nil {
		return evidenceProblem(err)
	}
	return seeOther(w, r, "/evidence/"+id)
}

func (s *Server) evidenceDestroy(w http.ResponseWriter, r *http.Request) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if strings.TrimSpace(r.PostForm.Get("confirm")) != confirmDestroy {
		return s.showEvidenceItem(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("evidence.destroy_confirm", confirmDestroy))
	}
	if err := s.cfg.Evidence.Destroy(r.Context(), staffFrom(r).user, id); err != nil {
		return evidenceProblem(err)
	}
	return seeOther(w, r, "/evidence/"+id)
}

// --- uploads from staff ---

type evidenceUploadView struct {
	CaseID    string
	MaxSize   string
	MaxFiles  int
	Resumable bool
	Chunk     int
	Sizes     []string // stored by the upload this page answers
	Problem   string
}

// checkCaseEvidence: actor may add evidence to (read the testimony of) the
// case.
func (s *Server) checkCaseEvidence(r *http.Request, u *store.User, caseID string) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	return caseProblem(s.cfg.Cases.CheckContent(r.Context(), u, caseID, evidence.EvidenceClass))
}

func (s *Server) evidenceUploadForm(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkCaseEvidence(r, staffFrom(r).user, r.PathValue("id")); err != nil {
		return err
	}
	return s.showUploadForm(w, r, http.StatusOK, uploadResult{})
}

func (s *Server) showUploadForm(w http.ResponseWriter, r *http.Request, status int, res uploadResult) error {
	p := s.newPage(r)
	p.Title = p.L.T("evidence.upload_title", shortCaseID(r.PathValue("id")))
	v := evidenceUploadView{CaseID: r.PathValue("id"), MaxSize: formatSize(p.L, s.cfg.Evidence.MaxSize()), MaxFiles: s.ev.maxFiles,
		Resumable: s.ev.tus != nil, Chunk: tusChunk}
	for _, n := range res.Sizes {
		v.Sizes = append(v.Sizes, formatSize(p.L, n))
	}
	if res.Problem != "" {
		v.Problem = p.L.T(res.Problem, res.Arg)
	}
	if v.Resumable {
		// This page alone runs a script: the resumable uploader, served
		// by this site (static/tus.js), talking to this site only.
		w.Header().Set("Content-Security-Policy", cspFor(s.tmpl.css, styleStaff)+"; script-src 'self'; connect-src 'self'")
	}
	p.Data = v
	s.render(w, r, status, "evidence_upload", p)
	return nil
}

// evidenceUpload stores the files of the plain upload form (no
// JavaScript) into a case.
func (s *Server) evidenceUpload(w http.ResponseWriter, r *http.Request) error {
	u, caseID := staffFrom(r).user, r.PathValue("id")
	if err := s.checkCaseEvidence(r, u, caseID); err != nil {
		return err
	}
	mr := multipartFrom(r)
	if mr == nil {
		return badForm(errMultipart)
	}
	if r.ContentLength > s.ev.maxRequest+multipartSlack {
		p := s.newPage(r)
		return s.showUploadForm(w, r, http.StatusRequestEntityTooLarge,
			uploadResult{Problem: "evidence.request_too_large", Arg: formatSize(p.L, s.ev.maxRequest)})
	}
	ctx := r.Context()
	res, err := s.ingestParts(mr, "files", s.newPage(r).L, func(in evidence.Input, body io.Reader) (*evidence.Ingested, error) {
		in.CaseID = caseID
		return s.cfg.Evidence.IngestStaff(ctx, u, in, body)
	})
	if err != nil {
		return evidenceProblem(err)
	}
	if res.Problem == "" && len(res.Sizes) > 0 {
		return seeOther(w, r, "/cases/"+caseID+"#evidence")
	}
	if res.Problem == "" {
		res.Status, res.Problem = http.StatusUnprocessableEntity, "evidence.no_files"
	}
	return s.showUploadForm(w, r, res.Status, res)
}

func (s *Server) tusScript(w http.ResponseWriter, r *http.Request) error {
	if s.ev.tus == nil {
		return errNotFound
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, err := w.Write(tusJS)
	return err
}

// --- resumable uploads (tus) ---

type ctxTus struct{}

// tusAuth is who a tus request comes from, or why it is refused.
type tusAuth struct {
	user *store.User
	err  error
}

// tusGate establishes who is asking before the tus handler (whose hooks
// are tusAuthorize and tusOwner) sees the request.
func (s *Server) tusGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.tusUser(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxTus{}, &tusAuth{u, err})))
	})
}

func tusRefusal(status int, code, msg string) error {
	return &upload.Error{Status: status, Code: code, Message: msg}
}

// tusUser does for a tus request what the staff gate does for a page: the
// vault must be unsealed (503 otherwise, so the client waits and retries),
// the session valid, the password not due for a change, and every request
// that changes something (POST, PATCH, DELETE: all but HEAD and OPTIONS)
// must carry the session's CSRF token in an X-CSRF-Token header, which no
// other origin can send (CORS is off). Creating an upload also needs a
// case the staff member may add evidence to, checked before any byte is
// stored; the ingest checks it again at the end.
func (s *Server) tusUser(r *http.Request) (*store.User, error) {
	if !s.cfg.Vault.Initialised() || s.cfg.Vault.Sealed() {
		return nil, &upload.Error{Status: http.StatusServiceUnavailable, Code: "ERR_SEALED",
			Message: "the server is sealed; uploads resume once it is unsealed", Err: keys.ErrSealed}
	}
	c, err := r.Cookie(cookieSession)
	if err != nil {
		return nil, tusRefusal(http.StatusForbidden, "ERR_LOGIN", "log in again, then resume")
	}
	u, err := s.cfg.Staff.Session(r.Context(), c.Value)
	if errors.Is(err, keys.ErrSealed) {
		return nil, &upload.Error{Status: http.StatusServiceUnavailable, Code: "ERR_SEALED", Message: "the server is sealed", Err: err}
	}
	if err != nil {
		return nil, tusRefusal(http.StatusForbidden, "ERR_LOGIN", "log in again, then resume")
	}
	if u.MustChangePassword {
		return nil, tusRefusal(http.StatusForbidden, "ERR_PASSWORD", "change your password first")
	}
	method := r.Method
	if o := r.Header.Get("X-HTTP-Method-Override"); o != "" && method == http.MethodPost {
		method = o
	}
	if method != http.MethodHead && method != http.MethodOptions && method != http.MethodGet {
		if !s.cfg.Staff.CheckCSRF(c.Value, r.Header.Get("X-CSRF-Token")) {
			return nil, tusRefusal(http.StatusForbidden, "ERR_CSRF", "reload the page, then resume")
		}
	}
	s.cfg.Vault.Touch()
	if method == http.MethodPost && r.URL.Path == tusBase {
		caseID := handler.ParseMetadataHeader(r.Header.Get("Upload-Metadata"))["case"]
		if caseID == "" {
			return nil, tusRefusal(http.StatusBadRequest, "ERR_NO_CASE", "say which case the file is for")
		}
		if err := s.cfg.Cases.CheckContent(r.Context(), u, caseID, evidence.EvidenceClass); err != nil {
			var we *webError
			if errors.As(caseProblem(err), &we) && we.status < 500 {
				return nil, &upload.Error{Status: we.status, Code: "ERR_CASE", Message: "you cannot add evidence to this case", Err: err}
			}
			return nil, err
		}
	}
	return u, nil
}

func tusFrom(r *http.Request) *tusAuth {
	if a, ok := r.Context().Value(ctxTus{}).(*tusAuth); ok {
		return a
	}
	return &tusAuth{err: tusRefusal(http.StatusForbidden, "ERR_LOGIN", "log in again")}
}

func tusAuthorize(r *http.Request) error { return tusFrom(r).err }

func tusOwner(r *http.Request) (string, error) {
	a := tusFrom(r)
	if a.err != nil {
		return "", a.err
	}
	return strconv.FormatInt(a.user.ID, 10), nil
}

// tusComplete ingests a finished resumable upload into the case named in
// its metadata, as the staff member who started it.
// The upload id is the idempotency key: a retry after a lost answer gets
// the item back instead of a second copy.
func (s *Server) tusComplete(ctx context.Context, id string, info upload.Info, body io.Reader) error {
	uid, err := strconv.ParseInt(info.Owner, 10, 64)
	if err != nil {
		return tusRefusal(http.StatusForbidden, "ERR_OWNER", "this upload has no owner")
	}
	u, err := s.cfg.Store.GetUser(ctx, uid)
	if err != nil {
		return err
	}
	in := evidence.Input{CaseID: info.Metadata["case"], Filename: info.Metadata["filename"], DeclaredType: info.Metadata["filetype"], UploadKey: "tus:" + id}
	_, err = s.cfg.Evidence.IngestStaff(ctx, u, in, strictReader{body})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, evidence.ErrForbidden), errors.Is(err, evidence.ErrNotFound):
		return &upload.Error{Status: http.StatusForbidden, Code: "ERR_CASE", Message: "you cannot add evidence to this case", Err: err}
	case errors.Is(err, evidence.ErrTooLarge):
		return &upload.Error{Status: http.StatusRequestEntityTooLarge, Code: "ERR_TOO_LARGE", Message: "the file is over the size limit", Err: err}
	case errors.Is(err, keys.ErrSealed), errors.Is(err, evidence.ErrNoRecipients):
		return &upload.Error{Status: http.StatusServiceUnavailable, Code: "ERR_UNAVAILABLE", Message: "the vault cannot store files now; retry later", Err: err}
	}
	return err
}

// --- custodians ---

type custodiansView struct {
	Custodians []evidence.Custodian
	Problem    string
	Name       string
	Recipient  string
}

func (s *Server) custodianList(w http.ResponseWriter, r *http.Request) error {
	return s.showCustodians(w, r, http.StatusOK, custodiansView{})
}

func (s *Server) showCustodians(w http.ResponseWriter, r *http.Request, status int, v custodiansView) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	list, err := s.cfg.Evidence.Custodians(r.Context(), staffFrom(r).user)
	if err != nil {
		return evidenceProblem(err)
	}
	p := s.newPage(r)
	p.Title = p.L.T("custodians.title")
	v.Custodians = list
	p.Data = v
	s.render(w, r, status, "evidence_custodians", p)
	return nil
}

func (s *Server) custodianAdd(w http.ResponseWriter, r *http.Request) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	name, recipient := r.PostForm.Get("name"), r.PostForm.Get("recipient")
	_, err := s.cfg.Evidence.AddCustodian(r.Context(), staffFrom(r).user, name, recipient)
	var key string
	switch {
	case err == nil:
		return seeOther(w, r, "/admin/custodians")
	case errors.Is(err, evidence.ErrDuplicateCustodian):
		key = "custodians.duplicate"
	case errors.Is(err, evidence.ErrInvalid):
		key = "custodians.invalid"
	default:
		return evidenceProblem(err)
	}
	return s.showCustodians(w, r, http.StatusUnprocessableEntity,
		custodiansView{Problem: s.newPage(r).L.T(key), Name: name, Recipient: recipient})
}

func (s *Server) custodianDisable(w http.ResponseWriter, r *http.Request) error {
	if err := s.needEvidence(); err != nil {
		return err
	}
	if err := s.cfg.Evidence.DisableCustodian(r.Context(), staffFrom(r).user, r.PathValue("id")); err != nil {
		return evidenceProblem(err)
	}
	return seeOther(w, r, "/admin/custodians")
}
