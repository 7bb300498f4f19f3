package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
)

// Safe houses, placements, documents, visas and trips: the /houses pages
// and the case page's logistics forms. What a viewer is shown (an address
// to logistics only) is decided by the domain; these handlers only parse
// forms and pick the page.

type housesView struct {
	Houses  []cases.HouseView
	Problem string
}

func (s *Server) houseList(w http.ResponseWriter, r *http.Request) error {
	return s.showHouses(w, r, http.StatusOK, "")
}

func (s *Server) showHouses(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	list, err := s.cfg.Cases.Houses(r.Context(), staffFrom(r).user)
	if err != nil {
		return caseProblem(err)
	}
	p := s.newPage(r)
	p.Title = p.L.T("houses.title")
	p.Data = housesView{Houses: list, Problem: problem}
	s.render(w, r, status, "houses", p)
	return nil
}

// houseForm reads the create and edit form.
func houseForm(r *http.Request) (cases.HouseInput, error) {
	f := r.PostForm
	capacity, err := strconv.Atoi(strings.TrimSpace(f.Get("capacity")))
	if err != nil {
		return cases.HouseInput{}, fmt.Errorf("%w: capacity is a number", cases.ErrInvalid)
	}
	return cases.HouseInput{
		Code: strings.TrimSpace(f.Get("code")), City: f.Get("city"), Address: f.Get("address"),
		Capacity: capacity, Active: f.Get("active") == "on",
	}, nil
}

// houseProblem is the message for a refused house form, or "" when err is
// not the person's to fix.
func houseProblem(p *page, err error) string {
	switch {
	case errors.Is(err, cases.ErrHouseCode):
		return p.L.T("houses.code_taken")
	case errors.Is(err, cases.ErrInvalid):
		return p.L.T("houses.invalid")
	}
	return ""
}

func (s *Server) houseCreate(w http.ResponseWriter, r *http.Request) error {
	in, err := houseForm(r)
	if err == nil {
		created, cerr := s.cfg.Cases.CreateHouse(r.Context(), staffFrom(r).user, in)
		if cerr == nil {
			return seeOther(w, r, "/houses/"+created.ID)
		}
		err = cerr
	}
	if msg := houseProblem(s.newPage(r), err); msg != "" {
		return s.showHouses(w, r, http.StatusUnprocessableEntity, msg)
	}
	return caseProblem(err)
}

type houseView struct {
	H           *cases.HouseView
	SeesAddress bool
	Problem     string
}

func (s *Server) houseView(w http.ResponseWriter, r *http.Request) error {
	return s.showHouse(w, r, http.StatusOK, "")
}

func (s *Server) showHouse(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	sc := staffFrom(r)
	h, err := s.cfg.Cases.House(r.Context(), sc.user, r.PathValue("id"))
	if err != nil {
		return caseProblem(err)
	}
	p := s.newPage(r)
	p.Title = p.L.T("houses.view_title", h.Code)
	p.Data = houseView{H: h, SeesAddress: cases.CanSeeAddress(sc.user.Role), Problem: problem}
	s.render(w, r, status, "house", p)
	return nil
}

func (s *Server) houseUpdate(w http.ResponseWriter, r *http.Request) error {
	in, err := houseForm(r)
	if err == nil {
		err = s.cfg.Cases.UpdateHouse(r.Context(), staffFrom(r).user, r.PathValue("id"), in)
		if err == nil {
			return seeOther(w, r, "/houses/"+r.PathValue("id"))
		}
	}
	if msg := houseProblem(s.newPage(r), err); msg != "" && !errors.Is(err, cases.ErrNoHouse) {
		return s.showHouse(w, r, http.StatusUnprocessableEntity, msg)
	}
	return caseProblem(err)
}

// logisticsAction runs one logistics POST on a case and returns to its
// page, or shows the page again with a message that says what to do.
func (s *Server) logisticsAction(w http.ResponseWriter, r *http.Request, do func() error) error {
	err := do()
	key := ""
	switch {
	case err == nil:
		return seeOther(w, r, "/cases/"+r.PathValue("id"))
	case errors.Is(err, cases.ErrUnverified):
		// Checked after the role: only those who could act once the
		// case is verified get this far.
		key = "logistics.unverified"
	case errors.Is(err, cases.ErrHouseFull):
		key = "houses.full"
	case errors.Is(err, cases.ErrHouseInactive):
		key = "houses.inactive"
	case errors.Is(err, cases.ErrNoHouse):
		key = "houses.none"
	}
	if key != "" {
		return s.showCase(w, r, http.StatusUnprocessableEntity, s.newPage(r).L.T(key))
	}
	return s.caseAction(w, r, func() error { return err })
}

// formDate reads a YYYY-MM-DD date (UTC midnight); "" is the zero time.
func formDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: dates are YYYY-MM-DD", cases.ErrInvalid)
	}
	return t, nil
}

func (s *Server) casePlace(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	return s.logisticsAction(w, r, func() error {
		from, err := formDate(f.Get("from"))
		if err != nil {
			return err
		}
		until, err := formDate(f.Get("until"))
		if err != nil {
			return err
		}
		_, err = s.cfg.Cases.Place(r.Context(), sc.user, r.PathValue("id"), f.Get("house"), from, until)
		return err
	})
}

func (s *Server) casePlaceEnd(w http.ResponseWriter, r *http.Request) error {
	sc := staffFrom(r)
	return s.logisticsAction(w, r, func() error {
		return s.cfg.Cases.EndPlacement(r.Context(), sc.user, r.PathValue("id"), r.PostForm.Get("placement"))
	})
}

func (s *Server) caseRecord(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	in := cases.RecordInput{Kind: f.Get("kind"), Status: f.Get("status"), Body: cases.RecordBody{
		DocType: f.Get("doc_type"), Country: f.Get("country"), Programme: f.Get("programme"),
		Submitted: f.Get("submitted"), Decided: f.Get("decided"), Decision: f.Get("decision"),
		Partner: f.Get("partner"), Note: f.Get("note"),
		Name: f.Get("name"), BirthYear: f.Get("birth_year"), Relation: f.Get("relation"), Contact: f.Get("contact"),
		PartnerID: f.Get("partner_id"), AttType: f.Get("att_type"), Date: f.Get("date"),
	}}
	for i := range cases.MaxLegs {
		n := strconv.Itoa(i)
		if f.Get("leg_from_"+n) == "" && f.Get("leg_to_"+n) == "" {
			continue
		}
		in.Body.Legs = append(in.Body.Legs, cases.Leg{From: f.Get("leg_from_" + n), To: f.Get("leg_to_" + n),
			Date: f.Get("leg_date_" + n), Mode: f.Get("leg_mode_" + n)})
	}
	return s.logisticsAction(w, r, func() error {
		_, err := s.cfg.Cases.AddRecord(r.Context(), sc.user, r.PathValue("id"), in)
		return err
	})
}

func (s *Server) caseRecordStatus(w http.ResponseWriter, r *http.Request) error {
	sc, f := staffFrom(r), r.PostForm
	return s.logisticsAction(w, r, func() error {
		return s.cfg.Cases.SetRecordStatus(r.Context(), sc.user, r.PathValue("id"), f.Get("record"), f.Get("status"), f.Get("decision"))
	})
}
