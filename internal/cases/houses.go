package cases

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Safe houses.
//
// A house's code (an innocuous label such as "SH-3"), capacity and
// whether it is in use are clear: the occupancy view and the capacity
// check need them, and a code says nothing about where the house is. Its
// city and address are location data and are encrypted, each on its own,
// under the house's own data key, wrapped by the root wrapping key exactly
// as a case's is (keys.Vault.WrapDataKey, bound to the house id). A key
// per house rather than one installation-wide subkey means a house taken
// out of use can be crypto-shredded alone, and an address ciphertext
// cannot be moved to another house: the house id is in its associated
// data.
//
// Who sees what:
//   - admins, coordinators and logistics manage houses (list, create,
//     edit) and see their city;
//   - the address is shown to the logistics role only: on the house's page,
//     and on the page of a verified case they have access to that has a
//     placement in the house. Admins and coordinators may set an address
//     (a new one replaces the old) but are never shown it;
//   - on a case, whoever reads its logistics class sees that a placement
//     exists, with the house's code and the dates; operators, who do not
//     read logistics, see nothing of it.

// Errors of safe houses and placements.
var (
	// ErrHouseFull refuses a placement beyond a house's capacity.
	ErrHouseFull = fmt.Errorf("%w: the safe house has no free place for these dates", ErrInvalid)
	// ErrHouseInactive refuses a placement in a house not in use.
	ErrHouseInactive = fmt.Errorf("%w: the safe house is not in use", ErrInvalid)
	// ErrHouseCode refuses a code another house has.
	ErrHouseCode = fmt.Errorf("%w: another safe house has this code", ErrInvalid)
	// ErrNoHouse: no such safe house. It wraps store.ErrNotFound.
	ErrNoHouse = fmt.Errorf("cases: no such safe house: %w", store.ErrNotFound)
)

// Limits of a house's fields.
const (
	MaxHouseCapacity = 1000
	MaxAddressRunes  = 500
	MaxCityRunes     = 100
)

// codePattern keeps codes short labels: letters, digits, '-' and '_'.
var codePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$`)

// CanManageHouses reports whether a role may list, create and edit safe
// houses.
func CanManageHouses(role string) bool {
	return CanManage(role) || role == store.RoleLogistics
}

// CanSeeAddress reports whether a role is ever shown a safe house's
// address. Only logistics: they take people there. Coordinators manage
// houses without needing to know where they are, which keeps the address
// off the screens a phished coordinator account would open first.
func CanSeeAddress(role string) bool { return role == store.RoleLogistics }

// HouseInput is what a house is created or edited with.
type HouseInput struct {
	Code     string
	City     string
	Address  string // on edit, "" keeps the current address
	Capacity int
	Active   bool
}

// HouseView is a house as one viewer may see it.
type HouseView struct {
	ID       string
	Code     string
	Capacity int
	Active   bool
	Occupied int    // placements active now
	City     string // for those who manage houses
	// Address is set only for CanSeeAddress roles, on House (never on
	// Houses, so that a list never shows every address at once).
	Address   string
	UpdatedAt time.Time
}

// Free is the number of free places now.
func (h HouseView) Free() int { return max(h.Capacity-h.Occupied, 0) }

func houseObject(id string) string { return "house:" + id }

func adHouse(houseID, field string) []string { return []string{"house", houseID, field} }

func (in HouseInput) clean() (HouseInput, error) {
	var err error
	if !codePattern.MatchString(in.Code) {
		return in, fmt.Errorf("%w: a code is 1 to 16 letters, digits, - or _", ErrInvalid)
	}
	if in.Capacity < 1 || in.Capacity > MaxHouseCapacity {
		return in, fmt.Errorf("%w: capacity must be between 1 and %d", ErrInvalid, MaxHouseCapacity)
	}
	if in.City, err = cleanText(in.City, MaxCityRunes); err != nil {
		return in, fmt.Errorf("city: %w", err)
	}
	if in.Address, err = cleanText(in.Address, MaxAddressRunes); err != nil {
		return in, fmt.Errorf("address: %w", err)
	}
	return in, nil
}

// houseKey unwraps a house's data key; the caller wipes it.
func (s *Service) houseKey(h *store.House) ([]byte, error) {
	dk, err := s.vault.UnwrapDataKey(h.ID, h.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("cases: data key of house %s: %w", h.ID, err)
	}
	return dk, nil
}

func sealHouseField(dk []byte, houseID, field, value string) ([]byte, error) {
	ct, err := keys.Encrypt(dk, []byte(value), adHouse(houseID, field)...)
	if err != nil {
		return nil, fmt.Errorf("cases: encrypt house %s: %w", field, err)
	}
	return ct, nil
}

func openHouseField(dk []byte, houseID, field string, ct []byte) (string, error) {
	if ct == nil {
		return "", nil
	}
	plain, err := keys.Decrypt(dk, ct, adHouse(houseID, field)...)
	if err != nil {
		return "", fmt.Errorf("cases: house %s %s: %w", houseID, field, err)
	}
	return string(plain), nil
}

// CreateHouse adds a safe house. Admins, coordinators and logistics.
func (s *Service) CreateHouse(ctx context.Context, actor *store.User, in HouseInput) (*store.House, error) {
	if !active(actor) || !CanManageHouses(actor.Role) {
		return nil, ErrForbidden
	}
	in, err := in.clean()
	if err != nil {
		return nil, err
	}
	now := s.clock()
	h := &store.House{ID: newID("h"), Code: in.Code, Capacity: in.Capacity, Active: in.Active, CreatedAt: now}
	dk := keys.NewKey()
	defer keys.Wipe(dk)
	if h.WrappedKey, err = s.vault.WrapDataKey(h.ID, dk); err != nil {
		return nil, fmt.Errorf("cases: wrap house key: %w", err)
	}
	if h.City, err = sealHouseField(dk, h.ID, "city", in.City); err != nil {
		return nil, err
	}
	if h.Address, err = sealHouseField(dk, h.ID, "address", in.Address); err != nil {
		return nil, err
	}
	err = s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.CreateHouse(ctx, h); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return ErrHouseCode
			}
			return fmt.Errorf("cases: create house: %w", err)
		}
		return s.recordObject(ctx, tx, actor, "house.create", houseObject(h.ID))
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// UpdateHouse edits a safe house. An empty address keeps the current one,
// so that admins and coordinators, who are never shown it, can edit a
// house without erasing it.
func (s *Service) UpdateHouse(ctx context.Context, actor *store.User, id string, in HouseInput) error {
	if !active(actor) || !CanManageHouses(actor.Role) {
		return ErrForbidden
	}
	if !validID(id) {
		return ErrNoHouse
	}
	in, err := in.clean()
	if err != nil {
		return err
	}
	now := s.clock()
	return s.st.Tx(ctx, func(tx store.Store) error {
		h, err := tx.GetHouse(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoHouse
		}
		if err != nil {
			return fmt.Errorf("cases: house: %w", err)
		}
		dk, err := s.houseKey(h)
		if err != nil {
			return err
		}
		defer keys.Wipe(dk)
		h.Code, h.Capacity, h.Active, h.UpdatedAt = in.Code, in.Capacity, in.Active, now
		if h.City, err = sealHouseField(dk, h.ID, "city", in.City); err != nil {
			return err
		}
		if in.Address != "" {
			if h.Address, err = sealHouseField(dk, h.ID, "address", in.Address); err != nil {
				return err
			}
		}
		if err := tx.UpdateHouse(ctx, h); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return ErrHouseCode
			}
			return fmt.Errorf("cases: update house: %w", err)
		}
		return s.recordObject(ctx, tx, actor, "house.update", houseObject(h.ID))
	})
}

// Houses lists every safe house with its occupancy now and its city, for
// those who manage houses. It shows no address. The list is audited
// (houses.list): cities are location data.
func (s *Service) Houses(ctx context.Context, actor *store.User) ([]HouseView, error) {
	if !active(actor) || !CanManageHouses(actor.Role) {
		return nil, ErrForbidden
	}
	list, err := s.st.ListHouses(ctx)
	if err != nil {
		return nil, fmt.Errorf("cases: houses: %w", err)
	}
	occ, err := s.st.Occupancy(ctx, s.clock())
	if err != nil {
		return nil, fmt.Errorf("cases: occupancy: %w", err)
	}
	if err := s.audit.Record(ctx, actor.ID, "houses.list", "houses"); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	out := make([]HouseView, 0, len(list))
	for _, h := range list {
		v, err := s.houseView(h, occ[h.ID], false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// House shows one safe house; its address only to CanSeeAddress roles.
// Every view is audited (house.read) before anything is decrypted.
func (s *Service) House(ctx context.Context, actor *store.User, id string) (*HouseView, error) {
	if !active(actor) || !CanManageHouses(actor.Role) {
		return nil, ErrForbidden
	}
	if !validID(id) {
		return nil, ErrNoHouse
	}
	h, err := s.st.GetHouse(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoHouse
	}
	if err != nil {
		return nil, fmt.Errorf("cases: house: %w", err)
	}
	occ, err := s.st.Occupancy(ctx, s.clock())
	if err != nil {
		return nil, fmt.Errorf("cases: occupancy: %w", err)
	}
	if err := s.audit.Record(ctx, actor.ID, "house.read", houseObject(id)); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	v, err := s.houseView(h, occ[h.ID], CanSeeAddress(actor.Role))
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func (s *Service) houseView(h *store.House, occupied int, address bool) (HouseView, error) {
	v := HouseView{ID: h.ID, Code: h.Code, Capacity: h.Capacity, Active: h.Active, Occupied: occupied, UpdatedAt: h.UpdatedAt}
	dk, err := s.houseKey(h)
	if err != nil {
		return v, err
	}
	defer keys.Wipe(dk)
	if v.City, err = openHouseField(dk, h.ID, "city", h.City); err != nil {
		return v, err
	}
	if address {
		if v.Address, err = openHouseField(dk, h.ID, "address", h.Address); err != nil {
			return v, err
		}
	}
	return v, nil
}

// recordObject writes an audit entry about an object other than a case, in
// the action's transaction.
func (s *Service) recordObject(ctx context.Context, tx store.Store, actor *store.User, action, object string) error {
	return audit.New(tx, s.now).Record(ctx, actor.ID, action, object)
}
