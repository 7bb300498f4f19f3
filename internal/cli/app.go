package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/postgres"
	"github.com/corridor-org/corridor/internal/store/sqlite"
)

// DatabaseName is the SQLite file inside the data directory.
const DatabaseName = "corridor.db"

// app is an opened data directory with the domain services on top.
type app struct {
	dir   string
	st    store.Store
	vault *keys.Vault
	audit *audit.Log
	staff *staff.Service
}

// openApp opens (creating if needed) the data directory and its
// database: SQLite inside it, or PostgreSQL when databaseURL is set (also
// read from CORRIDOR_DATABASE_URL). The directory is made private to the
// account running Corridor.
func openApp(ctx context.Context, env *Env, dir, databaseURL string, staffCfg staff.Config) (*app, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if databaseURL == "" {
		databaseURL = env.Getenv("CORRIDOR_DATABASE_URL")
	}
	var st store.Store
	var err error
	if databaseURL != "" {
		st, err = postgres.Open(ctx, databaseURL)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(dir, DatabaseName))
	}
	if err != nil {
		return nil, err
	}
	v, err := keys.Open(ctx, st, time.Now)
	if err != nil {
		st.Close()
		return nil, err
	}
	a := audit.New(st, time.Now)
	return &app{dir: dir, st: st, vault: v, audit: a, staff: staff.New(st, v, a, staffCfg, time.Now)}, nil
}

// existingApp opens a data directory that must already hold an
// installation, for commands that only read: a mistyped path is an error,
// not a new empty installation.
func existingApp(ctx context.Context, env *Env, dir string) (*app, error) {
	if env.Getenv("CORRIDOR_DATABASE_URL") == "" {
		if _, err := os.Stat(filepath.Join(dir, DatabaseName)); err != nil {
			return nil, fmt.Errorf("%s holds no Corridor installation (no %s)", dir, DatabaseName)
		}
	}
	return openApp(ctx, env, dir, "", staff.DefaultConfig())
}

func (a *app) Close() error {
	a.vault.Seal()
	return a.st.Close()
}

// unsealed opens the data directory and unseals it with the passphrase
// from --passphrase-file, CORRIDOR_PASSPHRASE_FILE or standard input.
func unsealedApp(ctx context.Context, env *Env, dir, passFile string) (*app, error) {
	a, err := existingApp(ctx, env, dir)
	if err != nil {
		return nil, err
	}
	if !a.vault.Initialised() {
		a.Close()
		return nil, fmt.Errorf("%s is not initialised: run corridor serve and open the setup link, or corridor init", dir)
	}
	pass, err := readPassphrase(env, passFile)
	if err != nil {
		a.Close()
		return nil, err
	}
	defer keys.Wipe(pass)
	if err := a.vault.Unseal(ctx, pass); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}
