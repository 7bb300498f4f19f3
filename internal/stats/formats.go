package stats

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/corridor-org/corridor/internal/cases"
)

// Downloads. Every format is written from the release document alone, so
// it can only ever hold what passed protection: a hidden value is an empty
// cell with the status "hidden", never a number.

// Status of a value in downloads.
const (
	StatusPublished = "published"
	StatusHidden    = "hidden"
)

// allLabel names the "all categories" row or column of a margin.
var allLabel = cases.Localised{"en": "All", "ru": "Всего"}

// cell is one value of a table with where it sits; row or col is nil for
// a margin (and col always for a one-way table).
type cell struct {
	t        *Table
	row, col *Category
	v        Value
}

// cells lists a release's values in reading order: each row's cells then
// its total, the column totals, the grand total.
func cells(r *Release) []cell {
	var out []cell
	for ti := range r.Tables {
		t := &r.Tables[ti]
		for i := range t.Rows.Categories {
			rc := &t.Rows.Categories[i]
			if t.Columns != nil {
				for j := range t.Columns.Categories {
					out = append(out, cell{t, rc, &t.Columns.Categories[j], t.Cells[i][j]})
				}
			}
			out = append(out, cell{t, rc, nil, t.RowTotals[i]})
		}
		if t.Columns != nil && t.ColumnTotals != nil {
			for j := range t.Columns.Categories {
				out = append(out, cell{t, nil, &t.Columns.Categories[j], t.ColumnTotals[j]})
			}
		}
		if t.ColumnTotals != nil || t.Columns == nil {
			out = append(out, cell{t, nil, nil, t.Total})
		}
	}
	return out
}

func (c cell) valueAndStatus() (string, string) {
	if c.v.Hidden {
		return "", StatusHidden
	}
	return strconv.Itoa(c.v.N), StatusPublished
}

func writeRecords(w io.Writer, records [][]string) error {
	cw := csv.NewWriter(w)
	for _, rec := range records {
		for i := range rec {
			rec[i] = cases.CSVCell(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("stats: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("stats: csv: %w", err)
	}
	return nil
}

func idLabel(c *Category, lang string) (string, string) {
	if c == nil {
		return "all", allLabel.In(lang)
	}
	return c.ID, c.Label.In(lang)
}

// WriteCSV writes a release as one long table: one line per value, with
// the table, its row and column (id and label in lang), the value and
// whether it is published or hidden.
func WriteCSV(w io.Writer, r *Release, lang string) error {
	recs := [][]string{{"release", "table", "unit", "row_dimension", "row_id", "row", "column_dimension", "column_id", "column", "value", "status"}}
	v := strconv.Itoa(r.Version)
	for _, c := range cells(r) {
		rowID, rowLabel := idLabel(c.row, lang)
		colDim, colID, colLabel := "", "", ""
		if c.t.Columns != nil {
			colDim = c.t.Columns.Dimension
			colID, colLabel = idLabel(c.col, lang)
		}
		val, status := c.valueAndStatus()
		recs = append(recs, []string{v, c.t.ID, c.t.Unit, c.t.Rows.Dimension, rowID, rowLabel, colDim, colID, colLabel, val, status})
	}
	return writeRecords(w, recs)
}

// hxlColumns are the columns of the HXL download: one per dimension, so
// that every line says in the same place what it is about; a dimension a
// line does not break down by is left empty.
var hxlColumns = []struct{ name, tag string }{
	{"Release", "#meta+release"},
	{"Table", "#meta+table"},
	{"Unit", "#meta+unit"},
	{"Violation type", "#event+type"},
	{"Perpetrator", "#org+perpetrator"},
	{"Region", ""}, // tag by level
	{"Period", ""}, // tag by level
	{"Outcome", "#indicator+outcome"},
	{"Time to safety", "#indicator+time_to_safety"},
	{"Value", "#indicator+value+num"},
	{"Status", "#meta+status"},
}

// WriteHXL writes a release as HXL-tagged CSV (the Humanitarian Exchange
// Language, hxlstandard.org): a header line, a line of hashtags, then one
// line per value. Labels are in lang.
func WriteHXL(w io.Writer, r *Release, lang string) error {
	header := make([]string, len(hxlColumns))
	tags := make([]string, len(hxlColumns))
	for i, c := range hxlColumns {
		header[i], tags[i] = c.name, c.tag
	}
	// Periods may be months, quarters or years (each table says which);
	// regions are at one level per release.
	tags[5], tags[6] = "#adm1+name", "#date"
	if t := r.Table(TableRegionPeriod); t != nil {
		switch t.Rows.Level {
		case LevelMacro:
			tags[5] = "#region+name"
		case LevelCountry:
			tags[5] = "#country+name"
		}
	}
	recs := [][]string{header, tags}
	dims := map[string]int{DimType: 3, DimPerpetrator: 4, DimRegion: 5, DimPeriod: 6, DimOutcome: 7, DimSafety: 8}
	for _, c := range cells(r) {
		rec := make([]string, len(hxlColumns))
		rec[0], rec[1], rec[2] = strconv.Itoa(r.Version), c.t.ID, c.t.Unit
		if c.row != nil {
			rec[dims[c.t.Rows.Dimension]] = c.row.Label.In(lang)
		}
		if c.col != nil {
			rec[dims[c.t.Columns.Dimension]] = c.col.Label.In(lang)
		}
		rec[9], rec[10] = c.valueAndStatus()
		recs = append(recs, rec)
	}
	return writeRecords(w, recs)
}
