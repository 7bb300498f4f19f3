package cli

import (
	"context"
	"fmt"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/staff"
)

func auditCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(env.Stderr, "usage: corridor audit verify --data DIR")
		return errUsage
	}
	fs := newFlags(env, "audit verify", "--data DIR")
	dir := fs.String("data", "corridor-data", "data `directory`")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	// Verification needs no key: the chain is plain SHA-256.
	a, err := openApp(ctx, *dir, staff.DefaultConfig())
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := audit.Verify(ctx, a.st)
	if err != nil {
		return fmt.Errorf("audit log BROKEN: %w", err)
	}
	fmt.Fprintf(env.Stdout, "audit log OK: %d entries, chain intact\n", rep.Entries)
	return nil
}
