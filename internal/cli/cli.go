// Package cli implements the corridor command's subcommands. cmd/corridor
// only calls Main; tests run the same Main through testscript.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/term"
	"k8s.io/klog/v2"
)

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {"run the staff and public sites", serve},
		"init":    {"initialise a data directory without the browser (for scripts)", initCmd},
		"unseal":  {"unseal a running server", unsealCmd},
		"seal":    {"seal a running server now", sealCmd},
		"status":  {"show whether a running server is sealed", statusCmd},
		"user":    {"manage staff accounts: add, list, disable, enable, reset-password, reset-totp", userCmd},
		"audit":   {"check the audit log: audit verify", auditCmd},
		"demo":    {"fill an initialised data directory with synthetic demo cases", demoCmd},
		"stats":   {"publish a release of public statistics: stats publish", statsCmd},
		"version": {"print the version", versionCmd},

		// The evidence vault (evidence.go).
		"evidence":  {"evidence vault: import FILE... (works sealed), open ID with a custodian's identity", evidenceCmd},
		"custodian": {"evidence custodians: add, list, disable", custodianCmd},

		// Court exports (export.go, verify.go).
		"export": {"write a court bag (BagIt) of evidence, custody trails and log receipts", exportCmd},
		"verify": {"check a court bag offline; exit 0 only if everything holds", verifyCmd},
	}
}

// errUsage makes Main print usage and exit 2.
var errUsage = errors.New("usage")

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, args []string, env *Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	// tessera, under the transparency log, reports through klog straight to
	// standard error; commands stay quiet, and serve routes it through its
	// own logger.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "corridor: unknown command %q\n\n", args[0])
		usage(env.Stderr, cmds)
		return 2
	}
	err := c.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(env.Stderr, "corridor %s: %v\n", args[0], err)
	return 1
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: corridor <command> [flags]")
	fmt.Fprintln(w)
	var names []string
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'corridor <command> -h' for a command's flags. docs/configuration.md lists them all.")
}

func newFlags(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("corridor "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: corridor %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// readPassphrase reads the passphrase from a file (flag, then
// CORRIDOR_PASSPHRASE_FILE), or from standard input when neither is set.
// A trailing newline is not part of it.
func readPassphrase(env *Env, file string) ([]byte, error) {
	if file == "" {
		file = env.Getenv("CORRIDOR_PASSPHRASE_FILE")
	}
	var data []byte
	var err error
	if file != "" {
		data, err = os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("passphrase file: %w", err)
		}
	} else {
		fmt.Fprint(env.Stderr, "Unseal passphrase: ")
		if isTerminal(env.Stdin) {
			data, err = term.ReadPassword(int(env.Stdin.(*os.File).Fd()))
		} else {
			data, err = readLine(env.Stdin)
		}
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return nil, fmt.Errorf("reading passphrase: %w", err)
		}
	}
	p := []byte(strings.TrimRight(string(data), "\r\n"))
	if len(p) == 0 {
		return nil, errors.New("the passphrase is empty")
	}
	return p, nil
}

func readLine(r io.Reader) ([]byte, error) {
	var out []byte
	b := make([]byte, 1)
	for len(out) < 4096 {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return out, nil
			}
			out = append(out, b[0])
		}
		if err == io.EOF {
			if len(out) == 0 {
				return nil, errors.New("no input")
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
