package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// handlerFunc is an HTTP handler that returns its failure instead of
// writing it, so one place decides what the client is told.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// webError carries a status and a translation key: the safe message. The
// wrapped error, which may hold details, is only logged (by type).
type webError struct {
	status int
	key    string
	err    error
}

func (e *webError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%d %s: %v", e.status, e.key, e.err)
	}
	return fmt.Sprintf("%d %s", e.status, e.key)
}

func (e *webError) Unwrap() error { return e.err }

func httpError(status int, key string, err error) error {
	return &webError{status: status, key: key, err: err}
}

var (
	errNotFound  = &webError{status: http.StatusNotFound, key: "error.not_found"}
	errForbidden = &webError{status: http.StatusForbidden, key: "error.forbidden"}
	errCSRF      = &webError{status: http.StatusForbidden, key: "error.csrf"}
	errBusy      = &webError{status: http.StatusTooManyRequests, key: "error.busy"}
)

// classify maps any error to what the client is told.
func classify(err error) *webError {
	var we *webError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &webError{status: http.StatusRequestEntityTooLarge, key: "error.too_large", err: err}
	case errors.As(err, &we):
		return we
	case errors.Is(err, store.ErrNotFound):
		return &webError{status: http.StatusNotFound, key: "error.not_found", err: err}
	case errors.Is(err, intake.ErrForbidden):
		return &webError{status: http.StatusForbidden, key: "error.forbidden", err: err}
	case errors.Is(err, keys.ErrSealed):
		return &webError{status: http.StatusServiceUnavailable, key: "error.sealed", err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &webError{status: http.StatusServiceUnavailable, key: "error.busy", err: err}
	}
	return &webError{status: http.StatusInternalServerError, key: "error.internal", err: err}
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (uploads move
// its deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// adapt turns a handlerFunc into an http.Handler: it renders errors and
// logs one line per request with the route pattern (never the path,
// which can hold ids), the status and the duration — nothing about who
// asked.
func (s *Server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.cfg.Now()
		sw := &statusWriter{ResponseWriter: w}
		err := h(sw, r)
		if err != nil {
			we := classify(err)
			if we.status >= 500 && we.status != http.StatusServiceUnavailable {
				s.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "handler failed",
					slog.String("route", r.Pattern), slog.Any("err", err))
			}
			if sw.status == 0 {
				s.renderError(sw, r, we)
			}
		}
		s.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("route", r.Pattern), slog.Int("status", sw.status),
			slog.Duration("duration", s.cfg.Now().Sub(start).Round(time.Millisecond)))
	})
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, we *webError) {
	p := s.newPage(r)
	p.Title = p.L.T("error.title")
	p.Data = struct {
		Status  int
		Message string
		Sealed  bool
	}{we.status, p.L.T(we.key), we.key == "error.sealed"}
	s.render(w, r, we.status, "error", p)
}

func badForm(err error) error { return httpError(http.StatusBadRequest, "error.bad_form", err) }
