package cases_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

// TestDefaultPolicy pins the need-to-know table of DESIGN.md: every role ×
// every class.
func TestDefaultPolicy(t *testing.T) {
	p := cases.DefaultPolicy()
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	all := cases.Classes()
	want := map[string][]string{
		store.RoleAdmin:       all,
		store.RoleCoordinator: all,
		store.RoleOperator:    {cases.ClassIdentity, cases.ClassLocation, cases.ClassTestimony},
		store.RoleCaseworker:  all,
		store.RoleLogistics:   {cases.ClassIdentity, cases.ClassLocation, cases.ClassLogistics},
		store.RoleCustodian:   {cases.ClassIdentity, cases.ClassTestimony, cases.ClassMedical},
	}
	for _, role := range store.Roles() {
		for _, class := range all {
			w := slices.Contains(want[role], class)
			if got := p.CanRead(role, class); got != w {
				t.Errorf("CanRead(%s, %s) = %v, want %v", role, class, got, w)
			}
			if got := p.CanWrite(role, class); got != w {
				t.Errorf("CanWrite(%s, %s) = %v, want %v (writing needs reading)", role, class, got, w)
			}
		}
		if got := p.Readable(role); !slices.Equal(got, want[role]) {
			t.Errorf("Readable(%s) = %v", role, got)
		}
	}
	// The properties DESIGN.md names, spelt out.
	if p.CanRead(store.RoleLogistics, cases.ClassTestimony) || p.CanRead(store.RoleOperator, cases.ClassLogistics) ||
		p.CanRead(store.RoleCustodian, cases.ClassLogistics) {
		t.Error("logistics reads testimony, or an operator or custodian reads logistics")
	}
	if p.CanRead("visitor", cases.ClassIdentity) || p.CanRead(store.RoleAdmin, "gossip") || p.MayHold("visitor") {
		t.Error("an unknown role or class is readable")
	}
	if !p.MayHold(store.RoleCustodian) || p.Assignable(store.RoleCustodian) || !p.Assignable(store.RoleLogistics) {
		t.Error("custodians must be shareable but not assignable; logistics assignable")
	}
}

func TestPolicyCheck(t *testing.T) {
	for _, tc := range []struct {
		p    cases.Policy
		want string
	}{
		{cases.Policy{"visitor": {cases.ClassIdentity}}, "unknown role"},
		{cases.Policy{store.RoleOperator: {"gossip"}}, "unknown class"},
	} {
		if err := tc.p.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%v) = %v, want %q", tc.p, err, tc.want)
		}
	}
}

func TestRoleRules(t *testing.T) {
	for _, tc := range []struct {
		role                                              string
		open, listAll, manage, verify, risk, move, unflag bool
	}{
		{store.RoleAdmin, true, true, true, true, true, true, true},
		{store.RoleCoordinator, true, true, true, true, true, true, true},
		{store.RoleOperator, true, false, false, false, true, true, false},
		{store.RoleCaseworker, true, false, false, true, true, true, false},
		{store.RoleLogistics, false, false, false, false, false, true, false},
		{store.RoleCustodian, false, false, false, false, false, false, false},
	} {
		got := []bool{cases.CanOpen(tc.role), cases.CanListAll(tc.role), cases.CanManage(tc.role), cases.CanVerify(tc.role),
			cases.CanAssessRisk(tc.role), cases.CanMoveCases(tc.role), cases.CanUnflag(tc.role)}
		want := []bool{tc.open, tc.listAll, tc.manage, tc.verify, tc.risk, tc.move, tc.unflag}
		if !slices.Equal(got, want) {
			t.Errorf("%s: open, listAll, manage, verify, risk, move, unflag = %v, want %v", tc.role, got, want)
		}
	}
}
