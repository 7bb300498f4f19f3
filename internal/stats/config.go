package stats

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/corridor-org/corridor/internal/cases"
)

//go:embed default_stats.toml
var defaultConfig []byte

// Period levels, finest first.
const (
	LevelMonth   = "month"
	LevelQuarter = "quarter"
	LevelYear    = "year"
)

// Region levels, finest first.
const (
	LevelRegion  = "region"
	LevelMacro   = "macro_region"
	LevelCountry = "country"
)

// Category is one entry of a list staff choose from: a violation type, a
// perpetrator, a region. Parent is the next coarser level's id (a region's
// macro-region, a macro-region's country); "" for the others.
type Category struct {
	ID     string          `json:"id"`
	Label  cases.Localised `json:"label"`
	Parent string          `json:"-"`
}

// Config is what a release is built from: the vocabulary of violation
// records and the protection parameters an organisation sets. It never
// changes once parsed, so it is safe to share.
type Config struct {
	Threshold      int
	FinestPeriod   string
	MaxHiddenShare float64
	FirstMonth     time.Time // zero: January two years before the cut-off
	// EpsilonMilli is the privacy budget per release in thousandths (0: no
	// noise); kept as an integer so that the noise sampler is exact.
	EpsilonMilli        int
	MaxRecordsPerPerson int
	SafetyBandsDays     []int
	EvacuatedStage      string
	LeftCountryStage    string // "" until CheckWorkflow: the workflow's departure stage
	ResettledReason     string

	Types, Perpetrators              []Category
	Countries, MacroRegions, Regions []Category
}

// Epsilon is the privacy budget per release (0: no noise).
func (c *Config) Epsilon() float64 { return float64(c.EpsilonMilli) / 1000 }

// Limits of a configuration.
const (
	MinThreshold   = 3
	MaxThreshold   = 1000
	maxCategories  = 64
	maxSafetyBands = 8
	maxEpsilon     = 100
)

type labelled struct {
	ID    string          `toml:"id"`
	Label cases.Localised `toml:"label"`
}

type configFile struct {
	Version             int      `toml:"version"`
	Threshold           *int     `toml:"threshold"`
	FinestPeriod        string   `toml:"finest_period"`
	MaxHiddenShare      *float64 `toml:"max_hidden_share"`
	FirstMonth          string   `toml:"first_month"`
	Epsilon             float64  `toml:"epsilon"`
	MaxRecordsPerPerson int      `toml:"max_records_per_person"`
	SafetyBandsDays     []int    `toml:"safety_bands_days"`
	EvacuatedStage      string   `toml:"evacuated_stage"`
	LeftCountryStage    string   `toml:"left_country_stage"`
	ResettledReason     string   `toml:"resettled_reason"`

	Types        []labelled `toml:"types"`
	Perpetrators []labelled `toml:"perpetrators"`
	Countries    []labelled `toml:"countries"`
	MacroRegions []struct {
		labelled
		Country string `toml:"country"`
	} `toml:"macro_regions"`
	Regions []struct {
		labelled
		MacroRegion string `toml:"macro_region"`
	} `toml:"regions"`
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// DefaultConfig is the configuration shipped with Corridor.
func DefaultConfig() *Config {
	c, err := ParseConfig(defaultConfig)
	if err != nil {
		panic("stats: the embedded configuration is broken: " + err.Error())
	}
	return c
}

// ParseConfig reads and checks a statistics configuration. Unknown
// settings are an error: a misspelt "threshold" must not quietly fall
// back to another value.
func ParseConfig(data []byte) (*Config, error) {
	var f configFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("stats: configuration: %w", err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		return nil, fmt.Errorf("stats: configuration: unknown setting %q", undec[0].String())
	}
	c, err := f.build()
	if err != nil {
		return nil, fmt.Errorf("stats: configuration: %w", err)
	}
	return c, nil
}

func (f *configFile) build() (*Config, error) {
	if f.Version != 1 {
		return nil, fmt.Errorf("version %d, want 1", f.Version)
	}
	c := &Config{Threshold: 10, FinestPeriod: LevelMonth, MaxHiddenShare: 0.25, MaxRecordsPerPerson: 3,
		SafetyBandsDays: []int{7, 30, 90, 180}, EvacuatedStage: f.EvacuatedStage,
		LeftCountryStage: f.LeftCountryStage, ResettledReason: f.ResettledReason}
	if f.Threshold != nil {
		c.Threshold = *f.Threshold
	}
	if c.Threshold < MinThreshold || c.Threshold > MaxThreshold {
		return nil, fmt.Errorf("threshold must be between %d and %d", MinThreshold, MaxThreshold)
	}
	if f.FinestPeriod != "" {
		c.FinestPeriod = f.FinestPeriod
	}
	if !slices.Contains([]string{LevelMonth, LevelQuarter, LevelYear}, c.FinestPeriod) {
		return nil, errors.New(`finest_period must be "month", "quarter" or "year"`)
	}
	if f.MaxHiddenShare != nil {
		c.MaxHiddenShare = *f.MaxHiddenShare
	}
	if !(c.MaxHiddenShare >= 0 && c.MaxHiddenShare <= 1) {
		return nil, errors.New("max_hidden_share must be between 0 and 1")
	}
	if f.FirstMonth != "" {
		m, err := time.Parse("2006-01", f.FirstMonth)
		if err != nil || m.Year() < 1900 {
			return nil, errors.New(`first_month must be a month such as "2017-01"`)
		}
		c.FirstMonth = m
	}
	if f.Epsilon != 0 {
		milli := math.Round(f.Epsilon * 1000)
		if !(f.Epsilon > 0 && f.Epsilon <= maxEpsilon) || milli < 1 || math.Abs(milli-f.Epsilon*1000) > 1e-6 {
			return nil, fmt.Errorf("epsilon must be 0 (no noise) or between 0.001 and %d, in steps of 0.001", maxEpsilon)
		}
		c.EpsilonMilli = int(milli)
	}
	if f.MaxRecordsPerPerson != 0 {
		c.MaxRecordsPerPerson = f.MaxRecordsPerPerson
	}
	if c.MaxRecordsPerPerson < 1 || c.MaxRecordsPerPerson > 100 {
		return nil, errors.New("max_records_per_person must be between 1 and 100")
	}
	if f.SafetyBandsDays != nil {
		c.SafetyBandsDays = slices.Clone(f.SafetyBandsDays)
	}
	if len(c.SafetyBandsDays) == 0 || len(c.SafetyBandsDays) > maxSafetyBands {
		return nil, fmt.Errorf("safety_bands_days must list 1 to %d limits", maxSafetyBands)
	}
	for i, d := range c.SafetyBandsDays {
		if d < 1 || d > 3650 || (i > 0 && d <= c.SafetyBandsDays[i-1]) {
			return nil, errors.New("safety_bands_days must be increasing numbers of days between 1 and 3650")
		}
	}
	for _, named := range []struct{ key, id string }{
		{"evacuated_stage", c.EvacuatedStage}, {"resettled_reason", c.ResettledReason},
	} {
		if !idPattern.MatchString(named.id) {
			return nil, fmt.Errorf("%s must be set to a stage or close reason id", named.key)
		}
	}
	if c.LeftCountryStage != "" && !idPattern.MatchString(c.LeftCountryStage) {
		return nil, errors.New("left_country_stage must be a stage id")
	}

	var err error
	if c.Types, err = categories("types", f.Types, nil); err != nil {
		return nil, err
	}
	if c.Perpetrators, err = categories("perpetrators", f.Perpetrators, nil); err != nil {
		return nil, err
	}
	if c.Countries, err = categories("countries", f.Countries, nil); err != nil {
		return nil, err
	}
	macros := make([]labelled, len(f.MacroRegions))
	macroParents := make([]string, len(f.MacroRegions))
	for i, m := range f.MacroRegions {
		macros[i], macroParents[i] = m.labelled, m.Country
	}
	if c.MacroRegions, err = categories("macro_regions", macros, macroParents); err != nil {
		return nil, err
	}
	regions := make([]labelled, len(f.Regions))
	regionParents := make([]string, len(f.Regions))
	for i, r := range f.Regions {
		regions[i], regionParents[i] = r.labelled, r.MacroRegion
	}
	if c.Regions, err = categories("regions", regions, regionParents); err != nil {
		return nil, err
	}
	for _, m := range c.MacroRegions {
		if findCategory(c.Countries, m.Parent) < 0 {
			return nil, fmt.Errorf("macro-region %q: country %q is not in countries", m.ID, m.Parent)
		}
	}
	for _, r := range c.Regions {
		if findCategory(c.MacroRegions, r.Parent) < 0 {
			return nil, fmt.Errorf("region %q: macro_region %q is not in macro_regions", r.ID, r.Parent)
		}
	}
	return c, nil
}

func categories(list string, in []labelled, parents []string) ([]Category, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%s: the list is empty", list)
	}
	if len(in) > maxCategories {
		return nil, fmt.Errorf("%s: more than %d entries", list, maxCategories)
	}
	out := make([]Category, 0, len(in))
	for i, l := range in {
		if !idPattern.MatchString(l.ID) {
			return nil, fmt.Errorf("%s: entry %d: id %q must be lower-case letters, digits and _", list, i+1, l.ID)
		}
		if findCategory(out, l.ID) >= 0 {
			return nil, fmt.Errorf("%s: %q appears twice", list, l.ID)
		}
		if l.Label.In("en") == "" {
			return nil, fmt.Errorf("%s: %q has no label", list, l.ID)
		}
		for lang, text := range l.Label {
			if len(lang) < 2 || len(lang) > 8 || len(text) > 200 {
				return nil, fmt.Errorf("%s: %q: labels are at most 200 bytes, under a language tag", list, l.ID)
			}
		}
		c := Category{ID: l.ID, Label: maps.Clone(l.Label)}
		if parents != nil {
			if parents[i] == "" {
				return nil, fmt.Errorf("%s: %q names no parent", list, l.ID)
			}
			c.Parent = parents[i]
		}
		out = append(out, c)
	}
	return out, nil
}

func findCategory(list []Category, id string) int {
	return slices.IndexFunc(list, func(c Category) bool { return c.ID == id })
}

// CheckWorkflow checks the outcome settings against the case workflow in
// use and fills in the left-country stage from it when unset.
func (c *Config) CheckWorkflow(wf *cases.Workflow) error {
	if s := wf.Stage(c.EvacuatedStage); s == nil || s.Closed {
		return fmt.Errorf("stats: evacuated_stage %q is not an open stage of the workflow", c.EvacuatedStage)
	}
	if c.LeftCountryStage == "" {
		c.LeftCountryStage = wf.DepartureStage()
	}
	if c.LeftCountryStage == "" {
		return errors.New("stats: left_country_stage is not set and the workflow names no departure stage")
	}
	if s := wf.Stage(c.LeftCountryStage); s == nil || s.Closed {
		return fmt.Errorf("stats: left_country_stage %q is not an open stage of the workflow", c.LeftCountryStage)
	}
	if !wf.ValidCloseReason(c.ResettledReason) {
		return fmt.Errorf("stats: resettled_reason %q is not a close reason of the workflow", c.ResettledReason)
	}
	return nil
}

// fallback returns the category a record counts under when its id is no
// longer in the list (the list was edited after it was recorded): "other",
// else "unknown", else the last entry. Tables always show every entry of a
// list, so this keeps their shape independent of the data.
func fallback(list []Category) int {
	for _, id := range []string{"other", "unknown"} {
		if i := findCategory(list, id); i >= 0 {
			return i
		}
	}
	return len(list) - 1
}

// index maps a category id to its position in list, or to the fallback.
func index(list []Category, id string) int {
	if i := findCategory(list, id); i >= 0 {
		return i
	}
	return fallback(list)
}

// RegionLevels lists region levels, finest first.
func RegionLevels() []string { return []string{LevelRegion, LevelMacro, LevelCountry} }

// regionAxis returns the categories of a region level and, for each
// region (by index in c.Regions), its category's index at that level.
func (c *Config) regionAxis(level string) ([]Category, []int) {
	switch level {
	case LevelMacro:
		m := make([]int, len(c.Regions))
		for i, r := range c.Regions {
			m[i] = findCategory(c.MacroRegions, r.Parent)
		}
		return c.MacroRegions, m
	case LevelCountry:
		m := make([]int, len(c.Regions))
		for i, r := range c.Regions {
			m[i] = findCategory(c.Countries, c.MacroRegions[findCategory(c.MacroRegions, r.Parent)].Parent)
		}
		return c.Countries, m
	}
	m := make([]int, len(c.Regions))
	for i := range m {
		m[i] = i
	}
	return c.Regions, m
}

// ValidType, ValidPerpetrator and ValidRegion report whether an id is in
// the current lists; new records must use them.
func (c *Config) ValidType(id string) bool        { return findCategory(c.Types, id) >= 0 }
func (c *Config) ValidPerpetrator(id string) bool { return findCategory(c.Perpetrators, id) >= 0 }
func (c *Config) ValidRegion(id string) bool      { return findCategory(c.Regions, id) >= 0 }

func label(list []Category, id, lang string) string {
	if i := findCategory(list, id); i >= 0 {
		return list[i].Label.In(lang)
	}
	return id
}

// TypeLabel, PerpetratorLabel and RegionLabel name an id in a language;
// an id no longer in the lists is shown as it is.
func (c *Config) TypeLabel(id, lang string) string        { return label(c.Types, id, lang) }
func (c *Config) PerpetratorLabel(id, lang string) string { return label(c.Perpetrators, id, lang) }
func (c *Config) RegionLabel(id, lang string) string      { return label(c.Regions, id, lang) }
