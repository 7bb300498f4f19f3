package evidence_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/store"
)

// TestCanary ingests files full of a canary string (and named after it),
// makes and views a working copy, changes consent, downloads, then scans
// every file under the data directory (database, -wal, blobs, temporary
// files) for the canary: a seized disk must not give it up.
func TestCanary(t *testing.T) {
	const canary = "CANARY-Грозный-7f3a9"
	f := newFixture(t, fixtureOpts{})
	big := bytes.Repeat([]byte(canary+" "), (6<<20)/len(canary))
	in := f.importBytes(t, canary+".txt", big)
	photo := f.importBytes(t, canary+".jpg", testJPEG(t, canary))
	person := &store.Request{ID: "rcanary", LookupID: randomData(32), CreatedAt: f.clock.Now(), Status: store.StatusNew,
		KeyIntake: randomData(40), KeyPerson: randomData(40), Answers: randomData(40)}
	must(t, f.st.CreateRequest(f.ctx, person))
	_, err := f.svc.IngestPerson(f.ctx, "rcanary", evidence.Input{Filename: canary, DeclaredType: "text/plain"}, bytes.NewReader(big))
	must(t, err)

	rc, _, err := f.svc.OpenWorkingCopy(f.ctx, f.cw, photo.ID)
	must(t, err)
	io.Copy(io.Discard, rc)
	rc.Close()
	must(t, f.svc.SetConsent(f.ctx, f.cust, in.ID, store.ConsentCourt))
	rc, _, err = f.svc.Download(f.ctx, f.cust, in.ID)
	must(t, err)
	io.Copy(io.Discard, rc)
	rc.Close()
	if got, _ := f.openOffline(t, in.ID); !bytes.Equal(got, big) {
		t.Fatal("the canary file does not round-trip, so the scan proves nothing")
	}

	scan := func(when string) {
		t.Helper()
		needles := [][]byte{[]byte(canary), []byte("CANARY"), []byte(hex.EncodeToString([]byte(canary))),
			[]byte(base64.StdEncoding.EncodeToString([]byte(canary))[:20])}
		files := 0
		err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			files++
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s contains %q", when, p, n)
				}
			}
			return nil
		})
		must(t, err)
		if files < 5 {
			t.Fatalf("%s: only %d files scanned", when, files)
		}
	}
	scan("open")
	must(t, f.st.Close())
	scan("closed")
}
