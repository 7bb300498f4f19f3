package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// queryPlan returns SQLite's plan for query, one line per step.
func queryPlan(t *testing.T, db *DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// The case list must render quickly with 100,000 cases: every page query
// reads the order off an index instead of sorting, or, for VisibleTo,
// sorts only the user's own cases, found through indexes. The plans are
// checked as the server sees them, without statistics (it never runs
// ANALYZE), and, unless -short or -race, with the statistics of 100,000
// cases, in case it ever does.
func TestCaseQueriesUseIndexes(t *testing.T) {
	db, _ := openTemp(t)
	check := func(t *testing.T) {
		for _, f := range []store.CaseFilter{
			{},
			{Stage: "triage"},
			{AssigneeID: 3},
			{Stage: "triage", AssigneeID: 3},
			{VisibleTo: 3},
			{VisibleTo: 3, Stage: "triage"},
			{VisibleTo: 3, AssigneeID: 4},
			{IncludeErased: true},
			{IncludeErased: true, Stage: "closed"},
			{IncludeErased: true, AssigneeID: 3},
			{IncludeErased: true, VisibleTo: 3},
			{Limit: 20, Offset: 5000},
		} {
			_, pageSQL, _, args := caseQueries(f)
			plan := queryPlan(t, db, pageSQL, args...)
			joined := strings.Join(plan, "; ")
			for _, step := range plan {
				// A scan of cases must walk a list index, in order.
				if strings.HasPrefix(step, "SCAN cases") && !strings.Contains(step, "INDEX cases_list") {
					t.Errorf("filter %+v: plan %q scans the cases", f, joined)
				}
			}
			if f.VisibleTo > 0 {
				if !strings.Contains(joined, "case_shares_user (user_id=?)") || !strings.Contains(joined, "cases_list_assignee (assignee_id=?)") ||
					!strings.Contains(joined, "(id=?)") {
					t.Errorf("filter %+v: plan %q does not start from the user's cases", f, joined)
				}
			} else if strings.Contains(joined, "TEMP B-TREE") || !strings.Contains(joined, "USING INDEX cases_list") {
				t.Errorf("filter %+v: plan %q sorts instead of reading an index", f, joined)
			}
		}
		for _, q := range []struct {
			name, sql, want string
			args            []any
		}{
			{"PeriodsSince", periodsSinceSQL, "case_stage_periods_left", []any{1, 1, 1}},
			{"CaseForRequest", `SELECT ` + caseColumns + ` FROM cases WHERE request_id <> '' AND request_id = ?`, "cases_request", []any{"r"}},
			{"CountByStage", `SELECT stage, count(*) FROM cases WHERE erased_at IS NULL GROUP BY stage`, "COVERING INDEX cases_list_stage", nil},
		} {
			joined := strings.Join(queryPlan(t, db, q.sql, q.args...), "; ")
			if !strings.Contains(joined, q.want) || strings.Contains(joined, "SCAN case_stage_periods") {
				t.Errorf("%s: plan %q does not use %s", q.name, joined, q.want)
			}
		}
	}
	t.Run("NoStatistics", check)
	if testing.Short() || raceEnabled {
		return
	}
	fillCases100k(t, db)
	t.Run("100k", check)
}

// BenchmarkListCases measures one page of cases among 100,000.
func BenchmarkListCases(b *testing.B) {
	db, _ := openTemp(b)
	ctx := context.Background()
	fillCases100k(b, db)
	for _, f := range []store.CaseFilter{{}, {Stage: "triage"}, {AssigneeID: 7}, {VisibleTo: 7}, {IncludeErased: true}, {Offset: 5000}} {
		b.Run(fmt.Sprintf("%+v", f), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := db.ListCases(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("PeriodsSince", func(b *testing.B) {
		since := time.UnixMicro(1700000000000000 + 99000*1000000)
		for b.Loop() {
			if _, err := db.PeriodsSince(ctx, since); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestSecureDelete(t *testing.T) {
	db, _ := openTemp(t)
	var on int
	if err := db.w.QueryRowContext(t.Context(), `PRAGMA secure_delete`).Scan(&on); err != nil {
		t.Fatal(err)
	}
	if on != 1 {
		t.Errorf("writer: PRAGMA secure_delete = %d, want 1", on)
	}
}

// pattern returns n bytes of a pattern that no other data will contain.
func pattern(tag string, n int) []byte {
	unit := []byte("\xa5\x5a<" + tag + ">\x00\xff")
	return bytes.Repeat(unit, n/len(unit)+1)[:n]
}

// After EraseCase, the erased case's key, sections and bodies are in
// neither the database file nor the -wal file: secure_delete zeroes the
// freed space, and the -wal file, whose older frames still hold the pages
// as they were, is checkpointed and truncated.
func TestEraseLeavesNoTrace(t *testing.T) {
	for _, inTx := range []bool{false, true} {
		t.Run(fmt.Sprintf("inTx=%v", inTx), func(t *testing.T) {
			db, path := openTemp(t)
			ctx := t.Context()
			secret := map[string][]byte{
				"wrapped key":         pattern("key", 64),
				"identity section":    pattern("identity", 64),
				"testimony (20 KiB)":  pattern("testimony", 20<<10),
				"event body":          pattern("body", 64),
				"replaced section v1": pattern("v1", 64),
			}
			kept := pattern("kept", 64) // another case's section: must stay findable
			keptCase := &store.Case{ID: "kept", CreatedAt: time.Now(), Stage: "triage", WrappedKey: pattern("keptkey", 64)}
			c := &store.Case{ID: "c1", CreatedAt: time.Now(), Stage: "triage", WrappedKey: secret["wrapped key"]}
			for _, err := range []error{
				db.CreateCase(ctx, keptCase),
				db.CreateCase(ctx, c),
				db.PutSection(ctx, &store.CaseSection{CaseID: "kept", Class: "identity", Data: kept, UpdatedAt: time.Now()}),
				db.PutSection(ctx, &store.CaseSection{CaseID: "c1", Class: "identity", Data: secret["identity section"], UpdatedAt: time.Now()}),
				db.PutSection(ctx, &store.CaseSection{CaseID: "c1", Class: "testimony", Data: secret["testimony (20 KiB)"], UpdatedAt: time.Now()}),
				db.PutSection(ctx, &store.CaseSection{CaseID: "c1", Class: "location", Data: secret["replaced section v1"], UpdatedAt: time.Now()}),
				db.PutSection(ctx, &store.CaseSection{CaseID: "c1", Class: "location", Data: pattern("v2", 64), UpdatedAt: time.Now()}),
				db.AddCaseEvent(ctx, &store.CaseEvent{ID: "e1", CaseID: "c1", At: time.Now(), Kind: "note", Class: "testimony", Body: secret["event body"]}),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
			files := func() []byte {
				t.Helper()
				var all []byte
				for _, name := range []string{path, path + "-wal"} {
					b, err := os.ReadFile(name)
					if err != nil && !os.IsNotExist(err) {
						t.Fatal(err)
					}
					all = append(all, b...)
				}
				return all
			}
			// The search finds what is there.
			before := files()
			// Content spread over overflow pages is not contiguous on
			// disk; any 64 bytes of it are found where a page of it is.
			for what, p := range secret {
				if !bytes.Contains(before, p[:64]) {
					t.Fatalf("before erasure: %s not found on disk; the test cannot see what it looks for", what)
				}
			}

			if inTx {
				err := db.Tx(ctx, func(tx store.Store) error {
					if err := tx.EraseCase(ctx, "c1", time.Now()); err != nil {
						return err
					}
					return tx.SetMeta(ctx, "k", []byte("v"))
				})
				if err != nil {
					t.Fatal(err)
				}
			} else if err := db.EraseCase(ctx, "c1", time.Now()); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				after := files()
				for what, p := range secret {
					if bytes.Contains(after, p[:64]) {
						t.Errorf("%s: %s still on disk", when, what)
					}
				}
				if !bytes.Contains(after, kept) {
					t.Errorf("%s: another case's section is gone", when)
				}
			}
			check("after EraseCase")
			if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				t.Fatal(err)
			}
			check("after a checkpoint")
		})
	}
}

// fillCases100k inserts 100,000 cases in six stages, a sixth of them
// closed and a twentieth erased, with 500 assignees; three past stage
// periods and the current one for each; and shares of every tenth case.
// Then it runs ANALYZE, so the planner sees realistic statistics.
func fillCases100k(tb testing.TB, db *DB) {
	tb.Helper()
	ctx := context.Background()
	for _, q := range []string{`
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		INSERT INTO cases (id, created_at, updated_at, stage, stage_since, close_reason, risk,
			assignee_id, request_id, wrapped_key, erased_at)
		SELECT printf('c%06d', i), 1700000000000000 + i * 1000000, 1700000000000000 + i * 1000000,
			CASE i % 6 WHEN 0 THEN 'triage' WHEN 1 THEN 'verification' WHEN 2 THEN 'relocation'
				WHEN 3 THEN 'safe_house' WHEN 4 THEN 'documents' ELSE 'closed' END,
			1700000000000000 + i * 1000000 + 3 * 3600000000,
			CASE WHEN i % 6 = 5 THEN 'arrived' ELSE '' END, i % 5, i % 500,
			CASE WHEN i % 3 = 0 THEN '' ELSE printf('r%06d', i) END,
			CASE WHEN i % 20 = 0 THEN NULL ELSE randomblob(72) END,
			CASE WHEN i % 20 = 0 THEN 1800000000000000 END
		FROM n`, `
		WITH k(j) AS (VALUES (0), (1), (2))
		INSERT INTO case_stage_periods (case_id, stage, entered_at, left_at)
		SELECT id, printf('s%d', j), created_at + j * 3600000000, created_at + (j + 1) * 3600000000
		FROM cases, k`, `
		INSERT INTO case_stage_periods (case_id, stage, entered_at)
		SELECT id, stage, stage_since FROM cases`, `
		INSERT INTO case_shares (case_id, user_id)
		SELECT id, (rowid * 7) % 500 FROM cases WHERE rowid % 10 = 0`,
		`ANALYZE`,
	} {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
}
