package translog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	f_note "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// fuzzCheckpoint is a checkpoint of the test log cosigned by one witness,
// with the policy that accepts it.
func fuzzCheckpoint(t testing.TB) ([]byte, Policy) {
	skey, vkey, err := note.GenerateKey(nil, "w.example")
	if err != nil {
		t.Fatal(err)
	}
	w, err := f_note.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	cp := signCheckpoint(t, testSigner(t), testOrigin, 3, sha256.Sum256([]byte("root")), w)
	return cp, testPolicy(t, []string{vkey}, 1)
}

func FuzzParseProof(f *testing.F) {
	cp, _ := fuzzCheckpoint(f)
	h := stdB64(bytes.Repeat([]byte{7}, 32))
	f.Add([]byte(proofHeader + "\nindex 2\n" + h + "\n" + h + "\n\n" + string(cp)))
	f.Add([]byte(proofHeader + "\nextra " + stdB64([]byte("x")) + "\nindex 0\n\n" + string(cp)))
	f.Add([]byte(proofHeader + "\nextra \nindex 0\n\n" + string(cp)))
	f.Add([]byte(proofHeader + "\nindex 18446744073709551615\n\nx"))
	f.Add([]byte(proofHeader + "\nindex 01\n\nx"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProof(b)
		if err != nil {
			if !errors.Is(err, ErrVerify) {
				t.Fatalf("error %v does not wrap ErrVerify", err)
			}
			return
		}
		// The accepted form is canonical: it re-encodes to itself.
		if got := p.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("ParseProof/Marshal round trip:\n%q\n%q", b, got)
		}
		if len(p.Hashes) > maxProofHashes {
			t.Fatalf("%d hashes accepted", len(p.Hashes))
		}
	})
}

func FuzzVerifyCheckpoint(f *testing.F) {
	cp, p := fuzzCheckpoint(f)
	f.Add(cp)
	f.Add(signCheckpoint(f, testSigner(f), testOrigin, 0, sha256.Sum256(nil)))
	f.Add([]byte(testOrigin + "\n1\nAAAA\n\n— " + testOrigin + " AAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := VerifyCheckpoint(b, p)
		if err != nil {
			return
		}
		if c.Origin != testOrigin || !bytes.Equal(c.Raw, b) || len(c.Cosigners) < p.Required {
			t.Fatalf("accepted %+v", c)
		}
		body, _, _ := bytes.Cut(b, []byte("\n\n"))
		again, err := parseCheckpointBody(string(body) + "\n")
		if err != nil || again.Size != c.Size || again.Hash != c.Hash {
			t.Fatalf("body parses differently: %v", err)
		}
	})
}

func FuzzVerifyProof(f *testing.F) {
	cp, p := fuzzCheckpoint(f)
	h := stdB64(bytes.Repeat([]byte{7}, 32))
	f.Add([]byte(proofHeader+"\nindex 2\n"+h+"\n"+h+"\n\n"+string(cp)), []byte("entry"))
	f.Add([]byte(proofHeader+"\nindex 5\n\n"+string(cp)), []byte{})
	f.Fuzz(func(t *testing.T, proofText, e []byte) {
		idx, c, err := VerifyProof(proofText, e, p)
		if err == nil && idx >= c.Size {
			t.Fatalf("index %d accepted in a tree of %d", idx, c.Size)
		}
	})
}

func FuzzVerifyTimestamp(f *testing.F) {
	a := testCA(f)
	cp := []byte("checkpoint\n")
	token := a.token(f, cp, time.Now().Add(-time.Minute))
	f.Add(token, cp)
	f.Add(token[:len(token)/2], cp)
	f.Add([]byte{0x30, 0x80}, cp)
	f.Add([]byte{}, []byte{})
	roots := a.roots()
	f.Fuzz(func(t *testing.T, tok, data []byte) {
		_, err := VerifyTimestamp(tok, data, roots)
		if err != nil && !errors.Is(err, ErrVerify) {
			t.Fatalf("error %v does not wrap ErrVerify", err)
		}
		if err == nil && !bytes.Equal(data, cp) {
			// Only the seed's checkpoint was ever stamped.
			t.Fatalf("token verified for %q", data)
		}
	})
}

// FuzzHandlerPath: whatever the path, the handler serves only the files of
// the tlog-tiles layout, the key and timestamps, never anything else in
// the directory.
func FuzzHandlerPath(f *testing.F) {
	l := openLog(f, testConfig(f, f.TempDir()))
	src := newMemSource()
	for i := range 3 {
		src.add(entry(i))
	}
	if _, err := l.Integrate(f.Context(), src); err != nil {
		f.Fatal(err)
	}
	h := l.Handler()
	allowed := regexp.MustCompile(`^/(checkpoint|key|tile/([0-9]|[1-5][0-9]|6[0-3]|entries)/(x[0-9]{3}/)*[0-9]{3}(\.p/([1-9][0-9]{0,2}))?|timestamp/(0|[1-9][0-9]*)(\.checkpoint)?)$`)
	for _, s := range []string{"/checkpoint", "/key", "/tile/0/000.p/3", "/tile/entries/000.p/3",
		"/.state/treeState", "/tile/../.state/treeState", "/.sequencer.lock", "/timestamp/3", "//checkpoint", "/tile/0/x000/000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		u := &url.URL{Path: p}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = u
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !allowed.MatchString("/" + strings.TrimPrefix(p, "/")) {
				t.Fatalf("served %q", p)
			}
		case http.StatusNotFound:
		default:
			t.Fatalf("GET %q: %d", p, rec.Code)
		}
	})
}

func FuzzParseWitnesses(f *testing.F) {
	w := witnessFor(f, "w1.example", "https://w1.example/")
	f.Add([]byte("required = 1\n[[witness]]\nname = \"" + w.Name + "\"\nkey = \"" + w.VerifierKey + "\"\nurl = \"" + w.URL + "\"\n"))
	f.Add([]byte("required = 0\n"))
	f.Add([]byte("[[witness]]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ws, n, err := ParseWitnesses(b)
		if err != nil {
			return
		}
		if n < 0 || n > len(ws) {
			t.Fatalf("%d required of %d", n, len(ws))
		}
		if _, err := witnessGroup(ws, n); len(ws) > 0 && err != nil {
			t.Fatalf("accepted witnesses Open would refuse: %v", err)
		}
	})
}
