package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/keys"
)

// BenchmarkSubmit measures a request submitted through the public form,
// with the production receipt KDF and, as the baseline beside it, with
// the cheapest argon2id the code accepts — the difference is the KDF.
func BenchmarkSubmit(b *testing.B) {
	for _, tc := range []struct {
		name string
		kdf  keys.KDFParams
	}{{"receipt-kdf=production", keys.ReceiptKDF}, {"receipt-kdf=minimal", keys.TestKDF}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarnessKDF(b, true, tc.kdf)
			handler := h.srv.PublicHandler()
			form := url.Values{"what_happened": {strings.Repeat("Меня задержали и били. ", 40)}, "urgency": {"immediate"},
				"location": {"Грозный"}, "languages": {"ru", "ce"}}.Encode()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// Each submission carries a fresh one-time token, as the
				// form page would give it.
				i++
				body := form + fmt.Sprintf("&nonce=bench-nonce-%016d", i)
				req := httptest.NewRequest("POST", "/ru/request", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkReceiptKDF is the KDF alone, to read the submission figures.
func BenchmarkReceiptKDF(b *testing.B) {
	salt := []byte("0123456789abcdef")
	for b.Loop() {
		keys.DerivePerson("1234567890123456", salt, keys.ReceiptKDF)
	}
}

// seed imports n requests directly (no receipt KDF), spread over a year.
func seed(b *testing.B, h *harness, n int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now().Add(-365 * 24 * time.Hour)
	urg := []string{"immediate", "days", "weeks", "not_urgent"}
	for i := range n {
		a := intake.Answers{"what_happened": {fmt.Sprintf("Request %d: detained at a checkpoint, phone taken, needs to leave the region", i)},
			"urgency": {urg[i%4]}, "location": {"Region " + fmt.Sprint(i%80)}}
		if _, err := h.intake.Import(ctx, a, "ru", start.Add(time.Duration(i)*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInbox renders the first inbox page for a coordinator with 10,000
// requests, beside the same page with 50 requests as the baseline: the
// page must not grow with the number of requests.
func BenchmarkInbox(b *testing.B) {
	for _, n := range []int{50, 10000} {
		b.Run(fmt.Sprintf("requests=%d", n), func(b *testing.B) {
			h := newHarness(b, true)
			seed(b, h, n)
			c := h.login(h.admin)
			handler := h.srv.StaffHandler()
			req := httptest.NewRequest("GET", "/requests", nil)
			for _, ck := range c.c.Jar.Cookies(mustURL(h.staffURL)) {
				req.AddCookie(ck)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkLandingPage renders the public landing page and reports its
// size: the whole page, stylesheet included, is one request and must stay
// under 32 KiB for slow, expensive connections.
func BenchmarkLandingPage(b *testing.B) {
	h := newHarness(b, true)
	handler := h.srv.PublicHandler()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/ru/", nil))
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "page-bytes")
	b.ReportMetric(32<<10, "budget-bytes")
	if size > 32<<10 {
		b.Errorf("landing page is %d bytes", size)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
