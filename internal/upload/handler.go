package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tus/tusd/v2/pkg/handler"
	"golang.org/x/exp/slog"
)

// HandlerConfig configures the tus endpoint.
type HandlerConfig struct {
	// BasePath is the path the handler is mounted at, e.g. "/uploads/".
	BasePath string
	// MaxSize lowers the store's size limit for this endpoint (0: the
	// store's).
	MaxSize int64
	// Authorize runs first on every request (required). An error refuses
	// the request: 403, or the status of an *Error.
	Authorize func(r *http.Request) error
	// Owner names the staff member making the request (optional). It is
	// sealed into a new upload's record, and every later request for that
	// upload must come from the same owner: 403 otherwise.
	Owner func(r *http.Request) (string, error)
	// OnComplete ingests a finished upload (required). It runs before the
	// final PATCH is answered, with the decrypted, authenticated bytes in
	// body, and must read body to its end. The client is told 204 only
	// when it returns nil; the staged files are then removed. On an error
	// the client gets an error status (500, or that of an *Error, or 503
	// for ErrKeyUnavailable) and the upload stays staged: the client's
	// retry sends its last bytes again and OnComplete runs again. ctx is
	// not cancelled when the client goes away, so an ingest that started
	// finishes. id is stable across such retries: an ingest can use it to
	// stay idempotent if the process dies between ingesting and answering.
	OnComplete func(ctx context.Context, id string, info Info, body io.Reader) error
}

// Error is an answer a hook (Authorize, Owner, OnComplete) chooses: the
// HTTP status and a message for the client, which must say nothing about
// a person. Err, the cause, is never sent.
type Error struct {
	Status  int
	Code    string // e.g. "ERR_NOT_ALLOWED"
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("upload: %d %s: %v", e.Status, e.Code, e.Err)
	}
	return fmt.Sprintf("upload: %d %s", e.Status, e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) tus() handler.Error {
	code, msg, status := e.Code, e.Message, e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	if code == "" {
		code = "ERR_REFUSED"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return handler.NewError(code, msg, status)
}

// The answers this package gives beyond tusd's own.
var (
	errAnswerForbidden = handler.NewError("ERR_FORBIDDEN", "not allowed", http.StatusForbidden)
	errAnswerNotOwner  = handler.NewError("ERR_FORBIDDEN", "this upload was started by another staff member", http.StatusForbidden)
	errAnswerEmpty     = handler.NewError("ERR_EMPTY_UPLOAD", "an empty file cannot be uploaded", http.StatusBadRequest)
	errAnswerMeta      = handler.NewError("ERR_METADATA_TOO_LARGE", "Upload-Metadata is too large", http.StatusBadRequest)
	errAnswerCorrupt   = handler.NewError("ERR_UPLOAD_CORRUPT", "the staged upload cannot be read; delete it and start again", http.StatusInternalServerError)
	errAnswerInternal  = handler.NewError("ERR_INTERNAL_SERVER_ERROR", "internal error", http.StatusInternalServerError)
	errAnswerIngest    = handler.NewError("ERR_INGEST_FAILED", "the file arrived but could not be stored; retry", http.StatusInternalServerError)
	errAnswerPaused    = func() handler.Error {
		e := handler.NewError("ERR_UPLOADS_PAUSED", "uploads are paused while the vault is sealed; retry later", http.StatusServiceUnavailable)
		e.HTTPResponse.Header["Retry-After"] = "60"
		return e
	}()
)

// answer maps an error to what the client is told. tusd would otherwise
// send err.Error() as the body of a 500.
func answer(err error) handler.Error {
	var ue *Error
	var he handler.Error
	switch {
	case errors.As(err, &ue):
		return ue.tus()
	case errors.As(err, &he):
		return he
	case errors.Is(err, ErrNotFound):
		return handler.ErrNotFound
	case errors.Is(err, ErrTooLarge):
		return handler.ErrMaxSizeExceeded
	case errors.Is(err, ErrEmpty):
		return errAnswerEmpty
	case errors.Is(err, ErrMetadataTooLarge):
		return errAnswerMeta
	case errors.Is(err, ErrKeyUnavailable):
		return errAnswerPaused
	case errors.Is(err, ErrForbidden):
		return errAnswerNotOwner
	case errors.Is(err, errOffset):
		return handler.ErrMismatchOffset
	case errors.Is(err, ErrCorrupt):
		return errAnswerCorrupt
	}
	return errAnswerInternal
}

// tusErr carries both the store's error (for errors.Is) and the answer
// tusd sends (tusd looks for a handler.Error with errors.As).
type tusErr struct {
	resp handler.Error
	err  error
}

func (e *tusErr) Error() string { return e.err.Error() }
func (e *tusErr) Unwrap() error { return e.err }

func (e *tusErr) As(target any) bool {
	if t, ok := target.(*handler.Error); ok {
		*t = e.resp
		return true
	}
	return false
}

func tusError(err error) error {
	var he handler.Error
	if err == nil || errors.As(err, &he) {
		return err
	}
	return &tusErr{resp: answer(err), err: err}
}

// NewHandler returns the tus 1.0.0 endpoint (core, creation,
// creation-with-upload, creation-defer-length, termination) for s, to be
// mounted at cfg.BasePath. Downloads and concatenation are off; CORS is
// off (the staff pages are same-origin); tusd's logger discards
// everything, since tusd logs client addresses and paths.
func NewHandler(s *Store, cfg HandlerConfig) (http.Handler, error) {
	if cfg.Authorize == nil {
		return nil, errors.New("upload: HandlerConfig.Authorize is required")
	}
	if cfg.OnComplete == nil {
		return nil, errors.New("upload: HandlerConfig.OnComplete is required")
	}
	base := cfg.BasePath
	if !strings.HasPrefix(base, "/") {
		return nil, fmt.Errorf("upload: BasePath %q must be a path starting with /", base)
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	maxSize := s.maxSize
	if cfg.MaxSize > 0 && cfg.MaxSize < maxSize {
		maxSize = cfg.MaxSize
	}
	h := &tusHandler{s: s, cfg: cfg}
	composer := handler.NewStoreComposer()
	s.UseIn(composer)
	th, err := handler.NewHandler(handler.Config{
		StoreComposer:             composer,
		BasePath:                  base,
		MaxSize:                   maxSize,
		DisableDownload:           true,
		DisableConcatenation:      true,
		Cors:                      &handler.CorsConfig{Disable: true},
		Logger:                    slog.New(discardHandler{}),
		PreFinishResponseCallback: h.finish,
	})
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return http.StripPrefix(strings.TrimSuffix(base, "/"), h.gate(th)), nil
}

type tusHandler struct {
	s   *Store
	cfg HandlerConfig
}

// gate runs the hooks before tusd sees the request.
func (h *tusHandler) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := h.cfg.Authorize(r); err != nil {
			refuse(w, r, hookAnswer(err, errAnswerForbidden))
			return
		}
		owner := ""
		if h.cfg.Owner != nil {
			var err error
			if owner, err = h.cfg.Owner(r); err != nil {
				refuse(w, r, hookAnswer(err, errAnswerForbidden))
				return
			}
			// Every request naming an upload (whatever the method, since
			// X-HTTP-Method-Override can turn a POST into a PATCH).
			if id := strings.Trim(r.URL.Path, "/"); id != "" {
				got, err := h.s.owner(r.Context(), id)
				if err != nil {
					refuse(w, r, answer(err))
					return
				}
				if got != owner {
					refuse(w, r, errAnswerNotOwner)
					return
				}
			}
		}
		r = r.WithContext(withOwner(r.Context(), owner))
		next.ServeHTTP(&relativeLocation{ResponseWriter: w}, r)
	})
}

// hookAnswer is the answer to a hook's error: its own if it chose one.
func hookAnswer(err error, otherwise handler.Error) handler.Error {
	var ue *Error
	if errors.As(err, &ue) {
		return ue.tus()
	}
	if errors.Is(err, ErrKeyUnavailable) {
		return errAnswerPaused
	}
	return otherwise
}

// refuse answers as tusd does.
func refuse(w http.ResponseWriter, r *http.Request, e handler.Error) {
	hd := w.Header()
	hd.Set("Tus-Resumable", "1.0.0")
	hd.Set("X-Content-Type-Options", "nosniff")
	for k, v := range e.HTTPResponse.Header {
		hd.Set(k, v)
	}
	w.WriteHeader(e.HTTPResponse.StatusCode)
	if r.Method != http.MethodHead {
		io.WriteString(w, e.HTTPResponse.Body)
	}
}

// finish is tusd's PreFinishResponseCallback: ingest, then drop the
// staged files.
func (h *tusHandler) finish(ev handler.HookEvent) (handler.HTTPResponse, error) {
	// The ingest of gigabytes must not be cut short by a client that
	// stopped waiting for the answer; the work would only be repeated.
	ctx := context.WithoutCancel(ev.Context)
	id := ev.Upload.ID
	body, info, err := h.s.Reader(ctx, id)
	if err != nil {
		return handler.HTTPResponse{}, tusError(err)
	}
	defer body.Close()
	if err := h.cfg.OnComplete(ctx, id, info, body); err != nil {
		return handler.HTTPResponse{}, &tusErr{resp: hookAnswer(err, errAnswerIngest), err: err}
	}
	// Only a body read to its end was authenticated to its end.
	var one [1]byte
	if n, err := body.Read(one[:]); n != 0 || err != io.EOF {
		return handler.HTTPResponse{}, &tusErr{resp: errAnswerIngest, err: errors.New("upload: OnComplete did not read the whole file")}
	}
	if err := h.s.markDone(ctx, id); err != nil {
		// The file is ingested: answering an error would make the client
		// send it again. Drop the staging files altogether instead (if
		// even that fails, Sweep gets them when they expire).
		_ = h.s.Remove(ctx, id)
	}
	return handler.HTTPResponse{}, nil
}

// relativeLocation turns tusd's absolute Location into a path, which
// clients resolve against the URL they used: tusd builds the absolute URL
// from the Host header and the TLS state it sees, both wrong behind a
// TLS-terminating proxy.
type relativeLocation struct {
	http.ResponseWriter
}

func (w *relativeLocation) WriteHeader(code int) {
	if loc := w.Header().Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil && u.IsAbs() {
			w.Header().Set("Location", u.EscapedPath())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (tusd sets deadlines) reach the
// connection.
func (w *relativeLocation) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// discardHandler drops every record: tusd logs remote addresses and paths,
// and nothing about a person may reach a log.
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
