package upload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/corridor-org/corridor/internal/keys"
)

// FuzzHandlerHeaders sends requests with arbitrary tus headers and bodies
// through the whole handler: no panic, no 5xx (none is correct here: the
// keyring works and the disk is fine), and an upload never holds more than
// its length.
func FuzzHandlerHeaders(f *testing.F) {
	dir := f.TempDir()
	s := newStore(f, dir, newKeyring(), Options{MaxSize: 1 << 20})
	h, err := NewHandler(s, HandlerConfig{
		BasePath:  testBase,
		Authorize: func(*http.Request) error { return nil },
		Owner:     func(*http.Request) (string, error) { return "alice", nil },
		OnComplete: func(_ context.Context, _ string, _ Info, body io.Reader) error {
			_, err := io.Copy(io.Discard, body)
			return err
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	up, err := s.NewUpload(withOwner(context.Background(), "alice"), fileInfo(1000))
	if err != nil {
		f.Fatal(err)
	}
	fi, _ := up.GetInfo(context.Background())
	known := fi.ID

	f.Add(uint8(0), uint8(0), "", "100", "", "1.0.0", "", "application/offset+octet-stream", []byte("hello"))
	f.Add(uint8(1), uint8(1), "0", "", "", "1.0.0", "", "application/offset+octet-stream", []byte("hello"))
	f.Add(uint8(1), uint8(1), "5", "", "", "1.0.0", "", "application/offset+octet-stream", bytes.Repeat([]byte("x"), 995))
	f.Add(uint8(2), uint8(1), "", "", "", "", "", "", []byte(nil))
	f.Add(uint8(3), uint8(1), "", "", "", "1.0.0", "", "", []byte(nil))
	f.Add(uint8(0), uint8(0), "", "", "filename aGVsbG8=,filetype,bad !!!", "1.0.0", "1", "", []byte(nil))
	f.Add(uint8(0), uint8(0), "", "-1", "a b c,,  ,", "0.2.2", "", "", []byte(nil))
	f.Add(uint8(0), uint8(0), "", "9223372036854775807", "", "1.0.0", "0", "", []byte(nil))
	f.Add(uint8(1), uint8(2), "-1", "12", "", "1.0.0", "", "application/offset+octet-stream", []byte("x"))
	f.Add(uint8(1), uint8(3), "0", "", "", "1.0.0", "", "application/offset+octet-stream", []byte("x"))
	f.Add(uint8(4), uint8(0), "", "", "", "1.0.0", "", "", []byte(nil))
	f.Add(uint8(5), uint8(1), "0", "", "", "1.0.0", "", "application/offset+octet-stream", []byte("x"))

	methods := []string{http.MethodPost, http.MethodPatch, http.MethodHead, http.MethodDelete, http.MethodOptions, http.MethodGet}
	f.Fuzz(func(t *testing.T, method, target uint8, offset, length, meta, resumable, deferLen, ctype string, body []byte) {
		path := testBase
		switch target % 4 {
		case 1:
			path += known
		case 2:
			path += newID()
		case 3:
			path += "../" + known
		}
		req := httptest.NewRequest(methods[int(method)%len(methods)], "http://staff.example"+path, bytes.NewReader(body))
		for k, v := range map[string]string{
			"Upload-Offset": offset, "Upload-Length": length, "Upload-Metadata": meta,
			"Tus-Resumable": resumable, "Upload-Defer-Length": deferLen, "Content-Type": ctype,
		} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		if method >= 128 {
			req.Header.Set("X-HTTP-Method-Override", methods[int(method/8)%len(methods)])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %q", req.Method, path, w.Code, w.Body.String())
		}
		if loc := w.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, testBase) {
			t.Fatalf("Location %q", loc)
		}
		if u, err := s.GetUpload(context.Background(), known); err == nil {
			if fi, err := u.GetInfo(context.Background()); err != nil || fi.Offset > fi.Size {
				t.Fatalf("known upload: %+v, %v", fi, err)
			}
		}
	})
}

// FuzzFrames feeds arbitrary data files to the scanner and the reader:
// no panic, and they agree: the reader returns exactly what the scan
// counted, then fails or ends.
func FuzzFrames(f *testing.F) {
	const id = "0123456789abcdef0123456789abcdef"
	aead, err := chacha20poly1305.NewX(keys.Subkey(make([]byte, 32), purposeFrames))
	if err != nil {
		f.Fatal(err)
	}
	valid := sealFrame(nil, aead, id, 0, []byte("first frame"))
	valid = sealFrame(valid, aead, id, 11, bytes.Repeat([]byte{7}, 1000))
	f.Add(valid, int64(1011))
	f.Add(valid[:len(valid)-1], int64(1011))
	f.Add(valid, int64(5))
	f.Add(append(valid, 0, 0, 0, 1), int64(2000))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, int64(10))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, data []byte, limit int64) {
		if limit < 0 {
			limit = -(limit + 1)
		}
		tl, err := scanFrames(bytes.NewReader(data), aead, id, limit)
		if err != nil {
			t.Fatalf("scan of an in-memory file: %v", err)
		}
		if tl.end > int64(len(data)) || tl.plain > limit || tl.plain > tl.end {
			t.Fatalf("scan: %+v of %d bytes, limit %d", tl, len(data), limit)
		}
		r := &plainReader{d: newFrameDecoder(bytes.NewReader(data), aead, id, tl.plain), size: tl.plain}
		got, err := io.ReadAll(r)
		if err != nil || int64(len(got)) != tl.plain {
			t.Fatalf("read %d bytes, %v; scan counted %d", len(got), err, tl.plain)
		}
		// Asking for more than the scan found must fail, not invent bytes.
		if tl.plain < limit {
			r := &plainReader{d: newFrameDecoder(bytes.NewReader(data), aead, id, limit), size: tl.plain + 1}
			if _, err := io.ReadAll(r); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("reading past the scan: %v", err)
			}
		}
		if n, err := parseFrameHeader(data); err == nil && (n < 1 || n > frameSize) {
			t.Fatalf("header length %d", n)
		}
	})
}

// FuzzInfoFile parses arbitrary info files and records: no panic, and a
// file that parses is rebuilt exactly from its parts.
func FuzzInfoFile(f *testing.F) {
	const id = "0123456789abcdef0123456789abcdef"
	dk := make([]byte, 32)
	good, err := encodeInfoFile(id, []byte("wrapped"), dk, record{V: 1, Size: 10, Meta: map[string]string{"filename": "a"}, Owner: "o", Created: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(infoMagic)+3])
	f.Add([]byte(infoMagic + "\x00\x00"))
	f.Add([]byte(`{"v":1,"size":10,"meta":{"filename":"a"},"owner":"o","created":1}`))
	f.Add([]byte(`{"v":1,"size":-1,"created":1}`))
	f.Add([]byte(`{"v":1,"size":0,"deferred":true,"created":1} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if w, sealed, err := parseInfoFile(b); err == nil {
			rebuilt := append([]byte(infoMagic), byte(len(w)>>8), byte(len(w)))
			rebuilt = append(append(rebuilt, w...), sealed...)
			if !bytes.Equal(rebuilt, b) {
				t.Fatal("parse lost bytes")
			}
			_, _ = openRecord(id, dk, sealed)
		}
		if rec, err := decodeRecord(b); err == nil {
			if rec.Size < 0 || rec.V != recordVersion {
				t.Fatalf("accepted %+v", rec)
			}
			if _, err := encodeInfoFile(id, []byte("w"), dk, rec); err != nil && !errors.Is(err, ErrMetadataTooLarge) {
				t.Fatalf("re-encode: %v", err)
			}
		}
	})
}
