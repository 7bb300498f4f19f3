package storetest

import (
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

var logisticsTests = []test{
	{"Houses", testHouses},
	{"HouseConflicts", testHouseConflicts},
	{"Placements", testPlacements},
	{"Capacity", testPlacementCapacity},
	{"PlacementRefusals", testPlacementRefusals},
	{"Records", testCaseRecords},
	{"EraseCascades", testLogisticsErase},
	{"TxUsableAfterErrors", testLogisticsTxUsable},
}

func newHouse(id, code string, capacity int) *store.House {
	return &store.House{
		ID: id, Code: code, Capacity: capacity, Active: true,
		WrappedKey: randomBytes(72), City: randomBytes(40), Address: randomBytes(90),
		CreatedAt: t0,
	}
}

func createHouse(t *testing.T, s store.Store, h *store.House) {
	t.Helper()
	must(t, s.CreateHouse(t.Context(), h))
}

func place(id, caseID, houseID string, from, until time.Time) *store.Placement {
	return &store.Placement{ID: id, CaseID: caseID, HouseID: houseID, From: from, Until: until, CreatedAt: from}
}

func testHouses(t *testing.T, s store.Store) {
	ctx := t.Context()
	msk := time.FixedZone("MSK", 3*3600)
	h := newHouse("h1", "SH-2", 3)
	h.CreatedAt = time.Date(2026, 3, 1, 15, 0, 0, 999, msk)
	h.UpdatedAt = h.CreatedAt.Add(time.Hour) // must be reset
	createHouse(t, s, h)
	want := *h
	want.CreatedAt = micro(h.CreatedAt)
	want.UpdatedAt = want.CreatedAt
	checkEqual(t, &want, h)
	got, err := s.GetHouse(ctx, "h1")
	must(t, err)
	checkEqual(t, &want, got)

	createHouse(t, s, newHouse("h0", "SH-10", 1))
	list, err := s.ListHouses(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Code != "SH-10" || list[1].Code != "SH-2" {
		t.Fatalf("ListHouses: got %d houses, want SH-10 then SH-2 (byte order)", len(list))
	}

	// Update: everything but the key and CreatedAt.
	got.Code, got.Capacity, got.Active = "SH-3", 5, false
	got.City, got.Address = randomBytes(41), nil
	got.WrappedKey = randomBytes(72) // must be ignored
	got.UpdatedAt = at(time.Hour)
	must(t, s.UpdateHouse(ctx, got))
	again, err := s.GetHouse(ctx, "h1")
	must(t, err)
	want2 := *got
	want2.WrappedKey = h.WrappedKey
	checkEqual(t, &want2, again)

	_, err = s.GetHouse(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.UpdateHouse(ctx, newHouse("nope", "SH-9", 1)), store.ErrNotFound)
}

func testHouseConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	createHouse(t, s, newHouse("h1", "SH-1", 2))
	createHouse(t, s, newHouse("h2", "SH-2", 2))
	wantErr(t, s.CreateHouse(ctx, newHouse("h1", "SH-7", 2)), store.ErrConflict)
	wantErr(t, s.CreateHouse(ctx, newHouse("h3", "SH-1", 2)), store.ErrConflict)
	h2, err := s.GetHouse(ctx, "h2")
	must(t, err)
	h2.Code = "SH-1"
	wantErr(t, s.UpdateHouse(ctx, h2), store.ErrConflict)
	// Keeping one's own code is no conflict.
	h2.Code = "SH-2"
	must(t, s.UpdateHouse(ctx, h2))
}

func testPlacements(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	createHouse(t, s, newHouse("h1", "SH-1", 5))

	p1 := place("p1", "c1", "h1", at(48*time.Hour), at(96*time.Hour))
	p0 := place("p0", "c1", "h1", time.Date(2026, 3, 1, 15, 0, 0, 999, time.FixedZone("MSK", 3*3600)), time.Time{})
	must(t, s.AddPlacement(ctx, p1))
	must(t, s.AddPlacement(ctx, p0))
	if !p0.From.Equal(t0) || p0.From.Location() != time.UTC || !p0.Until.IsZero() {
		t.Errorf("AddPlacement: p0 From %v Until %v, want %v and zero", p0.From, p0.Until, t0)
	}
	list, err := s.CasePlacements(ctx, "c1")
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("CasePlacements: %d, want 2", len(list))
	}
	checkEqual(t, p0, list[0])
	checkEqual(t, p1, list[1])
	empty, err := s.CasePlacements(ctx, "c2")
	must(t, err)
	if len(empty) != 0 {
		t.Errorf("CasePlacements of a case without any: %d", len(empty))
	}
	_, err = s.CasePlacements(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.AddPlacement(ctx, place("p1", "c2", "h1", t0, time.Time{})), store.ErrConflict)

	occ, err := s.Occupancy(ctx, at(72*time.Hour))
	must(t, err)
	if occ["h1"] != 2 || len(occ) != 1 {
		t.Errorf("Occupancy during both: %v, want h1:2", occ)
	}
	occ, err = s.Occupancy(ctx, at(96*time.Hour)) // p1 ends: Until is exclusive
	must(t, err)
	if occ["h1"] != 1 {
		t.Errorf("Occupancy when p1 ends: %v, want h1:1", occ)
	}

	// Ending: an open placement ends at the time given; one that ends
	// earlier keeps its end.
	must(t, s.EndPlacement(ctx, "c1", "p0", at(time.Hour)))
	must(t, s.EndPlacement(ctx, "c1", "p1", at(200*time.Hour)))
	list, err = s.CasePlacements(ctx, "c1")
	must(t, err)
	if !list[0].Until.Equal(at(time.Hour)) || !list[1].Until.Equal(at(96*time.Hour)) {
		t.Errorf("after EndPlacement: until %v and %v", list[0].Until, list[1].Until)
	}
	wantErr(t, s.EndPlacement(ctx, "c2", "p0", at(time.Hour)), store.ErrNotFound)
	wantErr(t, s.EndPlacement(ctx, "c1", "nope", at(time.Hour)), store.ErrNotFound)
}

func testPlacementCapacity(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"c1", "c2", "c3", "c4"} {
		createCase(t, s, newCase(id, t0))
	}
	createHouse(t, s, newHouse("h1", "SH-1", 2))
	day := 24 * time.Hour
	must(t, s.AddPlacement(ctx, place("p1", "c1", "h1", at(0), at(5*day))))
	must(t, s.AddPlacement(ctx, place("p2", "c2", "h1", at(6*day), at(10*day))))
	// Overlaps both, but never with both at once: two at a time at most.
	must(t, s.AddPlacement(ctx, place("p3", "c3", "h1", at(0), at(10*day))))
	// Now full from 0 to 10 days.
	wantErr(t, s.AddPlacement(ctx, place("p4", "c4", "h1", at(2*day), at(3*day))), store.ErrHouseFull)
	wantErr(t, s.AddPlacement(ctx, place("p4", "c4", "h1", at(9*day), time.Time{})), store.ErrHouseFull)
	// Back to back after the last one ends is fine (Until is exclusive),
	// and in the gap between p1 and p2.
	must(t, s.AddPlacement(ctx, place("p4", "c4", "h1", at(10*day), time.Time{})))
	must(t, s.AddPlacement(ctx, place("p5", "c4", "h1", at(5*day), at(6*day))))
	// Two open-ended stays fill it for good; ending one frees its place
	// from then on.
	must(t, s.AddPlacement(ctx, place("p6", "c1", "h1", at(11*day), time.Time{})))
	wantErr(t, s.AddPlacement(ctx, place("p7", "c2", "h1", at(20*day), time.Time{})), store.ErrHouseFull)
	must(t, s.EndPlacement(ctx, "c4", "p4", at(12*day)))
	must(t, s.AddPlacement(ctx, place("p7", "c2", "h1", at(20*day), time.Time{})))
	wantErr(t, s.AddPlacement(ctx, place("p8", "c3", "h1", at(11*day), at(13*day))), store.ErrHouseFull)
}

func testPlacementRefusals(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	gone := newCase("gone", t0)
	createCase(t, s, gone)
	must(t, s.EraseCase(ctx, "gone", at(time.Hour)))
	createHouse(t, s, newHouse("h1", "SH-1", 2))
	off := newHouse("h2", "SH-2", 2)
	off.Active = false
	createHouse(t, s, off)

	wantErr(t, s.AddPlacement(ctx, place("p1", "nope", "h1", t0, time.Time{})), store.ErrNotFound)
	wantErr(t, s.AddPlacement(ctx, place("p1", "c1", "nope", t0, time.Time{})), store.ErrNotFound)
	wantErr(t, s.AddPlacement(ctx, place("p1", "gone", "h1", t0, time.Time{})), store.ErrNotFound)
	wantErr(t, s.AddPlacement(ctx, place("p1", "c1", "h2", t0, time.Time{})), store.ErrHouseInactive)
	list, err := s.CasePlacements(ctx, "c1")
	must(t, err)
	if len(list) != 0 {
		t.Errorf("refused placements were stored: %d", len(list))
	}
}

func testCaseRecords(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	r1 := &store.CaseRecord{ID: "r1", CaseID: "c1", Kind: "visa", Status: "planned", Class: "logistics",
		Body: randomBytes(100), CreatedAt: at(time.Hour), UpdatedAt: at(5 * time.Hour)}
	r0 := &store.CaseRecord{ID: "r0", CaseID: "c1", Kind: "document", Status: "needed", Class: "identity",
		Body: randomBytes(60), CreatedAt: at(time.Hour)}
	must(t, s.AddRecord(ctx, r1))
	must(t, s.AddRecord(ctx, r0))
	if !r1.UpdatedAt.Equal(r1.CreatedAt) {
		t.Errorf("AddRecord: UpdatedAt %v, want CreatedAt", r1.UpdatedAt)
	}
	list, err := s.CaseRecords(ctx, "c1")
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("CaseRecords: %d, want 2", len(list))
	}
	// Same CreatedAt: by id.
	checkEqual(t, r0, list[0])
	checkEqual(t, r1, list[1])

	r1.Status, r1.Body, r1.UpdatedAt = "submitted", randomBytes(120), at(2*time.Hour)
	r1.Kind = "trip" // not written
	must(t, s.UpdateRecord(ctx, r1))
	list, err = s.CaseRecords(ctx, "c1")
	must(t, err)
	r1.Kind = "visa"
	checkEqual(t, r1, list[1])

	wantErr(t, s.AddRecord(ctx, &store.CaseRecord{ID: "r1", CaseID: "c2", Kind: "trip", Status: "planned",
		Class: "logistics", CreatedAt: t0}), store.ErrConflict)
	wantErr(t, s.AddRecord(ctx, &store.CaseRecord{ID: "r9", CaseID: "nope", Kind: "trip", Status: "planned",
		Class: "logistics", CreatedAt: t0}), store.ErrNotFound)
	wrongCase := *r1
	wrongCase.CaseID = "c2"
	wantErr(t, s.UpdateRecord(ctx, &wrongCase), store.ErrNotFound)
	none, err := s.CaseRecords(ctx, "c2")
	must(t, err)
	if len(none) != 0 {
		t.Errorf("CaseRecords of a case without any: %d", len(none))
	}
	_, err = s.CaseRecords(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
}

// Erasing a case deletes its placements (freeing their places) and its
// records; other cases keep theirs, and the house stays.
func testLogisticsErase(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createCase(t, s, newCase("c2", t0))
	createHouse(t, s, newHouse("h1", "SH-1", 2))
	must(t, s.AddPlacement(ctx, place("p1", "c1", "h1", t0, time.Time{})))
	must(t, s.AddPlacement(ctx, place("p2", "c2", "h1", t0, time.Time{})))
	for _, c := range []string{"c1", "c2"} {
		must(t, s.AddRecord(ctx, &store.CaseRecord{ID: "r" + c, CaseID: c, Kind: "trip", Status: "planned",
			Class: "logistics", Body: randomBytes(50), CreatedAt: t0}))
	}
	must(t, s.EraseCase(ctx, "c1", at(time.Hour)))

	ps, err := s.CasePlacements(ctx, "c1")
	must(t, err)
	rs, err := s.CaseRecords(ctx, "c1")
	must(t, err)
	if len(ps) != 0 || len(rs) != 0 {
		t.Errorf("erased case kept %d placements and %d records", len(ps), len(rs))
	}
	ps, err = s.CasePlacements(ctx, "c2")
	must(t, err)
	rs, err = s.CaseRecords(ctx, "c2")
	must(t, err)
	if len(ps) != 1 || len(rs) != 1 {
		t.Errorf("other case: %d placements and %d records, want 1 and 1", len(ps), len(rs))
	}
	occ, err := s.Occupancy(ctx, at(2*time.Hour))
	must(t, err)
	if occ["h1"] != 1 {
		t.Errorf("occupancy after erasure: %v, want h1:1", occ)
	}
	if _, err := s.GetHouse(ctx, "h1"); err != nil {
		t.Errorf("house after erasure: %v", err)
	}
	wantErr(t, s.AddRecord(ctx, &store.CaseRecord{ID: "r9", CaseID: "c1", Kind: "trip", Status: "planned",
		Class: "logistics", Body: randomBytes(50), CreatedAt: t0}), store.ErrNotFound)
}

// Refusals inside a transaction leave it usable, and a rolled-back
// placement is gone.
func testLogisticsTxUsable(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCase(t, s, newCase("c1", t0))
	createHouse(t, s, newHouse("h1", "SH-1", 1))
	must(t, s.AddPlacement(ctx, place("p1", "c1", "h1", t0, time.Time{})))
	err := s.Tx(ctx, func(tx store.Store) error {
		wantErr(t, tx.AddPlacement(ctx, place("p2", "c1", "h1", t0, time.Time{})), store.ErrHouseFull)
		wantErr(t, tx.CreateHouse(ctx, newHouse("h2", "SH-1", 1)), store.ErrConflict)
		wantErr(t, tx.AddPlacement(ctx, place("p1", "c1", "h1", at(time.Hour), time.Time{})), store.ErrHouseFull)
		must(t, tx.CreateHouse(ctx, newHouse("h2", "SH-2", 1)))
		must(t, tx.AddPlacement(ctx, place("p3", "c1", "h2", t0, time.Time{})))
		return errRollback
	})
	wantErr(t, err, errRollback)
	_, err = s.GetHouse(ctx, "h2")
	wantErr(t, err, store.ErrNotFound)
	ps, err := s.CasePlacements(ctx, "c1")
	must(t, err)
	if len(ps) != 1 {
		t.Errorf("after rollback: %d placements, want 1", len(ps))
	}
}
