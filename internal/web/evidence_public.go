package web

import (
	"crypto/subtle"
	"io"
	"net/http"

	"github.com/corridor-org/corridor/internal/evidence"
)

// personEvidence is the evidence part of the person's conversation page:
// the upload form, and what the last upload stored.
type personEvidence struct {
	Nonce    string
	MaxSize  string
	MaxFiles int
	Sizes    []string // of the files the last upload stored: counts and sizes only
	Problem  string
}

// personEvidenceForm completes v (nil: a fresh form) for a conversation
// page: a one-time token for its upload form. Nil when evidence is off.
func (s *Server) personEvidenceForm(ps *personSession, v *personEvidence, p *page) *personEvidence {
	if s.cfg.Evidence == nil {
		return nil
	}
	if v == nil {
		v = &personEvidence{}
	}
	v.Nonce = s.persons.nonce(ps)
	v.MaxSize, v.MaxFiles = formatSize(p.L, min(s.cfg.Evidence.MaxSize(), s.ev.maxRequest)), s.ev.maxFiles
	return v
}

// personUpload stores the files a person sends from their return page: a
// plain multipart form, no JavaScript. Its first parts are the session's
// CSRF token and a one-time token (a reload of the page it returned must
// not store the files twice), then the files, each streamed straight into
// the vault, sealed on arrival (this works while the server is sealed),
// and filed with the person's request, so whoever may read the request,
// and the cases it is linked to, sees them. The person is shown how many
// files were stored and their sizes, nothing else. Nothing about the
// person or the files is logged.
func (s *Server) personUpload(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	if s.cfg.Evidence == nil {
		return errNotFound
	}
	p := s.newPage(r)
	ps := s.personSession(r)
	if ps == nil {
		return seeOther(w, r, "/"+p.L.Lang+"/return")
	}
	show := func(status int, v *personEvidence) error {
		return s.showConversation(w, r, p, ps, status, conversationView{Evidence: v})
	}
	if !isMultipart(r) {
		return badForm(errMultipart)
	}
	if r.ContentLength > s.ev.maxRequest+multipartSlack {
		// Refused before a byte of it is read.
		return show(http.StatusRequestEntityTooLarge, &personEvidence{Problem: p.L.T("evidence.request_too_large", formatSize(p.L, s.ev.maxRequest))})
	}
	mr, vals, err := leadingFields(w, r, "csrf", "nonce")
	if err != nil {
		return badForm(err)
	}
	if subtle.ConstantTimeCompare([]byte(vals[0]), []byte(ps.csrf)) != 1 {
		return errCSRF
	}
	if !s.persons.useNonce(ps, vals[1]) {
		return show(http.StatusConflict, &personEvidence{Problem: p.L.T("evidence.form_used")})
	}
	if !s.messageLimit.Allow(ps.access.RequestID) {
		return show(http.StatusTooManyRequests, &personEvidence{Problem: p.L.T("error.busy")})
	}
	ctx := r.Context()
	requestID := ps.access.RequestID
	res, err := s.ingestParts(mr, "files", p.L, func(in evidence.Input, body io.Reader) (*evidence.Ingested, error) {
		return s.cfg.Evidence.IngestPerson(ctx, requestID, in, body)
	})
	if err != nil {
		return err
	}
	v := &personEvidence{}
	for _, n := range res.Sizes {
		v.Sizes = append(v.Sizes, formatSize(p.L, n))
	}
	status := http.StatusOK
	switch {
	case res.Problem != "":
		v.Problem, status = p.L.T(res.Problem, res.Arg), res.Status
	case len(res.Sizes) == 0:
		v.Problem, status = p.L.T("evidence.no_files"), http.StatusUnprocessableEntity
	}
	return show(status, v)
}

// mountLog serves the transparency log at /log/ beside the public site.
// The log is public and its tiles never change, so, unlike every page of
// the site, they may be cached and fetched from anywhere: the log's own
// handler sets their Cache-Control, and none of the site's no-store, CSP
// for pages and same-origin rules apply. Nothing about a person is ever
// in the log.
func (s *Server) mountLog(site http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", site)
	mux.Handle("/log/", http.StripPrefix("/log", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if s.cfg.Log == nil {
			h.Set("Cache-Control", "no-store")
			http.NotFound(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 0)
		s.cfg.Log.ServeHTTP(w, r)
	})))
	return mux
}
