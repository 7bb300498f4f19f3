package web

import (
	"bytes"
	"net/http"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
)

type donorsView struct {
	R          *cases.DonorReport
	From, To   string
	Categories []string
}

// reportPeriod reads from/to (yyyy-mm-dd, both days included); without
// them, the current calendar year so far.
func (s *Server) reportPeriod(r *http.Request) (from, to time.Time, err error) {
	now := s.cfg.Now().UTC()
	q := r.URL.Query()
	if from, err = dayField(q.Get("from")); err != nil {
		return from, to, err
	}
	if to, err = dayField(q.Get("to")); err != nil {
		return from, to, err
	}
	if from.IsZero() {
		from = time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if to.IsZero() {
		to = now
	}
	return from, to, nil
}

func (s *Server) donorReport(w http.ResponseWriter, r *http.Request) error {
	from, to, err := s.reportPeriod(r)
	if err != nil {
		return err
	}
	rep, err := s.cfg.Cases.DonorReport(r.Context(), staffFrom(r).user, from, to)
	if err != nil {
		return caseProblem(err)
	}
	p := s.newPage(r)
	p.Title = p.L.T("donors.title")
	p.Data = donorsView{R: rep, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), Categories: cases.Categories()}
	s.render(w, r, http.StatusOK, "donors", p)
	return nil
}

// download sends an export as an attachment. The body is built first, so
// that a failure is an error page rather than half a file; no-store is
// set by the common middleware and again here, because a file that lands
// in a browser cache is exactly what a seized laptop gives away.
func download(w http.ResponseWriter, name, format string, write func(*bytes.Buffer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	ct := "text/csv; charset=utf-8"
	if format == "json" {
		ct = "application/json"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", `attachment; filename="`+name+`.`+format+`"`)
	h.Set("Cache-Control", "no-store, max-age=0")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b.Bytes())
	return nil
}

func exportFormat(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "", "csv":
		return "csv", nil
	case "json":
		return "json", nil
	}
	return "", errNotFound
}

func (s *Server) donorExport(w http.ResponseWriter, r *http.Request) error {
	format, err := exportFormat(r)
	if err != nil {
		return err
	}
	from, to, err := s.reportPeriod(r)
	if err != nil {
		return err
	}
	rep, err := s.cfg.Cases.ExportDonors(r.Context(), staffFrom(r).user, from, to)
	if err != nil {
		return caseProblem(err)
	}
	name := "donors-" + from.Format(time.DateOnly) + "-" + to.Format(time.DateOnly)
	return download(w, name, format, func(b *bytes.Buffer) error {
		if format == "json" {
			return cases.WriteDonorsJSON(b, rep)
		}
		return cases.WriteDonorsCSV(b, rep)
	})
}

func (s *Server) casesExport(w http.ResponseWriter, r *http.Request) error {
	format, err := exportFormat(r)
	if err != nil {
		return err
	}
	names, err := s.userNames(r)
	if err != nil {
		return err
	}
	rows, err := s.cfg.Cases.ExportCases(r.Context(), staffFrom(r).user, names)
	if err != nil {
		return caseProblem(err)
	}
	name := "cases-" + s.cfg.Now().UTC().Format(time.DateOnly)
	return download(w, name, format, func(b *bytes.Buffer) error {
		if format == "json" {
			return cases.WriteCasesJSON(b, rows)
		}
		return cases.WriteCasesCSV(b, rows)
	})
}
