package web

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/store"
)

const inboxPageSize = 50

type inboxView struct {
	Items      []intake.InboxItem
	Names      map[int64]string
	Status     string
	Page       int
	Pages      int
	Total      int
	Statuses   []string
	UrgencyKey []string
}

var urgencyKeys = []string{"urgency.0", "urgency.1", "urgency.2", "urgency.3"}

func (s *Server) userNames(r *http.Request) (map[int64]string, error) {
	views, err := s.cfg.Staff.List(r.Context())
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, v := range views {
		names[v.User.ID] = v.Username
	}
	return names, nil
}

func (s *Server) inbox(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	status := r.URL.Query().Get("status")
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	items, total, err := s.cfg.Intake.Inbox(r.Context(), sc.user, status, page, inboxPageSize)
	if errors.Is(err, intake.ErrInvalid) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	names, err := s.userNames(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("inbox.title")
	p.Data = inboxView{
		Items: items, Names: names, Status: status, Page: page, Total: total,
		Pages:    max((total+inboxPageSize-1)/inboxPageSize, 1),
		Statuses: []string{store.StatusNew, store.StatusInProgress, store.StatusClosed}, UrgencyKey: urgencyKeys,
	}
	s.render(w, r, http.StatusOK, "inbox", p)
	return nil
}

type answerView struct {
	Label  string
	Values []string
}

type requestPage struct {
	Thread     *intake.Thread
	Answers    []answerView
	Names      map[int64]string
	Assignees  []assignee
	CanAssign  bool
	Statuses   []string
	UrgencyKey []string
	Problem    string
	Draft      string
	Dups       *cases.Duplicates // cases sharing the contact answer's identifiers
	Evidence   *caseEvidence     // what the person sent (evidence.go); nil: not shown
}

type assignee struct {
	ID   int64
	Name string
}

func (s *Server) requestView(w http.ResponseWriter, r *http.Request) error {
	return s.showRequest(w, r, http.StatusOK, "", "")
}

func (s *Server) showRequest(w http.ResponseWriter, r *http.Request, status int, problem, draft string) error {
	sc := staffFrom(r)
	t, err := s.cfg.Intake.StaffThread(r.Context(), sc.user, r.PathValue("id"))
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("request.view_title", t.Request.ID[:9])
	form := s.cfg.Intake.Form()
	var answers []answerView
	for _, q := range form.Questions {
		vals := t.Answers[q.ID]
		if len(vals) == 0 {
			continue
		}
		av := answerView{Label: q.Label.In(p.L.Lang)}
		for _, v := range vals {
			av.Values = append(av.Values, q.OptionLabel(v, p.L.Lang))
		}
		answers = append(answers, av)
	}
	// Answers to questions since removed from the form are still shown,
	// under their id: editing the form must not hide what a person said.
	var gone []string
	for id := range t.Answers {
		if form.Question(id) == nil {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		answers = append(answers, answerView{Label: id, Values: t.Answers[id]})
	}
	views, err := s.cfg.Staff.List(r.Context())
	if err != nil {
		return err
	}
	names := map[int64]string{}
	var assignees []assignee
	for _, v := range views {
		names[v.User.ID] = v.Username
		if !v.User.Disabled && intake.Assignable(v.User.Role) {
			assignees = append(assignees, assignee{v.User.ID, v.Username})
		}
	}
	sent, err := s.requestEvidence(r, sc.user, t.Request.ID)
	if err != nil {
		return evidenceProblem(err)
	}
	p.Data = requestPage{
		Evidence: sent, Thread: t, Answers: answers, Names: names, Assignees: assignees, CanAssign: intake.CanAssign(sc.user.Role),
		Statuses: []string{store.StatusNew, store.StatusInProgress, store.StatusClosed}, UrgencyKey: urgencyKeys,
		Problem: problem, Draft: draft,
		Dups: s.requestDuplicates(r, sc.user, strings.Join(t.Answers[cases.FieldContact], "\n")),
	}
	s.render(w, r, status, "request_view", p)
	return nil
}

func (s *Server) requestReply(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	id := r.PathValue("id")
	body := r.PostForm.Get("body")
	err := s.cfg.Intake.Reply(r.Context(), sc.user, id, body)
	switch {
	case errors.Is(err, intake.ErrEmptyMessage):
		return s.showRequest(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("conversation.empty"), body)
	case errors.Is(err, intake.ErrMessageTooLong):
		return s.showRequest(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("conversation.too_long"), body)
	case errors.Is(err, intake.ErrInvalid):
		return s.showRequest(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("request.closed_no_reply"), body)
	case err != nil:
		return err
	}
	return seeOther(w, r, "/requests/"+id+"#latest")
}

func (s *Server) requestStatus(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	id := r.PathValue("id")
	err := s.cfg.Intake.SetStatus(r.Context(), sc.user, id, r.PostForm.Get("status"))
	if errors.Is(err, intake.ErrInvalid) {
		return badForm(err)
	}
	if err != nil {
		return err
	}
	return seeOther(w, r, "/requests/"+id)
}

func (s *Server) requestAssign(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	id := r.PathValue("id")
	uid, err := strconv.ParseInt(r.PostForm.Get("user"), 10, 64)
	if err != nil || uid < 0 {
		return badForm(err)
	}
	err = s.cfg.Intake.Assign(r.Context(), sc.user, id, uid)
	if errors.Is(err, intake.ErrInvalid) {
		return s.showRequest(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("request.bad_assignee"), "")
	}
	if err != nil {
		return err
	}
	return seeOther(w, r, "/requests/"+id)
}
