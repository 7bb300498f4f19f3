package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cli"
	"github.com/pquerna/otp/totp"
	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"corridor": func() {
			os.Exit(cli.Main(context.Background(), os.Args[1:], &cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
		},
	})
}

// TestScripts runs the command-line scenarios in testdata/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// waitfile FILE: wait up to 20 s for FILE to exist (a server's
			// control socket).
			"waitfile": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: waitfile FILE")
				}
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) {
					if _, err := os.Stat(ts.MkAbs(args[0])); err == nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				ts.Fatalf("%s did not appear", args[0])
			},
			// sqlexec DB STATEMENT: tamper with a database as an insider would.
			"sqlexec": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: sqlexec DB STATEMENT")
				}
				db, err := sql.Open("sqlite", ts.MkAbs(args[0]))
				ts.Check(err)
				defer db.Close()
				_, err = db.Exec(args[1])
				switch {
				case neg && err == nil:
					ts.Fatalf("statement unexpectedly succeeded")
				case !neg:
					ts.Check(err)
				}
			},
			// envline VAR N: set VAR to line N (from 1) of the last
			// command's standard output (an id a command printed).
			"envline": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: envline VAR N")
				}
				var n int
				if _, err := fmt.Sscan(args[1], &n); err != nil || n < 1 {
					ts.Fatalf("envline: bad line number %q", args[1])
				}
				lines := strings.Split(strings.TrimRight(ts.ReadFile("stdout"), "\n"), "\n")
				if n > len(lines) {
					ts.Fatalf("envline: stdout has %d lines", len(lines))
				}
				ts.Setenv(args[0], strings.TrimSpace(lines[n-1]))
			},
			// totp URIFILE: print the current code for the otpauth URI in a
			// JSON file written by corridor init/user add --json.
			"totp": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: totp SECRET")
				}
				code, err := totp.GenerateCode(args[0], time.Now())
				ts.Check(err)
				fmt.Fprintln(ts.Stdout(), code)
			},
		},
		Setup: func(env *testscript.Env) error {
			// Keep Unix socket paths short.
			env.Setenv("HOME", env.WorkDir)
			return os.MkdirAll(filepath.Join(env.WorkDir, "tmp"), 0o700)
		},
	})
}
