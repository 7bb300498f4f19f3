package cases_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

const (
	houseCanary = "HOUSEADDRCANARYq9" + canaryCyrillic
	cityCanary  = "CITYCANARYv3"
)

// placed is a verified case of f.cw, shared with logistics, the operator
// and a custodian, and a house with capacity places.
func (f *fixture) placed(t *testing.T, capacity int) (*store.Case, *store.House) {
	t.Helper()
	c := f.open(t, f.cw, map[string]map[string]string{cases.ClassIdentity: {"name": "Ruslan"}})
	for _, u := range []*store.User{f.logi, f.op, f.cust} {
		must(t, f.svc.Share(f.ctx, f.coord, c.ID, u.ID))
	}
	h, err := f.svc.CreateHouse(f.ctx, f.logi, cases.HouseInput{
		Code: "SH-3", City: cityCanary, Address: houseCanary, Capacity: capacity, Active: true})
	must(t, err)
	return c, h
}

func TestPlacementRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, f *fixture, c *store.Case, h *store.House)
		actor    func(f *fixture) *store.User
		capacity int
		want     error
	}{
		{"before verification", nil, func(f *fixture) *store.User { return f.cw }, 1, cases.ErrUnverified},
		{"operator", verify, func(f *fixture) *store.User { return f.op }, 1, cases.ErrForbidden},
		{"custodian", verify, func(f *fixture) *store.User { return f.cust }, 1, cases.ErrForbidden},
		{"caseworker", verify, func(f *fixture) *store.User { return f.cw }, 1, nil},
		{"logistics", verify, func(f *fixture) *store.User { return f.logi }, 1, nil},
		{"coordinator without access", verify, func(f *fixture) *store.User { return f.coord2 }, 1, cases.ErrForbidden},
		{"over capacity", func(t *testing.T, f *fixture, c *store.Case, h *store.House) {
			verify(t, f, c, h)
			other := f.open(t, f.cw, nil)
			f.verify(t, f.cw, other.ID)
			_, err := f.svc.Place(f.ctx, f.cw, other.ID, h.ID, time.Time{}, time.Time{})
			must(t, err)
		}, func(f *fixture) *store.User { return f.cw }, 1, cases.ErrHouseFull},
		{"house not in use", func(t *testing.T, f *fixture, c *store.Case, h *store.House) {
			verify(t, f, c, h)
			must(t, f.svc.UpdateHouse(f.ctx, f.coord, h.ID, cases.HouseInput{Code: h.Code, City: "x", Capacity: 3, Active: false}))
		}, func(f *fixture) *store.User { return f.cw }, 3, cases.ErrHouseInactive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c, h := f.placed(t, tc.capacity)
			if tc.setup != nil {
				tc.setup(t, f, c, h)
			}
			_, err := f.svc.Place(f.ctx, tc.actor(f), c.ID, h.ID, time.Time{}, time.Time{})
			if tc.want == nil {
				must(t, err)
				return
			}
			wantErr(t, "place", err, tc.want)
			ps, err := f.st.CasePlacements(f.ctx, c.ID)
			must(t, err)
			if len(ps) != 0 {
				t.Errorf("a refused placement was stored")
			}
		})
	}
}

func verify(t *testing.T, f *fixture, c *store.Case, _ *store.House) { f.verify(t, f.cw, c.ID) }

// The address is shown to logistics only, through a placement of a case
// they have access to; the caseworker sees the code, the operator and the
// custodian nothing of the placement.
func TestAddressVisibility(t *testing.T) {
	f := newFixture(t)
	c, h := f.placed(t, 2)
	f.verify(t, f.cw, c.ID)
	_, err := f.svc.Place(f.ctx, f.cw, c.ID, h.ID, time.Time{}, time.Time{})
	must(t, err)
	for _, tc := range []struct {
		who                   *store.User
		withheld              string
		seesCode, seesAddress bool
	}{
		{f.cw, "", true, false},
		{f.logi, "", true, true},
		{f.op, cases.WithheldRole, false, false},
		{f.cust, cases.WithheldRole, false, false},
	} {
		t.Run(tc.who.Role, func(t *testing.T) {
			v, err := f.svc.Logistics(f.ctx, tc.who, c.ID)
			must(t, err)
			if v.Withheld != tc.withheld {
				t.Errorf("withheld %q, want %q", v.Withheld, tc.withheld)
			}
			code, addr := false, false
			for _, p := range v.Placements {
				code = code || p.HouseCode == "SH-3"
				addr = addr || p.Address == houseCanary
			}
			if code != tc.seesCode || addr != tc.seesAddress {
				t.Errorf("sees code %v address %v, want %v %v", code, addr, tc.seesCode, tc.seesAddress)
			}
		})
	}
	// A logistics user without access to the case sees nothing of it.
	other := f.user(t, store.RoleLogistics, false)
	_, err = f.svc.Logistics(f.ctx, other, c.ID)
	wantErr(t, "logistics without access", err, cases.ErrForbidden)

	// On the house page: logistics only; never on the list.
	for _, u := range []*store.User{f.admin, f.coord, f.logi} {
		hv, err := f.svc.House(f.ctx, u, h.ID)
		must(t, err)
		if got := hv.Address == houseCanary; got != cases.CanSeeAddress(u.Role) {
			t.Errorf("%s sees the address on the house page: %v", u.Role, got)
		}
		if hv.Occupied != 1 || hv.City != cityCanary {
			t.Errorf("%s: occupied %d city %q", u.Role, hv.Occupied, hv.City)
		}
		list, err := f.svc.Houses(f.ctx, u)
		must(t, err)
		if len(list) != 1 || list[0].Address != "" {
			t.Errorf("%s: the list shows an address", u.Role)
		}
	}
	for _, u := range []*store.User{f.op, f.cw, f.cust} {
		_, err := f.svc.House(f.ctx, u, h.ID)
		wantErr(t, u.Role+" opens a house", err, cases.ErrForbidden)
	}
	if n := f.countAction(t, f.logi.ID, "case.logistics_read", "case:"+c.ID); n != 1 {
		t.Errorf("logistics reads audited %d times, want 1", n)
	}

	// Withdrawing verification hides the placement from everyone again,
	// but ending the stay stays possible.
	must(t, f.svc.RecordVerification(f.ctx, f.cw, c.ID, cases.Checklist{Interview: true}, "doubts"))
	v, err := f.svc.Logistics(f.ctx, f.logi, c.ID)
	must(t, err)
	if v.Withheld != cases.WithheldUnverified || len(v.Placements) != 0 {
		t.Errorf("after verification was withdrawn: withheld %q, %d placements", v.Withheld, len(v.Placements))
	}
	ps, err := f.st.CasePlacements(f.ctx, c.ID)
	must(t, err)
	must(t, f.svc.EndPlacement(f.ctx, f.logi, c.ID, ps[0].ID))
}

func TestRecords(t *testing.T) {
	f := newFixture(t)
	c, _ := f.placed(t, 1)
	// Documents (identity) need no verification; visas and trips do.
	_, err := f.svc.AddRecord(f.ctx, f.cw, c.ID, cases.RecordInput{Kind: cases.RecordDocument, Body: cases.RecordBody{DocType: "passport"}})
	must(t, err)
	visa := cases.RecordInput{Kind: cases.RecordVisa, Body: cases.RecordBody{Country: "Canada", Programme: "emergency humanitarian visa", Submitted: "2017-05-02"}}
	_, err = f.svc.AddRecord(f.ctx, f.cw, c.ID, visa)
	wantErr(t, "visa before verification", err, cases.ErrUnverified)
	f.verify(t, f.cw, c.ID)
	r, err := f.svc.AddRecord(f.ctx, f.cw, c.ID, visa)
	must(t, err)
	must(t, f.svc.SetRecordStatus(f.ctx, f.cw, c.ID, r.ID, "granted", "EHV-1"))
	_, err = f.svc.AddRecord(f.ctx, f.logi, c.ID, cases.RecordInput{Kind: cases.RecordTrip, Body: cases.RecordBody{
		Legs:    []cases.Leg{{From: "Tver", To: "Moscow", Date: "2017-06-01", Mode: "train"}, {From: "Moscow", To: "Toronto", Mode: "plane"}},
		Partner: "Rainbow Railroad"}})
	must(t, err)
	for _, tc := range []struct {
		in   cases.RecordInput
		what string
	}{
		{cases.RecordInput{Kind: "ticket"}, "unknown kind"},
		{cases.RecordInput{Kind: cases.RecordDocument, Body: cases.RecordBody{DocType: "diploma"}}, "unknown document type"},
		{cases.RecordInput{Kind: cases.RecordVisa}, "no country"},
		{cases.RecordInput{Kind: cases.RecordVisa, Body: cases.RecordBody{Country: "X", Submitted: "May 2"}}, "bad date"},
		{cases.RecordInput{Kind: cases.RecordTrip}, "no legs"},
		{cases.RecordInput{Kind: cases.RecordTrip, Status: "lost", Body: cases.RecordBody{Legs: []cases.Leg{{From: "a", To: "b"}}}}, "bad status"},
	} {
		_, err := f.svc.AddRecord(f.ctx, f.cw, c.ID, tc.in)
		wantErr(t, tc.what, err, cases.ErrInvalid)
	}
	v, err := f.svc.Logistics(f.ctx, f.cw, c.ID)
	must(t, err)
	if len(v.Documents) != 1 || len(v.Visas) != 1 || len(v.Trips) != 1 {
		t.Fatalf("got %d documents, %d visas, %d trips", len(v.Documents), len(v.Visas), len(v.Trips))
	}
	if g := v.Visas[0]; g.Status != "granted" || g.Body.Decision != "EHV-1" || g.Body.Decided == "" {
		t.Errorf("visa after the decision: %+v", g)
	}
	// Custodians read identity but not logistics: documents only.
	v, err = f.svc.Logistics(f.ctx, f.cust, c.ID)
	must(t, err)
	if len(v.Documents) != 1 || len(v.Visas) != 0 || len(v.Trips) != 0 {
		t.Errorf("custodian sees %d documents, %d visas, %d trips", len(v.Documents), len(v.Visas), len(v.Trips))
	}
}

// Erasing a case deletes its placements (freeing the place) and records,
// and no canary of the house's address is ever in the SQLite files.
func TestEraseCascadesToLogistics(t *testing.T) {
	f := newFixture(t)
	c, h := f.placed(t, 1)
	f.verify(t, f.cw, c.ID)
	_, err := f.svc.Place(f.ctx, f.cw, c.ID, h.ID, time.Time{}, time.Time{})
	must(t, err)
	_, err = f.svc.AddRecord(f.ctx, f.cw, c.ID, cases.RecordInput{Kind: cases.RecordVisa, Body: cases.RecordBody{Country: "Canada" + canaryLatin}})
	must(t, err)
	must(t, f.svc.BreakGlass(f.ctx, f.coord, c.ID, "erasing on the person's request"))
	must(t, f.svc.Erase(f.ctx, f.coord, c.ID, "asked to be forgotten"))

	ps, err := f.st.CasePlacements(f.ctx, c.ID)
	must(t, err)
	rs, err := f.st.CaseRecords(f.ctx, c.ID)
	must(t, err)
	if len(ps) != 0 || len(rs) != 0 {
		t.Errorf("after erasure: %d placements, %d records", len(ps), len(rs))
	}
	_, err = f.svc.Logistics(f.ctx, f.logi, c.ID)
	wantErr(t, "logistics of an erased case", err, cases.ErrErased)
	// The place is free again.
	other := f.open(t, f.cw, nil)
	f.verify(t, f.cw, other.ID)
	_, err = f.svc.Place(f.ctx, f.cw, other.ID, h.ID, time.Time{}, time.Time{})
	must(t, err)

	f.st.Close()
	checkpoint(t, f.path)
	if found := scan(t, filepath.Dir(f.path), []needle{
		{"house address canary", []byte(houseCanary)},
		{"house address canary (Latin part)", []byte("HOUSEADDRCANARYq9")},
		{"city canary", []byte(cityCanary)},
		{"visa canary", []byte(canaryLatin)},
	}); len(found) > 0 {
		t.Errorf("plaintext in the data files: %v", found)
	}
}
