package web

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/store"
)

// caseFields are the fields the case page offers per sensitivity class.
// Sections are stored as field → text, so adding a field here needs no
// migration.
var caseFields = map[string][]string{
	cases.ClassIdentity:  {"name", "aliases", "birth_year", "phone", "messenger", "email", "languages", "contact"},
	cases.ClassLocation:  {"current_region", "home_region", "location"},
	cases.ClassTestimony: {"account", "what_happened", "urgency"},
	cases.ClassLogistics: {"plan", "route", "needs"},
	cases.ClassMedical:   {"needs"},
	cases.ClassFinance:   {"notes"},
}

var caseClasses = []string{cases.ClassIdentity, cases.ClassLocation, cases.ClassTestimony, cases.ClassLogistics, cases.ClassMedical, cases.ClassFinance}

const casePageSize = 50

type casesView struct {
	Cases    []*store.Case
	Names    map[int64]string
	Stages   []cases.Stage
	Stage    string
	Mine     bool
	Page     int
	Pages    int
	Total    int
	Workflow *cases.Workflow
}

func (s *Server) caseList(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	f := cases.ListFilter{Stage: q.Get("stage"), Mine: q.Get("mine") == "1", Page: page, PerPage: casePageSize}
	if f.Stage != "" && s.cfg.Cases.Workflow().Stage(f.Stage) == nil {
		return errNotFound
	}
	list, total, err := s.cfg.Cases.List(r.Context(), sc.user, f)
	if err != nil {
		return err
	}
	names, err := s.userNames(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("cases.title")
	p.Data = casesView{Cases: list, Names: names, Stages: s.cfg.Cases.Workflow().Stages(), Stage: f.Stage, Mine: f.Mine,
		Page: page, Pages: max((total+casePageSize-1)/casePageSize, 1), Total: total, Workflow: s.cfg.Cases.Workflow()}
	s.render(w, r, http.StatusOK, "cases", p)
	return nil
}

// caseFromRequest opens a case from a hotline request: the request's
// answers are copied into the case's sections by the class the form gives
// each question, under the case's own key.
func (s *Server) caseFromRequest(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	t, err := s.cfg.Intake.StaffThread(r.Context(), sc.user, r.PathValue("id"))
	if err != nil {
		return err
	}
	form := s.cfg.Intake.Form()
	sections := map[string]map[string]string{}
	for id, vals := range t.Answers {
		class := cases.ClassTestimony
		q := form.Question(id)
		if q != nil {
			class = q.Class
		}
		texts := vals
		if q != nil {
			texts = nil
			for _, v := range vals {
				texts = append(texts, q.OptionLabel(v, "en"))
			}
		}
		if sections[class] == nil {
			sections[class] = map[string]string{}
		}
		sections[class][id] = strings.Join(texts, ", ")
	}
	c, err := s.cfg.Cases.Open(r.Context(), sc.user, cases.OpenInput{RequestID: t.Request.ID, Sections: sections})
	var open *cases.AlreadyOpenError
	if errors.As(err, &open) {
		return seeOther(w, r, "/cases/"+open.CaseID)
	}
	if err != nil {
		return err
	}
	return seeOther(w, r, "/cases/"+c.ID)
}

func (s *Server) caseNew(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	name := strings.TrimSpace(r.PostForm.Get("name"))
	sections := map[string]map[string]string{}
	if name != "" {
		sections[cases.ClassIdentity] = map[string]string{"name": name}
	}
	if more := caseNewIdentity(r); len(more) > 0 {
		if sections[cases.ClassIdentity] == nil {
			sections[cases.ClassIdentity] = map[string]string{}
		}
		maps.Copy(sections[cases.ClassIdentity], more)
	}
	if note := strings.TrimSpace(r.PostForm.Get("account")); note != "" {
		sections[cases.ClassTestimony] = map[string]string{"account": note}
	}
	c, err := s.cfg.Cases.Open(r.Context(), sc.user, cases.OpenInput{Sections: sections})
	if err != nil {
		return caseProblem(err)
	}
	return seeOther(w, r, "/cases/"+c.ID)
}

type sectionView struct {
	Class    string
	Fields   []fieldView
	Withheld string // "", "role" or "unverified"
	Writable bool
}

type fieldView struct {
	Name, Value string
}

type caseView struct {
	V          *cases.View
	Workflow   *cases.Workflow
	Sections   []sectionView
	Names      map[int64]string
	Users      []assignee
	CanManage  bool
	Threads    []caseThread // every conversation of the case, in order
	Form       *intake.Form // to label the answers of each request
	Factors    []string
	Problem    string
	NeedsGlass bool
	CaseID     string
	Dups       *cases.Duplicates // other cases sharing identifiers, and the watch list
	Logistics  *cases.LogisticsView
	Summary    *cases.Summary // for a manager without access
	Work       *cases.Work    // tasks and expenses
	Categories []string
	Referrals  *cases.ReferralsView // consents and referrals
	Evidence   *caseEvidence        // nil: not shown (evidence.go)
}

func (s *Server) caseView(w http.ResponseWriter, r *http.Request) error {
	return s.showCase(w, r, http.StatusOK, "")
}

func (s *Server) showCase(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	sc := staffFrom(r)
	id := r.PathValue("id")
	p := s.newPage(r)
	views, err := s.cfg.Staff.List(r.Context())
	if err != nil {
		return err
	}
	names := map[int64]string{}
	var users []assignee
	for _, v := range views {
		names[v.User.ID] = v.Username
		// Nobody assigns or shares a case to themselves: that would
		// bypass break-glass (the domain refuses it too).
		if !v.User.Disabled && v.User.ID != sc.user.ID {
			users = append(users, assignee{v.User.ID, v.Username})
		}
	}
	manage := sc.user.Role == store.RoleAdmin || sc.user.Role == store.RoleCoordinator
	v, err := s.cfg.Cases.View(r.Context(), sc.user, id)
	if errors.Is(err, cases.ErrForbidden) && manage {
		// Coordinators see the case's clear metadata and may dispatch it
		// (assign, share) without reading it; reading takes breaking the
		// glass with a stated reason.
		sum, err := s.cfg.Cases.Summarise(r.Context(), sc.user, id)
		if err != nil {
			return caseProblem(err)
		}
		p.Title = p.L.T("cases.view_title", shortCaseID(id))
		p.Data = caseView{NeedsGlass: true, CaseID: id, Problem: problem, Summary: sum, Names: names, Users: users,
			CanManage: true, Workflow: s.cfg.Cases.Workflow()}
		s.render(w, r, http.StatusForbidden, "case", p)
		return nil
	}
	if err != nil {
		return caseProblem(err)
	}
	cv := caseView{V: v, Workflow: s.cfg.Cases.Workflow(), Names: names, Users: users, CanManage: manage,
		Factors: cases.RiskFactors(), Problem: problem, CaseID: id}
	for _, class := range caseClasses {
		sv := sectionView{Class: class, Withheld: v.Withheld[class]}
		if sv.Withheld == "" {
			sv.Writable = true
			vals := v.Sections[class]
			known := caseFields[class]
			for _, f := range known {
				sv.Fields = append(sv.Fields, fieldView{f, vals[f]})
			}
			var extra []string
			for f := range vals {
				if !slices.Contains(known, f) {
					extra = append(extra, f)
				}
			}
			slices.Sort(extra)
			for _, f := range extra {
				sv.Fields = append(sv.Fields, fieldView{f, vals[f]})
			}
		}
		cv.Sections = append(cv.Sections, sv)
	}
	if v.Withheld[cases.ClassTestimony] == "" {
		// The conversations with the people continue on the case page;
		// each is read (and audited) by the hotline's own rules.
		ids, err := s.cfg.Cases.Conversations(r.Context(), sc.user, id)
		if err != nil {
			return caseProblem(err)
		}
		cv.Form = s.cfg.Intake.Form()
		for i, rid := range ids {
			ct := caseThread{N: i + 1, RequestID: rid}
			t, err := s.cfg.Intake.StaffThread(r.Context(), sc.user, rid)
			switch {
			case err == nil:
				ct.Thread = t
			case errors.Is(err, intake.ErrForbidden):
				ct.Forbidden = true
			default:
				return err
			}
			cv.Threads = append(cv.Threads, ct)
		}
		if cv.Evidence, err = s.caseEvidence(r, sc.user, id, ids); err != nil {
			return evidenceProblem(err)
		}
	}
	if cv.Logistics, err = s.cfg.Cases.Logistics(r.Context(), sc.user, id); err != nil {
		return caseProblem(err)
	}
	if cv.Work, err = s.cfg.Cases.Work(r.Context(), sc.user, id); err != nil {
		return caseProblem(err)
	}
	cv.Categories = cases.Categories()
	cv.Dups = s.caseDuplicates(r, id)
	if cv.Referrals, err = s.cfg.Cases.Referrals(r.Context(), sc.user, id); err != nil {
		return caseProblem(err)
	}
	p.Title = p.L.T("cases.view_title", shortCaseID(id))
	p.Data = cv
	s.render(w, r, status, "case", p)
	return nil
}

func shortCaseID(id string) string {
	if len(id) > 9 {
		return id[:9]
	}
	return id
}

// caseProblem maps domain refusals to what the person is told.
func caseProblem(err error) error {
	var missing *cases.MissingError
	switch {
	case errors.As(err, &missing):
		return httpError(http.StatusUnprocessableEntity, "cases.missing", err)
	case errors.Is(err, cases.ErrForbidden):
		return httpError(http.StatusForbidden, "error.forbidden", err)
	case errors.Is(err, cases.ErrErased):
		return httpError(http.StatusGone, "cases.erased", err)
	case errors.Is(err, cases.ErrTransition):
		return httpError(http.StatusUnprocessableEntity, "cases.bad_transition", err)
	case errors.Is(err, cases.ErrInvalid):
		return httpError(http.StatusUnprocessableEntity, "cases.invalid", err)
	}
	return err
}

// caseAction runs one POST on a case and returns to its page, or shows
// the page again with what went wrong.
func (s *Server) caseAction(w http.ResponseWriter, r *http.Request, do func() error) error {
	err := do()
	if err == nil {
		return seeOther(w, r, "/cases/"+r.PathValue("id"))
	}
	we := classify(caseProblem(err))
	if we.status == http.StatusUnprocessableEntity {
		return s.showCase(w, r, we.status, s.newPage(r).L.T(we.key))
	}
	return we
}

func (s *Server) caseMove(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.Move(r.Context(), sc.user, r.PathValue("id"), f.Get("to"), f.Get("close_reason"), f.Get("reason"))
	})
}

func (s *Server) caseRisk(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	level, err := strconv.Atoi(f.Get("level"))
	if err != nil {
		return badForm(err)
	}
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.SetRisk(r.Context(), sc.user, r.PathValue("id"), level, f["factor"])
	})
}

func (s *Server) caseVerify(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	c := cases.Checklist{Interview: f.Get("interview") == "on", References: f.Get("references") == "on", Documents: f.Get("documents") == "on"}
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.RecordVerification(r.Context(), sc.user, r.PathValue("id"), c, f.Get("note"))
	})
}

func (s *Server) caseFlag(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.Flag(r.Context(), sc.user, r.PathValue("id"), f.Get("flagged") == "1", f.Get("note"))
	})
}

func (s *Server) caseSection(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	class := r.PathValue("class")
	if !slices.Contains(caseClasses, class) {
		return errNotFound
	}
	fields := map[string]string{}
	for k, v := range f {
		if name, ok := strings.CutPrefix(k, "f_"); ok && len(v) > 0 {
			fields[name] = strings.TrimSpace(v[0])
		}
	}
	if n := strings.TrimSpace(f.Get("new_name")); n != "" {
		fields[n] = strings.TrimSpace(f.Get("new_value"))
	}
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.UpdateSection(r.Context(), sc.user, r.PathValue("id"), class, fields)
	})
}

func (s *Server) caseNote(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.AddNote(r.Context(), sc.user, r.PathValue("id"), f.Get("class"), f.Get("text"))
	})
}

// caseThread is one conversation on the case page.
type caseThread struct {
	N         int
	RequestID string
	Thread    *intake.Thread
	Forbidden bool // the hotline's rules do not let the viewer read it
}

func (s *Server) caseReply(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	ids, err := s.cfg.Cases.Conversations(r.Context(), sc.user, r.PathValue("id"))
	if err != nil {
		return caseProblem(err)
	}
	rid := r.PostForm.Get("request")
	if rid == "" && len(ids) > 0 {
		rid = ids[0]
	}
	if !slices.Contains(ids, rid) {
		return errNotFound
	}
	return s.caseAction(w, r, func() error {
		return s.cfg.Intake.Reply(r.Context(), sc.user, rid, r.PostForm.Get("body"))
	})
}

// caseLinkRequest adds a request's conversation to a case, from the case
// page (field "request") or from the request page (field "case").
func (s *Server) caseLinkRequest(w http.ResponseWriter, r *http.Request) error {
	caseID := r.PathValue("id")
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.LinkRequest(r.Context(), staffFrom(r).user, caseID, strings.TrimSpace(r.PostForm.Get("request")))
	})
}

func (s *Server) requestLinkCase(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	// Reading the request first: only someone who may read it may file it
	// into a case.
	if _, err := s.cfg.Intake.StaffThread(r.Context(), sc.user, r.PathValue("id")); err != nil {
		return err
	}
	caseID := strings.TrimSpace(r.PostForm.Get("case"))
	if err := s.cfg.Cases.LinkRequest(r.Context(), sc.user, caseID, r.PathValue("id")); err != nil {
		return caseProblem(err)
	}
	return seeOther(w, r, "/cases/"+caseID)
}

func formUserID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PostForm.Get("user"), 10, 64)
	if err != nil || id < 0 {
		return 0, badForm(err)
	}
	return id, nil
}

func (s *Server) caseAssign(w http.ResponseWriter, r *http.Request) error {
	uid, err := formUserID(r)
	if err != nil {
		return err
	}
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.Assign(r.Context(), staffFrom(r).user, r.PathValue("id"), uid)
	})
}

func (s *Server) caseShare(w http.ResponseWriter, r *http.Request) error {
	uid, err := formUserID(r)
	if err != nil {
		return err
	}
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.Share(r.Context(), staffFrom(r).user, r.PathValue("id"), uid)
	})
}

func (s *Server) caseUnshare(w http.ResponseWriter, r *http.Request) error {
	uid, err := formUserID(r)
	if err != nil {
		return err
	}
	return s.caseAction(w, r, func() error {
		return s.cfg.Cases.Unshare(r.Context(), staffFrom(r).user, r.PathValue("id"), uid)
	})
}

func (s *Server) caseBreakGlass(w http.ResponseWriter, r *http.Request) error {
	err := s.cfg.Cases.BreakGlass(r.Context(), staffFrom(r).user, r.PathValue("id"), r.PostForm.Get("reason"))
	if errors.Is(err, cases.ErrInvalid) {
		p := s.newPage(r)
		p.Title = p.L.T("cases.view_title", shortCaseID(r.PathValue("id")))
		p.Data = caseView{NeedsGlass: true, CaseID: r.PathValue("id"), Problem: p.L.T("cases.glass_reason")}
		s.render(w, r, http.StatusUnprocessableEntity, "case", p)
		return nil
	}
	if err != nil {
		return caseProblem(err)
	}
	return seeOther(w, r, "/cases/"+r.PathValue("id"))
}

func (s *Server) caseErase(w http.ResponseWriter, r *http.Request) error {
	if r.PostForm.Get("confirm") != "ERASE" {
		return s.showCase(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("cases.erase_confirm"))
	}
	err := s.cfg.Cases.Erase(r.Context(), staffFrom(r).user, r.PathValue("id"), r.PostForm.Get("reason"))
	if err != nil {
		return caseProblem(err)
	}
	return seeOther(w, r, "/cases?erased=1")
}

type dashboardView struct {
	Overdue  int // overdue tasks across all cases
	D        *cases.Dashboard
	Workflow *cases.Workflow
	Alerts   []cases.Alert
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) error {
	d, err := s.cfg.Cases.Dashboard(r.Context())
	if err != nil {
		return err
	}
	if err := s.cfg.Audit.Record(r.Context(), staffFrom(r).user.ID, "dashboard.read", "dashboard"); err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("dashboard.title")
	alerts, err := s.cfg.Cases.Alerts(r.Context(), staffFrom(r).user, s.cfg.Alerts)
	if err != nil {
		return caseProblem(err)
	}
	board, err := s.cfg.Cases.Tasks(r.Context(), staffFrom(r).user)
	if err != nil {
		return caseProblem(err)
	}
	p.Data = dashboardView{D: d, Workflow: s.cfg.Cases.Workflow(), Alerts: alerts, Overdue: len(board.Overdue)}
	s.render(w, r, http.StatusOK, "dashboard", p)
	return nil
}
