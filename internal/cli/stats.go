package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/stats"
)

// statsCmd is `corridor stats publish`: build a release from everything
// recorded since the last one, print what it holds, and publish it — the
// same as preview, approve and publish on the staff site.
func statsCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "publish" {
		fmt.Fprintln(env.Stderr, "usage: corridor stats publish --data DIR [--passphrase-file F] [--cutoff YYYY-MM-DD] [--stats FILE] [--workflow FILE] [--dry-run] [--json]")
		return errUsage
	}
	fs := newFlags(env, "stats publish", "--data DIR [--passphrase-file F] [--cutoff YYYY-MM-DD] [--stats FILE] [--workflow FILE] [--dry-run] [--json]")
	dir := fs.String("data", "corridor-data", "data `directory`")
	passFile := fs.String("passphrase-file", "", "the unseal passphrase, from this `file` (or CORRIDOR_PASSPHRASE_FILE, or typed): publishing is for those who hold it")
	cutoffFlag := fs.String("cutoff", "", "count records made up to the end of this `day` (YYYY-MM-DD; default: up to now)")
	statsFile := fs.String("stats", "", "statistics configuration `file` (TOML: lists and protection parameters; default: the built-in one)")
	workflowFile := fs.String("workflow", "", "workflow `file` the server runs with (default: the built-in workflow)")
	dryRun := fs.Bool("dry-run", false, "print the preview and publish nothing")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	var cutoff time.Time
	if *cutoffFlag != "" {
		day, err := time.Parse(time.DateOnly, *cutoffFlag)
		if err != nil {
			return fmt.Errorf("--cutoff must be a day such as 2018-01-31")
		}
		cutoff = day.AddDate(0, 0, 1)
		if now := time.Now(); cutoff.After(now) {
			cutoff = now
		}
	}
	cfg := stats.DefaultConfig()
	if *statsFile != "" {
		data, err := os.ReadFile(*statsFile)
		if err != nil {
			return fmt.Errorf("statistics configuration: %w", err)
		}
		if cfg, err = stats.ParseConfig(data); err != nil {
			return err
		}
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
	cs := cases.New(a.st, a.vault, a.audit, wf, cases.DefaultPolicy(), time.Now)
	svc, err := stats.New(a.st, a.vault, a.audit, cs, cfg, time.Now)
	if err != nil {
		return err
	}
	rel, d, err := svc.PublishNow(ctx, cutoff, func(d *stats.Draft) bool {
		if !*asJSON {
			printPreview(env.Stdout, d)
		}
		return !*dryRun
	})
	if errors.Is(err, stats.ErrNothing) {
		return errors.New("nothing to publish: no records of consenting people since the last release")
	}
	if err != nil {
		return err
	}
	if *asJSON {
		out := map[string]any{"cutoff": d.Cutoff, "violations": d.Report.Violations, "outcomes": d.Report.People,
			"tables": d.Report.Tables, "published": rel != nil}
		if rel != nil {
			out["version"], out["sha256"] = rel.Version, fmt.Sprintf("%x", rel.SHA256)
		}
		return json.NewEncoder(env.Stdout).Encode(out)
	}
	if rel == nil {
		fmt.Fprintln(env.Stdout, "dry run: nothing published")
		return nil
	}
	fmt.Fprintf(env.Stdout, "published release %d (SHA-256 %x)\n", rel.Version, rel.SHA256)
	return nil
}

// printPreview prints what a draft holds: how much it counts, and for
// each table its level of detail, how many cells are hidden and its
// published total.
func printPreview(w io.Writer, d *stats.Draft) {
	fmt.Fprintf(w, "release of records made before %s\n", d.Cutoff.Format(time.RFC3339))
	fmt.Fprintf(w, "  %d violation records, %d outcomes of consenting people\n", d.Report.Violations, d.Report.People)
	for _, t := range d.Report.Tables {
		level := t.Level
		if level == "" {
			level = "-"
		}
		fmt.Fprintf(w, "  %-28s level %-20s %3d of %3d cells hidden (%.0f%% of what they count)\n",
			t.ID, level, t.Hidden, t.Cells, 100*t.HiddenShare)
	}
	for _, t := range d.Release.Tables {
		total := "hidden"
		if !t.Total.Hidden {
			total = fmt.Sprint(t.Total.N)
		}
		fmt.Fprintf(w, "  total %-22s %s %s\n", t.ID, total, t.Unit)
	}
	if d.Release.Noise != nil {
		fmt.Fprintf(w, "  noise: epsilon %g, within ±%d with 90%% probability\n", d.Release.Noise.Epsilon, d.Release.Noise.Within90)
	}
}
