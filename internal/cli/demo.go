package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/demo"
	"github.com/corridor-org/corridor/internal/intake"
)

// demoCmd fills an initialised data directory with synthetic cases and
// hotline requests (package demo says what they look like).
func demoCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "demo", "--data DIR [--cases N] [--requests N] [--seed N] [--workflow FILE]")
	dir := fs.String("data", "corridor-data", "data `directory` (must be initialised)")
	passFile := fs.String("passphrase-file", "", "the unseal passphrase, from this `file` (or CORRIDOR_PASSPHRASE_FILE, or typed)")
	n := fs.Int("cases", 200, "how many synthetic `cases` to create")
	requests := fs.Int("requests", 0, "how many hotline requests without a case (0: a tenth of --cases; -1: none)")
	seed := fs.Uint64("seed", 1, "random `seed`: the same seed gives the same people")
	workflowFile := fs.String("workflow", "", "workflow `file` the server runs with (default: the built-in workflow)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 0 || *n > 10_000_000 {
		return fmt.Errorf("--cases must be between 0 and 10000000")
	}
	wf := cases.DefaultWorkflow()
	if *workflowFile != "" {
		data, err := os.ReadFile(*workflowFile)
		if err != nil {
			return fmt.Errorf("workflow: %w", err)
		}
		if wf, err = cases.ParseWorkflow(data); err != nil {
			return fmt.Errorf("workflow: %w", err)
		}
	}
	a, err := unsealedApp(ctx, env, *dir, *passFile)
	if err != nil {
		return err
	}
	defer a.Close()
	in := intake.New(a.st, a.vault, a.audit, intake.Config{})
	cs := cases.New(a.st, a.vault, a.audit, wf, cases.DefaultPolicy(), time.Now)
	start := time.Now()
	opt := demo.Options{Cases: *n, Requests: *requests, Seed: *seed}
	if !*asJSON && *n >= 10000 {
		opt.Progress = func(done int) {
			if done%10000 == 0 || done == *n {
				fmt.Fprintf(env.Stderr, "%d cases\n", done)
			}
		}
	}
	res, err := demo.Generate(ctx, a.st, cs, in, opt)
	if err != nil {
		return err
	}
	took := time.Since(start).Round(time.Millisecond)
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(map[string]any{"cases": res.Cases, "requests": res.Requests,
			"duplicates": res.Duplicates, "seconds": took.Seconds()})
	}
	fmt.Fprintf(env.Stdout, "created %d demo cases (%d share a phone number with an earlier one) and %d hotline requests in %v\n",
		res.Cases, res.Duplicates, res.Requests, took)
	return nil
}
