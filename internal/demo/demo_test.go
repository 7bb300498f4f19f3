package demo_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/demo"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
	"github.com/corridor-org/corridor/internal/store/sqlite"
)

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "corridor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := keys.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Initialise(ctx, st, []byte("demo passphrase"), keys.TestKDF, keys.TestKDF); err != nil {
		t.Fatal(err)
	}
	var staff []*store.User
	for i, role := range []string{store.RoleAdmin, store.RoleCaseworker, store.RoleCaseworker, store.RoleOperator} {
		u := &store.User{UsernameIndex: []byte{byte(i)}, Username: []byte("x"), Role: role, PasswordHash: "x", CreatedAt: time.Now()}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		staff = append(staff, u)
	}
	a := audit.New(st, time.Now)
	cs := cases.New(st, v, a, nil, nil, time.Now)
	in := intake.New(st, v, a, intake.Config{})
	res, err := demo.Generate(ctx, st, cs, in, demo.Options{Cases: 400, Seed: 7, BatchSize: 150})
	if err != nil {
		t.Fatal(err)
	}
	if res.Cases != 400 || res.Requests != 40 || res.Duplicates == 0 {
		t.Errorf("result %+v", res)
	}
	// Every stage has cases.
	counts, err := st.CountByStage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cs.Workflow().Stages() {
		if counts[s.ID] == 0 {
			t.Errorf("no demo case in stage %s (%v)", s.ID, counts)
		}
	}
	// Cases are readable through the domain, clearly synthetic, and
	// assigned only to staff who hold cases (never the admin).
	list, _, err := st.ListCases(ctx, store.CaseFilter{Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.AssigneeID == staff[0].ID {
			t.Errorf("case %s assigned to the admin", c.ID)
		}
		if c.AssigneeID == 0 {
			continue
		}
		var holder *store.User
		for _, u := range staff {
			if u.ID == c.AssigneeID {
				holder = u
			}
		}
		view, err := cs.View(ctx, holder, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if name := view.Sections[cases.ClassIdentity]["name"]; !strings.HasSuffix(name, "(demo)") {
			t.Errorf("name %q is not marked as demo", name)
		}
	}
	// The repeated phone numbers are found as duplicates.
	d, err := cs.DuplicatesOf(ctx, staff[3], map[string]string{"phone": "+7 900 000-00-01"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Matches) == 0 {
		t.Error("the first demo phone number is in no case")
	}
	_, total, err := st.ListInbox(ctx, store.InboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if total != 40 {
		t.Errorf("%d requests, want 40", total)
	}
}
