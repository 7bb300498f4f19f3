package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPublicForms throws arbitrary bodies at the public POST handlers: the
// answer is always a page (2xx, 3xx or 4xx), never a crash or a 500.
func FuzzPublicForms(f *testing.F) {
	h := newHarness(f, true)
	handler := h.srv.PublicHandler()
	paths := []string{"/en/request", "/ru/request", "/en/return", "/ru/conversation", "/en/leave", "/en/conversation/show"}
	f.Add(uint8(0), "application/x-www-form-urlencoded", "what_happened=x&urgency=days")
	f.Add(uint8(0), "application/x-www-form-urlencoded", "what_happened=%ff%00&urgency=days&urgency=weeks&languages=ru&languages=ru")
	f.Add(uint8(1), "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"what_happened\"\r\n\r\nhi\r\n--x--\r\n")
	f.Add(uint8(2), "application/x-www-form-urlencoded", "receipt=%2B79+123+456-78-90%2C+1232")
	f.Add(uint8(2), "application/x-www-form-urlencoded", "receipt=abacus-abacus-abacus-abacus-abacus-abacus")
	f.Add(uint8(2), "text/plain", "receipt=%%%")
	f.Add(uint8(3), "application/x-www-form-urlencoded", "body=x&csrf=y")
	f.Fuzz(func(t *testing.T, which uint8, ctype, body string) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s (%s) %q = %d", path, ctype, body, rec.Code)
		}
		if rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "<script") {
			t.Fatalf("script in a page")
		}
	})
}
