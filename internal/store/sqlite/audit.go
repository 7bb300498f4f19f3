package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/corridor-org/corridor/internal/store"
)

// AppendAudit appends e to the chain. Appends are serialised by SQLite's
// write lock, which the transaction holds from its BEGIN IMMEDIATE: no two
// appends can read the same chain head.
//
// e.At is set to the time as stored (UTC, whole microseconds) before hash
// is called, so that a hash computed now can be recomputed from what is
// read back later.
func (s *DB) AppendAudit(ctx context.Context, e *store.AuditEntry, hash func(*store.AuditEntry) []byte) error {
	at := normTime(e.At)
	var seq int64
	var prev, sum []byte
	err := s.atomically(ctx, func(q querier) error {
		var last int64
		var lastHash []byte
		err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&last, &lastHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: append audit: %w", err)
		}
		seq, prev = last+1, normBlob(lastHash)
		// hash sees the entry as it will be stored; the caller's e is
		// updated only once the append has committed.
		entry := *e
		entry.Seq, entry.At, entry.PrevHash, entry.Hash = seq, at, prev, nil
		sum = hash(&entry)
		if len(sum) == 0 {
			return errors.New("sqlite: append audit: hash function returned nothing")
		}
		_, err = q.ExecContext(ctx, `
			INSERT INTO audit (seq, at, actor_id, action, object, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			seq, micros(at), e.ActorID, e.Action, e.Object, blob(prev), sum)
		if err != nil {
			return fmt.Errorf("sqlite: append audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.Seq, e.At, e.PrevHash, e.Hash = seq, at, prev, sum
	return nil
}

func scanAudit(rows *sql.Rows) ([]*store.AuditEntry, error) {
	var list []*store.AuditEntry
	for rows.Next() {
		var (
			e        store.AuditEntry
			at       int64
			prev, hs []byte
		)
		if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.Action, &e.Object, &prev, &hs); err != nil {
			return nil, err
		}
		e.At, e.PrevHash, e.Hash = fromMicros(at), normBlob(prev), normBlob(hs)
		list = append(list, &e)
	}
	return list, rows.Err()
}

const auditColumns = `seq, at, actor_id, action, object, prev_hash, hash`

// AuditRange returns entries with from <= Seq, oldest first, at most limit
// (100 when limit <= 0).
func (s *DB) AuditRange(ctx context.Context, from int64, limit int) ([]*store.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.reader().QueryContext(ctx,
		`SELECT `+auditColumns+` FROM audit WHERE seq >= ? ORDER BY seq LIMIT ?`, from, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit range: %w", err)
	}
	defer rows.Close()
	list, err := scanAudit(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit range: %w", err)
	}
	return list, nil
}

func (s *DB) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	var (
		conds []string
		args  []any
	)
	if f.BeforeSeq > 0 {
		conds = append(conds, "seq < ?")
		args = append(args, f.BeforeSeq)
	}
	if f.ActorID > 0 {
		conds = append(conds, "actor_id = ?")
		args = append(args, f.ActorID)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.reader().QueryContext(ctx,
		`SELECT `+auditColumns+` FROM audit`+where+` ORDER BY seq DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	list, err := scanAudit(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return list, nil
}
