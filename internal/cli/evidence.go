package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age/plugin"

	"github.com/corridor-org/corridor/internal/blob"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/evidence"
	"github.com/corridor-org/corridor/internal/keys"
)

// BlobsName is the directory inside the data directory that holds the
// evidence blobs (sealed originals and working copies).
const BlobsName = "evidence"

// evidenceService opens the data directory's blob store and returns the
// evidence service over it. serve should build its own the same way, with
// its configured policy, size limit and custodian-only setting.
func (a *app) evidenceService(cfg evidence.Config) (*evidence.Service, error) {
	bs, err := blob.NewFS(filepath.Join(a.dir, BlobsName))
	if err != nil {
		return nil, err
	}
	cs := cases.New(a.st, a.vault, a.audit, nil, nil, time.Now)
	return evidence.New(a.st, a.vault, a.audit, bs, cs, cfg), nil
}

func evidenceCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "usage: corridor evidence import|open --data DIR [flags] ARGS")
		return errUsage
	}
	switch args[0] {
	case "import":
		return evidenceImport(ctx, env, args[1:])
	case "open":
		return evidenceOpen(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "corridor evidence: unknown subcommand %q\n", args[0])
	return errUsage
}

// parseArgs parses flags followed by at least one positional argument.
func parseArgs(fs *flag.FlagSet, args []string, maxArgs int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage
	}
	rest := fs.Args()
	if len(rest) == 0 || (maxArgs > 0 && len(rest) > maxArgs) {
		fs.Usage()
		return nil, errUsage
	}
	return rest, nil
}

// openForEvidence opens an existing, initialised installation without
// unsealing it: sealing evidence needs only public keys.
func openForEvidence(ctx context.Context, env *Env, dir string) (*app, error) {
	a, err := existingApp(ctx, env, dir)
	if err != nil {
		return nil, err
	}
	if !a.vault.Initialised() {
		a.Close()
		return nil, fmt.Errorf("%s is not initialised: run corridor serve and open the setup link, or corridor init", dir)
	}
	return a, nil
}

// evidenceImport ingests files brought on a USB stick or the like, while
// the server runs or not, sealed or not (no passphrase: sealing needs
// only the custodians' and the vault's public keys). It prints each new
// item's id once the item is safely recorded; the custody events reach
// the transparency log through the outbox when the server next sequences
// it.
func evidenceImport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "evidence import", "--data DIR [--case ID] [--json] FILE...")
	dir := fs.String("data", "corridor-data", "data `directory`")
	caseID := fs.String("case", "", "the case the files belong to (default: none, unfiled)")
	asJSON := fs.Bool("json", false, "print JSON")
	files, err := parseArgs(fs, args, 0)
	if err != nil {
		return err
	}
	a, err := openForEvidence(ctx, env, *dir)
	if err != nil {
		return err
	}
	defer a.Close()
	svc, err := a.evidenceService(evidence.Config{})
	if err != nil {
		return err
	}
	type row struct {
		ID     string `json:"id"`
		File   string `json:"file"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}
	rows := []row{}
	var failed error
	for _, name := range files {
		got, err := importFile(ctx, svc, *caseID, name)
		if err != nil {
			failed = fmt.Errorf("%s: %w", name, explain(err))
			break
		}
		rows = append(rows, row{got.ID, name, got.Size, hex.EncodeToString(got.SHA256[:])})
		if !*asJSON {
			fmt.Fprintln(env.Stdout, got.ID)
		}
	}
	if *asJSON {
		if err := json.NewEncoder(env.Stdout).Encode(rows); err != nil {
			return err
		}
	}
	if failed != nil && len(rows) > 0 {
		fmt.Fprintf(env.Stderr, "corridor evidence import: %d of %d files imported before the error\n", len(rows), len(files))
	}
	return failed
}

func importFile(ctx context.Context, svc *evidence.Service, caseID, name string) (*evidence.Ingested, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	in := evidence.Input{CaseID: caseID, Filename: filepath.Base(name), DeclaredType: mime.TypeByExtension(filepath.Ext(name))}
	return svc.Import(ctx, in, f)
}

// explain adds what to do to the errors an operator can fix.
func explain(err error) error {
	switch {
	case errors.Is(err, evidence.ErrNoRecipients):
		return fmt.Errorf("%w (corridor custodian add)", err)
	case errors.Is(err, keys.ErrNoEvidenceKey):
		return fmt.Errorf("%w: unseal the server once (corridor unseal), or add a custodian and run with in-app viewing off", err)
	case errors.Is(err, evidence.ErrNotFound):
		return fmt.Errorf("%w (no such case, or it was erased)", err)
	}
	return err
}

// evidenceOpen decrypts an item's original offline with a custodian's age
// identity file and checks it against the SHA-256 taken at ingest. It
// writes to a temporary file beside PATH and renames it into place only
// once the check has passed, so PATH never holds bytes that are not the
// original. It records a downloaded custody event.
func evidenceOpen(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "evidence open", "--data DIR --identity FILE [--out PATH] ID")
	dir := fs.String("data", "corridor-data", "data `directory`")
	idFile := fs.String("identity", "", "the custodian's age identity `file` (AGE-SECRET-KEY-1… or a plugin identity)")
	out := fs.String("out", "", "where to write the original (default: the item's id, in the current directory; - for standard output)")
	rest, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	if *idFile == "" {
		fs.Usage()
		return errUsage
	}
	id := rest[0]
	f, err := os.Open(*idFile)
	if err != nil {
		return err
	}
	ui := plugin.NewTerminalUI(func(format string, v ...any) { fmt.Fprintf(env.Stderr, format+"\n", v...) },
		func(format string, v ...any) { fmt.Fprintf(env.Stderr, "warning: "+format+"\n", v...) })
	ids, err := evidence.ParseIdentities(f, ui)
	f.Close()
	if err != nil {
		return err
	}
	a, err := openForEvidence(ctx, env, *dir)
	if err != nil {
		return err
	}
	defer a.Close()
	svc, err := a.evidenceService(evidence.Config{})
	if err != nil {
		return err
	}

	if *out == "-" {
		rec, err := svc.OpenWithIdentity(ctx, env.Stdout, id, ids...)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "%s: %d bytes, SHA-256 %x matches\n", rec.Filename, rec.Size, rec.SHA256)
		return svc.RecordOffline(ctx, evidence.EventDownloaded, id)
	}
	path := *out
	if path == "" {
		path = id
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s exists; choose another --out", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".corridor-open-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	rec, err := svc.OpenWithIdentity(ctx, tmp, id, ids...)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A link, not a rename, so that a file created at path meanwhile is
	// not overwritten.
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	if err := svc.RecordOffline(ctx, evidence.EventDownloaded, id); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %q, %d bytes, SHA-256 %x (matches the record)\n", path, rec.Filename, rec.Size, rec.SHA256)
	return nil
}

func custodianCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "usage: corridor custodian add|list|disable --data DIR [flags]")
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := newFlags(env, "custodian "+sub, "--data DIR [flags]")
	dir := fs.String("data", "corridor-data", "data `directory`")
	passFile := fs.String("passphrase-file", "", "the unseal passphrase, from this `file` (or CORRIDOR_PASSPHRASE_FILE, or typed)")
	asJSON := fs.Bool("json", false, "print JSON")
	var name, recipient, id *string
	switch sub {
	case "add":
		name = fs.String("name", "", "the custodian's name (stored encrypted)")
		recipient = fs.String("recipient", "", "their age recipient: age1… (age-keygen), or age1<plugin>1… for a hardware key")
	case "list":
	case "disable":
		id = fs.String("custodian", "", "the custodian's id (see custodian list)")
	default:
		fmt.Fprintf(env.Stderr, "corridor custodian: unknown subcommand %q\n", sub)
		return errUsage
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if (name != nil && (*name == "" || *recipient == "")) || (id != nil && *id == "") {
		fs.Usage()
		return errUsage
	}
	a, err := unsealedApp(ctx, env, *dir, *passFile)
	if err != nil {
		return err
	}
	defer a.Close()
	svc, err := a.evidenceService(evidence.Config{})
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		c, err := svc.AddCustodian(ctx, nil, *name, *recipient)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(env.Stdout).Encode(custodianRow(*c))
		}
		fmt.Fprintf(env.Stdout, "%s: %s added; items ingested from now on are sealed to them too\n", c.ID, c.Name)
		return nil
	case "disable":
		if err := svc.DisableCustodian(ctx, nil, *id); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s: disabled; items ingested from now on are not sealed to them\n", *id)
		return nil
	}
	list, err := svc.Custodians(ctx, nil)
	if err != nil {
		return err
	}
	rows := []custodianJSON{}
	for _, c := range list {
		rows = append(rows, custodianRow(c))
	}
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(rows)
	}
	fmt.Fprintf(env.Stdout, "%-27s %-24s %-9s %s\n", "ID", "NAME", "STATE", "RECIPIENT")
	for _, r := range rows {
		state := "active"
		if !r.Active {
			state = "disabled"
		}
		fmt.Fprintf(env.Stdout, "%-27s %-24s %-9s %s\n", r.ID, r.Name, state, r.Recipient)
	}
	return nil
}

type custodianJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Recipient string    `json:"recipient"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

func custodianRow(c evidence.Custodian) custodianJSON {
	return custodianJSON{c.ID, c.Name, c.Recipient, c.Active, c.CreatedAt}
}
