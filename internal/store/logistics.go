package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of Logistics.
var (
	// ErrHouseFull refuses a placement that would put more people in a
	// safe house, at some moment of the placement, than it has places.
	ErrHouseFull = errors.New("store: safe house full")
	// ErrHouseInactive refuses a placement in a house that is not in use.
	ErrHouseInactive = errors.New("store: safe house not active")
)

// House is a safe house. Its code ("SH-3"), capacity and whether it is in
// use are clear: occupancy views and the capacity check work on them, and
// a code says nothing about where the house is. Its city and address are
// ciphertext under the house's own data key, which is wrapped by the root
// wrapping key (as a case's is), so that a house taken out of use can be
// crypto-shredded on its own.
type House struct {
	ID         string // random, opaque ("h…")
	Code       string // innocuous label; unique
	Capacity   int    // places; > 0
	Active     bool
	WrappedKey []byte // data key wrapped by the root wrapping key
	City       []byte // ciphertext
	Address    []byte // ciphertext
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Placement puts a case's people in a safe house from From until Until
// (zero: open-ended). Placements hold no ciphertext: which house and when
// is what occupancy and the capacity check need; who is there is only the
// case id. They are deleted with the case's contents when it is erased,
// because the link between a case and a house says where someone hid.
type Placement struct {
	ID        string // random, opaque ("p…")
	CaseID    string
	HouseID   string
	From      time.Time
	Until     time.Time // zero while open-ended
	CreatedAt time.Time
}

// ActiveAt reports whether the placement holds a place at t.
func (p *Placement) ActiveAt(t time.Time) bool {
	return !t.Before(p.From) && (p.Until.IsZero() || t.Before(p.Until))
}

// CaseRecord is one document, visa or asylum application, or trip of a
// case. One table serves the three kinds: they share the workflow shape
// (a kind, a status, when it was recorded and last changed) and whatever
// else they hold (document type, host country and programme, legs of a
// journey, the receiving partner) is encrypted in Body under the case's
// data key, so there is nothing kind-specific for the store to index.
// One table also means one path for erasure.
type CaseRecord struct {
	ID        string // random, opaque ("r…")
	CaseID    string
	Kind      string // document, visa, trip
	Status    string // per kind; clear, for lists and dashboards
	Class     string // sensitivity class of Body
	Body      []byte // ciphertext
	CreatedAt time.Time
	UpdatedAt time.Time
}

// HouseOccupancy is a house's number of placements active at a moment.
type HouseOccupancy struct {
	HouseID  string
	Occupied int
}

// Logistics stores safe houses, placements and a case's documents, visas
// and trips. Times are stored as everywhere else (UTC, whole
// microseconds), and methods that take a pointer set its times to the
// values as stored.
//
// When a case is erased (Cases.EraseCase), its placements and records are
// deleted in the same transaction.
type Logistics interface {
	// CreateHouse inserts h; ErrConflict if the id or code exists.
	// UpdatedAt is set to CreatedAt.
	CreateHouse(ctx context.Context, h *House) error
	// UpdateHouse writes Code, Capacity, Active, City, Address and
	// UpdatedAt (the key stays). ErrNotFound if there is no such house,
	// ErrConflict if the code is another house's.
	UpdateHouse(ctx context.Context, h *House) error
	GetHouse(ctx context.Context, id string) (*House, error)
	// ListHouses returns every house, ordered by code (byte order).
	ListHouses(ctx context.Context) ([]*House, error)
	// Occupancy counts, per house, the placements active at t; houses
	// without any are absent.
	Occupancy(ctx context.Context, at time.Time) (map[string]int, error)

	// AddPlacement inserts p, atomically checking that the house is
	// active (ErrHouseInactive) and that, at every moment of p, the house
	// holds fewer placements than its capacity (ErrHouseFull). ErrNotFound
	// if the case or the house does not exist, or the case is erased;
	// ErrConflict if the id exists.
	AddPlacement(ctx context.Context, p *Placement) error
	// EndPlacement sets Until to at if the placement is open-ended or
	// ends later. ErrNotFound if no such placement of that case.
	EndPlacement(ctx context.Context, caseID, placementID string, at time.Time) error
	// CasePlacements returns a case's placements ordered by From, then id.
	// ErrNotFound if there is no such case.
	CasePlacements(ctx context.Context, caseID string) ([]*Placement, error)

	// AddRecord inserts r; ErrNotFound if the case does not exist or is
	// erased, ErrConflict if the id exists. UpdatedAt is set to CreatedAt.
	AddRecord(ctx context.Context, r *CaseRecord) error
	// UpdateRecord writes Status, Body and UpdatedAt of a record of the
	// case. ErrNotFound if there is no such record of that case.
	UpdateRecord(ctx context.Context, r *CaseRecord) error
	// CaseRecords returns a case's records ordered by CreatedAt, then id.
	// ErrNotFound if there is no such case.
	CaseRecords(ctx context.Context, caseID string) ([]*CaseRecord, error)
}

// PeakOccupancy returns the largest number of placements of ps active at
// one moment of [from, until) (until zero: open-ended). Both stores check
// capacity with it, inside the transaction that adds a placement, so that
// a house with two places can take a stay that follows another back to
// back without counting both against it.
func PeakOccupancy(ps []*Placement, from, until time.Time) int {
	overlaps := func(p *Placement) bool {
		startsBeforeEnd := until.IsZero() || p.From.Before(until)
		endsAfterStart := p.Until.IsZero() || p.Until.After(from)
		return startsBeforeEnd && endsAfterStart
	}
	// The peak within [from, until) is reached at from or at the start of
	// one of the overlapping placements.
	moments := []time.Time{from}
	var in []*Placement
	for _, p := range ps {
		if overlaps(p) {
			in = append(in, p)
			if p.From.After(from) {
				moments = append(moments, p.From)
			}
		}
	}
	peak := 0
	for _, m := range moments {
		n := 0
		for _, p := range in {
			if p.ActiveAt(m) {
				n++
			}
		}
		peak = max(peak, n)
	}
	return peak
}
