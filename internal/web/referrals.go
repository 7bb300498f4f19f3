package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/store"
)

type partnersView struct {
	Partners []cases.Partner
	Problem  string
}

// partnerList is the partner organisations page (admins, coordinators).
func (s *Server) partnerList(w http.ResponseWriter, r *http.Request) error {
	return s.showPartners(w, r, http.StatusOK, "")
}

func (s *Server) showPartners(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	list, err := s.cfg.Cases.Partners(r.Context(), staffFrom(r).user)
	if err != nil {
		return caseProblem(err)
	}
	p := s.newPage(r)
	p.Title = p.L.T("partners.title")
	p.Data = partnersView{Partners: list, Problem: problem}
	s.render(w, r, status, "partners", p)
	return nil
}

// partnerCreate registers a partner: name, country, age public key.
func (s *Server) partnerCreate(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	_, err := s.cfg.Cases.CreatePartner(r.Context(), staffFrom(r).user,
		cases.PartnerInput{Name: f.Get("name"), Country: f.Get("country"), Recipient: f.Get("recipient")})
	if err == nil {
		return seeOther(w, r, "/partners")
	}
	if errors.Is(err, cases.ErrInvalid) {
		return s.showPartners(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("partners.invalid"))
	}
	return caseProblem(err)
}

// partnerActive takes a partner out of use (active=0) or back in. The
// partner id is in the form, so that the route needs no path parameter.
func (s *Server) partnerActive(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	err := s.cfg.Cases.SetPartnerActive(r.Context(), staffFrom(r).user, f.Get("partner"), f.Get("active") == "1")
	switch {
	case err == nil:
		return seeOther(w, r, "/partners")
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	}
	return caseProblem(err)
}

// referralAction is caseAction with the refusal of a referral without
// consent spelt out: staff must be told plainly why, on the case page, not
// given a bare "forbidden".
func (s *Server) referralAction(w http.ResponseWriter, r *http.Request, do func() error) error {
	var refused bool
	err := s.caseAction(w, r, func() error {
		err := do()
		refused = errors.Is(err, cases.ErrNoConsent)
		return err
	})
	if refused {
		return s.showCase(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T("referrals.no_consent"))
	}
	return err
}

// caseConsent records the person's consent: partner, sections, until
// (a day, inclusive), how it was given, a note.
func (s *Server) caseConsent(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	until, err := dayField(f.Get("until"))
	if err != nil {
		return err
	}
	if !until.IsZero() {
		// Consent given "until the 5th" holds through the 5th (UTC).
		until = until.AddDate(0, 0, 1).Add(-time.Microsecond)
	}
	in := cases.ConsentInput{PartnerID: f.Get("partner"), Classes: f["class"], Until: until,
		Method: f.Get("method"), Note: f.Get("note")}
	return s.referralAction(w, r, func() error {
		_, err := s.cfg.Cases.RecordConsent(r.Context(), sc.user, r.PathValue("id"), in)
		return err
	})
}

func (s *Server) caseConsentWithdraw(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	return s.referralAction(w, r, func() error {
		return s.cfg.Cases.WithdrawConsent(r.Context(), sc.user, r.PathValue("id"), f.Get("consent"), f.Get("reason"))
	})
}

func (s *Server) caseReferralCreate(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	return s.referralAction(w, r, func() error {
		_, err := s.cfg.Cases.CreateReferral(r.Context(), sc.user, r.PathValue("id"),
			cases.ReferralInput{PartnerID: f.Get("partner"), Classes: f["class"]})
		return err
	})
}

func (s *Server) caseReferralStatus(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	return s.referralAction(w, r, func() error {
		return s.cfg.Cases.SetReferralStatus(r.Context(), sc.user, r.PathValue("id"), f.Get("referral"), f.Get("status"))
	})
}

// caseReferralDownload sends a referral's sealed package as a .age file,
// never cached: staff pass it on to the partner over a safe channel.
func (s *Server) caseReferralDownload(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.cfg.Cases.DownloadReferral(r.Context(), staffFrom(r).user, r.PathValue("id"), r.URL.Query().Get("ref"))
	if errors.Is(err, cases.ErrNoReferral) {
		return errNotFound
	}
	if err != nil {
		return caseProblem(err)
	}
	h := w.Header()
	h.Set("Content-Type", cases.PackageMediaType)
	h.Set("Content-Disposition", `attachment; filename="referral-`+ref.ID+cases.PackageFileSuffix+`"`)
	h.Set("Cache-Control", "no-store, max-age=0")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(ref.Package)
	return nil
}
