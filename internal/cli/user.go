package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/corridor-org/corridor/internal/staff"
	"github.com/corridor-org/corridor/internal/store"
)

func userCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "usage: corridor user add|list|disable|enable|reset-password|reset-totp --data DIR [flags]")
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := newFlags(env, "user "+sub, "--data DIR [flags]")
	dir := fs.String("data", "corridor-data", "data `directory`")
	passFile := fs.String("passphrase-file", "", "the unseal passphrase, from this `file` (or CORRIDOR_PASSPHRASE_FILE, or typed)")
	asJSON := fs.Bool("json", false, "print JSON")
	var username, role, id *string
	switch sub {
	case "add":
		username = fs.String("username", "", "username of the new staff member")
		role = fs.String("role", "", "role: admin, coordinator, operator, caseworker, logistics or custodian")
	case "list":
	case "disable", "enable", "reset-password", "reset-totp":
		id = fs.String("user", "", "the staff member: a username or a numeric id")
	default:
		fmt.Fprintf(env.Stderr, "corridor user: unknown subcommand %q\n", sub)
		return errUsage
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if (username != nil && (*username == "" || *role == "")) || (id != nil && *id == "") {
		fs.Usage()
		return errUsage
	}
	a, err := unsealedApp(ctx, env, *dir, *passFile)
	if err != nil {
		return err
	}
	defer a.Close()

	switch sub {
	case "add":
		creds, err := a.staff.CreateUser(ctx, 0, *username, *role)
		if err != nil {
			return err
		}
		return printCredentials(env, *asJSON, creds.Username, *role, creds.Password, creds.OTPURI, creds.User.ID)
	case "list":
		views, err := a.staff.List(ctx)
		if err != nil {
			return err
		}
		return printUsers(env, *asJSON, views)
	}
	target, err := findUser(ctx, a, *id)
	if err != nil {
		return err
	}
	name, err := a.staff.Username(target)
	if err != nil {
		return err
	}
	switch sub {
	case "disable":
		err = a.staff.Disable(ctx, 0, target.ID)
	case "enable":
		err = a.staff.Enable(ctx, 0, target.ID)
	case "reset-password":
		var pw string
		if pw, err = a.staff.ResetPassword(ctx, 0, target.ID); err == nil {
			return printCredentials(env, *asJSON, name, target.Role, pw, "", target.ID)
		}
	case "reset-totp":
		var uri string
		if uri, err = a.staff.ResetTOTP(ctx, 0, target.ID); err == nil {
			return printCredentials(env, *asJSON, name, target.Role, "", uri, target.ID)
		}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(env.Stdout).Encode(map[string]any{"id": target.ID, "username": name, "done": sub})
	}
	fmt.Fprintf(env.Stdout, "%s: %s done\n", name, sub)
	return nil
}

func findUser(ctx context.Context, a *app, ref string) (*store.User, error) {
	if n, err := strconv.ParseInt(ref, 10, 64); err == nil {
		u, err := a.st.GetUser(ctx, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("no staff member with id %d", n)
		}
		return u, err
	}
	views, err := a.staff.List(ctx)
	if err != nil {
		return nil, err
	}
	norm, err := staff.NormaliseUsername(ref)
	if err != nil {
		return nil, err
	}
	for _, v := range views {
		if v.Username == norm {
			return v.User, nil
		}
	}
	return nil, fmt.Errorf("no staff member named %q", ref)
}

func printUsers(env *Env, asJSON bool, views []staff.UserView) error {
	type row struct {
		ID           int64  `json:"id"`
		Username     string `json:"username"`
		Role         string `json:"role"`
		Disabled     bool   `json:"disabled"`
		TOTPEnrolled bool   `json:"totp_enrolled"`
	}
	rows := []row{}
	for _, v := range views {
		rows = append(rows, row{v.User.ID, v.Username, v.User.Role, v.User.Disabled, v.User.TOTPEnrolled})
	}
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(rows)
	}
	fmt.Fprintf(env.Stdout, "%-4s %-24s %-12s %s\n", "ID", "USERNAME", "ROLE", "STATE")
	for _, r := range rows {
		state := "active"
		if r.Disabled {
			state = "disabled"
		}
		if !r.TOTPEnrolled {
			state += ", totp pending"
		}
		fmt.Fprintf(env.Stdout, "%-4d %-24s %-12s %s\n", r.ID, r.Username, r.Role, state)
	}
	return nil
}
