package cases_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

func TestOpen(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name     string
		actor    *store.User
		in       cases.OpenInput
		want     error
		assignee int64
	}{
		{"caseworker becomes assignee", f.cw, cases.OpenInput{Risk: 3}, nil, f.cw.ID},
		{"operator becomes assignee", f.op, cases.OpenInput{Sections: map[string]map[string]string{"identity": {"name": "Ахмед"}}}, nil, f.op.ID},
		{"coordinator leaves it unassigned", f.coord, cases.OpenInput{}, nil, 0},
		{"admin leaves it unassigned", f.admin, cases.OpenInput{}, nil, 0},
		{"logistics may not open", f.logi, cases.OpenInput{}, cases.ErrForbidden, 0},
		{"custodian may not open", f.cust, cases.OpenInput{}, cases.ErrForbidden, 0},
		{"disabled user may not open", f.gone, cases.OpenInput{}, cases.ErrForbidden, 0},
		{"nobody may not open", nil, cases.OpenInput{}, cases.ErrForbidden, 0},
		{"operator cannot write medical", f.op, cases.OpenInput{Sections: map[string]map[string]string{"medical": {"needs": "insulin"}}}, cases.ErrForbidden, 0},
		{"logistics before verification", f.cw, cases.OpenInput{Sections: map[string]map[string]string{"logistics": {"plan": "train"}}}, cases.ErrUnverified, 0},
		{"empty logistics is nothing", f.cw, cases.OpenInput{Sections: map[string]map[string]string{"logistics": {"plan": " "}}}, nil, f.cw.ID},
		{"unknown class", f.cw, cases.OpenInput{Sections: map[string]map[string]string{"gossip": {"a": "b"}}}, cases.ErrInvalid, 0},
		{"bad field name", f.cw, cases.OpenInput{Sections: map[string]map[string]string{"identity": {"Full Name": "b"}}}, cases.ErrInvalid, 0},
		{"risk out of range", f.cw, cases.OpenInput{Risk: 5}, cases.ErrInvalid, 0},
		{"unknown request", f.cw, cases.OpenInput{RequestID: "rnothere"}, cases.ErrInvalid, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.svc.Open(f.ctx, tc.actor, tc.in)
			if tc.want != nil {
				wantErr(t, "open", err, tc.want)
				return
			}
			must(t, err)
			got, err := f.st.GetCase(f.ctx, c.ID)
			must(t, err)
			if got.AssigneeID != tc.assignee || got.Stage != "new" || got.Risk != tc.in.Risk || got.Verified || len(got.WrappedKey) == 0 {
				t.Errorf("case = %+v", got)
			}
			if a := f.actions(t, "case:"+c.ID); !slices.Equal(a, []string{"case.open"}) {
				t.Errorf("audit = %v", a)
			}
		})
	}
	// ErrUnverified is a refusal like any other.
	if !errors.Is(cases.ErrUnverified, cases.ErrForbidden) {
		t.Error("ErrUnverified is not an ErrForbidden")
	}
}

// TestOpenFromRequest: one case per request; the second attempt names the
// first case.
func TestOpenFromRequest(t *testing.T) {
	f := newFixture(t)
	in := intake.New(f.st, f.vault, audit.New(f.st, f.clock.Now), intake.Config{Now: f.clock.Now})
	sub, err := in.Submit(f.ctx, intake.Answers{"what_happened": {"help"}, "urgency": {"immediate"}}, "ru")
	must(t, err)
	c, err := f.svc.Open(f.ctx, f.op, cases.OpenInput{RequestID: sub.RequestID, Risk: 4})
	must(t, err)
	if c.RequestID != sub.RequestID {
		t.Errorf("request id = %q", c.RequestID)
	}
	_, err = f.svc.Open(f.ctx, f.cw, cases.OpenInput{RequestID: sub.RequestID})
	var open *cases.AlreadyOpenError
	if !errors.As(err, &open) || open.CaseID != c.ID || !errors.Is(err, cases.ErrAlreadyOpen) {
		t.Fatalf("second open: %v", err)
	}
}

// TestNeedToKnow: who may read a case's contents, and how; refusals are
// audited.
func TestNeedToKnow(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, map[string]map[string]string{"identity": {"name": "Ислам"}})
	obj := "case:" + c.ID
	must(t, f.svc.Share(f.ctx, f.coord, c.ID, f.op.ID))
	must(t, f.svc.BreakGlass(f.ctx, f.coord2, c.ID, "assignee unreachable, person in danger"))

	demoted := *f.coord2
	demoted.Role = store.RoleOperator
	disabled := *f.cw
	disabled.Disabled = true
	for _, tc := range []struct {
		name   string
		u      *store.User
		access string // "" = refused
	}{
		{"assignee", f.cw, cases.AccessAssigned},
		{"shared", f.op, cases.AccessShared},
		{"break-glass", f.coord2, cases.AccessBreakGlass},
		{"other caseworker", f.cw2, ""},
		{"coordinator without assignment, share or grant", f.coord, ""},
		{"admin without assignment, share or grant", f.admin, ""},
		{"logistics", f.logi, ""},
		{"custodian", f.cust, ""},
		{"disabled assignee", &disabled, ""},
		{"coordinator demoted while holding a grant", &demoted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.countAction(t, tc.u.ID, "case.denied", obj)
			v, err := f.svc.View(f.ctx, tc.u, c.ID)
			if tc.access == "" {
				wantErr(t, "view", err, cases.ErrForbidden)
				if f.countAction(t, tc.u.ID, "case.denied", obj) != before+1 {
					t.Error("the refusal was not audited")
				}
				return
			}
			must(t, err)
			if v.Access != tc.access || v.Sections["identity"]["name"] != "Ислам" {
				t.Errorf("access %q, identity %v", v.Access, v.Sections["identity"])
			}
			if f.countAction(t, tc.u.ID, "case.read", obj) != 1 {
				t.Error("the read was not audited once")
			}
		})
	}

	// Coordinators list every case, clear metadata only, and may see its
	// summary; others may not even do that.
	list, total, err := f.svc.List(f.ctx, f.coord, cases.ListFilter{})
	must(t, err)
	if total != 1 || len(list) != 1 || list[0].ID != c.ID {
		t.Errorf("coordinator's list = %d, %v", total, list)
	}
	sum, err := f.svc.Summarise(f.ctx, f.coord, c.ID)
	must(t, err)
	if sum.Access != "" || sum.Case.Stage != "new" || !slices.Equal(sum.Shares, []int64{f.op.ID}) {
		t.Errorf("summary = %+v", sum)
	}
	_, err = f.svc.Summarise(f.ctx, f.cw2, c.ID)
	wantErr(t, "summary by another caseworker", err, cases.ErrForbidden)

	// The grant ends after an hour, to the microsecond.
	f.clock.Advance(cases.BreakGlassFor - time.Microsecond)
	f.view(t, f.coord2, c.ID)
	f.clock.Advance(time.Microsecond)
	_, err = f.svc.View(f.ctx, f.coord2, c.ID)
	wantErr(t, "view after the grant ended", err, cases.ErrForbidden)

	// Reassigning and unsharing take access away at once.
	must(t, f.svc.Assign(f.ctx, f.coord, c.ID, f.cw2.ID))
	must(t, f.svc.Unshare(f.ctx, f.coord, c.ID, f.op.ID))
	for _, u := range []*store.User{f.cw, f.op} {
		_, err = f.svc.View(f.ctx, u, c.ID)
		wantErr(t, "view after losing the case", err, cases.ErrForbidden)
	}
	if v := f.view(t, f.cw2, c.ID); v.Access != cases.AccessAssigned {
		t.Errorf("new assignee's access = %q", v.Access)
	}

	// Unknown and malformed ids are not found, and not audited as refusals.
	for _, id := range []string{"cnothere", "c/../x", "", strings.Repeat("a", 65)} {
		_, err := f.svc.View(f.ctx, f.cw, id)
		wantErr(t, "view "+id, err, cases.ErrNotFound)
		wantErr(t, "view "+id, err, store.ErrNotFound)
	}
}

func TestList(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, f.cw, nil)
	b := f.open(t, f.cw2, nil)
	c := f.open(t, f.op, nil)
	must(t, f.svc.Move(f.ctx, f.cw, a.ID, "triage", "", ""))
	must(t, f.svc.Share(f.ctx, f.coord, b.ID, f.cw.ID))
	must(t, f.svc.Share(f.ctx, f.coord, c.ID, f.cust.ID))

	ids := func(list []*store.Case) []string {
		var out []string
		for _, c := range list {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	for _, tc := range []struct {
		name  string
		u     *store.User
		f     cases.ListFilter
		want  []string
		total int
	}{
		{"coordinator: all", f.coord, cases.ListFilter{}, sorted(a.ID, b.ID, c.ID), 3},
		{"admin: all", f.admin, cases.ListFilter{}, sorted(a.ID, b.ID, c.ID), 3},
		{"coordinator: stage", f.coord, cases.ListFilter{Stage: "triage"}, []string{a.ID}, 1},
		{"coordinator: mine", f.coord, cases.ListFilter{Mine: true}, nil, 0},
		{"caseworker: assigned and shared", f.cw, cases.ListFilter{}, sorted(a.ID, b.ID), 2},
		{"caseworker: mine", f.cw, cases.ListFilter{Mine: true}, []string{a.ID}, 1},
		{"other caseworker", f.cw2, cases.ListFilter{}, []string{b.ID}, 1},
		{"custodian: shared", f.cust, cases.ListFilter{}, []string{c.ID}, 1},
		{"logistics: nothing", f.logi, cases.ListFilter{}, nil, 0},
		{"paging", f.coord, cases.ListFilter{Page: 2, PerPage: 2}, nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, total, err := f.svc.List(f.ctx, tc.u, tc.f)
			must(t, err)
			if total != tc.total {
				t.Errorf("total = %d, want %d", total, tc.total)
			}
			if tc.name == "paging" {
				if len(list) != 1 {
					t.Errorf("page 2 of 3 by 2: %d cases", len(list))
				}
				return
			}
			if got := ids(list); !slices.Equal(got, tc.want) {
				t.Errorf("cases = %v, want %v", got, tc.want)
			}
		})
	}
	_, _, err := f.svc.List(f.ctx, f.coord, cases.ListFilter{Stage: "nowhere"})
	wantErr(t, "unknown stage", err, cases.ErrInvalid)
	_, _, err = f.svc.List(f.ctx, f.gone, cases.ListFilter{})
	wantErr(t, "disabled user", err, cases.ErrForbidden)
}

// fullCase opens a verified case with a section of every class and a note
// of every class, assigned to the caseworker, and returns it with the
// values written.
func fullCase(t *testing.T, f *fixture) (*store.Case, map[string]map[string]string) {
	t.Helper()
	sections := map[string]map[string]string{
		cases.ClassIdentity:  {"name": "Zelimkhan"},
		cases.ClassLocation:  {"current_region": "Grozny"},
		cases.ClassTestimony: {"account": "held for 12 days"},
		cases.ClassMedical:   {"needs": "broken ribs"},
		cases.ClassFinance:   {"notes": "EUR 4,500"},
	}
	c := f.open(t, f.cw, sections)
	f.verify(t, f.cw, c.ID)
	sections[cases.ClassLogistics] = map[string]string{"plan": "safe house 7, train on Friday"}
	must(t, f.svc.UpdateSection(f.ctx, f.cw, c.ID, cases.ClassLogistics, sections[cases.ClassLogistics]))
	for _, class := range cases.Classes() {
		must(t, f.svc.AddNote(f.ctx, f.cw, c.ID, class, "note of class "+class))
	}
	return c, sections
}

// TestClassesPerRole: each role sees exactly the classes of its policy, in
// sections and in the timeline, and writes only those.
func TestClassesPerRole(t *testing.T) {
	f := newFixture(t)
	c, sections := fullCase(t, f)
	for _, u := range []*store.User{f.op, f.logi, f.cust, f.coord} {
		must(t, f.svc.Share(f.ctx, f.admin, c.ID, u.ID))
	}
	must(t, f.svc.BreakGlass(f.ctx, f.admin, c.ID, "checking the case for the monthly review"))
	pol := cases.DefaultPolicy()
	for _, u := range []*store.User{f.admin, f.coord, f.op, f.cw, f.logi, f.cust} {
		t.Run(u.Role, func(t *testing.T) {
			v := f.view(t, u, c.ID)
			readable := pol.Readable(u.Role)
			if got := slices.Sorted(maps.Keys(v.Sections)); !slices.Equal(got, sortedCopy(readable)) {
				t.Errorf("sections %v, want %v", got, readable)
			}
			for _, class := range cases.Classes() {
				if slices.Contains(readable, class) {
					if !maps.Equal(v.Sections[class], sections[class]) {
						t.Errorf("%s = %v, want %v", class, v.Sections[class], sections[class])
					}
					if _, ok := v.Withheld[class]; ok {
						t.Errorf("%s both shown and withheld", class)
					}
				} else if v.Withheld[class] != cases.WithheldRole {
					t.Errorf("%s withheld %q, want role", class, v.Withheld[class])
				}
			}
			for _, e := range v.Timeline {
				if e.Kind != cases.KindNote {
					continue
				}
				if slices.Contains(readable, e.Class) {
					if e.Withheld || e.Text != "note of class "+e.Class {
						t.Errorf("readable note %+v", e)
					}
				} else if !e.Withheld || e.WithheldReason != cases.WithheldRole || e.Text != "" {
					t.Errorf("unreadable note %+v", e)
				}
			}
		})
	}
	// Writing needs reading.
	for _, tc := range []struct {
		u     *store.User
		class string
	}{
		{f.op, cases.ClassMedical}, {f.op, cases.ClassLogistics}, {f.logi, cases.ClassTestimony},
		{f.cust, cases.ClassLogistics}, {f.logi, cases.ClassFinance},
	} {
		err := f.svc.UpdateSection(f.ctx, tc.u, c.ID, tc.class, map[string]string{"x": "y"})
		wantErr(t, tc.u.Role+" writes "+tc.class, err, cases.ErrForbidden)
		err = f.svc.AddNote(f.ctx, tc.u, c.ID, tc.class, "y")
		wantErr(t, tc.u.Role+" notes "+tc.class, err, cases.ErrForbidden)
	}
	must(t, f.svc.UpdateSection(f.ctx, f.logi, c.ID, cases.ClassLogistics, map[string]string{"route": "via Nalchik"}))
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestLogisticsWaitForVerification: nobody, whatever their role, sees or
// writes logistics before verification; an incomplete checklist later
// hides them again.
func TestLogisticsWaitForVerification(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, nil)
	must(t, f.svc.Share(f.ctx, f.coord, c.ID, f.logi.ID))
	must(t, f.svc.Share(f.ctx, f.coord, c.ID, f.op.ID))
	withheld := func(u *store.User) string { return f.view(t, u, c.ID).Withheld[cases.ClassLogistics] }
	for _, u := range []*store.User{f.cw, f.logi} {
		if w := withheld(u); w != cases.WithheldUnverified {
			t.Errorf("%s before verification: logistics withheld %q", u.Role, w)
		}
	}
	if w := withheld(f.op); w != cases.WithheldRole {
		t.Errorf("operator: logistics withheld %q, want role", w)
	}
	err := f.svc.UpdateSection(f.ctx, f.cw, c.ID, cases.ClassLogistics, map[string]string{"plan": "x"})
	wantErr(t, "write logistics before verification", err, cases.ErrUnverified)
	err = f.svc.AddNote(f.ctx, f.logi, c.ID, cases.ClassLogistics, "x")
	wantErr(t, "note logistics before verification", err, cases.ErrUnverified)

	// Only coordinators, admins and caseworkers verify; two out of three
	// is not verified.
	for _, u := range []*store.User{f.op, f.logi} {
		err := f.svc.RecordVerification(f.ctx, u, c.ID, cases.Checklist{Interview: true, References: true, Documents: true}, "")
		wantErr(t, u.Role+" verifies", err, cases.ErrForbidden)
	}
	must(t, f.svc.RecordVerification(f.ctx, f.cw, c.ID, cases.Checklist{Interview: true, References: true}, "documents next week"))
	if v := f.view(t, f.cw, c.ID); v.Case.Verified || v.Withheld[cases.ClassLogistics] != cases.WithheldUnverified ||
		v.Checklist == nil || !v.Checklist.Interview || v.Checklist.Documents {
		t.Fatalf("after a partial checklist: verified %v, withheld %q, checklist %+v", v.Case.Verified, v.Withheld[cases.ClassLogistics], v.Checklist)
	}
	f.verify(t, f.cw, c.ID)
	must(t, f.svc.UpdateSection(f.ctx, f.cw, c.ID, cases.ClassLogistics, map[string]string{"plan": "safe house 7"}))
	must(t, f.svc.AddNote(f.ctx, f.logi, c.ID, cases.ClassLogistics, "tickets bought"))
	v := f.view(t, f.logi, c.ID)
	if v.Sections[cases.ClassLogistics]["plan"] != "safe house 7" || v.Withheld[cases.ClassLogistics] != "" {
		t.Fatalf("logistics after verification: %v, withheld %q", v.Sections[cases.ClassLogistics], v.Withheld[cases.ClassLogistics])
	}

	// Doubts arise: an incomplete checklist withdraws verification, and
	// logistics are hidden again, in sections and in the timeline.
	err = f.svc.RecordVerification(f.ctx, f.coord, c.ID, cases.Checklist{Interview: true}, "references do not check out")
	wantErr(t, "a coordinator without access verifies", err, cases.ErrForbidden)
	must(t, f.svc.RecordVerification(f.ctx, f.cw, c.ID, cases.Checklist{Interview: true}, "references do not check out"))
	v = f.view(t, f.logi, c.ID)
	if v.Case.Verified || v.Withheld[cases.ClassLogistics] != cases.WithheldUnverified || len(v.Sections[cases.ClassLogistics]) != 0 {
		t.Fatalf("after withdrawal: verified %v, logistics %v withheld %q", v.Case.Verified, v.Sections[cases.ClassLogistics], v.Withheld[cases.ClassLogistics])
	}
	for _, e := range v.Timeline {
		if e.Class == cases.ClassLogistics && (!e.Withheld || e.WithheldReason != cases.WithheldUnverified || e.Text != "" || e.Fields != nil) {
			t.Errorf("logistics event shown after withdrawal: %+v", e)
		}
	}
}

// TestJourney takes a case through every default stage, checking each
// refusal on the way: requirements, transitions, close reasons, roles.
func TestJourney(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, nil)
	id := c.ID
	move := func(u *store.User, to, reason, text string) error {
		return f.svc.Move(f.ctx, u, id, to, reason, text)
	}
	missing := func(err error, want ...string) {
		t.Helper()
		var m *cases.MissingError
		if !errors.As(err, &m) || !slices.Equal(m.Requirements, want) || !errors.Is(err, cases.ErrTransition) {
			t.Fatalf("err = %v, want missing %v", err, want)
		}
	}

	must(t, move(f.cw, "triage", "", ""))
	missing(move(f.cw, "verification", "", ""), "risk")
	wantErr(t, "risk 0", f.svc.SetRisk(f.ctx, f.cw, id, 0, nil), cases.ErrInvalid)
	wantErr(t, "unknown factor", f.svc.SetRisk(f.ctx, f.cw, id, 3, []string{"astrology"}), cases.ErrInvalid)
	must(t, f.svc.SetRisk(f.ctx, f.cw, id, 3, []string{cases.FactorPhoneSeized, cases.FactorDetainedBefore, cases.FactorPhoneSeized}))
	must(t, move(f.cw, "verification", "", "risk assessed by phone"))

	missing(move(f.cw, "relocation", "", ""), "verified")
	must(t, f.svc.Share(f.ctx, f.coord, id, f.logi.ID))
	must(t, f.svc.Flag(f.ctx, f.logi, id, true, "asked for the safe-house address twice"))
	missing(move(f.cw, "relocation", "", ""), "verified", "not_flagged")
	f.verify(t, f.cw, id)
	missing(move(f.cw, "relocation", "", ""), "not_flagged")
	wantErr(t, "caseworker clears a flag", f.svc.Flag(f.ctx, f.cw, id, false, ""), cases.ErrForbidden)
	wantErr(t, "coordinator without access clears a flag", f.svc.Flag(f.ctx, f.coord, id, false, ""), cases.ErrForbidden)
	must(t, f.svc.BreakGlass(f.ctx, f.coord, id, "flag raised by logistics, reviewing it"))
	must(t, f.svc.Flag(f.ctx, f.coord, id, false, "called the references again: genuine"))
	must(t, move(f.cw, "relocation", "", ""))

	// Leaving relocation needs an assignee.
	must(t, f.svc.Assign(f.ctx, f.coord, id, 0))
	missing(move(f.coord, "safe_house", "", ""), "assignee")
	must(t, f.svc.Assign(f.ctx, f.coord, id, f.cw.ID))

	// Custodians do not steer cases; logistics do.
	must(t, f.svc.Share(f.ctx, f.coord, id, f.cust.ID))
	wantErr(t, "custodian moves", move(f.cust, "safe_house", "", ""), cases.ErrForbidden)
	must(t, move(f.logi, "safe_house", "", ""))
	for _, to := range []string{"documents", "visa", "departure", "arrived"} {
		must(t, move(f.cw, to, "", ""))
	}

	wantErr(t, "skip", move(f.cw, "new", "", ""), cases.ErrTransition)
	wantErr(t, "same stage", move(f.cw, "arrived", "", ""), cases.ErrTransition)
	wantErr(t, "unknown stage", move(f.cw, "moon", "", ""), cases.ErrInvalid)
	wantErr(t, "close without reason", move(f.cw, "closed", "", ""), cases.ErrInvalid)
	wantErr(t, "close with unknown reason", move(f.cw, "closed", "bored", ""), cases.ErrInvalid)
	wantErr(t, "close reason on an open stage", move(f.cw, "departure", "resettled", ""), cases.ErrInvalid)
	must(t, move(f.cw, "closed", "resettled", "arrived in Toronto"))
	got, err := f.st.GetCase(f.ctx, id)
	must(t, err)
	if got.Stage != "closed" || got.CloseReason != "resettled" {
		t.Fatalf("closed case = %s (%s)", got.Stage, got.CloseReason)
	}
	wantErr(t, "closed to arrived", move(f.cw, "arrived", "", ""), cases.ErrTransition)
	must(t, move(f.cw, "triage", "", "contacted us again"))
	got, err = f.st.GetCase(f.ctx, id)
	must(t, err)
	if got.Stage != "triage" || got.CloseReason != "" {
		t.Fatalf("reopened case = %s (%q)", got.Stage, got.CloseReason)
	}

	v := f.view(t, f.cw, id)
	var stages []string
	for _, e := range v.Timeline {
		switch e.Kind {
		case cases.KindStage:
			stages = append(stages, e.Stage)
			if e.Stage == "closed" && (e.CloseReason != "resettled" || e.Text != "arrived in Toronto") {
				t.Errorf("closing event = %+v", e)
			}
		case cases.KindRisk:
			if e.Risk != 3 || !slices.Equal(e.Factors, []string{cases.FactorDetainedBefore, cases.FactorPhoneSeized}) || e.Class != cases.ClassTestimony {
				t.Errorf("risk event = %+v", e)
			}
		case cases.KindFlag:
			if e.ActorID != f.logi.ID || e.Text != "asked for the safe-house address twice" {
				t.Errorf("flag event = %+v", e)
			}
		}
	}
	want := []string{"triage", "verification", "relocation", "safe_house", "documents", "visa", "departure", "arrived", "closed", "triage"}
	if !slices.Equal(stages, want) {
		t.Errorf("stages entered = %v, want %v", stages, want)
	}
	if !slices.Equal(v.Factors, []string{cases.FactorDetainedBefore, cases.FactorPhoneSeized}) {
		t.Errorf("view factors = %v", v.Factors)
	}
	if !slices.Equal(v.Next, []string{"verification", "new", "closed"}) || !slices.Equal(v.Missing["verification"], nil) {
		t.Errorf("next %v, missing %v", v.Next, v.Missing)
	}
	// A custodian sees no moves offered.
	if v := f.view(t, f.cust, id); len(v.Next) != 0 {
		t.Errorf("custodian is offered %v", v.Next)
	}
	moves := 0
	for _, a := range f.actions(t, "case:"+id) {
		if a == "case.move" {
			moves++
		}
	}
	if moves != len(want) {
		t.Errorf("%d case.move entries, want %d", moves, len(want))
	}
	rep, err := audit.Verify(f.ctx, f.st)
	if err != nil {
		t.Fatalf("audit chain: %v (%+v)", err, rep)
	}
}

// TestTimeInStage measures stays with an injected clock, the current one
// up to now, a stage visited twice summed.
func TestTimeInStage(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, nil)
	step := func(d time.Duration, to string) {
		t.Helper()
		f.clock.Advance(d)
		must(t, f.svc.Move(f.ctx, f.cw, c.ID, to, "", ""))
	}
	step(2*time.Hour, "triage")
	step(30*time.Minute, "new")
	step(15*time.Minute, "triage")
	f.clock.Advance(10 * time.Minute)
	v := f.view(t, f.cw, c.ID)
	want := map[string]time.Duration{"new": 2*time.Hour + 15*time.Minute, "triage": 40 * time.Minute}
	if !maps.Equal(v.TimeInStage, want) {
		t.Errorf("time in stage = %v, want %v", v.TimeInStage, want)
	}
	if len(v.Periods) != 4 || !v.Periods[3].Left.IsZero() || v.Periods[0].Left.IsZero() {
		t.Errorf("periods = %v", v.Periods)
	}
	f.clock.Advance(time.Hour)
	if got := f.view(t, f.cw, c.ID).TimeInStage["triage"]; got != 100*time.Minute {
		t.Errorf("triage after another hour = %v", got)
	}
}

func TestBreakGlass(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, map[string]map[string]string{"testimony": {"account": "x"}})
	wantErr(t, "short reason", f.svc.BreakGlass(f.ctx, f.coord, c.ID, "   urgent  "), cases.ErrInvalid)
	wantErr(t, "no reason", f.svc.BreakGlass(f.ctx, f.coord, c.ID, ""), cases.ErrInvalid)
	for _, u := range []*store.User{f.cw2, f.op, f.logi, f.cust} {
		wantErr(t, u.Role+" breaks the glass", f.svc.BreakGlass(f.ctx, u, c.ID, "I would like to see this case"), cases.ErrForbidden)
	}
	must(t, f.svc.BreakGlass(f.ctx, f.coord, c.ID, "  Assignee unreachable; person reports police at the door  "))
	if n := f.countAction(t, f.coord.ID, "case.break_glass", "case:"+c.ID); n != 1 {
		t.Errorf("%d case.break_glass entries", n)
	}
	// The assignee sees who broke the glass, when, why and until when.
	v := f.view(t, f.cw, c.ID)
	e := v.Timeline[len(v.Timeline)-1]
	if e.Kind != cases.KindBreakGlass || e.ActorID != f.coord.ID || e.Text != "Assignee unreachable; person reports police at the door" ||
		!e.Until.Equal(f.clock.Now().Add(time.Hour)) {
		t.Errorf("break-glass event = %+v", e)
	}
	if v := f.view(t, f.coord, c.ID); v.Access != cases.AccessBreakGlass || v.Sections["testimony"]["account"] != "x" {
		t.Errorf("coordinator's view: %q %v", v.Access, v.Sections)
	}
	f.clock.Advance(time.Hour)
	_, err := f.svc.View(f.ctx, f.coord, c.ID)
	wantErr(t, "after an hour", err, cases.ErrForbidden)
}

func TestAssignAndShare(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.coord, nil)
	obj := "case:" + c.ID
	for _, tc := range []struct {
		name   string
		actor  *store.User
		share  bool
		target int64
		want   error
	}{
		{"caseworker assigns", f.cw, false, f.cw2.ID, cases.ErrForbidden},
		{"operator shares", f.op, true, f.cw2.ID, cases.ErrForbidden},
		{"assign to a custodian", f.coord, false, f.cust.ID, cases.ErrInvalid},
		{"assign to a disabled user", f.coord, false, f.gone.ID, cases.ErrInvalid},
		{"assign to nobody known", f.coord, false, 9999, cases.ErrInvalid},
		{"assign to a negative id", f.coord, false, -1, cases.ErrInvalid},
		{"assign to oneself", f.coord, false, f.coord.ID, cases.ErrForbidden},
		{"share with oneself", f.admin, true, f.admin.ID, cases.ErrForbidden},
		{"share with a disabled user", f.coord, true, f.gone.ID, cases.ErrInvalid},
		{"share with nobody", f.coord, true, 0, cases.ErrInvalid},
		{"assign to logistics", f.coord, false, f.logi.ID, nil},
		{"assign to a coordinator", f.admin, false, f.coord2.ID, nil},
		{"assign to a caseworker", f.coord, false, f.cw.ID, nil},
		{"share with a custodian", f.coord, true, f.cust.ID, nil},
		{"share with an operator", f.admin, true, f.op.ID, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.share {
				err = f.svc.Share(f.ctx, tc.actor, c.ID, tc.target)
			} else {
				err = f.svc.Assign(f.ctx, tc.actor, c.ID, tc.target)
			}
			if tc.want == nil {
				must(t, err)
				return
			}
			wantErr(t, "", err, tc.want)
		})
	}
	got, err := f.st.GetCase(f.ctx, c.ID)
	must(t, err)
	shares, err := f.st.CaseShares(f.ctx, c.ID)
	must(t, err)
	if got.AssigneeID != f.cw.ID || !slices.Equal(shares, []int64{f.op.ID, f.cust.ID}) {
		t.Fatalf("assignee %d, shares %v", got.AssigneeID, shares)
	}
	// Doing it again changes nothing and records nothing.
	before := len(f.actions(t, obj))
	must(t, f.svc.Assign(f.ctx, f.coord, c.ID, f.cw.ID))
	must(t, f.svc.Share(f.ctx, f.coord, c.ID, f.op.ID))
	if after := len(f.actions(t, obj)); after != before {
		t.Errorf("idempotent assign and share recorded %d entries", after-before)
	}
	wantErr(t, "unshare someone not shared", f.svc.Unshare(f.ctx, f.coord, c.ID, f.cw2.ID), cases.ErrInvalid)
	wantErr(t, "caseworker unshares", f.svc.Unshare(f.ctx, f.cw, c.ID, f.op.ID), cases.ErrForbidden)
	must(t, f.svc.Unshare(f.ctx, f.coord, c.ID, f.op.ID))

	var who []int64
	for _, e := range f.view(t, f.cw, c.ID).Timeline {
		switch e.Kind {
		case cases.KindAssign, cases.KindShare, cases.KindUnshare:
			who = append(who, e.UserID)
		}
	}
	if want := []int64{f.logi.ID, f.coord2.ID, f.cw.ID, f.cust.ID, f.op.ID, f.op.ID}; !slices.Equal(who, want) {
		t.Errorf("assign/share events name %v, want %v", who, want)
	}
	// Refusals on roles and on oneself are audited; invalid targets are
	// mistakes, not probes.
	wantActions := []string{"case.open", "case.denied", "case.denied", "case.denied", "case.denied",
		"case.assign", "case.assign", "case.assign", "case.share", "case.share", "case.denied", "case.unshare", "case.read"}
	if got := f.actions(t, obj); !slices.Equal(got, wantActions) {
		t.Errorf("audit = %v, want %v", got, wantActions)
	}
}

func TestSections(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, map[string]map[string]string{"identity": {"name": "A", "phone": "+7 928 000"}})
	must(t, f.svc.UpdateSection(f.ctx, f.cw, c.ID, "identity", map[string]string{"name": " Б\r\nB ", "phone": "", "alias": "V"}))
	v := f.view(t, f.cw, c.ID)
	if want := map[string]string{"name": "Б\nB", "alias": "V"}; !maps.Equal(v.Sections["identity"], want) {
		t.Errorf("merged identity = %v, want %v", v.Sections["identity"], want)
	}
	last := v.Timeline[len(v.Timeline)-1]
	if last.Kind != cases.KindSection || last.Class != "identity" || !slices.Equal(last.Fields, []string{"alias", "name", "phone"}) {
		t.Errorf("section event = %+v", last)
	}
	// Writing the same again is no change: no event, no audit entry.
	before := len(f.actions(t, "case:"+c.ID))
	must(t, f.svc.UpdateSection(f.ctx, f.cw, c.ID, "identity", map[string]string{"name": "Б\nB", "gone": ""}))
	if after := len(f.actions(t, "case:"+c.ID)); after != before {
		t.Errorf("an update changing nothing was recorded")
	}

	many := map[string]string{}
	for i := range cases.MaxFields + 1 {
		many["f"+strings.Repeat("x", i%30)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	for _, tc := range []struct {
		name   string
		class  string
		fields map[string]string
		want   error
	}{
		{"longest value", "testimony", map[string]string{"account": strings.Repeat("я", cases.MaxValueRunes)}, nil},
		{"longest name", "testimony", map[string]string{strings.Repeat("a", 40): "x"}, nil},
		{"value too long", "testimony", map[string]string{"account": strings.Repeat("я", cases.MaxValueRunes+1)}, cases.ErrInvalid},
		{"name too long", "testimony", map[string]string{strings.Repeat("a", 41): "x"}, cases.ErrInvalid},
		{"name with a capital", "testimony", map[string]string{"Account": "x"}, cases.ErrInvalid},
		{"name starting with a digit", "testimony", map[string]string{"1st": "x"}, cases.ErrInvalid},
		{"invalid UTF-8", "testimony", map[string]string{"account": "\xff"}, cases.ErrInvalid},
		{"NUL", "testimony", map[string]string{"account": "a\x00b"}, cases.ErrInvalid},
		{"too many fields", "testimony", many, cases.ErrInvalid},
		{"unknown class", "gossip", map[string]string{"a": "b"}, cases.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.svc.UpdateSection(f.ctx, f.cw, c.ID, tc.class, tc.fields)
			if tc.want == nil {
				must(t, err)
				return
			}
			wantErr(t, "", err, tc.want)
		})
	}
	if len(many) != cases.MaxFields+1 {
		t.Fatalf("test bug: %d fields", len(many))
	}
	wantErr(t, "empty note", f.svc.AddNote(f.ctx, f.cw, c.ID, "testimony", " \n "), cases.ErrInvalid)
	wantErr(t, "long note", f.svc.AddNote(f.ctx, f.cw, c.ID, "testimony", strings.Repeat("x", cases.MaxNoteRunes+1)), cases.ErrInvalid)
	wantErr(t, "note of no class", f.svc.AddNote(f.ctx, f.cw, c.ID, "", "x"), cases.ErrInvalid)
}

// TestCiphertextIsBound: what the store holds is ciphertext bound to its
// case, class and event; moved around, it does not decrypt.
func TestCiphertextIsBound(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, map[string]map[string]string{"identity": {"name": "Movsar"}, "testimony": {"account": "beaten"}})
	must(t, f.svc.AddNote(f.ctx, f.cw, c.ID, "testimony", "first note"))
	must(t, f.svc.AddNote(f.ctx, f.cw, c.ID, "testimony", "second note"))

	secs, err := f.st.Sections(f.ctx, c.ID)
	must(t, err)
	for _, s := range secs {
		if strings.Contains(string(s.Data), "Movsar") || strings.Contains(string(s.Data), "beaten") {
			t.Fatalf("section %s holds plaintext", s.Class)
		}
	}
	evs, err := f.st.CaseEvents(f.ctx, c.ID)
	must(t, err)
	var notes []*store.CaseEvent
	for _, e := range evs {
		if e.Kind == cases.KindNote {
			notes = append(notes, e)
			if strings.Contains(string(e.Body), "note") {
				t.Fatal("event body holds plaintext")
			}
		}
	}

	// Swap the two notes' bodies: both become unreadable, and say so.
	other := *notes[1]
	other.ID = "e" + strings.Repeat("a", 24)
	other.Body = notes[0].Body
	must(t, f.st.AddCaseEvent(f.ctx, &other))
	v := f.view(t, f.cw, c.ID)
	e := v.Timeline[len(v.Timeline)-1]
	if !e.Unreadable || e.Text != "" {
		t.Errorf("a body moved to another event: %+v", e)
	}

	// Put the identity section where testimony belongs: the view fails
	// rather than show it under the wrong class.
	var identity *store.CaseSection
	for _, s := range secs {
		if s.Class == "identity" {
			identity = s
		}
	}
	must(t, f.st.PutSection(f.ctx, &store.CaseSection{CaseID: c.ID, Class: "testimony", Data: identity.Data, UpdatedAt: f.clock.Now()}))
	_, err = f.svc.View(f.ctx, f.cw, c.ID)
	wantErr(t, "view with a moved section", err, keys.ErrDecrypt)
}

// TestSealed: nothing is read or written while the vault is sealed.
func TestSealed(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, nil)
	f.vault.Seal()
	_, err := f.svc.View(f.ctx, f.cw, c.ID)
	wantErr(t, "view while sealed", err, keys.ErrSealed)
	wantErr(t, "move while sealed", f.svc.Move(f.ctx, f.cw, c.ID, "triage", "", ""), keys.ErrSealed)
	_, err = f.svc.Open(f.ctx, f.cw, cases.OpenInput{})
	wantErr(t, "open while sealed", err, keys.ErrSealed)
	if got, _ := f.st.GetCase(f.ctx, c.ID); got.Stage != "new" {
		t.Error("a refused move changed the stage")
	}
	must(t, f.vault.Unseal(f.ctx, []byte(testPassphrase)))
	must(t, f.svc.Move(f.ctx, f.cw, c.ID, "triage", "", ""))
}
