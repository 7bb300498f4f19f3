package courtbag

// A bag made with real peers — litewitness (filippo.io/torchwood, a
// tlog-witness) and sigstore's timestamp-server (an RFC 3161 authority) —
// checked with corridor verify and with the standard tools its README
// names: sha256sum, sh and openssl, spicy (torchwood's tlog-proof
// verifier). .ci/peers builds the peers into $CORRIDOR_PEERS_DIR; without
// them the test skips, unless CORRIDOR_REQUIRE_PEERS=1, when it fails.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/translog"
	"github.com/corridor-org/corridor/internal/translog/peertest"
)

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// TestWithPeers exports with a real witness and timestamp authority, then
// checks the bag as its README tells a court to: every command the README
// gives is run here as it is written there.
func TestWithPeers(t *testing.T) {
	for _, tool := range []string{"sh", "sha256sum", "openssl", "xxd", "find", "diff"} {
		peertest.Find(t, tool)
	}
	spicy := peertest.Find(t, "spicy")
	f := newFixture(t, fixtureOpts{noWitness: true, noTSA: true, noLog: true})
	w := translog.Witness(peertest.StartLitewitness(t, "witness.partner.test", testOrigin, f.keys.LogKey))
	tsa := peertest.StartTimestampServer(t)
	tsaURL, tsaRoot := tsa.URL, tsa.RootPEM
	f.logCfg.Witnesses, f.logCfg.WitnessesRequired = []translog.Witness{w}, 1
	f.logCfg.TSAURL = tsaURL
	f.keys.Witnesses = Witnesses{Required: 1, Keys: []string{w.VerifierKey}}
	f.keys.TSARoots = tsaRoot
	var err error
	f.log, err = translog.Open(f.ctx, f.logCfg)
	must(t, err)
	defer f.log.Close()

	photo := f.add("photo.png", testPNG(t))
	gone := f.add("gone.txt", []byte("to be destroyed"))
	must(t, f.svc.SetConsent(f.ctx, f.admin, photo, store.ConsentCourt))
	must(t, f.svc.Destroy(f.ctx, f.admin, gone))
	must(t, f.integrate(f.ctx))
	f.awaitStamp(f.logged() - 1)
	dir := filepath.Join(t.TempDir(), "bag")
	sum, err := Export(f.ctx, f.options(dir, evidence.Selection{All: true}))
	must(t, err)
	if sum.Timestamps == 0 || sum.Checkpoints < 2 {
		t.Fatalf("summary %+v", sum)
	}
	if r := verify(t, dir, Trust{}); !r.OK() || len(r.Stamps) == 0 {
		t.Fatalf("bag made with real peers:\n%s", report(r))
	}

	readme := string(readIn(t, dir, readmeName))
	sizes := checkpointSizes(t, dir)
	rec, err := parseRecord(readIn(t, dir, "data/items/"+photo+"/record.json"))
	must(t, err)
	var stamped uint64
	for _, s := range sizes {
		if fileExists(filepath.Join(dir, "data", checkpointPath(s, tokenExt))) && (stamped == 0 || s < stamped) {
			stamped = s
		}
	}
	// sh runs a README command in the bag and returns its output; the
	// command must be in the README as it is written here.
	sh := func(readmeLine, cmd string, fill ...string) string {
		t.Helper()
		if !strings.Contains(readme, readmeLine) {
			t.Fatalf("the README no longer says %q", readmeLine)
		}
		c := exec.Command("sh", "-c", strings.NewReplacer(fill...).Replace(cmd))
		c.Dir = dir
		c.Env = append(os.Environ(), "PATH="+filepath.Dir(spicy)+":"+os.Getenv("PATH"), "TMPDIR="+t.TempDir())
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	tmp := t.TempDir()
	at := strings.NewReplacer("/tmp/", tmp+"/")

	if out := sh("sha256sum -c manifest-sha256.txt", "sha256sum -c manifest-sha256.txt"); strings.Contains(out, "FAILED") {
		t.Error(out)
	}
	sh("sha256sum -c tagmanifest-sha256.txt", "sha256sum -c tagmanifest-sha256.txt")
	files := "find data -type f | sort > /tmp/files\n  cut -c67- manifest-sha256.txt | sort | diff - /tmp/files"
	if out := sh(files, at.Replace(strings.ReplaceAll(files, "\n  ", "; "))); out != "" {
		t.Errorf("files not in the manifest: %s", out)
	}

	hash := sh("sha256sum data/items/"+photo+"/original.png", "sha256sum data/items/"+photo+"/original.png")
	if !strings.HasPrefix(hash, rec.Original.SHA256+" ") {
		t.Errorf("sha256sum says %s, the record %s", hash, rec.Original.SHA256)
	}
	commit := "printf '%s%s' SALT SHA256 | xxd -r -p | sha256sum"
	if out := sh(commit, commit, "SALT", rec.Original.Salt, "SHA256", rec.Original.SHA256); !strings.HasPrefix(out, rec.Commitment+" ") {
		t.Errorf("the README's commitment recipe gives %s, the record says %s", out, rec.Commitment)
	}
	grep := "grep '^commitment' data/items/" + photo + "/*.event"
	if out := sh(grep, grep); strings.Count(out, rec.Commitment) != 3 {
		t.Errorf("events' commitments:\n%s", out)
	}
	chain := "sha256sum data/items/ID/1.event    must equal \"prev\" in 2.event"
	first := sh(chain, "sha256sum data/items/"+photo+"/1.event")
	if second := string(readIn(t, dir, "data/items/"+photo+"/2.event")); !strings.Contains(second, "prev "+first[:64]+"\n") {
		t.Errorf("the chain recipe: %s is not prev of event 2:\n%s", first[:64], second)
	}

	spicyCmd := "mkdir /tmp/check\n  cp data/items/ID/N.event /tmp/check/event\n  tail -n +2 data/items/ID/N.tlog-proof > /tmp/check/event.spicy\n  spicy -verify \"$(cat keys/log.vkey)\" /tmp/check/event"
	for n := 1; n <= 3; n++ {
		must(t, os.RemoveAll(filepath.Join(tmp, "check")))
		sh(spicyCmd, at.Replace(strings.ReplaceAll(spicyCmd, "\n  ", " && ")), "ID", photo, "N", fmt.Sprint(n))
	}

	cpCmd := fmt.Sprintf("sh tools/verify-checkpoint.sh data/log/checkpoints/%d.checkpoint \\\n    \"$(cat keys/log.vkey)\" $(sed -n 's/^witness //p' keys/witnesses.txt)", sizes[len(sizes)-1])
	for _, s := range sizes {
		out := sh(cpCmd, strings.ReplaceAll(cpCmd, fmt.Sprintf("/%d.checkpoint", sizes[len(sizes)-1]), fmt.Sprintf("/%d.checkpoint", s)))
		if !strings.Contains(out, "cosignature by "+w.Name+" OK") {
			t.Errorf("verify-checkpoint.sh on checkpoint %d:\n%s", s, out)
		}
	}

	tsCmd := fmt.Sprintf("openssl ts -verify -token_in -in data/log/checkpoints/%d.tst \\\n    -data data/log/checkpoints/%d.checkpoint -CAfile keys/tsa-roots.pem", stamped, stamped)
	if out := sh(tsCmd, tsCmd); !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify:\n%s", out)
	}
	tsText := fmt.Sprintf("openssl ts -reply -token_in -in data/log/checkpoints/%d.tst -text", stamped)
	if out := sh(tsText, tsText); !strings.Contains(out, "Time stamp:") {
		t.Errorf("openssl ts -reply -text:\n%s", out)
	}
}
