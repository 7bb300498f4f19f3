package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-org/corridor/internal/store"
)

// AppendAudit appends e to the chain. Appends are serialised by a
// transaction-level advisory lock taken before the chain head is read: no
// two appends can read the same head, and the lock is released only when
// the appending transaction commits or rolls back. Inside a longer Tx the
// lock is held until that Tx ends, so append to the audit log late in a
// transaction.
//
// e.At is set to the time as stored (UTC, whole microseconds) before hash
// is called, so that a hash computed now can be recomputed from what is
// read back later.
func (s *DB) AppendAudit(ctx context.Context, e *store.AuditEntry, hash func(*store.AuditEntry) []byte) error {
	at := normTime(e.At)
	var seq int64
	var prev, sum []byte
	err := s.atomically(ctx, func(q querier) error {
		if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockAudit); err != nil {
			return fmt.Errorf("postgres: append audit: %w", err)
		}
		var last int64
		var lastHash []byte
		err := q.QueryRow(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&last, &lastHash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: append audit: %w", err)
		}
		seq, prev = last+1, normBlob(lastHash)
		// hash sees the entry as it will be stored; the caller's e is
		// updated only once the append has succeeded.
		entry := *e
		entry.Seq, entry.At, entry.PrevHash, entry.Hash = seq, at, prev, nil
		sum = hash(&entry)
		if len(sum) == 0 {
			return errors.New("postgres: append audit: hash function returned nothing")
		}
		_, err = q.Exec(ctx, `
			INSERT INTO audit (seq, at, actor_id, action, object, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			seq, at, e.ActorID, e.Action, e.Object, blob(prev), sum)
		if err != nil {
			return fmt.Errorf("postgres: append audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.Seq, e.At, e.PrevHash, e.Hash = seq, at, prev, sum
	return nil
}

const auditColumns = `seq, at, actor_id, action, object, prev_hash, hash`

func collectAudit(rows pgx.Rows) ([]*store.AuditEntry, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.AuditEntry, error) {
		var e store.AuditEntry
		if err := row.Scan(&e.Seq, &e.At, &e.ActorID, &e.Action, &e.Object, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.At, e.PrevHash, e.Hash = e.At.UTC(), normBlob(e.PrevHash), normBlob(e.Hash)
		return &e, nil
	})
}

// AuditRange returns entries with from <= Seq, oldest first, at most limit
// (100 when limit <= 0).
func (s *DB) AuditRange(ctx context.Context, from int64, limit int) ([]*store.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.q.Query(ctx,
		`SELECT `+auditColumns+` FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2`, from, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit range: %w", err)
	}
	list, err := collectAudit(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit range: %w", err)
	}
	return list, nil
}

func (s *DB) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	var (
		conds []string
		args  []any
	)
	if f.BeforeSeq > 0 {
		args = append(args, f.BeforeSeq)
		conds = append(conds, "seq < $"+strconv.Itoa(len(args)))
	}
	if f.ActorID > 0 {
		args = append(args, f.ActorID)
		conds = append(conds, "actor_id = $"+strconv.Itoa(len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := s.q.Query(ctx,
		`SELECT `+auditColumns+` FROM audit`+where+` ORDER BY seq DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	list, err := collectAudit(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return list, nil
}
