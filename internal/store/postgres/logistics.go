package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-org/corridor/internal/store"
)

const houseColumns = `id, code, capacity, active, wrapped_key, city, address, created_at, updated_at`

func scanHouse(row pgx.Row) (*store.House, error) {
	var h store.House
	if err := row.Scan(&h.ID, &h.Code, &h.Capacity, &h.Active, &h.WrappedKey, &h.City, &h.Address,
		&h.CreatedAt, &h.UpdatedAt); err != nil {
		return nil, err
	}
	h.WrappedKey, h.City, h.Address = normBlob(h.WrappedKey), normBlob(h.City), normBlob(h.Address)
	h.CreatedAt, h.UpdatedAt = h.CreatedAt.UTC(), h.UpdatedAt.UTC()
	return &h, nil
}

// CreateHouse inserts h. DO NOTHING rather than a unique violation: it
// covers the id and the code, and an error would abort a surrounding
// transaction.
func (s *DB) CreateHouse(ctx context.Context, h *store.House) error {
	created := normTime(h.CreatedAt)
	tag, err := s.q.Exec(ctx, `
		INSERT INTO safe_houses (`+houseColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT DO NOTHING`,
		h.ID, h.Code, h.Capacity, h.Active, blob(h.WrappedKey), blob(h.City), blob(h.Address), created)
	if err != nil {
		return fmt.Errorf("postgres: create house: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create house: %w", store.ErrConflict)
	}
	h.CreatedAt, h.UpdatedAt = created, created
	return nil
}

// UpdateHouse writes the mutable fields of h. The code is checked first
// so that the statement never fails on the unique index (which would
// abort a surrounding transaction); the unique index still decides
// between two updates racing for one code.
func (s *DB) UpdateHouse(ctx context.Context, h *store.House) error {
	updated := normTime(h.UpdatedAt)
	err := s.atomically(ctx, func(q querier) error {
		var taken bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM safe_houses WHERE code = $1 AND id <> $2)`,
			h.Code, h.ID).Scan(&taken); err != nil {
			return fmt.Errorf("postgres: update house: %w", err)
		}
		if taken {
			return fmt.Errorf("postgres: update house: %w", store.ErrConflict)
		}
		tag, err := q.Exec(ctx, `
			UPDATE safe_houses SET code = $1, capacity = $2, active = $3, city = $4, address = $5, updated_at = $6
			WHERE id = $7`,
			h.Code, h.Capacity, h.Active, blob(h.City), blob(h.Address), updated, h.ID)
		if err != nil {
			return fmt.Errorf("postgres: update house: %w", err)
		}
		return affectedOne(tag, "update house")
	})
	if err != nil {
		return err
	}
	h.UpdatedAt = updated
	return nil
}

func (s *DB) GetHouse(ctx context.Context, id string) (*store.House, error) {
	h, err := scanHouse(s.q.QueryRow(ctx, `SELECT `+houseColumns+` FROM safe_houses WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "get house")
	}
	return h, nil
}

func (s *DB) ListHouses(ctx context.Context) ([]*store.House, error) {
	rows, err := s.q.Query(ctx, `SELECT `+houseColumns+` FROM safe_houses ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list houses: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.House, error) {
		return scanHouse(row)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list houses: %w", err)
	}
	return list, nil
}

func (s *DB) Occupancy(ctx context.Context, at time.Time) (map[string]int, error) {
	rows, err := s.q.Query(ctx, `
		SELECT house_id, count(*) FROM case_placements
		WHERE from_at <= $1 AND (until_at IS NULL OR until_at > $1)
		GROUP BY house_id`, normTime(at))
	if err != nil {
		return nil, fmt.Errorf("postgres: occupancy: %w", err)
	}
	out := map[string]int{}
	var (
		id string
		n  int
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		out[id] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: occupancy: %w", err)
	}
	return out, nil
}

const placementColumns = `id, case_id, house_id, from_at, until_at, created_at`

func scanPlacement(row pgx.Row) (*store.Placement, error) {
	var (
		p     store.Placement
		until *time.Time
	)
	if err := row.Scan(&p.ID, &p.CaseID, &p.HouseID, &p.From, &until, &p.CreatedAt); err != nil {
		return nil, err
	}
	p.From, p.Until, p.CreatedAt = p.From.UTC(), fromNullTime(until), p.CreatedAt.UTC()
	return &p, nil
}

func collectPlacements(rows pgx.Rows) ([]*store.Placement, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Placement, error) {
		return scanPlacement(row)
	})
}

// AddPlacement checks the house and its capacity and inserts p in one
// transaction. The house's row is locked (FOR UPDATE) before counting, so
// two placements into the same house wait for each other under READ
// COMMITTED instead of both seeing the last free place.
func (s *DB) AddPlacement(ctx context.Context, p *store.Placement) error {
	from, until, created := normTime(p.From), normTime(p.Until), normTime(p.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, p.CaseID, "add placement")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("postgres: add placement: case erased: %w", store.ErrNotFound)
		}
		var (
			capacity int
			active   bool
		)
		if err := q.QueryRow(ctx, `SELECT capacity, active FROM safe_houses WHERE id = $1 FOR UPDATE`, p.HouseID).
			Scan(&capacity, &active); err != nil {
			return notFound(err, "add placement: house")
		}
		if !active {
			return fmt.Errorf("postgres: add placement: %w", store.ErrHouseInactive)
		}
		rows, err := q.Query(ctx, `SELECT `+placementColumns+` FROM case_placements
			WHERE house_id = $1 AND (until_at IS NULL OR until_at > $2)`, p.HouseID, from)
		if err != nil {
			return fmt.Errorf("postgres: add placement: %w", err)
		}
		others, err := collectPlacements(rows)
		if err != nil {
			return fmt.Errorf("postgres: add placement: %w", err)
		}
		if store.PeakOccupancy(others, from, until) >= capacity {
			return fmt.Errorf("postgres: add placement: %w", store.ErrHouseFull)
		}
		tag, err := q.Exec(ctx, `
			INSERT INTO case_placements (`+placementColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT DO NOTHING`,
			p.ID, p.CaseID, p.HouseID, from, nullTime(until), created)
		if err != nil {
			return fmt.Errorf("postgres: add placement: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: add placement: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.From, p.Until, p.CreatedAt = from, until, created
	return nil
}

func (s *DB) EndPlacement(ctx context.Context, caseID, placementID string, at time.Time) error {
	at = normTime(at)
	return s.atomically(ctx, func(q querier) error {
		var one int
		if err := q.QueryRow(ctx, `SELECT 1 FROM case_placements WHERE id = $1 AND case_id = $2 FOR UPDATE`,
			placementID, caseID).Scan(&one); err != nil {
			return notFound(err, "end placement")
		}
		if _, err := q.Exec(ctx, `
			UPDATE case_placements SET until_at = $1
			WHERE id = $2 AND (until_at IS NULL OR until_at > $1)`, at, placementID); err != nil {
			return fmt.Errorf("postgres: end placement: %w", err)
		}
		return nil
	})
}

func (s *DB) CasePlacements(ctx context.Context, caseID string) ([]*store.Placement, error) {
	rows, err := s.q.Query(ctx, `SELECT `+placementColumns+` FROM case_placements
		WHERE case_id = $1 ORDER BY from_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case placements: %w", err)
	}
	list, err := collectPlacements(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: case placements: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "case placements"); err != nil {
			return nil, err
		}
	}
	return list, nil
}

const recordColumns = `id, case_id, kind, status, class, body, created_at, updated_at`

func (s *DB) AddRecord(ctx context.Context, r *store.CaseRecord) error {
	created := normTime(r.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, r.CaseID, "add record")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("postgres: add record: case erased: %w", store.ErrNotFound)
		}
		tag, err := q.Exec(ctx, `
			INSERT INTO case_records (`+recordColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
			ON CONFLICT DO NOTHING`,
			r.ID, r.CaseID, r.Kind, r.Status, r.Class, blob(r.Body), created)
		if err != nil {
			return fmt.Errorf("postgres: add record: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: add record: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.CreatedAt, r.UpdatedAt = created, created
	return nil
}

func (s *DB) UpdateRecord(ctx context.Context, r *store.CaseRecord) error {
	updated := normTime(r.UpdatedAt)
	tag, err := s.q.Exec(ctx, `
		UPDATE case_records SET status = $1, body = $2, updated_at = $3 WHERE id = $4 AND case_id = $5`,
		r.Status, blob(r.Body), updated, r.ID, r.CaseID)
	if err != nil {
		return fmt.Errorf("postgres: update record: %w", err)
	}
	if err := affectedOne(tag, "update record"); err != nil {
		return err
	}
	r.UpdatedAt = updated
	return nil
}

func (s *DB) CaseRecords(ctx context.Context, caseID string) ([]*store.CaseRecord, error) {
	rows, err := s.q.Query(ctx, `SELECT `+recordColumns+` FROM case_records
		WHERE case_id = $1 ORDER BY created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("postgres: case records: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.CaseRecord, error) {
		var r store.CaseRecord
		if err := row.Scan(&r.ID, &r.CaseID, &r.Kind, &r.Status, &r.Class, &r.Body, &r.CreatedAt, &r.UpdatedAt); err != nil {
			return nil, err
		}
		r.Body, r.CreatedAt, r.UpdatedAt = normBlob(r.Body), r.CreatedAt.UTC(), r.UpdatedAt.UTC()
		return &r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: case records: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, s.q, caseID, "case records"); err != nil {
			return nil, err
		}
	}
	return list, nil
}
