package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/corridor-org/corridor/internal/config"
	"github.com/corridor-org/corridor/internal/courtbag"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/translog"
)

// exportSettings are serve's settings that export needs too, so that it
// opens the same database and, when it sequences the log itself, signs,
// witnesses and timestamps checkpoints exactly as serve would. They are
// read like serve's: flags, then CORRIDOR_* variables, then --config.
var exportSettings = []string{"config", "data", "database-url", "passphrase-file", "log-origin", "witnesses",
	"tsa-url", "tsa-roots", "evidence-in-app-view"}

// exportCheckpointInterval is how soon a log opened by export publishes
// the checkpoint covering the export's events (serve's default is 10 s).
const exportCheckpointInterval = 500 * time.Millisecond

// exportCmd writes a court bag. It works with no server running (it then
// opens the log itself, which needs the vault's signing key, and logs the
// export's events synchronously) and beside a running `corridor serve`
// (whose sequencer logs them; export waits, then reads proofs from the log
// directory without its lock). Either way it needs the passphrase: the
// bag carries the log's verifier key, derived from the root key.
func exportCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "export", "--data DIR (--case ID | --items ID,... | --all) --identity FILE --out BAG [flags]")
	serveFlags := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg := config.Register(serveFlags)
	for _, name := range exportSettings {
		f := serveFlags.Lookup(name)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	caseID := fs.String("case", "", "export the evidence of this case (and of the request it was opened from)")
	items := fs.String("items", "", "export these items (comma-separated `ids`)")
	all := fs.Bool("all", false, "export every item")
	idFile := fs.String("identity", "", "a custodian's age identity `file`, to open the originals")
	out := fs.String("out", "", "the bag's `directory` (it must not exist, or be empty)")
	org := fs.String("organisation", "", "the organisation's `name`, for bag-info.txt's Source-Organization")
	withoutConsent := fs.Bool("without-consent", false, "also export items for which no consent to court use is recorded")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the transparency log to record the export")
	if err := parse(fs, args); err != nil {
		return err
	}
	// Mark the shared settings given on the command line as set in
	// serve's flag set too, so that config.Apply leaves them alone.
	var setErr error
	fs.Visit(func(f *flag.Flag) {
		if serveFlags.Lookup(f.Name) != nil {
			setErr = errors.Join(setErr, serveFlags.Set(f.Name, f.Value.String()))
		}
	})
	if setErr != nil {
		return setErr
	}
	selections := 0
	for _, set := range []bool{*caseID != "", *items != "", *all} {
		if set {
			selections++
		}
	}
	if selections != 1 || *idFile == "" || *out == "" {
		fmt.Fprintln(env.Stderr, "corridor export: give one of --case, --items and --all, and --identity and --out")
		fs.Usage()
		return errUsage
	}
	if strings.ContainsFunc(*org, func(r rune) bool { return r < 0x20 || r == 0x7f }) || len(*org) > 200 {
		return errors.New("--organisation must be one line of at most 200 bytes")
	}
	// The shared settings were parsed into serve's flag set; apply the
	// environment and the configuration file to it as serve does.
	if err := config.Apply(serveFlags, env.Getenv); err != nil {
		return err
	}
	if err := cfg.Check(); err != nil {
		return err
	}

	ids, err := readIdentities(env, *idFile)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		if _, err := os.Stat(filepath.Join(cfg.Data, DatabaseName)); err != nil {
			return fmt.Errorf("%s holds no Corridor installation (no %s)", cfg.Data, DatabaseName)
		}
	}
	a, err := openApp(ctx, env, cfg.Data, cfg.DatabaseURL, staff.DefaultConfig())
	if err != nil {
		return err
	}
	defer a.Close()
	if !a.vault.Initialised() {
		return fmt.Errorf("%s is not initialised", cfg.Data)
	}
	svc, err := a.evidenceService(evidence.Config{CustodianOnly: !cfg.EvidenceInAppView})
	if err != nil {
		return err
	}
	sel := evidence.Selection{CaseID: *caseID, All: *all, WithoutConsent: *withoutConsent}
	for id := range strings.SplitSeq(*items, ",") {
		if id = strings.TrimSpace(id); id != "" {
			sel.IDs = append(sel.IDs, id)
		}
	}
	list, err := svc.ExportItems(ctx, sel)
	switch {
	case errors.Is(err, evidence.ErrNoConsent):
		return fmt.Errorf("%w; record the person's consent first, or pass --without-consent", err)
	case err != nil:
		return err
	case len(list) == 0:
		return errors.New("nothing to export: no evidence item selected")
	}

	pass, err := readPassphrase(env, cfg.PassphraseFile)
	if err != nil {
		return err
	}
	err = a.vault.Unseal(ctx, pass)
	keys.Wipe(pass)
	if err != nil {
		return err
	}
	settings, err := readLogSettings(cfg.LogOrigin, cfg.Witnesses, cfg.TSAURL, cfg.TSARoots, nil)
	if err != nil {
		return err
	}
	settings.interval = exportCheckpointInterval
	bagKeys, err := a.bagKeys(ctx, settings, cfg.TSARoots)
	if err != nil {
		return err
	}
	if cfg.TSAURL != "" && cfg.TSARoots == "" {
		fmt.Fprintln(env.Stderr, "corridor export: timestamps are left out of the bag: set --tsa-roots (the authority's root certificates) so that a court can check them")
	}

	o := courtbag.Options{Dir: *out, Items: list, Identities: ids, Vault: svc, Keys: bagKeys,
		Organisation: *org, Wait: *wait}
	logDir := filepath.Join(a.dir, LogName)
	busy, err := translog.InUse(logDir)
	if err != nil {
		return err
	}
	if !busy {
		l, err := a.openLog(ctx, settings)
		switch {
		case errors.Is(err, translog.ErrLocked):
			busy = true // a server started meanwhile
		case err != nil:
			return err
		default:
			defer l.Close()
			src := logSource{a.st}
			o.Log, o.Sync = l, func(ctx context.Context) error {
				_, err := l.Integrate(ctx, src)
				return err
			}
		}
	}
	if busy {
		fmt.Fprintln(env.Stderr, "corridor export: a running corridor serve sequences the transparency log; waiting for it to log the export (it must be unsealed)")
		r, err := translog.OpenReader(logDir)
		if err != nil {
			return err
		}
		o.Log = r
	}

	sum, err := courtbag.Export(ctx, o)
	if errors.Is(err, courtbag.ErrNotLogged) {
		how := "are the witnesses required by --witnesses reachable?"
		if busy {
			how = "is the running server unsealed (corridor unseal)?"
		}
		return fmt.Errorf("%w: %s The exported events are recorded and will be logged; run the export again", err, how)
	}
	if err != nil {
		return explain(err)
	}
	fmt.Fprintf(env.Stdout, "%s: %d item(s) (%d with the original, %d destroyed), %d custody event(s) with receipts, %d checkpoint(s) (the latest of %d entries), %d timestamp(s)\n",
		*out, sum.Items, sum.Originals, sum.Destroyed, sum.Events, sum.Checkpoints, sum.Latest, sum.Timestamps)
	for _, n := range sum.Notes {
		fmt.Fprintf(env.Stdout, "note: %s\n", n)
	}
	fmt.Fprintf(env.Stdout, "Check it with: corridor verify %s (or by hand: %s)\n", *out, filepath.Join(*out, "README.txt"))
	return nil
}

// bagKeys are the keys the bag tells a court to trust: the log's verifier
// key (from the signing seed, so the vault must be unsealed), the
// witnesses' keys and policy, and the timestamp authority's roots.
func (a *app) bagKeys(ctx context.Context, s logSettings, tsaRootsFile string) (courtbag.Keys, error) {
	var k courtbag.Keys
	seed, err := a.vault.LogSeed()
	if err != nil {
		return k, err
	}
	origin, err := a.logOrigin(ctx, s.origin, seed)
	if err != nil {
		return k, err
	}
	if k.LogKey, err = translog.VerifierKey(origin, seed); err != nil {
		return k, err
	}
	k.Witnesses.Required = s.required
	for _, w := range s.witnesses {
		k.Witnesses.Keys = append(k.Witnesses.Keys, w.VerifierKey)
	}
	if tsaRootsFile != "" {
		if k.TSARoots, err = os.ReadFile(tsaRootsFile); err != nil {
			return k, fmt.Errorf("tsa roots: %w", err)
		}
	}
	return k, nil
}

// readIdentities reads a custodian's age identity file; plugin identities
// (hardware keys) talk to the user on standard error.
func readIdentities(env *Env, file string) ([]age.Identity, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ui := plugin.NewTerminalUI(func(format string, v ...any) { fmt.Fprintf(env.Stderr, format+"\n", v...) },
		func(format string, v ...any) { fmt.Fprintf(env.Stderr, "warning: "+format+"\n", v...) })
	return evidence.ParseIdentities(f, ui)
}
