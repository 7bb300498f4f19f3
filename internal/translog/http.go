package translog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Cache lifetimes, per tlog-tiles: the checkpoint is mutable and must not
// be cached beyond a few seconds; tiles, entry bundles (full or partial)
// and timestamps never change once written.
const (
	cacheCheckpoint = "public, max-age=5"
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheKey        = "public, max-age=86400"
)

// Handler serves the log read-only, at paths relative to where it is
// mounted (the web layer strips "/log"):
//
//	checkpoint                      the latest cosigned checkpoint (text)
//	key                             the log's verifier key (text)
//	tile/<L>/<N>[.p/<W>]            Merkle tree tiles
//	tile/entries/<N>[.p/<W>]        entry bundles
//	timestamp/<size>                RFC 3161 token (DER) for that checkpoint
//	timestamp/<size>.checkpoint     the exact checkpoint note it covers
//
// Anything else, including the log's private state files, is 404; there
// are no directory listings. Paths are parsed strictly, so nothing outside
// those files can be named.
func (l *Log) Handler() http.Handler {
	var vkey string
	if vk, ok := l.cfg.Signer.(interface{ VerifierKey() string }); ok {
		vkey = vk.VerifierKey()
	}
	return &files{root: l.root.Load, vkey: vkey}
}

// DirHandler serves the log in dir exactly as Log.Handler does, without
// opening it for writing: for the public site while the server is sealed
// (no signing key, so no sequencer), since monitors and witnesses keep
// polling. vkey is the log's verifier key, which is public.
func DirHandler(dir, vkey string) (http.Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("translog: %w", err)
	}
	return &files{root: func() *os.Root { return root }, vkey: vkey}, nil
}

// files serves a log directory read-only.
type files struct {
	root func() *os.Root // nil once the log is closed
	vkey string
}

func (l *files) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	switch {
	case p == "checkpoint":
		l.serveFile(w, r, "checkpoint", "text/plain; charset=utf-8", cacheCheckpoint)
	case p == "key":
		if l.vkey == "" {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", cacheKey)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(l.vkey+"\n"))
	case strings.HasPrefix(p, "tile/"):
		if !validTilePath(strings.TrimPrefix(p, "tile/")) {
			http.NotFound(w, r)
			return
		}
		l.serveFile(w, r, p, "application/octet-stream", cacheImmutable)
	case strings.HasPrefix(p, "timestamp/"):
		name := strings.TrimPrefix(p, "timestamp/")
		base, isCP := strings.CutSuffix(name, checkpointSuffix)
		if _, err := parseDecimal(base); err != nil {
			http.NotFound(w, r)
			return
		}
		if isCP {
			l.serveFile(w, r, timestampsDir+"/"+name, "text/plain; charset=utf-8", cacheImmutable)
		} else {
			l.serveFile(w, r, timestampsDir+"/"+name, "application/octet-stream", cacheImmutable)
		}
	default:
		http.NotFound(w, r)
	}
}

// serveFile serves name, a path already validated, from inside Dir.
func (l *files) serveFile(w http.ResponseWriter, r *http.Request, name, contentType, cache string) {
	// The root confines the open to the directory: no symlink or ".."
	// escapes.
	root := l.root()
	if root == nil {
		http.Error(w, "log closed", http.StatusServiceUnavailable)
		return
	}
	b, err := root.ReadFile(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cache)
	// No modification time: ServeContent would send Last-Modified, which
	// says nothing a client needs.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// validTilePath reports whether p (after "tile/") is a tlog-tiles path:
// "<L>/<N>[.p/<W>]" with L in 0..63, or "entries/<N>[.p/<W>]"; N is in
// zero-padded three-digit elements, all but the last prefixed with "x";
// W is 1..255 without leading zeroes.
func validTilePath(p string) bool {
	level, rest, ok := strings.Cut(p, "/")
	if !ok {
		return false
	}
	if level != "entries" {
		n, err := parseDecimal(level)
		if err != nil || n > 63 {
			return false
		}
	}
	index, width, partial := strings.Cut(rest, ".p/")
	if partial {
		w, err := parseDecimal(width)
		if err != nil || w < 1 || w > 255 {
			return false
		}
	}
	elems := strings.Split(index, "/")
	for i, e := range elems {
		if i < len(elems)-1 {
			if !strings.HasPrefix(e, "x") {
				return false
			}
			e = e[1:]
		}
		if len(e) != 3 {
			return false
		}
		if _, err := strconv.ParseUint(e, 10, 16); err != nil || strings.ContainsAny(e, "+-") {
			return false
		}
	}
	return true
}
