package stats

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// No published number is below the threshold, in any format: the JSON
// document, the CSV and HXL downloads, and the SVG charts. Every format is
// parsed back as a consumer would and every count in it checked; a hidden
// value must be empty (null in JSON, an empty cell marked "hidden", a bar
// without a number).
func TestNoCellBelowThresholdInAnyFormat(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.IntRange(3, 12).Draw(t, "threshold")
		cfg := testConfig(t, k, rapid.SampledFrom([]float64{0, 0.25, 1}).Draw(t, "share"))
		if rapid.Bool().Draw(t, "noise") {
			cfg.EpsilonMilli = rapid.IntRange(100, 5000).Draw(t, "epsilon")
			cfg.MaxRecordsPerPerson = 3
		}
		in := genRelease(t, cfg, 0, rapid.IntRange(1, 60).Draw(t, "people"))
		r, _, err := Build(cfg, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Version = 1
		for _, p := range belowThreshold(r, k) {
			t.Error(p)
		}
	})
}

// belowThreshold lists every number below k found in any format of r.
func belowThreshold(r *Release, k int) []string {
	var problems []string
	check := func(format, where, s string) {
		if s == "" {
			return
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s: %q is not a count", format, where, s))
			return
		}
		if n < k {
			problems = append(problems, fmt.Sprintf("%s %s: %d is below the threshold %d", format, where, n, k))
		}
	}

	doc, err := r.Marshal()
	if err != nil {
		return []string{err.Error()}
	}
	var generic struct {
		Tables []struct {
			ID           string
			Cells        [][]*int
			RowTotals    []*int `json:"row_totals"`
			ColumnTotals []*int `json:"column_totals"`
			Total        *int
		}
	}
	if err := json.Unmarshal(doc, &generic); err != nil {
		return []string{err.Error()}
	}
	for _, tb := range generic.Tables {
		var all []*int
		for _, row := range tb.Cells {
			all = append(all, row...)
		}
		all = append(append(append(all, tb.RowTotals...), tb.ColumnTotals...), tb.Total)
		for _, v := range all {
			if v != nil {
				check("json", tb.ID, strconv.Itoa(*v))
			}
		}
	}

	for _, f := range []struct {
		name   string
		write  func(io.Writer, *Release, string) error
		header int // lines before the data
		value  int // column of the value
		status int
	}{
		{"csv", WriteCSV, 1, 9, 10},
		{"hxl", WriteHXL, 2, 9, 10},
	} {
		var b bytes.Buffer
		if err := f.write(&b, r, "en"); err != nil {
			return []string{err.Error()}
		}
		recs, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			return []string{f.name + ": " + err.Error()}
		}
		for i, rec := range recs[f.header:] {
			switch rec[f.status] {
			case StatusHidden:
				if rec[f.value] != "" {
					problems = append(problems, fmt.Sprintf("%s line %d: hidden value %q", f.name, i, rec[f.value]))
				}
			case StatusPublished:
				check(f.name, fmt.Sprint("line ", i), rec[f.value])
			default:
				problems = append(problems, fmt.Sprintf("%s line %d: status %q", f.name, i, rec[f.status]))
			}
		}
	}

	for _, id := range ChartIDs() {
		c, ok := ChartOf(r, id, "en")
		if !ok {
			continue
		}
		svg := c.SVG("title <&>", "desc", "hidden")
		dec := xml.NewDecoder(bytes.NewReader(svg))
		class := ""
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				problems = append(problems, fmt.Sprintf("svg %s: not well-formed: %v", id, err))
				break
			}
			switch el := tok.(type) {
			case xml.StartElement:
				class = ""
				for _, a := range el.Attr {
					if a.Name.Local == "class" {
						class = a.Value
					}
				}
			case xml.CharData:
				if class == "n" {
					check("svg", id, strings.TrimSpace(string(el)))
				}
			}
		}
	}
	return problems
}

func TestSVGHiddenBarsSayNothing(t *testing.T) {
	c := Chart{ID: "x", Bars: []Bar{{Label: "a", Value: Value{N: 50}}, {Label: "b", Value: Value{Hidden: true}}}}
	svg := string(c.SVG("t", "d", "hidden"))
	if strings.Count(svg, `class="n"`) != 1 || !strings.Contains(svg, ">hidden<") {
		t.Errorf("svg: %s", svg)
	}
	// Only the published bar has a width that depends on a value.
	if !strings.Contains(svg, `width="330"`) || strings.Count(svg, `width="36"`) != 1 {
		t.Errorf("bar widths: %s", svg)
	}
}

func TestCSVNeutralisesFormulas(t *testing.T) {
	cfg := testConfig(t, 3, 1)
	cfg.Types[0].Label = map[string]string{"en": "=HYPERLINK(\"http://x\")"}
	in := Input{Cutoff: month(2018, 1)}
	for i := range 5 {
		in.Violations = append(in.Violations, ViolationRecord{CaseID: fmt.Sprint(i), Type: "detention", Perpetrator: "police", Region: "chechnya", Month: month(2017, 2)})
	}
	r, _, err := Build(cfg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, write := range []func(io.Writer, *Release, string) error{WriteCSV, WriteHXL} {
		var b bytes.Buffer
		if err := write(&b, r, "en"); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), ",=HYPERLINK") || !strings.Contains(b.String(), "'=HYPERLINK") {
			t.Errorf("formula not neutralised:\n%s", b.String())
		}
	}
}
