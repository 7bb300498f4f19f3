package web

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// style selects which stylesheet hash the CSP allows on a site.
type style int

const (
	stylePublic style = iota
	styleStaff
)

func cspFor(css []byte, st style) string {
	sum := sha256.Sum256(css)
	h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	// No script-src at all: nothing on either site needs JavaScript.
	csp := "default-src 'none'; style-src " + h + "; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	if st == styleStaff {
		// TOTP enrolment QR codes are rendered by the server as inline PNG.
		csp += "; img-src data:"
	}
	return csp
}

// common wraps a site with the headers every page needs and the limits
// every request gets.
func (s *Server) common(h http.Handler, st style) http.Handler {
	csp := cspFor(s.tmpl.css, st)
	cop := http.NewCrossOriginProtection()
	inner := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		// Nothing may stay in the browser's cache on a seized phone.
		hd.Set("Cache-Control", "no-store, max-age=0")
		hd.Set("Pragma", "no-cache")
		hd.Set("Expires", "0")
		hd.Set("Content-Security-Policy", csp)
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		r.Body = http.MaxBytesReader(w, r.Body, s.bodyLimit(r, st))
		inner.ServeHTTP(w, r)
	})
}

func onionLocation(onion string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Onion-Location", onion+r.URL.RequestURI())
		h.ServeHTTP(w, r)
	})
}
