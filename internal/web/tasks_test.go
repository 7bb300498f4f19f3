package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// A caseworker adds a task and an expense on their case and sees the task
// on /tasks; a coordinator sees the donor report and downloads the
// exports, each audited; an operator gets none of it.
func TestTasksExpensesReportsExports(t *testing.T) {
	h := newHarness(t, true)
	cw := h.addUser("caseworker")
	coord := h.addUser("coordinator")
	op := h.addUser("operator")
	id := h.openCase("", cw.user.ID)
	c := h.login(cw)

	r := c.post("/cases/"+id+"/tasks", url.Values{"title": {"Buy train tickets <b>now</b>"}, "due": {"2020-01-02"},
		"assignee": {"0"}, "class": {"identity"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add task: %d %.300s", r.status, r.body)
	}
	r = c.post("/cases/"+id+"/expenses", url.Values{"category": {"travel_domestic"}, "amount": {"45,50"},
		"currency": {"eur"}, "date": {"2020-01-02"}, "note": {"Grozny–Moscow"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add expense: %d %.300s", r.status, r.body)
	}
	page := c.get("/cases/" + id)
	for _, want := range []string{"Buy train tickets &lt;b&gt;now&lt;/b&gt;", "45.50 EUR", "Grozny–Moscow", "Travel inside the country"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	r = c.post("/cases/"+id+"/expenses", url.Values{"category": {"food"}, "amount": {"12.345"}, "currency": {"EUR"}, "date": {"2020-01-02"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("expense with three decimals: %d", r.status)
	}

	// The caseworker's task is not theirs until assigned; assign it.
	tasks, err := h.st.CaseTasks(context.Background(), id)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks: %v, %v", tasks, err)
	}
	r = c.post("/cases/"+id+"/tasks", url.Values{"title": {"Mine"}, "due": {"2020-01-03"}, "assignee": {itoa(cw.user.ID)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add own task: %d", r.status)
	}
	board := c.get("/tasks")
	if board.status != http.StatusOK || !strings.Contains(board.body, "Mine") || !strings.Contains(board.body, "overdue") {
		t.Errorf("/tasks for the caseworker: %d %.500s", board.status, board.body)
	}
	r = c.post("/cases/"+id+"/tasks/done", url.Values{"task": {tasks[0].ID}})
	if r.status != http.StatusSeeOther {
		t.Errorf("done: %d", r.status)
	}

	// An operator not on the case can do none of it.
	o := h.login(op)
	if r := o.post("/cases/"+id+"/tasks", url.Values{"title": {"x"}}); r.status != http.StatusForbidden {
		t.Errorf("operator adds a task to a case not theirs: %d", r.status)
	}
	if r := o.get("/reports/donors"); r.status != http.StatusForbidden {
		t.Errorf("operator reads the donor report: %d", r.status)
	}

	k := h.login(coord)
	rep := k.get("/reports/donors?from=2020-01-01&to=2020-01-31")
	if rep.status != http.StatusOK || !strings.Contains(rep.body, "45.50") || strings.Contains(rep.body, "Grozny") {
		t.Errorf("donor report: %d %.800s", rep.status, rep.body)
	}
	csv := k.get("/reports/donors/export?format=csv&from=2020-01-01&to=2020-01-31")
	if csv.status != http.StatusOK || !strings.Contains(csv.body, "travel_domestic,EUR,45.50,4550,1,1") {
		t.Errorf("donor CSV: %d %q", csv.status, csv.body)
	}
	checkDownload(t, csv, "text/csv", `attachment; filename="donors-2020-01-01-2020-01-31.csv"`)
	js := k.get("/reports/donors/export?format=json&from=2020-01-01&to=2020-01-31")
	checkDownload(t, js, "application/json", `attachment; filename="donors-2020-01-01-2020-01-31.json"`)
	cases := k.get("/exports/cases?format=csv")
	if cases.status != http.StatusOK || !strings.Contains(cases.body, id+",new,") || !strings.HasPrefix(cases.body, "id,stage,since,risk,verified,flagged,assignee,created\n") {
		t.Errorf("cases CSV: %d %q", cases.status, cases.body)
	}
	checkDownload(t, cases, "text/csv", "attachment; filename=\"cases-")
	if r := k.get("/exports/cases?format=xml"); r.status != http.StatusNotFound {
		t.Errorf("unknown format: %d", r.status)
	}
	for _, action := range []string{"export.donors", "export.cases", "report.donors"} {
		if n := countAudit(t, h, coord.user.ID, action); n == 0 {
			t.Errorf("%s not audited", action)
		}
	}
	dash := k.get("/dashboard")
	if dash.status != http.StatusOK || !strings.Contains(dash.body, "Alerts") {
		t.Errorf("dashboard: %d", dash.status)
	}
	// Both tasks above were due in 2020 and are not done.
	if m := regexp.MustCompile(`Overdue tasks: (\d+)`).FindStringSubmatch(dash.body); m == nil || m[1] == "0" {
		t.Errorf("dashboard does not count the overdue tasks: %v", m)
	}
}

func checkDownload(t *testing.T, r resp, ctype, disposition string) {
	t.Helper()
	if !strings.HasPrefix(r.header.Get("Content-Type"), ctype) {
		t.Errorf("Content-Type %q, want %s", r.header.Get("Content-Type"), ctype)
	}
	if !strings.HasPrefix(r.header.Get("Content-Disposition"), disposition) {
		t.Errorf("Content-Disposition %q, want %s…", r.header.Get("Content-Disposition"), disposition)
	}
	if !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
}

func countAudit(t *testing.T, h *harness, actor int64, action string) int {
	t.Helper()
	es, err := h.st.AuditRange(context.Background(), 1, 100000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.ActorID == actor && e.Action == action {
			n++
		}
	}
	return n
}
