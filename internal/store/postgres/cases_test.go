package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

func explain(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.pool.Query(t.Context(), "EXPLAIN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// The case list must render quickly with 100,000 cases: with realistic
// statistics the planner reads each page off an index instead of sorting,
// or, for VisibleTo and for an assignee's cases in one stage, sorts only
// the user's own cases, found through indexes.
func TestCaseQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100,000 cases")
	}
	db, _ := openFresh(t)
	fillCases100k(t, db)
	for _, f := range []store.CaseFilter{
		{},
		{Stage: "triage"},
		{AssigneeID: 3},
		{Stage: "triage", AssigneeID: 3},
		{VisibleTo: 3},
		{VisibleTo: 3, Stage: "triage"},
		{IncludeErased: true},
		{IncludeErased: true, Stage: "closed"},
		{IncludeErased: true, AssigneeID: 3},
		{IncludeErased: true, VisibleTo: 3},
		{Limit: 20, Offset: 5000},
	} {
		_, pageSQL, _, args := caseQueries(f)
		plan := explain(t, db, pageSQL, args...)
		var ok bool
		switch {
		case f.VisibleTo > 0:
			ok = strings.Contains(plan, "case_shares_user") && strings.Contains(plan, "Index Scan using cases_pkey")
		case f.AssigneeID > 0 && f.Stage != "":
			ok = strings.Contains(plan, "cases_list_assignee")
		default:
			ok = !strings.Contains(plan, "Sort") && strings.Contains(plan, "Index Scan using cases_list")
		}
		if !ok || strings.Contains(plan, "Seq Scan") {
			t.Errorf("filter %+v: plan does not read an index:\n%s", f, plan)
		}
	}
	plan := explain(t, db, periodsSinceSQL, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "case_stage_periods_left") {
		t.Errorf("PeriodsSince: plan does not read an index:\n%s", plan)
	}
}

// BenchmarkListCases measures one page of cases among 100,000.
func BenchmarkListCases(b *testing.B) {
	db, _ := openFresh(b)
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
		since := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
		for b.Loop() {
			if _, err := db.PeriodsSince(ctx, since); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// fillCases100k inserts 100,000 cases in six stages, a sixth of them
// closed and a twentieth erased, with 500 assignees; three past stage
// periods and the current one for each; and shares of every tenth case.
// Then it runs VACUUM ANALYZE, so the planner sees realistic statistics.
func fillCases100k(tb testing.TB, db *DB) {
	tb.Helper()
	ctx := context.Background()
	for _, q := range []string{`
		INSERT INTO cases (id, created_at, updated_at, stage, stage_since, close_reason, risk,
			assignee_id, request_id, wrapped_key, erased_at)
		SELECT format('c%s', lpad(i::text, 6, '0')),
			timestamptz '2026-01-01' + i * interval '1 second', timestamptz '2026-01-01' + i * interval '1 second',
			(ARRAY['triage', 'verification', 'relocation', 'safe_house', 'documents', 'closed'])[i % 6 + 1],
			timestamptz '2026-01-01' + i * interval '1 second' + interval '3 hours',
			CASE WHEN i % 6 = 5 THEN 'arrived' ELSE '' END, i % 5, i % 500,
			CASE WHEN i % 3 = 0 THEN '' ELSE format('r%s', i) END,
			CASE WHEN i % 20 = 0 THEN NULL ELSE decode(repeat(md5(i::text), 4), 'hex') END,
			CASE WHEN i % 20 = 0 THEN timestamptz '2027-01-01' END
		FROM generate_series(1, 100000) AS i`, `
		INSERT INTO case_stage_periods (case_id, stage, entered_at, left_at)
		SELECT id, format('s%s', j), created_at + j * interval '1 hour', created_at + (j + 1) * interval '1 hour'
		FROM cases, generate_series(0, 2) AS j`, `
		INSERT INTO case_stage_periods (case_id, stage, entered_at)
		SELECT id, stage, stage_since FROM cases`, `
		INSERT INTO case_shares (case_id, user_id)
		SELECT id, (substr(id, 2)::int * 7) % 500 FROM cases WHERE substr(id, 2)::int % 10 = 0`,
		`VACUUM ANALYZE cases`, `VACUUM ANALYZE case_stage_periods`, `VACUUM ANALYZE case_shares`,
	} {
		if _, err := db.pool.Exec(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
}
