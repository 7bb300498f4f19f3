package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
)

// dayField reads a yyyy-mm-dd field (what <input type="date"> sends);
// empty gives the zero time.
func dayField(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, badForm(err)
	}
	return t, nil
}

// caseTaskAdd adds a task. A due date is a day; the task falls due at the
// end of it (UTC), which is what "due on the 5th" means to the person
// setting it.
func (s *Server) caseTaskAdd(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	due, err := dayField(f.Get("due"))
	if err != nil {
		return err
	}
	if !due.IsZero() {
		due = due.AddDate(0, 0, 1).Add(-time.Microsecond)
	}
	var assignee int64
	if v := f.Get("assignee"); v != "" {
		if assignee, err = strconv.ParseInt(v, 10, 64); err != nil || assignee < 0 {
			return badForm(err)
		}
	}
	in := cases.TaskInput{Title: f.Get("title"), Class: f.Get("class"), AssigneeID: assignee, Due: due}
	return s.caseAction(w, r, func() error {
		_, err := s.cfg.Cases.AddTask(r.Context(), sc.user, r.PathValue("id"), in)
		return err
	})
}

// caseTaskDone ticks a task off, or reopens it (done=0). The task id is in
// the form, not the path, so that the route is one per case like the
// others.
func (s *Server) caseTaskDone(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.SetTaskDone(r.Context(), sc.user, r.PathValue("id"), f.Get("task"), f.Get("done") != "0")
	})
}

// caseContact records contact outside the hotline (a call, a meeting).
func (s *Server) caseContact(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.RecordContact(r.Context(), sc.user, r.PathValue("id"), r.PostForm.Get("note"))
	})
}

// caseExpenseAdd records an expense; the amount is typed in the major unit
// ("45.50") and stored in minor units.
func (s *Server) caseExpenseAdd(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	cur := strings.ToUpper(strings.TrimSpace(f.Get("currency")))
	date, err := dayField(f.Get("date"))
	if err != nil {
		return err
	}
	return s.caseAction(w, r, func() error {
		amount, err := cases.ParseAmount(f.Get("amount"), cur)
		if err != nil {
			return err
		}
		_, err = s.cfg.Cases.AddExpense(r.Context(), sc.user, r.PathValue("id"),
			cases.ExpenseInput{Category: f.Get("category"), Amount: amount, Currency: cur, Date: date, Note: f.Get("note")})
		return err
	})
}

type tasksView struct {
	Board  *cases.TaskBoard
	Alerts []cases.Alert
	Names  map[int64]string
}

// tasksPage is the overdue view: the viewer's tasks, every overdue task
// for coordinators, and the alerts the viewer may see.
func (s *Server) tasksPage(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	b, err := s.cfg.Cases.Tasks(r.Context(), sc.user)
	if err != nil {
		return caseProblem(err)
	}
	alerts, err := s.cfg.Cases.Alerts(r.Context(), sc.user, s.cfg.Alerts)
	if err != nil {
		return caseProblem(err)
	}
	names, err := s.userNames(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("tasks.title")
	p.Data = tasksView{Board: b, Alerts: alerts, Names: names}
	s.render(w, r, http.StatusOK, "tasks", p)
	return nil
}
