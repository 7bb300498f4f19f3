package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

// caseDuplicates is what the case page shows of the blind indexes: other
// cases' ids (a link each, which opens only for those with access) and
// the watch-list kinds the case matches. A failure here does not hide the
// case: the page shows it without the section.
func (s *Server) caseDuplicates(r *http.Request, id string) *cases.Duplicates {
	d, err := s.cfg.Cases.Duplicates(r.Context(), staffFrom(r).user, id)
	if err != nil {
		s.cfg.Logger.Error("duplicates failed", "route", r.Pattern)
		return nil
	}
	return d
}

// caseMerge merges the case named in the form ("from") into this one.
func (s *Server) caseMerge(w http.ResponseWriter, r *http.Request) error {
	from := strings.TrimSpace(r.PostForm.Get("from"))
	err := s.cfg.Cases.Merge(r.Context(), staffFrom(r).user, r.PathValue("id"), from)
	if errors.Is(err, cases.ErrNotFound) {
		return errNotFound
	}
	return s.caseAction(w, r, func() error { return err })
}

type watchView struct {
	Problem string
	Items   []cases.WatchItem
	Names   map[int64]string
	Kinds   []string
}

func (s *Server) watchList(w http.ResponseWriter, r *http.Request) error {
	return s.showWatchList(w, r, http.StatusOK, "")
}

func (s *Server) showWatchList(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	items, err := s.cfg.Cases.ListWatch(r.Context(), staffFrom(r).user)
	if err != nil {
		return caseProblem(err)
	}
	names, err := s.userNames(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("watch.title")
	p.Data = watchView{Problem: problem, Items: items, Names: names, Kinds: cases.WatchKinds()}
	s.render(w, r, status, "watchlist", p)
	return nil
}

func (s *Server) watchAdd(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	_, err := s.cfg.Cases.AddWatch(r.Context(), staffFrom(r).user, f.Get("kind"), f.Get("value"), f.Get("note"))
	switch {
	case errors.Is(err, cases.ErrWatchListed):
		return s.showWatchList(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("watch.already"))
	case errors.Is(err, cases.ErrInvalid):
		return s.showWatchList(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("watch.invalid"))
	case err != nil:
		return caseProblem(err)
	}
	return seeOther(w, r, "/admin/watchlist")
}

func (s *Server) watchDelete(w http.ResponseWriter, r *http.Request) error {
	err := s.cfg.Cases.DeleteWatch(r.Context(), staffFrom(r).user, r.PostForm.Get("id"))
	if errors.Is(err, cases.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return caseProblem(err)
	}
	return seeOther(w, r, "/admin/watchlist")
}

// caseNewIdentity reads the identifying fields the new-case form offers,
// so that duplicates show on the page the new case opens on.
func caseNewIdentity(r *http.Request) map[string]string {
	out := map[string]string{}
	for _, k := range []string{cases.FieldPhone, cases.FieldMessenger, cases.FieldEmail, cases.FieldBirthYear} {
		if v := strings.TrimSpace(r.PostForm.Get(k)); v != "" {
			out[k] = v
		}
	}
	return out
}

// requestDuplicates looks up a hotline request's contact answer: cases
// that share a phone number, handle or address with it.
func (s *Server) requestDuplicates(r *http.Request, u *store.User, contact string) *cases.Duplicates {
	if strings.TrimSpace(contact) == "" || !cases.CanOpen(u.Role) {
		return nil
	}
	d, err := s.cfg.Cases.DuplicatesOf(r.Context(), u, map[string]string{cases.FieldContact: contact})
	if err != nil {
		s.cfg.Logger.Error("duplicates failed", "route", r.Pattern)
		return nil
	}
	return d
}
