package e2e

import (
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/corridor-org/corridor/internal/cli"

	_ "modernc.org/sqlite" // the installation's database, seeded directly
)

// TestStatisticsWithoutJavaScript: a release published with `corridor
// stats publish` shows on the public site in Chromium with JavaScript
// disabled: the SVG charts are drawn with a real size, each with its data
// table, the tables and the methodology are there, and no count below the
// threshold appears anywhere in the page.
func TestStatisticsWithoutJavaScript(t *testing.T) {
	b := startBrowser(t) // skips without Chromium
	in := newInstallation(t, "admin")
	seedStatistics(t, filepath.Join(in.Dir, cli.DatabaseName))
	code, stdout, stderr := runCorridor("stats", "publish", "--data", in.Dir, "--passphrase-file", in.PassFile)
	if code != 0 {
		t.Fatalf("corridor stats publish: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(string(stdout), "published release 1") {
		t.Fatalf("corridor stats publish printed:\n%s", stdout)
	}
	srv := in.start(t)

	for _, lang := range []string{"en", "ru"} {
		tb := b.newTab(t, "public-"+lang, false)
		if st := tb.open(srv.PublicURL + "/" + lang + "/stats"); st != http.StatusOK {
			t.Fatalf("%s: GET /stats: %d", lang, st)
		}
		tb.screenshot("stats-" + lang)
		areas := run(tb, "chart sizes", chromedp.Evaluate[[]float64](
			`Array.from(document.querySelectorAll("svg.chart")).map(e => { const r = e.getBoundingClientRect(); return r.width * r.height })`))
		if len(areas) < 5 {
			t.Errorf("%s: %d charts, want at least 5", lang, len(areas))
		}
		for i, a := range areas {
			if a <= 0 {
				t.Errorf("%s: chart %d has no size", lang, i)
			}
		}
		bars := tb.texts("svg.chart rect")
		if len(bars) == 0 {
			t.Errorf("%s: the charts have no bars", lang)
		}
		if caps := tb.texts("table.chart-data caption"); len(caps) != len(areas) {
			t.Errorf("%s: %d charts but %d data tables beside them", lang, len(areas), len(caps))
		}
		if caps := tb.texts("table.stats caption"); len(caps) < 4 {
			t.Errorf("%s: tables %v", lang, caps)
		}
		if m := tb.text("#methodology"); m == "" {
			t.Errorf("%s: no methodology", lang)
		}
		for _, n := range tb.texts(".n") {
			v, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil || v < 10 {
				t.Errorf("%s: a published count reads %q", lang, n)
			}
		}
		for _, h := range tb.texts("td.hidden") {
			if regexp.MustCompile(`\d`).MatchString(h) {
				t.Errorf("%s: a hidden cell reads %q", lang, h)
			}
		}
		if len(tb.cookies()) > 0 {
			t.Errorf("%s: the statistics page set a cookie", lang)
		}
	}
}

// seedStatistics stores 30 people who consented, with violations and
// their cases' first contact, plus 3 in a small region, directly in the
// database (as the staff site stores them: dimensions clear, no note).
func seedStatistics(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const at = 1490000000000000 // 2017-03-20, in microseconds
	for i := range 33 {
		region, typ := "chechnya", []string{"detention", "torture", "beating"}[i%3]
		if i >= 30 {
			region = "ingushetia"
		}
		id := fmt.Sprintf("c%02d", i)
		stmts := []string{
			fmt.Sprintf(`INSERT INTO cases (id, created_at, updated_at, stage, stage_since, wrapped_key) VALUES ('%s', %d, %d, 'new', %d, x'00')`, id, at, at, at),
			fmt.Sprintf(`INSERT INTO stats_consents (case_id, method, given_at) VALUES ('%s', 'in_person', %d)`, id, at),
			fmt.Sprintf(`INSERT INTO stats_violations (id, case_id, type, perpetrator, region, month, created_at) VALUES ('v%s', '%s', '%s', 'police', '%s', 1488326400000000, %d)`, id, id, typ, region, at),
		}
		for _, s := range stmts {
			if _, err := db.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
}
