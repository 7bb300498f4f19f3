package translog

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// testAuthority is an in-process RFC 3161 authority: a root CA and a
// time-stamping leaf certificate.
type testAuthority struct {
	cert    *x509.Certificate // root
	key     crypto.Signer
	leaf    *x509.Certificate
	leafKey crypto.Signer
}

type leafOpts struct {
	noEKU               bool
	notBefore, notAfter time.Time
}

func testCA(t testing.TB) *testAuthority {
	return testCAWith(t, leafOpts{})
}

func testCAWith(t testing.TB, o leafOpts) *testAuthority {
	t.Helper()
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test TSA Root"},
		NotBefore:             now.Add(-10 * 365 * 24 * time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "Test TSA"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}
	if o.noEKU {
		leafTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if !o.notBefore.IsZero() {
		leafTmpl.NotBefore, leafTmpl.NotAfter = o.notBefore, o.notAfter
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, leafKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	return &testAuthority{cert: root, key: rootKey, leaf: leaf, leafKey: leafKey}
}

func (a *testAuthority) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.cert)
	return p
}

// response is a DER TimeStampResp over digest (made with hash) at time at.
func (a *testAuthority) response(t testing.TB, hash crypto.Hash, digest []byte, at time.Time, nonce *big.Int, withCert bool) []byte {
	t.Helper()
	ts := timestamp.Timestamp{
		HashAlgorithm:     hash,
		HashedMessage:     digest,
		Time:              at,
		Policy:            asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1},
		Nonce:             nonce,
		AddTSACertificate: withCert,
	}
	resp, err := ts.CreateResponseWithOpts(a.leaf, a.leafKey, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (a *testAuthority) token(t testing.TB, data []byte, at time.Time) []byte {
	t.Helper()
	d := sha256.Sum256(data)
	ts, err := timestamp.ParseResponse(a.response(t, crypto.SHA256, d[:], at, nil, true))
	if err != nil {
		t.Fatal(err)
	}
	return ts.RawToken
}

func TestVerifyTimestamp(t *testing.T) {
	cp := []byte("corridor.test/evidence\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— corridor.test/evidence sig\n")
	a := testCA(t)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)

	got, err := VerifyTimestamp(a.token(t, cp, at), cp, a.roots())
	if err != nil || !got.Equal(at) {
		t.Fatalf("VerifyTimestamp = %v, %v; want %v", got, err, at)
	}

	// The chain is checked at the time stamped (so that a token stays
	// valid after its certificate expires): a time outside the
	// certificate's validity fails even though the certificate is valid
	// now. (digitorus/pkcs7 puts the current time in the signing-time
	// attribute, which is why a certificate that has already expired
	// cannot be simulated here.)
	late := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	if _, err := VerifyTimestamp(a.token(t, cp, late), cp, a.roots()); !errors.Is(err, ErrVerify) {
		t.Errorf("token stamped after its certificate expires: %v", err)
	}

	sha512Digest := sha512.Sum512(cp)
	noCert, _ := timestamp.ParseResponse(a.response(t, crypto.SHA256, sha256Of(cp), at, nil, false))
	sha512Token, _ := timestamp.ParseResponse(a.response(t, crypto.SHA512, sha512Digest[:], at, nil, true))
	noEKU := testCAWith(t, leafOpts{noEKU: true})
	for name, tc := range map[string]struct {
		token []byte
		data  []byte
		roots *x509.CertPool
	}{
		"other data":           {a.token(t, cp, at), append([]byte("x"), cp...), a.roots()},
		"other authority":      {a.token(t, cp, at), cp, testCA(t).roots()},
		"no time-stamping EKU": {noEKU.token(t, cp, at), cp, noEKU.roots()},
		"no certificate":       {noCert.RawToken, cp, a.roots()},
		"SHA-512 imprint":      {sha512Token.RawToken, cp, a.roots()},
		"garbage":              {[]byte("not a token"), cp, a.roots()},
		"empty":                {nil, cp, a.roots()},
	} {
		if _, err := VerifyTimestamp(tc.token, tc.data, tc.roots); !errors.Is(err, ErrVerify) {
			t.Errorf("%s: VerifyTimestamp = %v, want ErrVerify", name, err)
		}
	}
	if _, err := VerifyTimestamp(a.token(t, cp, at), cp, nil); err == nil {
		t.Error("VerifyTimestamp without roots succeeded")
	}
	tampered := a.token(t, cp, at)
	tampered[len(tampered)-5] ^= 1 // inside the signature
	if _, err := VerifyTimestamp(tampered, cp, a.roots()); !errors.Is(err, ErrVerify) {
		t.Errorf("tampered token: %v", err)
	}
}

func sha256Of(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}

// tsaServer serves a testAuthority over HTTP as an RFC 3161 endpoint.
// mangle, if set, may change what is answered.
func tsaServer(t testing.TB, a *testAuthority, mangle func(req *timestamp.Request) *timestamp.Request) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := timestamp.ParseRequest(body)
		if err != nil || r.Header.Get("Content-Type") != "application/timestamp-query" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if mangle != nil {
			req = mangle(req)
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(a.response(t, req.HashAlgorithm, req.HashedMessage, time.Now(), req.Nonce, req.Certificates))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestTimestampLoop checks the client side against an in-process
// authority: every new checkpoint size gets a checked, stored token.
func TestTimestampLoop(t *testing.T) {
	ctx := t.Context()
	a := testCA(t)
	srv := tsaServer(t, a, nil)
	cfg := testConfig(t, t.TempDir())
	cfg.TSAURL = srv.URL
	cfg.TSARoots = a.roots()
	l := openLog(t, cfg)
	src := newMemSource()
	for i := range 10 {
		src.add(entry(i))
	}
	if _, err := l.Integrate(ctx, src); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		size, cp, token, err := l.TimestampCovering(ctx, 9)
		if err == nil {
			if _, err := VerifyTimestamp(token, cp, a.roots()); err != nil {
				t.Fatal(err)
			}
			if tok2, err := l.Timestamp(ctx, size); err != nil || string(tok2) != string(token) {
				t.Fatalf("Timestamp(%d): %v", size, err)
			}
			break
		}
		if !errors.Is(err, ErrNoTimestamp) {
			t.Fatal(err)
		}
		select {
		case <-wait.Done():
			t.Fatal("no timestamp stored in time")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestRequestTimestampChecks: answers that do not fit the request are
// refused, never stored.
func TestRequestTimestampChecks(t *testing.T) {
	a := testCA(t)
	cp := []byte("a checkpoint\n")
	for name, mangle := range map[string]func(*timestamp.Request) *timestamp.Request{
		"replayed (other nonce)": func(r *timestamp.Request) *timestamp.Request { r.Nonce = big.NewInt(42); return r },
		"no nonce":               func(r *timestamp.Request) *timestamp.Request { r.Nonce = nil; return r },
		"other digest":           func(r *timestamp.Request) *timestamp.Request { r.HashedMessage = sha256Of([]byte("x")); return r },
		"no certificate":         func(r *timestamp.Request) *timestamp.Request { r.Certificates = false; return r },
	} {
		srv := tsaServer(t, a, mangle)
		l := &Log{cfg: Config{TSAURL: srv.URL, TSARoots: a.roots()}, client: srv.Client()}
		if _, err := l.requestTimestamp(t.Context(), cp); err == nil {
			t.Errorf("%s: token accepted", name)
		}
	}
	other := testCA(t)
	srv := tsaServer(t, other, nil)
	l := &Log{cfg: Config{TSAURL: srv.URL, TSARoots: a.roots()}, client: srv.Client()}
	if _, err := l.requestTimestamp(t.Context(), cp); err == nil {
		t.Error("token from an untrusted authority accepted")
	}
	l.cfg.TSARoots = nil
	if _, err := l.requestTimestamp(t.Context(), cp); err != nil {
		t.Errorf("with no roots configured the token is kept: %v", err)
	}
}
