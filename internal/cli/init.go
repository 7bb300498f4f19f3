package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/store"
)

// kdfProfiles: "test" exists so test suites do not spend minutes in
// argon2id; it is refused nowhere but announced loudly.
func kdfProfile(name string) (root, receipt keys.KDFParams, err error) {
	switch name {
	case "standard":
		return keys.RootKDF, keys.ReceiptKDF, nil
	case "test":
		return keys.TestKDF, keys.TestKDF, nil
	}
	return root, receipt, fmt.Errorf("--kdf must be standard or test, not %q", name)
}

func initCmd(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "init", "--data DIR --passphrase-file F --admin NAME [--json]")
	dir := fs.String("data", "corridor-data", "data `directory` to create")
	passFile := fs.String("passphrase-file", "", "the unseal passphrase, from this `file` (or CORRIDOR_PASSPHRASE_FILE, or typed)")
	admin := fs.String("admin", "", "username of the first administrator")
	asJSON := fs.Bool("json", false, "print the administrator's credentials as JSON")
	kdf := fs.String("kdf", "standard", "argon2id cost: standard, or test (cheap, for automated tests only; never in production)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *admin == "" {
		fs.Usage()
		return errUsage
	}
	if _, err := staff.NormaliseUsername(*admin); err != nil {
		return fmt.Errorf("--admin: %w", err)
	}
	rootKDF, receiptKDF, err := kdfProfile(*kdf)
	if err != nil {
		return err
	}
	pass, err := readPassphrase(env, *passFile)
	if err != nil {
		return err
	}
	defer keys.Wipe(pass)
	if *passFile == "" && env.Getenv("CORRIDOR_PASSPHRASE_FILE") == "" && isTerminal(env.Stdin) {
		// A typo here makes every byte unrecoverable: ask twice.
		again, err := readPassphrase(env, "")
		if err != nil {
			return err
		}
		same := string(again) == string(pass)
		keys.Wipe(again)
		if !same {
			return errors.New("the two passphrases differ")
		}
	}
	if len([]rune(string(pass))) < 12 {
		return errors.New("the passphrase must be at least 12 characters")
	}
	a, err := openApp(ctx, env, *dir, "", staff.DefaultConfig())
	if err != nil {
		return err
	}
	defer a.Close()
	if a.vault.Initialised() {
		return fmt.Errorf("%s is already initialised", *dir)
	}
	if *kdf == "test" {
		fmt.Fprintln(env.Stderr, "WARNING: --kdf test makes passphrases and receipts cheap to guess; use it only in tests.")
	}
	err = a.st.Tx(ctx, func(tx store.Store) error {
		return a.vault.Initialise(ctx, tx, pass, rootKDF, receiptKDF)
	})
	if err != nil {
		a.vault.Abandon()
		return err
	}
	if err := a.audit.Record(ctx, 0, "keys.init", "keys"); err != nil {
		return err
	}
	creds, err := a.staff.CreateUser(ctx, 0, *admin, store.RoleAdmin)
	if err != nil {
		return err
	}
	return printCredentials(env, *asJSON, creds.Username, store.RoleAdmin, creds.Password, creds.OTPURI, creds.User.ID)
}

func printCredentials(env *Env, asJSON bool, username, role, password, otpURI string, id int64) error {
	if asJSON {
		out := map[string]any{"id": id, "username": username, "role": role}
		if password != "" {
			out["password"] = password
		}
		if otpURI != "" {
			out["otpauth_uri"] = otpURI
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(env.Stdout, "user:     %s (id %d, %s)\n", username, id, role)
	if password != "" {
		fmt.Fprintf(env.Stdout, "password: %s   (must be changed at first log-in)\n", password)
	}
	if otpURI != "" {
		fmt.Fprintf(env.Stdout, "totp:     %s\n", otpURI)
	}
	fmt.Fprintln(env.Stdout, "Hand these over on a safe channel; they are not shown again.")
	return nil
}
