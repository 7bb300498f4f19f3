package stats

import (
	"bytes"
	"testing"
)

// ParseConfig reads a file an organisation edits by hand; it must refuse
// bad input with an error, never panic, and what it accepts must hold
// together (every region's macro-region and country exist).
func FuzzParseConfig(f *testing.F) {
	f.Add(defaultConfig)
	f.Add([]byte(smallConfig))
	f.Add([]byte("version = 1\nthreshold = 2\n"))
	f.Add([]byte("version = 1\nepsilon = 0.0005\n"))
	f.Add([]byte("version = 1\n[[regions]]\nid = \"x\"\nmacro_region = \"nowhere\"\nlabel = { en = \"X\" }\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if c.Threshold < MinThreshold || len(c.Types) == 0 || len(c.Regions) == 0 {
			t.Fatalf("accepted an unusable configuration: %+v", c)
		}
		for _, lv := range RegionLevels() {
			cats, of := c.regionAxis(lv)
			for _, i := range of {
				if i < 0 || i >= len(cats) {
					t.Fatalf("region level %s maps outside its axis", lv)
				}
			}
		}
	})
}

// ParseRelease reads stored documents; anything it accepts can be walked
// and written in every format without panicking.
func FuzzParseRelease(f *testing.F) {
	cfg := DefaultConfig()
	r, _, err := Build(cfg, Input{Cutoff: month(2018, 1), Violations: []ViolationRecord{
		{CaseID: "a", Type: "torture", Perpetrator: "police", Region: "chechnya", Month: month(2017, 4)}}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	doc, _ := r.Marshal()
	f.Add(doc)
	f.Add([]byte(`{"format":"corridor-stats/1","threshold":10,"tables":[{"id":"t","unit":"people","rows":{"dimension":"x","categories":[{"id":"a","label":{"en":"A"}}]},"row_totals":[null],"total":12}]}`))
	f.Add([]byte(`{"format":"corridor-stats/1","threshold":10,"tables":[{"id":"t","rows":{"categories":[]},"row_totals":[]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRelease(data)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteCSV(&b, r, "ru"); err != nil {
			t.Fatal(err)
		}
		if err := WriteHXL(&b, r, "en"); err != nil {
			t.Fatal(err)
		}
		r.Values(func(string, string, Value) {})
		for _, id := range ChartIDs() {
			if c, ok := ChartOf(r, id, "en"); ok {
				c.SVG("t", "d", "hidden")
			}
		}
	})
}
