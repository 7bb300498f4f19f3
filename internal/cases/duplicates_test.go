package cases_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

func TestNormalisePhone(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"+7 (912) 345-67-89", "79123456789", true},
		{"8 912 345 67 89", "79123456789", true},
		{"89123456789", "79123456789", true},
		{"9123456789", "79123456789", true},
		{"007 912 345 67 89", "79123456789", true},
		{"+49 30 1234567", "49301234567", true},
		{"+1 (202) 555-0143", "12025550143", true},
		{"8 800 555 35 35", "78005553535", true},
		{"12345", "", false},
		{"call me", "", false},
		{"1234567890123456", "", false},
	} {
		got, ok := cases.NormalisePhone(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalisePhone(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNormaliseHandleEmailName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"@Ivan_P", "ivan_p", true},
		{"  ivan_p ", "ivan_p", true},
		{"https://t.me/Ivan_P", "ivan_p", true},
		{"@", "", false},
		{"two words", "", false},
	} {
		got, ok := cases.NormaliseHandle(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormaliseHandle(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{" Ivan.P@Example.ORG ", "ivan.p@example.org", true},
		{"mailto:a@b.ru", "a@b.ru", true},
		{"not an address", "", false},
		{"a@b", "", false},
		{"@b.ru", "", false},
	} {
		got, ok := cases.NormaliseEmail(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormaliseEmail(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		name, year, want string
		ok               bool
	}{
		{"Иван Петров", "1990", "иван петров|1990", true},
		{"ПЕТРОВ,  Иван", " 1990 ", "иван петров|1990", true},
		{"Пётр Ёлкин", "1985", "елкин петр|1985", true},
		{"Ivan Petrov (demo)", "1990", "demo ivan petrov|1990", true},
		{"Ｉｖａｎ", "1990", "ivan|1990", true}, // full-width letters, NFKC
		{"Иван", "90", "", false},
		{"Иван", "", "", false},
		{"123", "1990", "", false},
	} {
		got, ok := cases.NormaliseNameYear(tc.name, tc.year)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormaliseNameYear(%q, %q) = %q, %v; want %q, %v", tc.name, tc.year, got, ok, tc.want, tc.ok)
		}
	}
}

func TestIdentityValues(t *testing.T) {
	got := cases.IdentityValues(map[string]string{
		"name": "Иван Петров", "birth_year": "1990",
		"phone":     "+7 912 345-67-89, 8 (912) 345 67 89; +49 30 1234567",
		"messenger": "@Ivan_P, +7 903 111 22 33",
		"email":     "Ivan@Example.org",
		"contact":   "Signal +7 999 000-11-22 or @other_handle, mail x.y@mail.ru",
		"languages": "ru",
	})
	want := []cases.IndexValue{
		{Kind: store.IndexEmail, Value: "ivan@example.org"},
		{Kind: store.IndexEmail, Value: "x.y@mail.ru"},
		{Kind: store.IndexHandle, Value: "ivan_p"},
		{Kind: store.IndexHandle, Value: "other_handle"},
		{Kind: store.IndexNameYear, Value: "иван петров|1990"},
		{Kind: store.IndexPhone, Value: "49301234567"},
		{Kind: store.IndexPhone, Value: "79031112233"},
		{Kind: store.IndexPhone, Value: "79123456789"},
		{Kind: store.IndexPhone, Value: "79990001122"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("IdentityValues =\n%v\nwant\n%v", got, want)
	}
	if v := cases.IdentityValues(map[string]string{"name": "Иван"}); len(v) != 0 {
		t.Errorf("a name without a year is indexed: %v", v)
	}
}

func ident(fields ...string) map[string]map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	return map[string]map[string]string{cases.ClassIdentity: m}
}

func matchIDs(d *cases.Duplicates) []string {
	var out []string
	for _, m := range d.Matches {
		out = append(out, fmt.Sprintf("%s:%v:%v", m.CaseID, m.Kinds, m.Access))
	}
	return out
}

func TestDuplicates(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, f.cw, ident("name", "Иван Петров", "birth_year", "1990", "phone", "+7 912 345-67-89"))
	// The same person through another channel: the phone written another
	// way, and the name in the other order.
	b := f.open(t, f.cw, ident("name", "Петров Иван", "birth_year", "1990", "phone", "8 912 345 67 89", "email", "ivan@example.org"))
	// Someone else's case, sharing only the e-mail address.
	c := f.open(t, f.cw2, ident("name", "Other", "email", " IVAN@example.org"))
	unrelated := f.open(t, f.cw, ident("name", "Somebody", "phone", "+7 999 000 00 00"))

	for _, tc := range []struct {
		name  string
		actor *store.User
		id    string
		want  []string
	}{
		{"a", f.cw, a.ID, []string{b.ID + ":[phone name_year]:true"}},
		// c is not the caseworker's: its id is shown, without access.
		{"b", f.cw, b.ID, []string{a.ID + ":[phone name_year]:true", c.ID + ":[email]:false"}},
		{"c", f.cw2, c.ID, []string{b.ID + ":[email]:false"}},
		{"unrelated", f.cw, unrelated.ID, nil},
	} {
		d, err := f.svc.Duplicates(f.ctx, tc.actor, tc.id)
		must(t, err)
		// Matches come ordered by (random) id.
		slices.Sort(tc.want)
		if got := matchIDs(d); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: duplicates %v, want %v", tc.name, got, tc.want)
		}
	}
	// Need to know: the duplicates of a case are for those who may read it.
	_, err := f.svc.Duplicates(f.ctx, f.cw2, a.ID)
	wantErr(t, "other caseworker", err, cases.ErrForbidden)
	_, err = f.svc.Duplicates(f.ctx, f.coord, a.ID)
	wantErr(t, "coordinator without glass", err, cases.ErrForbidden)

	// Changing the identity changes the index.
	must(t, f.svc.UpdateSection(f.ctx, f.cw, b.ID, cases.ClassIdentity, map[string]string{"phone": "", "email": "", "birth_year": "1991"}))
	d, err := f.svc.Duplicates(f.ctx, f.cw, a.ID)
	must(t, err)
	if len(d.Matches) != 0 {
		t.Errorf("after b's identity changed: %v", matchIDs(d))
	}

	// A lookup before any case is opened (a request's contact answer).
	d, err = f.svc.DuplicatesOf(f.ctx, f.op, map[string]string{"contact": "звоните 8-912-345-67-89"})
	must(t, err)
	if got := matchIDs(d); fmt.Sprint(got) != fmt.Sprint([]string{a.ID + ":[phone]:false"}) {
		t.Errorf("DuplicatesOf = %v", got)
	}
	_, err = f.svc.DuplicatesOf(f.ctx, f.logi, map[string]string{"phone": "89123456789"})
	wantErr(t, "logistics", err, cases.ErrForbidden)

	// An erased case is no duplicate of anything.
	must(t, f.svc.BreakGlass(f.ctx, f.coord, a.ID, "erasing on request"))
	must(t, f.svc.Erase(f.ctx, f.coord, a.ID, "asked to be forgotten"))
	d, err = f.svc.DuplicatesOf(f.ctx, f.op, map[string]string{"phone": "89123456789"})
	must(t, err)
	if len(d.Matches) != 0 {
		t.Errorf("erased case still found: %v", matchIDs(d))
	}
}

func TestWatchListFlags(t *testing.T) {
	f := newFixture(t)
	before := f.open(t, f.cw, ident("name", "Early", "messenger", "@Hostile_Handle"))
	_, err := f.svc.AddWatch(f.ctx, f.cw, store.IndexPhone, "+7 912 000 00 01", "")
	wantErr(t, "caseworker adds", err, cases.ErrForbidden)
	_, err = f.svc.AddWatch(f.ctx, f.coord, store.IndexNameYear, "x", "")
	wantErr(t, "name kind", err, cases.ErrInvalid)
	_, err = f.svc.AddWatch(f.ctx, f.coord, store.IndexPhone, "12", "")
	wantErr(t, "short phone", err, cases.ErrInvalid)

	wp, err := f.svc.AddWatch(f.ctx, f.coord, store.IndexPhone, "+7 912 000 00 01", "used by police in Grozny, April")
	must(t, err)
	f.clock.Advance(time.Minute)
	_, err = f.svc.AddWatch(f.ctx, f.admin, store.IndexPhone, "89120000001", "")
	wantErr(t, "same number again", err, cases.ErrWatchListed)
	_, err = f.svc.AddWatch(f.ctx, f.admin, store.IndexHandle, "hostile_handle", "")
	must(t, err)

	// The case opened before the handle was listed was flagged by the system.
	got, err := f.st.GetCase(f.ctx, before.ID)
	must(t, err)
	if !got.Flagged {
		t.Error("existing case not flagged when its handle was listed")
	}
	// A new case with the number is flagged as it opens.
	c := f.open(t, f.op, ident("name", "Walk-in", "phone", "8 (912) 000-00-01"))
	if !c.Flagged {
		t.Error("new case with a listed phone is not flagged")
	}
	v := f.view(t, f.op, c.ID)
	last := v.Timeline[len(v.Timeline)-1]
	if last.Kind != cases.KindFlag || last.ActorID != 0 {
		t.Errorf("last event = %s by %d, want flag by the system", last.Kind, last.ActorID)
	}
	if n := f.countAction(t, 0, "case.watch_flag", "case:"+c.ID); n != 1 {
		t.Errorf("case.watch_flag audited %d times", n)
	}
	d, err := f.svc.Duplicates(f.ctx, f.op, c.ID)
	must(t, err)
	if fmt.Sprint(d.Watch) != "[phone]" {
		t.Errorf("watch kinds = %v", d.Watch)
	}
	// A case whose identity is edited to a listed value is flagged then.
	e := f.open(t, f.cw, ident("name", "Later"))
	must(t, f.svc.UpdateSection(f.ctx, f.cw, e.ID, cases.ClassIdentity, map[string]string{"messenger": "t.me/HOSTILE_handle"}))
	if got, _ := f.st.GetCase(f.ctx, e.ID); !got.Flagged {
		t.Error("case not flagged after its messenger was set to a listed handle")
	}

	list, err := f.svc.ListWatch(f.ctx, f.coord2)
	must(t, err)
	if len(list) != 2 || list[0].ID != wp || list[0].Note != "used by police in Grozny, April" || list[0].Kind != store.IndexPhone || list[1].Note != "" {
		t.Errorf("ListWatch = %+v", list)
	}
	_, err = f.svc.ListWatch(f.ctx, f.op)
	wantErr(t, "operator lists", err, cases.ErrForbidden)
	wantErr(t, "operator deletes", f.svc.DeleteWatch(f.ctx, f.op, wp), cases.ErrForbidden)
	must(t, f.svc.DeleteWatch(f.ctx, f.admin, wp))
	wantErr(t, "delete again", f.svc.DeleteWatch(f.ctx, f.admin, wp), cases.ErrNotFound)
	if got := f.actions(t, "watch:"+wp); fmt.Sprint(got) != "[watch.add watch.delete]" {
		t.Errorf("audit of the entry: %v", got)
	}
	// Without the entry a new case is not flagged.
	if c := f.open(t, f.op, ident("phone", "+79120000001")); c.Flagged {
		t.Error("flagged after the entry was deleted")
	}
}

// Phone numbers, e-mail addresses, handles and watch-list notes never
// reach the database files in clear.
func TestIdentifiersNotInClear(t *testing.T) {
	f := newFixture(t)
	c := f.open(t, f.cw, ident("name", canaryLatin+"name", "birth_year", "1990", "phone", "+7 912 345-67-89",
		"messenger", "@canaryzq7xhandle", "email", "canaryzq7x@example.org"))
	must(t, f.svc.UpdateSection(f.ctx, f.cw, c.ID, cases.ClassIdentity, map[string]string{"contact": "Signal +7 903 765 43 21"}))
	_, err := f.svc.AddWatch(f.ctx, f.coord, store.IndexPhone, "+7 904 111 22 33", canaryCyrillic+" заметка")
	must(t, err)
	_, err = f.svc.AddWatch(f.ctx, f.coord, store.IndexEmail, "hostilezq7x@example.org", "")
	must(t, err)
	f.st.Close()
	checkpoint(t, f.path)
	var needles []needle
	for _, s := range []string{"79123456789", "9123456789", "345-67-89", "79037654321", "7654321", "79041112233", "1112233",
		"canaryzq7x", "hostilezq7x", canaryLatin, canaryCyrillic, "иван"} {
		needles = append(needles, needle{s, []byte(s)})
	}
	if found := scan(t, filepath.Dir(f.path), needles); len(found) > 0 {
		t.Errorf("found in clear: %v", found)
	}
}

func TestMerge(t *testing.T) {
	f := newFixture(t)
	a := f.open(t, f.cw, map[string]map[string]string{
		cases.ClassIdentity:  {"name": "Иван Петров", "birth_year": "1990", "phone": "+7 912 345-67-89"},
		cases.ClassTestimony: {"account": "detained in April"},
	})
	f.clock.Advance(time.Hour)
	b := f.open(t, f.cw2, map[string]map[string]string{
		cases.ClassIdentity:  {"name": "Ваня Петров", "email": "ivan@example.org", "phone": "8 912 345 67 89"},
		cases.ClassMedical:   {"needs": "insulin"},
		cases.ClassTestimony: {"account": "detained in April, beaten"},
	})
	f.clock.Advance(time.Hour)
	must(t, f.svc.AddNote(f.ctx, f.cw2, b.ID, cases.ClassTestimony, "second call, same story"))
	must(t, f.svc.SetRisk(f.ctx, f.cw2, b.ID, cases.RiskImmediate, []string{"injured"}))
	must(t, f.svc.Flag(f.ctx, f.cw2, b.ID, true, "asked about others"))
	bEvents, err := f.st.CaseEvents(f.ctx, b.ID)
	must(t, err)

	// Only managers, and only with access to both.
	wantErr(t, "caseworker merges", f.svc.Merge(f.ctx, f.cw, a.ID, b.ID), cases.ErrForbidden)
	wantErr(t, "coordinator without access", f.svc.Merge(f.ctx, f.coord, a.ID, b.ID), cases.ErrForbidden)
	must(t, f.svc.BreakGlass(f.ctx, f.coord, a.ID, "checking a duplicate"))
	wantErr(t, "coordinator with access to one", f.svc.Merge(f.ctx, f.coord, a.ID, b.ID), cases.ErrForbidden)
	must(t, f.svc.BreakGlass(f.ctx, f.coord, b.ID, "checking a duplicate"))
	wantErr(t, "into itself", f.svc.Merge(f.ctx, f.coord, a.ID, a.ID), cases.ErrInvalid)
	wantErr(t, "unknown case", f.svc.Merge(f.ctx, f.coord, a.ID, "cnope"), cases.ErrNotFound)
	f.clock.Advance(time.Minute)
	must(t, f.svc.Merge(f.ctx, f.coord, a.ID, b.ID))

	v := f.view(t, f.cw, a.ID)
	id := v.Sections[cases.ClassIdentity]
	wantID := map[string]string{"name": "Иван Петров", "name_merged": "Ваня Петров", "birth_year": "1990",
		"phone": "+7 912 345-67-89", "phone_merged": "8 912 345 67 89", "email": "ivan@example.org"}
	if fmt.Sprint(id) != fmt.Sprint(wantID) {
		t.Errorf("identity = %v, want %v", id, wantID)
	}
	if got := v.Sections[cases.ClassMedical]["needs"]; got != "insulin" {
		t.Errorf("medical needs = %q", got)
	}
	if got := v.Sections[cases.ClassTestimony]; got["account"] != "detained in April" || got["account_merged"] != "detained in April, beaten" {
		t.Errorf("testimony = %v", got)
	}
	if !v.Case.Flagged || v.Case.Risk != cases.RiskImmediate {
		t.Errorf("flag %v, risk %d: b's flag and higher risk must carry over", v.Case.Flagged, v.Case.Risk)
	}
	// Full history: every event of b, decrypted, with its time and actor.
	var note *cases.Event
	copied := 0
	for i, e := range v.Timeline {
		if e.Unreadable {
			t.Errorf("event %d (%s) unreadable after the merge", i, e.Kind)
		}
		if e.Kind == cases.KindNote && e.Text == "second call, same story" {
			note = &v.Timeline[i]
		}
		for _, be := range bEvents {
			if be.Kind == e.Kind && be.At.Equal(e.At) && be.ActorID == e.ActorID {
				copied++
				break
			}
		}
	}
	if copied < len(bEvents) {
		t.Errorf("%d of b's %d events found in a's timeline", copied, len(bEvents))
	}
	if note == nil || note.ActorID != f.cw2.ID {
		t.Errorf("b's note missing or with the wrong actor: %+v", note)
	}
	if last := v.Timeline[len(v.Timeline)-1]; last.Kind != cases.KindMerged || last.Text != "merged from case "+b.ID {
		t.Errorf("last event = %+v, want merged", last)
	}
	// b's caseworker can now work on a; b is gone.
	if !slices.Contains(v.Shares, f.cw2.ID) {
		t.Errorf("shares of a = %v, want b's assignee among them", v.Shares)
	}
	f.view(t, f.cw2, a.ID)
	_, err = f.svc.View(f.ctx, f.cw2, b.ID)
	wantErr(t, "view b", err, cases.ErrErased)
	gone, err := f.st.GetCase(f.ctx, b.ID)
	must(t, err)
	if gone.WrappedKey != nil || gone.ErasedAt.IsZero() {
		t.Error("b is not crypto-shredded")
	}
	if idx, _ := f.st.CaseIndex(f.ctx, b.ID); len(idx) != 0 {
		t.Errorf("b still indexed: %v", idx)
	}
	// a is indexed by its merged identity (the e-mail came from b).
	d, err := f.svc.DuplicatesOf(f.ctx, f.op, map[string]string{"email": "IVAN@example.org"})
	must(t, err)
	if len(d.Matches) != 1 || d.Matches[0].CaseID != a.ID {
		t.Errorf("lookup of b's e-mail = %v", matchIDs(d))
	}
	if got := f.actions(t, "merge:"+b.ID+"-"+a.ID); fmt.Sprint(got) != "[case.merged_into]" {
		t.Errorf("merge audit = %v", got)
	}
	if n := f.countAction(t, f.coord.ID, "case.merge", "case:"+a.ID); n != 1 {
		t.Errorf("case.merge audited %d times", n)
	}
	wantErr(t, "merge again", f.svc.Merge(f.ctx, f.coord, a.ID, b.ID), cases.ErrErased)
}
