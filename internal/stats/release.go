package stats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Format names the release document's format.
const Format = "corridor-stats/1"

// Table ids.
const (
	TableTypePerpetrator = "violations_type_perpetrator"
	TableRegionPeriod    = "violations_region_period"
	TableOutcomes        = "outcomes_period"
	TableSafety          = "time_to_safety"
)

// Dimensions of tables.
const (
	DimType        = "type"
	DimPerpetrator = "perpetrator"
	DimRegion      = "region"
	DimPeriod      = "period"
	DimOutcome     = "outcome"
	DimSafety      = "time_to_safety"
)

// Outcomes, in the order a case reaches them.
const (
	OutcomeContacted   = "contacted"
	OutcomeEvacuated   = "evacuated"
	OutcomeLeftCountry = "left_country"
	OutcomeResettled   = "resettled"
)

// Outcomes lists the outcomes in order.
func Outcomes() []string {
	return []string{OutcomeContacted, OutcomeEvacuated, OutcomeLeftCountry, OutcomeResettled}
}

// Release is a release of statistics as published: immutable once it has
// a version. It holds only numbers that passed protection, with every
// label it needs, so that a later change of the lists never changes what
// an old release says.
type Release struct {
	Format    string    `json:"format"`
	Version   int       `json:"version,omitempty"`
	Published time.Time `json:"published,omitzero"`
	// Cutoff: the release counts what was recorded before this instant and
	// not counted by an earlier release.
	Cutoff     time.Time `json:"cutoff"`
	FirstMonth string    `json:"first_month"`
	Threshold  int       `json:"threshold"`
	Noise      *Noise    `json:"noise,omitempty"`
	Tables     []Table   `json:"tables"`
}

// Noise describes the noise added to every published number.
type Noise struct {
	Epsilon             float64 `json:"epsilon"`
	Sensitivity         int     `json:"sensitivity"`
	Scale               float64 `json:"scale"`
	MaxRecordsPerPerson int     `json:"max_records_per_person"`
	// Within90 is how far a published number is from the true one at
	// most, with 90% probability.
	Within90 int `json:"within_90"`
}

// Table is one table of a release. A one-way table has no columns: its
// values are RowTotals. A table whose columns are not worth adding up
// (outcomes by period: the same person reaches several outcomes) has no
// ColumnTotals, and its Total is hidden.
type Table struct {
	ID           string    `json:"id"`
	Unit         string    `json:"unit"` // "violations" or "people"
	Rows         Axis      `json:"rows"`
	Columns      *Axis     `json:"columns,omitempty"`
	Cells        [][]Value `json:"cells,omitempty"`
	RowTotals    []Value   `json:"row_totals"`
	ColumnTotals []Value   `json:"column_totals,omitempty"`
	Total        Value     `json:"total"`
}

// Axis is one dimension of a table, at one level of detail.
type Axis struct {
	Dimension  string     `json:"dimension"`
	Level      string     `json:"level,omitempty"`
	Categories []Category `json:"categories"`
}

// Value is one published number: a count, or hidden. In JSON a hidden
// value is null.
type Value struct {
	N      int
	Hidden bool
}

// MarshalJSON writes a count or null.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.Hidden {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, int64(v.N), 10), nil
}

// UnmarshalJSON reads a count or null.
func (v *Value) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*v = Value{Hidden: true}
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 {
		return fmt.Errorf("stats: a value is a count or null, not %.20s", b)
	}
	*v = Value{N: n}
	return nil
}

// Table returns the table with id, or nil.
func (r *Release) Table(id string) *Table {
	for i := range r.Tables {
		if r.Tables[i].ID == id {
			return &r.Tables[i]
		}
	}
	return nil
}

// Values calls fn with every value of the release, hidden or not, with
// where it is.
func (r *Release) Values(fn func(table string, where string, v Value)) {
	for _, t := range r.Tables {
		for i, row := range t.Cells {
			for j, v := range row {
				fn(t.ID, t.Rows.Categories[i].ID+"/"+t.Columns.Categories[j].ID, v)
			}
		}
		for i, v := range t.RowTotals {
			fn(t.ID, t.Rows.Categories[i].ID+"/all", v)
		}
		for j, v := range t.ColumnTotals {
			fn(t.ID, "all/"+t.Columns.Categories[j].ID, v)
		}
		fn(t.ID, "all/all", t.Total)
	}
}

// Marshal encodes the release canonically (the encoding is what is stored
// and hashed, and what the JSON download serves).
func (r *Release) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseRelease decodes a release document and checks its shape: every
// table's values match its axes, so that renderers can index without
// checks of their own.
func ParseRelease(b []byte) (*Release, error) {
	var r Release
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("stats: release: %w", err)
	}
	if r.Format != Format {
		return nil, fmt.Errorf("stats: release: format %q, want %q", r.Format, Format)
	}
	if r.Threshold < MinThreshold {
		return nil, fmt.Errorf("stats: release: threshold %d", r.Threshold)
	}
	for _, t := range r.Tables {
		rows := len(t.Rows.Categories)
		if rows == 0 || len(t.RowTotals) != rows {
			return nil, fmt.Errorf("stats: release: table %q: %d rows, %d row totals", t.ID, rows, len(t.RowTotals))
		}
		if t.Columns == nil {
			if t.Cells != nil || t.ColumnTotals != nil {
				return nil, fmt.Errorf("stats: release: table %q has cells but no columns", t.ID)
			}
			continue
		}
		cols := len(t.Columns.Categories)
		if cols == 0 || len(t.Cells) != rows || (t.ColumnTotals != nil && len(t.ColumnTotals) != cols) {
			return nil, fmt.Errorf("stats: release: table %q: shape does not match its axes", t.ID)
		}
		for _, row := range t.Cells {
			if len(row) != cols {
				return nil, fmt.Errorf("stats: release: table %q: shape does not match its axes", t.ID)
			}
		}
	}
	return &r, nil
}
