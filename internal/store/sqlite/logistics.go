package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

const houseColumns = `id, code, capacity, active, wrapped_key, city, address, created_at, updated_at`

func scanHouse(sc scanner) (*store.House, error) {
	var (
		h                store.House
		key, city, addr  []byte
		created, updated int64
	)
	if err := sc.Scan(&h.ID, &h.Code, &h.Capacity, &h.Active, &key, &city, &addr, &created, &updated); err != nil {
		return nil, err
	}
	h.WrappedKey, h.City, h.Address = normBlob(key), normBlob(city), normBlob(addr)
	h.CreatedAt, h.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &h, nil
}

// CreateHouse inserts h. ON CONFLICT DO NOTHING covers the id and the code
// and leaves a surrounding transaction usable.
func (s *DB) CreateHouse(ctx context.Context, h *store.House) error {
	created := normTime(h.CreatedAt)
	res, err := s.writer().ExecContext(ctx, `
		INSERT INTO safe_houses (`+houseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		h.ID, h.Code, h.Capacity, h.Active, blob(h.WrappedKey), blob(h.City), blob(h.Address),
		micros(created), micros(created))
	if err != nil {
		return fmt.Errorf("sqlite: create house: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: create house: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create house: %w", store.ErrConflict)
	}
	h.CreatedAt, h.UpdatedAt = created, created
	return nil
}

// UpdateHouse writes the mutable fields of h. A code taken by another
// house is refused before the update, so the statement never fails on the
// unique index.
func (s *DB) UpdateHouse(ctx context.Context, h *store.House) error {
	updated := normTime(h.UpdatedAt)
	err := s.atomically(ctx, func(q querier) error {
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM safe_houses WHERE code = ? AND id <> ?`, h.Code, h.ID).Scan(&one)
		if err == nil {
			return fmt.Errorf("sqlite: update house: %w", store.ErrConflict)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: update house: %w", err)
		}
		res, err := q.ExecContext(ctx, `
			UPDATE safe_houses SET code = ?, capacity = ?, active = ?, city = ?, address = ?, updated_at = ?
			WHERE id = ?`,
			h.Code, h.Capacity, h.Active, blob(h.City), blob(h.Address), micros(updated), h.ID)
		if err != nil {
			return fmt.Errorf("sqlite: update house: %w", err)
		}
		return affectedOne(res, "update house")
	})
	if err != nil {
		return err
	}
	h.UpdatedAt = updated
	return nil
}

func (s *DB) GetHouse(ctx context.Context, id string) (*store.House, error) {
	h, err := scanHouse(s.reader().QueryRowContext(ctx, `SELECT `+houseColumns+` FROM safe_houses WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "get house")
	}
	return h, nil
}

func (s *DB) ListHouses(ctx context.Context) ([]*store.House, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+houseColumns+` FROM safe_houses ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list houses: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanHouse)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list houses: %w", err)
	}
	return list, nil
}

func (s *DB) Occupancy(ctx context.Context, at time.Time) (map[string]int, error) {
	v := micros(at)
	rows, err := s.reader().QueryContext(ctx, `
		SELECT house_id, count(*) FROM case_placements
		WHERE from_at <= ? AND (until_at IS NULL OR until_at > ?)
		GROUP BY house_id`, v, v)
	if err != nil {
		return nil, fmt.Errorf("sqlite: occupancy: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			id string
			n  int
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("sqlite: occupancy: %w", err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: occupancy: %w", err)
	}
	return out, nil
}

const placementColumns = `id, case_id, house_id, from_at, until_at, created_at`

func scanPlacements(rows *sql.Rows) ([]*store.Placement, error) {
	var list []*store.Placement
	for rows.Next() {
		var (
			p             store.Placement
			from, created int64
			until         sql.NullInt64
		)
		if err := rows.Scan(&p.ID, &p.CaseID, &p.HouseID, &from, &until, &created); err != nil {
			return nil, err
		}
		p.From, p.Until, p.CreatedAt = fromMicros(from), fromNullMicros(until), fromMicros(created)
		list = append(list, &p)
	}
	return list, rows.Err()
}

// AddPlacement checks the house and its capacity and inserts p in one
// write transaction (BEGIN IMMEDIATE): no other placement can slip in
// between the count and the insert.
func (s *DB) AddPlacement(ctx context.Context, p *store.Placement) error {
	from, until, created := normTime(p.From), normTime(p.Until), normTime(p.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		erased, _, err := lockCase(ctx, q, p.CaseID, "add placement")
		if err != nil {
			return err
		}
		if erased {
			return fmt.Errorf("sqlite: add placement: case erased: %w", store.ErrNotFound)
		}
		var (
			capacity int
			active   bool
		)
		if err := q.QueryRowContext(ctx, `SELECT capacity, active FROM safe_houses WHERE id = ?`, p.HouseID).
			Scan(&capacity, &active); err != nil {
			return notFound(err, "add placement: house")
		}
		if !active {
			return fmt.Errorf("sqlite: add placement: %w", store.ErrHouseInactive)
		}
		rows, err := q.QueryContext(ctx, `SELECT `+placementColumns+` FROM case_placements
			WHERE house_id = ? AND (until_at IS NULL OR until_at > ?)`, p.HouseID, micros(from))
		if err != nil {
			return fmt.Errorf("sqlite: add placement: %w", err)
		}
		others, err := scanPlacements(rows)
		rows.Close()
		if err != nil {
			return fmt.Errorf("sqlite: add placement: %w", err)
		}
		if store.PeakOccupancy(others, from, until) >= capacity {
			return fmt.Errorf("sqlite: add placement: %w", store.ErrHouseFull)
		}
		res, err := q.ExecContext(ctx, `
			INSERT INTO case_placements (`+placementColumns+`) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			p.ID, p.CaseID, p.HouseID, micros(from), nullMicros(until), micros(created))
		if err != nil {
			return fmt.Errorf("sqlite: add placement: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add placement: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: add placement: %w", store.ErrConflict)
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
	v := micros(at)
	err := s.atomically(ctx, func(q querier) error {
		var one int
		if err := q.QueryRowContext(ctx, `SELECT 1 FROM case_placements WHERE id = ? AND case_id = ?`,
			placementID, caseID).Scan(&one); err != nil {
			return notFound(err, "end placement")
		}
		if _, err := q.ExecContext(ctx, `
			UPDATE case_placements SET until_at = ?
			WHERE id = ? AND (until_at IS NULL OR until_at > ?)`, v, placementID, v); err != nil {
			return fmt.Errorf("sqlite: end placement: %w", err)
		}
		return nil
	})
	return err
}

func (s *DB) CasePlacements(ctx context.Context, caseID string) ([]*store.Placement, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `SELECT `+placementColumns+` FROM case_placements
		WHERE case_id = ? ORDER BY from_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case placements: %w", err)
	}
	defer rows.Close()
	list, err := scanPlacements(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case placements: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "case placements"); err != nil {
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
			return fmt.Errorf("sqlite: add record: case erased: %w", store.ErrNotFound)
		}
		res, err := q.ExecContext(ctx, `
			INSERT INTO case_records (`+recordColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			r.ID, r.CaseID, r.Kind, r.Status, r.Class, blob(r.Body), micros(created), micros(created))
		if err != nil {
			return fmt.Errorf("sqlite: add record: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add record: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: add record: %w", store.ErrConflict)
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
	res, err := s.writer().ExecContext(ctx, `
		UPDATE case_records SET status = ?, body = ?, updated_at = ? WHERE id = ? AND case_id = ?`,
		r.Status, blob(r.Body), micros(updated), r.ID, r.CaseID)
	if err != nil {
		return fmt.Errorf("sqlite: update record: %w", err)
	}
	if err := affectedOne(res, "update record"); err != nil {
		return err
	}
	r.UpdatedAt = updated
	return nil
}

func (s *DB) CaseRecords(ctx context.Context, caseID string) ([]*store.CaseRecord, error) {
	q := s.reader()
	rows, err := q.QueryContext(ctx, `SELECT `+recordColumns+` FROM case_records
		WHERE case_id = ? ORDER BY created_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: case records: %w", err)
	}
	defer rows.Close()
	var list []*store.CaseRecord
	for rows.Next() {
		var (
			r                store.CaseRecord
			body             []byte
			created, updated int64
		)
		if err := rows.Scan(&r.ID, &r.CaseID, &r.Kind, &r.Status, &r.Class, &body, &created, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: case records: %w", err)
		}
		r.Body, r.CreatedAt, r.UpdatedAt = normBlob(body), fromMicros(created), fromMicros(updated)
		list = append(list, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: case records: %w", err)
	}
	if len(list) == 0 {
		if err := caseExists(ctx, q, caseID, "case records"); err != nil {
			return nil, err
		}
	}
	return list, nil
}
