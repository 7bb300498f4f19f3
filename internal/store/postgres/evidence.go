package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/corridor-org/corridor/internal/store"
)

// nullText stores "" as NULL, for optional references.
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23505"
}

const evidenceColumns = `id, case_id, request_id, blob_id, record, commitment, consent, created_at, destroyed_at`

func scanEvidence(row pgx.Row) (*store.EvidenceItem, error) {
	var (
		it                    store.EvidenceItem
		caseID, reqID, blobID *string
		destroyed             *time.Time
	)
	if err := row.Scan(&it.ID, &caseID, &reqID, &blobID, &it.Record, &it.Commitment, &it.Consent, &it.CreatedAt, &destroyed); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		from *string
		to   *string
	}{{caseID, &it.CaseID}, {reqID, &it.RequestID}, {blobID, &it.BlobID}} {
		if p.from != nil {
			*p.to = *p.from
		}
	}
	it.Record, it.Commitment = normBlob(it.Record), normBlob(it.Commitment)
	it.CreatedAt, it.DestroyedAt = it.CreatedAt.UTC(), fromNullTime(destroyed)
	return &it, nil
}

// CreateEvidence inserts an item; ErrNotFound if its case (or an erased
// one) or request does not exist, ErrConflict if the id exists.
func (s *DB) CreateEvidence(ctx context.Context, it *store.EvidenceItem) error {
	created := normTime(it.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		if it.CaseID != "" {
			erased, _, err := lockCase(ctx, q, it.CaseID, "create evidence")
			if err != nil {
				return err
			}
			if erased {
				return fmt.Errorf("postgres: create evidence: case erased: %w", store.ErrNotFound)
			}
		}
		if it.RequestID != "" {
			var one int
			if err := q.QueryRow(ctx, `SELECT 1 FROM requests WHERE id = $1 FOR KEY SHARE`, it.RequestID).Scan(&one); err != nil {
				return notFound(err, "create evidence: request")
			}
		}
		tag, err := q.Exec(ctx, `
			INSERT INTO evidence_items (`+evidenceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)
			ON CONFLICT DO NOTHING`,
			it.ID, nullText(it.CaseID), nullText(it.RequestID), nullText(it.BlobID), blob(it.Record), blob(it.Commitment),
			it.Consent, created)
		if err != nil {
			return fmt.Errorf("postgres: create evidence: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: create evidence: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	it.CreatedAt, it.DestroyedAt = created, time.Time{}
	return nil
}

func (s *DB) GetEvidence(ctx context.Context, id string) (*store.EvidenceItem, error) {
	it, err := scanEvidence(s.q.QueryRow(ctx, `SELECT `+evidenceColumns+` FROM evidence_items WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "get evidence")
	}
	return it, nil
}

// ListEvidence returns the selected items by CreatedAt, then id.
func (s *DB) ListEvidence(ctx context.Context, f store.EvidenceFilter) ([]*store.EvidenceItem, error) {
	query, args := `SELECT `+evidenceColumns+` FROM evidence_items`, []any{}
	switch {
	case f.CaseID != "" && f.RequestID != "":
		query += ` WHERE case_id = $1 AND request_id = $2`
		args = append(args, f.CaseID, f.RequestID)
	case f.CaseID != "":
		query += ` WHERE case_id = $1`
		args = append(args, f.CaseID)
	case f.RequestID != "":
		query += ` WHERE request_id = $1`
		args = append(args, f.RequestID)
	}
	rows, err := s.q.Query(ctx, query+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list evidence: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.EvidenceItem, error) { return scanEvidence(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list evidence: %w", err)
	}
	return list, nil
}

func (s *DB) SetEvidenceConsent(ctx context.Context, id, consent string) error {
	tag, err := s.q.Exec(ctx,
		`UPDATE evidence_items SET consent = $1 WHERE id = $2 AND destroyed_at IS NULL`, consent, id)
	if err != nil {
		return fmt.Errorf("postgres: set evidence consent: %w", err)
	}
	return affectedOne(tag, "set evidence consent")
}

// DestroyEvidence empties an item's record and blob reference and deletes
// its working copy, under a lock on the item's row.
func (s *DB) DestroyEvidence(ctx context.Context, id string, at time.Time) ([]string, error) {
	var blobs []string
	err := s.atomically(ctx, func(q querier) error {
		var blobID *string
		err := q.QueryRow(ctx,
			`SELECT blob_id FROM evidence_items WHERE id = $1 AND destroyed_at IS NULL FOR UPDATE`, id).Scan(&blobID)
		if err != nil {
			return notFound(err, "destroy evidence")
		}
		if blobID != nil {
			blobs = append(blobs, *blobID)
		}
		var copyID string
		err = q.QueryRow(ctx, `DELETE FROM evidence_copies WHERE item_id = $1 RETURNING blob_id`, id).Scan(&copyID)
		switch {
		case err == nil:
			blobs = append(blobs, copyID)
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("postgres: destroy evidence: %w", err)
		}
		if _, err := q.Exec(ctx, `
			UPDATE evidence_items SET blob_id = NULL, record = NULL, destroyed_at = $1 WHERE id = $2`,
			normTime(at), id); err != nil {
			return fmt.Errorf("postgres: destroy evidence: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return blobs, nil
}

func (s *DB) EvidenceBlobKnown(ctx context.Context, blobID string) (bool, error) {
	var known bool
	err := s.q.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM evidence_items WHERE blob_id = $1)
			OR EXISTS (SELECT 1 FROM evidence_copies WHERE blob_id = $1)`, blobID).Scan(&known)
	if err != nil {
		return false, fmt.Errorf("postgres: evidence blob known: %w", err)
	}
	return known, nil
}

func (s *DB) AddWorkingCopy(ctx context.Context, c *store.WorkingCopy) error {
	created := normTime(c.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		var one int
		err := q.QueryRow(ctx,
			`SELECT 1 FROM evidence_items WHERE id = $1 AND destroyed_at IS NULL FOR UPDATE`, c.ItemID).Scan(&one)
		if err != nil {
			return notFound(err, "add working copy")
		}
		tag, err := q.Exec(ctx, `
			INSERT INTO evidence_copies (item_id, blob_id, info, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, c.ItemID, c.BlobID, blob(c.Info), created)
		if err != nil {
			return fmt.Errorf("postgres: add working copy: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("postgres: add working copy: %w", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.CreatedAt = created
	return nil
}

func (s *DB) GetWorkingCopy(ctx context.Context, itemID string) (*store.WorkingCopy, error) {
	var c store.WorkingCopy
	err := s.q.QueryRow(ctx,
		`SELECT item_id, blob_id, info, created_at FROM evidence_copies WHERE item_id = $1`, itemID).
		Scan(&c.ItemID, &c.BlobID, &c.Info, &c.CreatedAt)
	if err != nil {
		return nil, notFound(err, "get working copy")
	}
	c.Info, c.CreatedAt = normBlob(c.Info), c.CreatedAt.UTC()
	return &c, nil
}

const eventColumns = `item_id, seq, type, at, entry, actor_seal, log_index`

func scanEvent(row pgx.Row) (*store.CustodyEvent, error) {
	var (
		e     store.CustodyEvent
		index *int64
	)
	if err := row.Scan(&e.ItemID, &e.Seq, &e.Type, &e.At, &e.Entry, &e.ActorSeal, &index); err != nil {
		return nil, err
	}
	e.Entry, e.ActorSeal, e.At = normBlob(e.Entry), normBlob(e.ActorSeal), e.At.UTC()
	if index != nil {
		e.LogIndex, e.Logged = uint64(*index), true
	}
	return &e, nil
}

// AppendCustodyEvent locks the item's row, so appends to one item are
// serialised: no two can read the same last event.
func (s *DB) AppendCustodyEvent(ctx context.Context, itemID string, next func(last *store.CustodyEvent) (*store.CustodyEvent, error)) (*store.CustodyEvent, error) {
	var out *store.CustodyEvent
	err := s.atomically(ctx, func(q querier) error {
		var one int
		if err := q.QueryRow(ctx, `SELECT 1 FROM evidence_items WHERE id = $1 FOR UPDATE`, itemID).Scan(&one); err != nil {
			return notFound(err, "append custody event")
		}
		last, err := scanEvent(q.QueryRow(ctx,
			`SELECT `+eventColumns+` FROM custody_events WHERE item_id = $1 ORDER BY seq DESC LIMIT 1`, itemID))
		if errors.Is(err, pgx.ErrNoRows) {
			last = nil
		} else if err != nil {
			return fmt.Errorf("postgres: append custody event: %w", err)
		}
		e, err := next(last)
		if err != nil {
			return err
		}
		want := int64(1)
		if last != nil {
			want = last.Seq + 1
		}
		if e.ItemID != itemID || e.Seq != want {
			return fmt.Errorf("postgres: append custody event: item %q seq %d, want %q seq %d: %w",
				e.ItemID, e.Seq, itemID, want, store.ErrConflict)
		}
		at := normTime(e.At)
		if _, err := q.Exec(ctx, `
			INSERT INTO custody_events (item_id, seq, type, at, entry, actor_seal, log_index)
			VALUES ($1, $2, $3, $4, $5, $6, NULL)`,
			itemID, e.Seq, e.Type, at, blob(e.Entry), blob(e.ActorSeal)); err != nil {
			return fmt.Errorf("postgres: append custody event: %w", err)
		}
		if _, err := q.Exec(ctx, `
			INSERT INTO custody_outbox (item_id, event_seq, entry) VALUES ($1, $2, $3)`,
			itemID, e.Seq, blob(e.Entry)); err != nil {
			return fmt.Errorf("postgres: append custody event: outbox: %w", err)
		}
		stored := *e
		stored.At, stored.LogIndex, stored.Logged = at, 0, false
		stored.Entry, stored.ActorSeal = normBlob(e.Entry), normBlob(e.ActorSeal)
		out = &stored
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *DB) CustodyEvents(ctx context.Context, itemID string) ([]*store.CustodyEvent, error) {
	var list []*store.CustodyEvent
	// One statement, so one snapshot: the item's existence and its events
	// are seen together.
	rows, err := s.q.Query(ctx, `
		SELECT i.id IS NOT NULL, e.item_id, e.seq, e.type, e.at, e.entry, e.actor_seal, e.log_index
		FROM (SELECT $1::text AS id) AS want
		LEFT JOIN evidence_items i ON i.id = want.id
		LEFT JOIN custody_events e ON e.item_id = i.id
		ORDER BY e.seq`, itemID)
	if err != nil {
		return nil, fmt.Errorf("postgres: custody events: %w", err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var (
			exists bool
			item   *string
			seq    *int64
			typ    *string
			at     *time.Time
			index  *int64
			e      store.CustodyEvent
		)
		if err := rows.Scan(&exists, &item, &seq, &typ, &at, &e.Entry, &e.ActorSeal, &index); err != nil {
			return nil, fmt.Errorf("postgres: custody events: %w", err)
		}
		found = found || exists
		if item == nil {
			continue
		}
		e.ItemID, e.Seq, e.Type, e.At = *item, *seq, *typ, at.UTC()
		e.Entry, e.ActorSeal = normBlob(e.Entry), normBlob(e.ActorSeal)
		if index != nil {
			e.LogIndex, e.Logged = uint64(*index), true
		}
		list = append(list, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: custody events: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("postgres: custody events: %w", store.ErrNotFound)
	}
	if list == nil {
		list = []*store.CustodyEvent{}
	}
	return list, nil
}

func (s *DB) OutboxPending(ctx context.Context, max int) ([]store.OutboxEntry, error) {
	if max <= 0 {
		return nil, nil
	}
	rows, err := s.q.Query(ctx, `SELECT seq, entry FROM custody_outbox ORDER BY seq LIMIT $1`, max)
	if err != nil {
		return nil, fmt.Errorf("postgres: outbox pending: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.OutboxEntry, error) {
		var e store.OutboxEntry
		err := row.Scan(&e.Seq, &e.Entry)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: outbox pending: %w", err)
	}
	return list, nil
}

func (s *DB) OutboxDone(ctx context.Context, seq int64, index uint64) error {
	if index > 1<<63-1 {
		return fmt.Errorf("postgres: outbox done: index %d out of range", index)
	}
	return s.atomically(ctx, func(q querier) error {
		var (
			itemID   string
			eventSeq int64
		)
		err := q.QueryRow(ctx, `SELECT item_id, event_seq FROM custody_outbox WHERE seq = $1 FOR UPDATE`, seq).
			Scan(&itemID, &eventSeq)
		if err != nil {
			return notFound(err, "outbox done")
		}
		var taken int
		err = q.QueryRow(ctx, `SELECT 1 FROM custody_events WHERE log_index = $1`, int64(index)).Scan(&taken)
		if err == nil {
			return fmt.Errorf("postgres: outbox done: index %d: %w", index, store.ErrConflict)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: outbox done: %w", err)
		}
		// The counter's row lock orders concurrent calls; a race on the
		// same index that slipped past the check above is caught by the
		// unique index.
		if _, err := q.Exec(ctx, `UPDATE custody_log_state SET logged = logged + 1 WHERE id = 1`); err != nil {
			return fmt.Errorf("postgres: outbox done: %w", err)
		}
		if _, err := q.Exec(ctx, `UPDATE custody_events SET log_index = $1 WHERE item_id = $2 AND seq = $3`,
			int64(index), itemID, eventSeq); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("postgres: outbox done: index %d: %w", index, store.ErrConflict)
			}
			return fmt.Errorf("postgres: outbox done: %w", err)
		}
		if _, err := q.Exec(ctx, `DELETE FROM custody_outbox WHERE seq = $1`, seq); err != nil {
			return fmt.Errorf("postgres: outbox done: %w", err)
		}
		return nil
	})
}

func (s *DB) OutboxLoggedCount(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.q.QueryRow(ctx, `SELECT logged FROM custody_log_state WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: outbox logged count: %w", err)
	}
	return uint64(n), nil
}

const custodianColumns = `id, name, recipient, active, created_at, disabled_at`

func scanCustodian(row pgx.Row) (*store.Custodian, error) {
	var (
		c        store.Custodian
		disabled *time.Time
	)
	if err := row.Scan(&c.ID, &c.Name, &c.Recipient, &c.Active, &c.CreatedAt, &disabled); err != nil {
		return nil, err
	}
	c.Name, c.CreatedAt, c.DisabledAt = normBlob(c.Name), c.CreatedAt.UTC(), fromNullTime(disabled)
	return &c, nil
}

func (s *DB) AddCustodian(ctx context.Context, c *store.Custodian) error {
	created, disabled := normTime(c.CreatedAt), normTime(c.DisabledAt)
	tag, err := s.q.Exec(ctx, `
		INSERT INTO evidence_custodians (`+custodianColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT DO NOTHING`,
		c.ID, blob(c.Name), c.Recipient, c.Active, created, nullTime(c.DisabledAt))
	if err != nil {
		return fmt.Errorf("postgres: add custodian: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: add custodian: %w", store.ErrConflict)
	}
	c.CreatedAt, c.DisabledAt = created, disabled
	return nil
}

func (s *DB) ListCustodians(ctx context.Context) ([]*store.Custodian, error) {
	rows, err := s.q.Query(ctx, `SELECT `+custodianColumns+` FROM evidence_custodians ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list custodians: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Custodian, error) { return scanCustodian(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list custodians: %w", err)
	}
	return list, nil
}

func (s *DB) DisableCustodian(ctx context.Context, id string, at time.Time) error {
	tag, err := s.q.Exec(ctx, `
		UPDATE evidence_custodians SET active = false, disabled_at = coalesce(disabled_at, $1) WHERE id = $2`,
		normTime(at), id)
	if err != nil {
		return fmt.Errorf("postgres: disable custodian: %w", err)
	}
	return affectedOne(tag, "disable custodian")
}

func (s *DB) RecordUpload(ctx context.Context, key, itemID string) error {
	tag, err := s.q.Exec(ctx,
		`INSERT INTO evidence_uploads (upload_key, item_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, key, itemID)
	if err != nil {
		return fmt.Errorf("postgres: record upload: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: record upload: %w", store.ErrConflict)
	}
	return nil
}

func (s *DB) UploadItem(ctx context.Context, key string) (string, error) {
	var id string
	if err := s.q.QueryRow(ctx, `SELECT item_id FROM evidence_uploads WHERE upload_key = $1`, key).Scan(&id); err != nil {
		return "", notFound(err, "upload item")
	}
	return id, nil
}
