package stats

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
)

// Charts are drawn on the server as SVG, so that they show in a browser
// with JavaScript off, in print and in a downloaded file alike. A chart
// is a list of bars made from published values only; a hidden value gets
// an outlined box of a fixed size marked as hidden, never a bar whose
// length would say how big it is.

// Chart ids.
const (
	ChartType        = "type"
	ChartPerpetrator = "perpetrator"
	ChartRegion      = "region"
	ChartPeriod      = "period"
	ChartOutcome     = "outcome"
	ChartSafety      = "time_to_safety"
)

// ChartIDs lists the charts of a release, in page order.
func ChartIDs() []string {
	return []string{ChartOutcome, ChartType, ChartPerpetrator, ChartRegion, ChartPeriod, ChartSafety}
}

// Bar is one bar of a chart.
type Bar struct {
	ID    string
	Label string
	Value Value
}

// Chart is a bar chart's data: the values of one margin of a table.
type Chart struct {
	ID    string
	Table string // the table whose margin it draws
	Unit  string
	Bars  []Bar
	Total Value
}

// ChartOf returns one chart of a release with labels in lang, or false if
// the release has no such table.
func ChartOf(r *Release, id, lang string) (Chart, bool) {
	bars := func(cats []Category, vals []Value) []Bar {
		out := make([]Bar, len(cats))
		for i, c := range cats {
			out[i] = Bar{ID: c.ID, Label: c.Label.In(lang), Value: vals[i]}
		}
		return out
	}
	var table string
	switch id {
	case ChartType, ChartPerpetrator:
		table = TableTypePerpetrator
	case ChartRegion, ChartPeriod:
		table = TableRegionPeriod
	case ChartOutcome:
		table = TableOutcomes
	case ChartSafety:
		table = TableSafety
	default:
		return Chart{}, false
	}
	t := r.Table(table)
	if t == nil {
		return Chart{}, false
	}
	c := Chart{ID: id, Table: table, Unit: t.Unit, Total: t.Total}
	switch id {
	case ChartPerpetrator, ChartPeriod:
		if t.Columns == nil || t.ColumnTotals == nil {
			return Chart{}, false
		}
		c.Bars = bars(t.Columns.Categories, t.ColumnTotals)
	default:
		c.Bars = bars(t.Rows.Categories, t.RowTotals)
	}
	if t.ColumnTotals == nil && t.Columns != nil {
		c.Total = Value{Hidden: true}
	}
	return c, true
}

// Max is the largest published value of the chart (0 if none).
func (c Chart) Max() int {
	m := 0
	for _, b := range c.Bars {
		if !b.Value.Hidden {
			m = max(m, b.Value.N)
		}
	}
	return m
}

// SVG geometry, in user units (the image scales to its container).
const (
	svgWidth  = 640
	svgLabelW = 230
	svgBarMax = 330
	svgRowH   = 24
	svgBarH   = 16
	svgTop    = 8
)

// SVG draws the chart as a standalone SVG document: title and desc for
// screen readers, one labelled bar per value. hidden is the word for a
// hidden value ("hidden"), in the page's language.
func (c Chart) SVG(title, desc, hidden string) []byte {
	var b bytes.Buffer
	h := svgTop*2 + svgRowH*len(c.Bars)
	esc := func(s string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="chart-%s-title chart-%s-desc" class="chart">`,
		svgWidth, h, svgWidth, h, c.ID, c.ID)
	fmt.Fprintf(&b, `<title id="chart-%s-title">%s</title><desc id="chart-%s-desc">%s</desc>`, c.ID, esc(title), c.ID, esc(desc))
	peak := c.Max()
	for i, bar := range c.Bars {
		y := svgTop + i*svgRowH
		mid := y + svgRowH/2 + 4
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-family="sans-serif" font-size="12" fill="#222">%s</text>`,
			svgLabelW-8, mid, esc(bar.Label))
		top := y + (svgRowH-svgBarH)/2
		if bar.Value.Hidden {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="36" height="%d" fill="none" stroke="#888" stroke-dasharray="3 2"/>`, svgLabelW, top, svgBarH)
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-family="sans-serif" font-size="12" fill="#555" class="hidden">%s</text>`, svgLabelW+44, mid, esc(hidden))
			continue
		}
		w := 0
		if peak > 0 {
			w = max(bar.Value.N*svgBarMax/peak, 1)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#2f5d8a"/>`, svgLabelW, top, w, svgBarH)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-family="sans-serif" font-size="12" fill="#222" class="n">%s</text>`,
			svgLabelW+w+6, mid, strconv.Itoa(bar.Value.N))
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}
