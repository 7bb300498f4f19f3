package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// nullText stores "" as NULL, for optional references.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const evidenceColumns = `id, case_id, request_id, blob_id, record, commitment, consent, created_at, destroyed_at`

func scanEvidence(sc scanner) (*store.EvidenceItem, error) {
	var (
		it                    store.EvidenceItem
		caseID, reqID, blobID sql.NullString
		created               int64
		destroyed             sql.NullInt64
	)
	if err := sc.Scan(&it.ID, &caseID, &reqID, &blobID, &it.Record, &it.Commitment, &it.Consent, &created, &destroyed); err != nil {
		return nil, err
	}
	it.CaseID, it.RequestID, it.BlobID = caseID.String, reqID.String, blobID.String
	it.Record, it.Commitment = normBlob(it.Record), normBlob(it.Commitment)
	it.CreatedAt, it.DestroyedAt = fromMicros(created), fromNullMicros(destroyed)
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
				return fmt.Errorf("sqlite: create evidence: case erased: %w", store.ErrNotFound)
			}
		}
		if it.RequestID != "" {
			var one int
			if err := q.QueryRowContext(ctx, `SELECT 1 FROM requests WHERE id = ?`, it.RequestID).Scan(&one); err != nil {
				return notFound(err, "create evidence: request")
			}
		}
		res, err := q.ExecContext(ctx, `
			INSERT INTO evidence_items (`+evidenceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
			ON CONFLICT DO NOTHING`,
			it.ID, nullText(it.CaseID), nullText(it.RequestID), nullText(it.BlobID), blob(it.Record), blob(it.Commitment),
			it.Consent, micros(created))
		if err != nil {
			return fmt.Errorf("sqlite: create evidence: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: create evidence: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: create evidence: %w", store.ErrConflict)
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
	it, err := scanEvidence(s.reader().QueryRowContext(ctx, `SELECT `+evidenceColumns+` FROM evidence_items WHERE id = ?`, id))
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
		query += ` WHERE case_id = ? AND request_id = ?`
		args = append(args, f.CaseID, f.RequestID)
	case f.CaseID != "":
		query += ` WHERE case_id = ?`
		args = append(args, f.CaseID)
	case f.RequestID != "":
		query += ` WHERE request_id = ?`
		args = append(args, f.RequestID)
	}
	rows, err := s.reader().QueryContext(ctx, query+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list evidence: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanEvidence)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list evidence: %w", err)
	}
	return list, nil
}

func (s *DB) SetEvidenceConsent(ctx context.Context, id, consent string) error {
	res, err := s.writer().ExecContext(ctx,
		`UPDATE evidence_items SET consent = ? WHERE id = ? AND destroyed_at IS NULL`, consent, id)
	if err != nil {
		return fmt.Errorf("sqlite: set evidence consent: %w", err)
	}
	return affectedOne(res, "set evidence consent")
}

// DestroyEvidence empties an item's record and blob reference and deletes
// its working copy. secure_delete overwrites the record's old bytes; the
// -wal file is truncated after the commit, as after erasing a case.
func (s *DB) DestroyEvidence(ctx context.Context, id string, at time.Time) ([]string, error) {
	var blobs []string
	err := s.Tx(ctx, func(tx store.Store) error {
		d := tx.(*DB)
		q := d.tx
		var blobID sql.NullString
		err := q.QueryRowContext(ctx,
			`SELECT blob_id FROM evidence_items WHERE id = ? AND destroyed_at IS NULL`, id).Scan(&blobID)
		if err != nil {
			return notFound(err, "destroy evidence")
		}
		blobs = append(blobs, blobID.String)
		var copyID string
		err = q.QueryRowContext(ctx, `SELECT blob_id FROM evidence_copies WHERE item_id = ?`, id).Scan(&copyID)
		switch {
		case err == nil:
			blobs = append(blobs, copyID)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: destroy evidence: %w", err)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM evidence_copies WHERE item_id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: destroy evidence: %w", err)
		}
		if _, err := q.ExecContext(ctx, `
			UPDATE evidence_items SET blob_id = NULL, record = NULL, destroyed_at = ? WHERE id = ?`,
			micros(at), id); err != nil {
			return fmt.Errorf("sqlite: destroy evidence: %w", err)
		}
		d.erased.Store(true)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return blobs, nil
}

func (s *DB) EvidenceBlobKnown(ctx context.Context, blobID string) (bool, error) {
	var known bool
	err := s.reader().QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM evidence_items WHERE blob_id = ?)
			OR EXISTS (SELECT 1 FROM evidence_copies WHERE blob_id = ?)`, blobID, blobID).Scan(&known)
	if err != nil {
		return false, fmt.Errorf("sqlite: evidence blob known: %w", err)
	}
	return known, nil
}

func (s *DB) AddWorkingCopy(ctx context.Context, c *store.WorkingCopy) error {
	created := normTime(c.CreatedAt)
	err := s.atomically(ctx, func(q querier) error {
		var one int
		err := q.QueryRowContext(ctx,
			`SELECT 1 FROM evidence_items WHERE id = ? AND destroyed_at IS NULL`, c.ItemID).Scan(&one)
		if err != nil {
			return notFound(err, "add working copy")
		}
		res, err := q.ExecContext(ctx, `
			INSERT INTO evidence_copies (item_id, blob_id, info, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, c.ItemID, c.BlobID, blob(c.Info), micros(created))
		if err != nil {
			return fmt.Errorf("sqlite: add working copy: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: add working copy: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: add working copy: %w", store.ErrConflict)
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
	var (
		c       store.WorkingCopy
		created int64
	)
	err := s.reader().QueryRowContext(ctx,
		`SELECT item_id, blob_id, info, created_at FROM evidence_copies WHERE item_id = ?`, itemID).
		Scan(&c.ItemID, &c.BlobID, &c.Info, &created)
	if err != nil {
		return nil, notFound(err, "get working copy")
	}
	c.Info, c.CreatedAt = normBlob(c.Info), fromMicros(created)
	return &c, nil
}

const eventColumns = `item_id, seq, type, at, entry, actor_seal, log_index`

func scanEvent(sc scanner) (*store.CustodyEvent, error) {
	var (
		e     store.CustodyEvent
		at    int64
		index sql.NullInt64
	)
	if err := sc.Scan(&e.ItemID, &e.Seq, &e.Type, &at, &e.Entry, &e.ActorSeal, &index); err != nil {
		return nil, err
	}
	e.Entry, e.ActorSeal, e.At = normBlob(e.Entry), normBlob(e.ActorSeal), fromMicros(at)
	if index.Valid {
		e.LogIndex, e.Logged = uint64(index.Int64), true
	}
	return &e, nil
}

// AppendCustodyEvent: inside the write transaction (BEGIN IMMEDIATE)
// nothing else can append to the item between reading its last event and
// inserting the next.
func (s *DB) AppendCustodyEvent(ctx context.Context, itemID string, next func(last *store.CustodyEvent) (*store.CustodyEvent, error)) (*store.CustodyEvent, error) {
	var out *store.CustodyEvent
	err := s.atomically(ctx, func(q querier) error {
		var one int
		if err := q.QueryRowContext(ctx, `SELECT 1 FROM evidence_items WHERE id = ?`, itemID).Scan(&one); err != nil {
			return notFound(err, "append custody event")
		}
		last, err := scanEvent(q.QueryRowContext(ctx,
			`SELECT `+eventColumns+` FROM custody_events WHERE item_id = ? ORDER BY seq DESC LIMIT 1`, itemID))
		if errors.Is(err, sql.ErrNoRows) {
			last = nil
		} else if err != nil {
			return fmt.Errorf("sqlite: append custody event: %w", err)
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
			return fmt.Errorf("sqlite: append custody event: item %q seq %d, want %q seq %d: %w",
				e.ItemID, e.Seq, itemID, want, store.ErrConflict)
		}
		at := normTime(e.At)
		if _, err := q.ExecContext(ctx, `
			INSERT INTO custody_events (item_id, seq, type, at, entry, actor_seal, log_index)
			VALUES (?, ?, ?, ?, ?, ?, NULL)`,
			itemID, e.Seq, e.Type, micros(at), blob(e.Entry), blob(e.ActorSeal)); err != nil {
			return fmt.Errorf("sqlite: append custody event: %w", err)
		}
		if _, err := q.ExecContext(ctx, `
			INSERT INTO custody_outbox (item_id, event_seq, entry) VALUES (?, ?, ?)`,
			itemID, e.Seq, blob(e.Entry)); err != nil {
			return fmt.Errorf("sqlite: append custody event: outbox: %w", err)
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
	err := s.readTx(ctx, func(q querier) error {
		var one int
		if err := q.QueryRowContext(ctx, `SELECT 1 FROM evidence_items WHERE id = ?`, itemID).Scan(&one); err != nil {
			return notFound(err, "custody events")
		}
		rows, err := q.QueryContext(ctx, `SELECT `+eventColumns+` FROM custody_events WHERE item_id = ? ORDER BY seq`, itemID)
		if err != nil {
			return fmt.Errorf("sqlite: custody events: %w", err)
		}
		defer rows.Close()
		if list, err = collectRows(rows, scanEvent); err != nil {
			return fmt.Errorf("sqlite: custody events: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []*store.CustodyEvent{}
	}
	return list, nil
}

// readTx runs fn on one snapshot: the transaction's, if there is one,
// otherwise a read-only transaction on a reader connection, so that two
// queries that belong together see the same database.
func (s *DB) readTx(ctx context.Context, fn func(q querier) error) error {
	if s.tx != nil {
		return fn(s.tx)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

func (s *DB) OutboxPending(ctx context.Context, max int) ([]store.OutboxEntry, error) {
	if max <= 0 {
		return nil, nil
	}
	rows, err := s.reader().QueryContext(ctx, `SELECT seq, entry FROM custody_outbox ORDER BY seq LIMIT ?`, max)
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox pending: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, func(sc scanner) (store.OutboxEntry, error) {
		var e store.OutboxEntry
		err := sc.Scan(&e.Seq, &e.Entry)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox pending: %w", err)
	}
	return list, nil
}

func (s *DB) OutboxDone(ctx context.Context, seq int64, index uint64) error {
	if index > 1<<63-1 {
		return fmt.Errorf("sqlite: outbox done: index %d out of range", index)
	}
	return s.atomically(ctx, func(q querier) error {
		var (
			itemID   string
			eventSeq int64
		)
		err := q.QueryRowContext(ctx, `SELECT item_id, event_seq FROM custody_outbox WHERE seq = ?`, seq).Scan(&itemID, &eventSeq)
		if err != nil {
			return notFound(err, "outbox done")
		}
		var taken int
		err = q.QueryRowContext(ctx, `SELECT 1 FROM custody_events WHERE log_index = ?`, int64(index)).Scan(&taken)
		if err == nil {
			return fmt.Errorf("sqlite: outbox done: index %d: %w", index, store.ErrConflict)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: outbox done: %w", err)
		}
		if _, err := q.ExecContext(ctx, `UPDATE custody_events SET log_index = ? WHERE item_id = ? AND seq = ?`,
			int64(index), itemID, eventSeq); err != nil {
			return fmt.Errorf("sqlite: outbox done: %w", err)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM custody_outbox WHERE seq = ?`, seq); err != nil {
			return fmt.Errorf("sqlite: outbox done: %w", err)
		}
		if _, err := q.ExecContext(ctx, `UPDATE custody_log_state SET logged = logged + 1 WHERE id = 1`); err != nil {
			return fmt.Errorf("sqlite: outbox done: %w", err)
		}
		return nil
	})
}

func (s *DB) OutboxLoggedCount(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.reader().QueryRowContext(ctx, `SELECT logged FROM custody_log_state WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: outbox logged count: %w", err)
	}
	return uint64(n), nil
}

const custodianColumns = `id, name, recipient, active, created_at, disabled_at`

func scanCustodian(sc scanner) (*store.Custodian, error) {
	var (
		c        store.Custodian
		created  int64
		disabled sql.NullInt64
	)
	if err := sc.Scan(&c.ID, &c.Name, &c.Recipient, &c.Active, &created, &disabled); err != nil {
		return nil, err
	}
	c.Name, c.CreatedAt, c.DisabledAt = normBlob(c.Name), fromMicros(created), fromNullMicros(disabled)
	return &c, nil
}

func (s *DB) AddCustodian(ctx context.Context, c *store.Custodian) error {
	created, disabled := normTime(c.CreatedAt), normTime(c.DisabledAt)
	res, err := s.writer().ExecContext(ctx, `
		INSERT INTO evidence_custodians (`+custodianColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		c.ID, blob(c.Name), c.Recipient, c.Active, micros(created), nullMicros(disabled))
	if err != nil {
		return fmt.Errorf("sqlite: add custodian: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: add custodian: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: add custodian: %w", store.ErrConflict)
	}
	c.CreatedAt, c.DisabledAt = created, disabled
	return nil
}

func (s *DB) ListCustodians(ctx context.Context) ([]*store.Custodian, error) {
	rows, err := s.reader().QueryContext(ctx, `SELECT `+custodianColumns+` FROM evidence_custodians ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list custodians: %w", err)
	}
	defer rows.Close()
	list, err := collectRows(rows, scanCustodian)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list custodians: %w", err)
	}
	return list, nil
}

func (s *DB) DisableCustodian(ctx context.Context, id string, at time.Time) error {
	res, err := s.writer().ExecContext(ctx, `
		UPDATE evidence_custodians SET active = 0, disabled_at = coalesce(disabled_at, ?) WHERE id = ?`,
		micros(at), id)
	if err != nil {
		return fmt.Errorf("sqlite: disable custodian: %w", err)
	}
	return affectedOne(res, "disable custodian")
}

func (s *DB) RecordUpload(ctx context.Context, key, itemID string) error {
	res, err := s.writer().ExecContext(ctx, `
		INSERT INTO evidence_uploads (upload_key, item_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, key, itemID)
	if err != nil {
		return fmt.Errorf("sqlite: record upload: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: record upload: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: record upload: %w", store.ErrConflict)
	}
	return nil
}

func (s *DB) UploadItem(ctx context.Context, key string) (string, error) {
	var id string
	if err := s.reader().QueryRowContext(ctx, `SELECT item_id FROM evidence_uploads WHERE upload_key = ?`, key).Scan(&id); err != nil {
		return "", notFound(err, "upload item")
	}
	return id, nil
}
