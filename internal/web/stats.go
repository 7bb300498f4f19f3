package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/stats"
	"github.com/corridor-org/corridor/internal/store"
)

// Statistics on the staff site: a case's consent to statistical use and
// its violation records (/cases/{id}/statistics), and the releases —
// preview, approve, publish — for coordinators (/statistics).

// stats returns the statistics service: the configured one, or one with
// the built-in configuration (cheap to make: the work is in releases).
func (s *Server) stats() (*stats.Service, error) {
	if s.cfg.Stats != nil {
		return s.cfg.Stats, nil
	}
	return stats.New(s.cfg.Store, s.cfg.Vault, s.cfg.Audit, s.cfg.Cases, nil, s.cfg.Now)
}

// statsProblem maps the statistics domain's refusals to what staff are
// told; the case domain's (forbidden, invalid, erased) as caseProblem does.
func statsProblem(err error) error {
	switch {
	case errors.Is(err, stats.ErrStale):
		return httpError(http.StatusConflict, "stats.stale", err)
	case errors.Is(err, stats.ErrNotApproved):
		return httpError(http.StatusUnprocessableEntity, "stats.not_approved", err)
	case errors.Is(err, stats.ErrNothing):
		return httpError(http.StatusUnprocessableEntity, "stats.nothing", err)
	case errors.Is(err, store.ErrConflict):
		return httpError(http.StatusConflict, "stats.stale", err)
	}
	return caseProblem(err)
}

type caseStatsView struct {
	CaseID  string
	V       *stats.CaseView
	Problem string
	Lang    string
	Month   string // default for the month field
}

func (s *Server) caseStats(w http.ResponseWriter, r *http.Request) error {
	return s.showCaseStats(w, r, http.StatusOK, "")
}

func (s *Server) showCaseStats(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	svc, err := s.stats()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	v, err := svc.Case(r.Context(), staffFrom(r).user, id)
	if err != nil {
		return caseProblem(err)
	}
	p := s.newPage(r)
	p.Title = p.L.T("stats.case_title", shortCaseID(id))
	p.Data = caseStatsView{CaseID: id, V: v, Problem: problem, Lang: p.L.Lang, Month: s.cfg.Now().UTC().Format("2006-01")}
	s.render(w, r, status, "stats_case", p)
	return nil
}

// caseStatsAction runs one POST on a case's statistics and returns to
// the page, or shows it again with what went wrong.
func (s *Server) caseStatsAction(w http.ResponseWriter, r *http.Request, do func(*stats.Service) error) error {
	svc, err := s.stats()
	if err != nil {
		return err
	}
	err = do(svc)
	if err == nil {
		return seeOther(w, r, "/cases/"+r.PathValue("id")+"/statistics")
	}
	if errors.Is(err, cases.ErrInvalid) {
		return s.showCaseStats(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("stats.invalid"))
	}
	return caseProblem(err)
}

func (s *Server) caseStatsConsent(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	return s.caseStatsAction(w, r, func(svc *stats.Service) error {
		if f.Get("action") == "withdraw" {
			return svc.WithdrawConsent(r.Context(), staffFrom(r).user, r.PathValue("id"))
		}
		return svc.RecordConsent(r.Context(), staffFrom(r).user, r.PathValue("id"), f.Get("method"))
	})
}

func (s *Server) caseViolationAdd(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	m, err := time.Parse("2006-01", f.Get("month"))
	if err != nil {
		return s.showCaseStatsInvalid(w, r)
	}
	return s.caseStatsAction(w, r, func(svc *stats.Service) error {
		_, err := svc.AddViolation(r.Context(), staffFrom(r).user, r.PathValue("id"), stats.ViolationInput{
			Type: f.Get("type"), Perpetrator: f.Get("perpetrator"), Region: f.Get("region"), Month: m, Note: f.Get("note")})
		return err
	})
}

// showCaseStatsInvalid answers a form that could not be read, once the
// actor is known to have access (the page itself checks).
func (s *Server) showCaseStatsInvalid(w http.ResponseWriter, r *http.Request) error {
	return s.showCaseStats(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("stats.invalid"))
}

func (s *Server) caseViolationDelete(w http.ResponseWriter, r *http.Request) error {
	return s.caseStatsAction(w, r, func(svc *stats.Service) error {
		return svc.DeleteViolation(r.Context(), staffFrom(r).user, r.PathValue("id"), r.PostForm.Get("violation"))
	})
}

type statsAdminView struct {
	Drafts   []*store.StatsDraft
	Releases []*store.StatsRelease
	Names    map[int64]string
	Cutoff   string
	Problem  string
}

// statsAdmin lists drafts and published releases, with the form that
// builds a new draft.
func (s *Server) statsAdmin(w http.ResponseWriter, r *http.Request) error {
	return s.showStatsAdmin(w, r, http.StatusOK, "")
}

func (s *Server) showStatsAdmin(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	svc, err := s.stats()
	if err != nil {
		return err
	}
	drafts, err := svc.Drafts(r.Context(), staffFrom(r).user)
	if err != nil {
		return statsProblem(err)
	}
	releases, err := svc.Releases(r.Context())
	if err != nil {
		return err
	}
	names, err := s.userNames(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("stats.admin_title")
	p.Data = statsAdminView{Drafts: drafts, Releases: releases, Names: names, Problem: problem,
		Cutoff: s.cfg.Now().UTC().Format(time.DateOnly)}
	s.render(w, r, status, "stats_admin", p)
	return nil
}

// statsPreview builds a draft. The cut-off is a day: records made before
// its end count (or now, for today).
func (s *Server) statsPreview(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.stats()
	if err != nil {
		return err
	}
	var cutoff time.Time
	if v := r.PostForm.Get("cutoff"); v != "" {
		day, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return s.showStatsAdmin(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("stats.invalid"))
		}
		cutoff = day.AddDate(0, 0, 1)
		if now := s.cfg.Now(); cutoff.After(now) {
			cutoff = now
		}
	}
	d, err := svc.Preview(r.Context(), staffFrom(r).user, cutoff)
	if err != nil {
		we := classify(statsProblem(err))
		if we.status == http.StatusUnprocessableEntity {
			return s.showStatsAdmin(w, r, we.status, s.newPage(r).L.T(we.key))
		}
		return we
	}
	return seeOther(w, r, "/statistics/draft?id="+d.ID)
}

func (s *Server) statsDraft(w http.ResponseWriter, r *http.Request) error {
	return s.showStatsDraft(w, r, http.StatusOK, "")
}

func (s *Server) showStatsDraft(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	svc, err := s.stats()
	if err != nil {
		return err
	}
	d, err := svc.Draft(r.Context(), staffFrom(r).user, draftID(r))
	if err != nil {
		return statsProblem(err)
	}
	names, err := s.userNames(r)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("stats.draft_title")
	v := s.releaseView(p, d.Release, "")
	v.Draft = &draftInfo{ID: d.ID, CreatedAt: d.CreatedAt, CreatedBy: names[d.CreatedBy], Approved: !d.ApprovedAt.IsZero(),
		ApprovedBy: names[d.ApprovedBy], Problem: problem}
	p.Data = v
	s.render(w, r, status, "stats", p)
	return nil
}

// draftID is the draft a request is about: ?id= on the page, the form's
// "draft" on its actions (the routes need no path parameter).
func draftID(r *http.Request) string {
	if r.Method == http.MethodPost {
		return r.PostForm.Get("draft")
	}
	return r.URL.Query().Get("id")
}

// statsDraftAction runs approve, publish or discard.
func (s *Server) statsDraftAction(w http.ResponseWriter, r *http.Request, do func(*stats.Service) (string, error)) error {
	svc, err := s.stats()
	if err != nil {
		return err
	}
	to, err := do(svc)
	if err == nil {
		return seeOther(w, r, to)
	}
	we := classify(statsProblem(err))
	if we.status == http.StatusUnprocessableEntity || we.status == http.StatusConflict {
		return s.showStatsDraft(w, r, we.status, s.newPage(r).L.T(we.key))
	}
	return we
}

func (s *Server) statsApprove(w http.ResponseWriter, r *http.Request) error {
	return s.statsDraftAction(w, r, func(svc *stats.Service) (string, error) {
		id := draftID(r)
		return "/statistics/draft?id=" + id, svc.Approve(r.Context(), staffFrom(r).user, id)
	})
}

func (s *Server) statsPublish(w http.ResponseWriter, r *http.Request) error {
	return s.statsDraftAction(w, r, func(svc *stats.Service) (string, error) {
		_, err := svc.Publish(r.Context(), staffFrom(r).user, draftID(r))
		return "/statistics", err
	})
}

func (s *Server) statsDiscard(w http.ResponseWriter, r *http.Request) error {
	return s.statsDraftAction(w, r, func(svc *stats.Service) (string, error) {
		return "/statistics", svc.Discard(r.Context(), staffFrom(r).user, draftID(r))
	})
}
