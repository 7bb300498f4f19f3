package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/stats"
	"github.com/corridor-org/corridor/internal/store"
)

// Public statistics, on the public site: the published releases only,
// never live data, so that nothing can be learnt by comparing queries.
// Every number on these pages, in their charts and downloads, comes from
// a release document; a hidden value is shown as hidden, never as a
// number. Charts are SVG drawn on the server, inline in the page (no
// request, no script: the page's CSP allows neither), each with its data
// table and a text description.

type statsView struct {
	Release     *stats.Release
	Published   time.Time
	Base        string // the release's public path, "/en/stats/3"; "" for a draft
	Releases    []*store.StatsRelease
	Charts      []chartView
	Tables      []tableView
	Methodology []string
	Draft       *draftInfo
	Threshold   int
	Lang        string
}

type draftInfo struct {
	ID         string
	CreatedAt  time.Time
	CreatedBy  string
	Approved   bool
	ApprovedBy string
	Problem    string
}

type chartView struct {
	ID, Title, Desc string
	SVG             template.HTML
	Bars            []barView
	Href            string
	Unit            string
}

type barView struct {
	Label string
	Value cellView
}

type cellView struct {
	Text   string
	Hidden bool
}

type tableView struct {
	ID, Title string
	Unit      string
	ColHead   string
	Cols      []string
	Rows      []rowView
	Totals    *rowView // nil: columns are not added up
	OneWay    bool
	// NoRowTotals: rows are not added up (a transposed table whose
	// columns were not).
	NoRowTotals bool
}

type rowView struct {
	Head  string
	Cells []cellView
	Total cellView
}

func cellOf(v stats.Value, hidden string) cellView {
	if v.Hidden {
		return cellView{Text: hidden, Hidden: true}
	}
	return cellView{Text: strconv.Itoa(v.N)}
}

// releaseView prepares a release for the stats page (public, or a draft
// on the staff site when base is "").
func (s *Server) releaseView(p *page, r *stats.Release, base string) *statsView {
	lang := p.L.Lang
	hidden := p.L.T("stats.hidden")
	v := &statsView{Release: r, Published: r.Published, Base: base, Threshold: r.Threshold, Lang: lang,
		Methodology: stats.Methodology(r, p.L)}
	for _, id := range stats.ChartIDs() {
		c, ok := stats.ChartOf(r, id, lang)
		if !ok {
			continue
		}
		title := p.L.T("stats.chart." + id)
		desc := s.chartDescription(p, c)
		cv := chartView{ID: id, Title: title, Desc: desc, Unit: p.L.T("stats.unit." + c.Unit),
			SVG: template.HTML(c.SVG(title, desc, hidden))} // #nosec: built by stats.Chart.SVG with every text escaped
		if base != "" {
			cv.Href = base + "/" + id + ".svg"
		}
		for _, b := range c.Bars {
			cv.Bars = append(cv.Bars, barView{Label: b.Label, Value: cellOf(b.Value, hidden)})
		}
		v.Charts = append(v.Charts, cv)
	}
	for _, t := range r.Tables {
		tv := tableView{ID: t.ID, Title: p.L.T("stats.table." + t.ID), Unit: p.L.T("stats.unit." + t.Unit), OneWay: t.Columns == nil}
		if t.Columns != nil {
			tv.ColHead = p.L.T("stats.dim." + t.Columns.Dimension)
			for _, c := range t.Columns.Categories {
				tv.Cols = append(tv.Cols, c.Label.In(lang))
			}
		}
		for i, rc := range t.Rows.Categories {
			row := rowView{Head: rc.Label.In(lang), Total: cellOf(t.RowTotals[i], hidden)}
			if t.Columns != nil {
				for _, cv := range t.Cells[i] {
					row.Cells = append(row.Cells, cellOf(cv, hidden))
				}
			}
			tv.Rows = append(tv.Rows, row)
		}
		if t.ColumnTotals != nil || t.Columns == nil {
			tot := rowView{Head: p.L.T("stats.all"), Total: cellOf(t.Total, hidden)}
			for _, cv := range t.ColumnTotals {
				tot.Cells = append(tot.Cells, cellOf(cv, hidden))
			}
			tv.Totals = &tot
		}
		if len(tv.Cols) > len(tv.Rows) {
			tv = transpose(tv, p.L.T("stats.dim."+t.Rows.Dimension), p.L.T("stats.all"))
		}
		v.Tables = append(v.Tables, tv)
	}
	return v
}

// transpose turns a wide table (many periods) into a long one, which
// reads and prints better on a narrow page.
func transpose(t tableView, rowDim, all string) tableView {
	out := tableView{ID: t.ID, Title: t.Title, Unit: t.Unit, ColHead: rowDim}
	for _, r := range t.Rows {
		out.Cols = append(out.Cols, r.Head)
	}
	for j, c := range t.Cols {
		row := rowView{Head: c}
		for _, r := range t.Rows {
			row.Cells = append(row.Cells, r.Cells[j])
		}
		if t.Totals != nil {
			row.Total = t.Totals.Cells[j]
		}
		out.Rows = append(out.Rows, row)
	}
	// The old column totals are the new row totals, and the other way
	// round; a table whose columns were not added up has no row totals
	// now, but keeps its per-outcome totals as a last row.
	tot := rowView{Head: all}
	for _, r := range t.Rows {
		tot.Cells = append(tot.Cells, r.Total)
	}
	if t.Totals != nil {
		tot.Total = t.Totals.Total
	} else {
		out.NoRowTotals = true
	}
	out.Totals = &tot
	return out
}

// chartDescription says in words what a chart shows, from published
// values only: how many categories, the largest, how many are hidden.
func (s *Server) chartDescription(p *page, c stats.Chart) string {
	var parts []string
	best, hiddenN := -1, 0
	for i, b := range c.Bars {
		if b.Value.Hidden {
			hiddenN++
			continue
		}
		if best < 0 || b.Value.N > c.Bars[best].Value.N {
			best = i
		}
	}
	if !c.Total.Hidden && c.Total.N > 0 {
		parts = append(parts, p.L.T("stats.desc.total", c.Total.N, p.L.T("stats.unit."+c.Unit)))
	}
	if best >= 0 {
		parts = append(parts, p.L.T("stats.desc.largest", c.Bars[best].Label, c.Bars[best].Value.N))
	}
	if hiddenN > 0 {
		parts = append(parts, p.L.T("stats.desc.hidden", hiddenN, len(c.Bars)))
	}
	return strings.Join(parts, " ")
}

// statsRoot sends /stats to the page in the visitor's language.
func (s *Server) statsRoot(w http.ResponseWriter, r *http.Request) error {
	lang := s.cfg.Catalogue.Match(r.Header.Get("Accept-Language"))
	return seeOther(w, r, "/"+lang+"/stats")
}

// statsIndex shows the latest release in full and lists the others.
func (s *Server) statsIndex(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	svc, err := s.stats()
	if err != nil {
		return err
	}
	list, err := svc.Releases(r.Context())
	if err != nil {
		return err
	}
	p := s.newPage(r)
	p.Title = p.L.T("stats.title")
	if len(list) == 0 {
		p.Data = &statsView{Lang: p.L.Lang}
		s.render(w, r, http.StatusOK, "stats", p)
		return nil
	}
	return s.showRelease(w, r, p, svc, list, list[0].Version)
}

func (s *Server) showRelease(w http.ResponseWriter, r *http.Request, p *page, svc *stats.Service, list []*store.StatsRelease, version int) error {
	rel, err := svc.Release(r.Context(), version)
	if err != nil {
		return err
	}
	v := s.releaseView(p, rel.Release, fmt.Sprintf("/%s/stats/%d", p.L.Lang, version))
	v.Releases = list
	p.Data = v
	s.render(w, r, http.StatusOK, "stats", p)
	return nil
}

// statsRelease serves /{lang}/stats/{file}: a release's page ("3") or a
// download of it ("3.csv", "3.json", "3.hxl.csv").
func (s *Server) statsRelease(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	file := r.PathValue("file")
	num, format, _ := strings.Cut(file, ".")
	version, err := strconv.Atoi(num)
	if err != nil || version < 1 || strconv.Itoa(version) != num {
		return errNotFound
	}
	svc, err := s.stats()
	if err != nil {
		return err
	}
	p := s.newPage(r)
	if format == "" {
		list, err := svc.Releases(r.Context())
		if err != nil {
			return err
		}
		p.Title = p.L.T("stats.release_title", version)
		return s.showRelease(w, r, p, svc, list, version)
	}
	rel, err := svc.Release(r.Context(), version)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("corridor-statistics-%d", version)
	switch format {
	case "json":
		return serveFile(w, name+".json", "application/json", rel.Document)
	case "csv":
		var b bytes.Buffer
		if err := stats.WriteCSV(&b, rel.Release, p.L.Lang); err != nil {
			return err
		}
		return serveFile(w, name+"-"+p.L.Lang+".csv", "text/csv; charset=utf-8", b.Bytes())
	case "hxl.csv":
		var b bytes.Buffer
		if err := stats.WriteHXL(&b, rel.Release, p.L.Lang); err != nil {
			return err
		}
		return serveFile(w, name+"-"+p.L.Lang+".hxl.csv", "text/csv; charset=utf-8", b.Bytes())
	}
	return errNotFound
}

// statsChart serves one chart of a release as a standalone SVG file.
func (s *Server) statsChart(w http.ResponseWriter, r *http.Request) error {
	r, err := s.publicRequest(r)
	if err != nil {
		return err
	}
	version, err := strconv.Atoi(r.PathValue("file"))
	if err != nil || version < 1 {
		return errNotFound
	}
	id, ok := strings.CutSuffix(r.PathValue("chart"), ".svg")
	if !ok {
		return errNotFound
	}
	svc, err := s.stats()
	if err != nil {
		return err
	}
	rel, err := svc.Release(r.Context(), version)
	if err != nil {
		return err
	}
	p := s.newPage(r)
	c, ok := stats.ChartOf(rel.Release, id, p.L.Lang)
	if !ok {
		return errNotFound
	}
	title := p.L.T("stats.chart." + id)
	svg := c.SVG(title, s.chartDescription(p, c), p.L.T("stats.hidden"))
	return serveFile(w, "", "image/svg+xml", append([]byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"), svg...))
}

// serveFile sends a public file; name "" shows it inline.
func serveFile(w http.ResponseWriter, name, contentType string, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", contentType)
	if name != "" {
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	}
	_, _ = w.Write(body)
	return nil
}
