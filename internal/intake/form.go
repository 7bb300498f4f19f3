package intake

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// FieldType is the kind of answer a question takes.
type FieldType string

// Field types a form may use.
const (
	Text        FieldType = "text"
	LongText    FieldType = "longtext"
	Choice      FieldType = "choice"
	MultiChoice FieldType = "multichoice"
	Date        FieldType = "date"
	Number      FieldType = "number"
)

// Localised is a string in several languages, keyed by language tag ("en", "ru").
type Localised map[string]string

// In returns the text in lang, falling back to English, then any language.
func (t Localised) In(lang string) string {
	if s, ok := t[lang]; ok {
		return s
	}
	if s, ok := t["en"]; ok {
		return s
	}
	for _, s := range t {
		return s
	}
	return ""
}

// Option is one answer of a choice question.
type Option struct {
	Value string    `toml:"value"`
	Label Localised `toml:"label"`
	// Urgency, on the form's urgency question, maps this option to a level
	// 0 (low) … 3 (immediate danger).
	Urgency int `toml:"urgency"`
}

// Question is one field of the request form.
type Question struct {
	ID        string    `toml:"id"`
	Type      FieldType `toml:"type"`
	Required  bool      `toml:"required"`
	Label     Localised `toml:"label"`
	Help      Localised `toml:"help"`
	Options   []Option  `toml:"options"`
	MaxLength int       `toml:"max_length"` // runes; defaults by type
	Min       *float64  `toml:"min"`
	Max       *float64  `toml:"max"`
	// Class is the sensitivity class an answer takes when the request
	// becomes a case (identity, location, testimony, logistics, medical,
	// finance); testimony when unset.
	Class string `toml:"class"`
}

// sensitivityClasses are the classes of internal/cases; kept here too so a
// form file is checked when it is loaded, not when a case is opened.
var sensitivityClasses = []string{"identity", "location", "testimony", "logistics", "medical", "finance"}

// Form is the request form. It lives in a configuration file so a group
// can change its questions without touching code.
type Form struct {
	Version int `toml:"version"`
	// UrgencyQuestion names the choice question whose answer sets the
	// request's urgency (kept in clear so the inbox can sort by it).
	UrgencyQuestion string     `toml:"urgency_question"`
	Questions       []Question `toml:"questions"`
}

//go:embed default_form.toml
var defaultForm []byte

// DefaultForm is the form shipped with Corridor.
func DefaultForm() *Form {
	f, err := ParseForm(defaultForm)
	if err != nil {
		panic("intake: embedded default form is invalid: " + err.Error())
	}
	return f
}

// Limits that protect storage and staff from oversized input.
const (
	DefaultTextMax     = 500
	DefaultLongTextMax = 10000
	MaxMessageRunes    = 10000
	maxOptions         = 100
)

// HoneypotField is the public form's trap for bots; CSRFField carries the
// anti-forgery token. No question may use these names.
const (
	HoneypotField = "website"
	CSRFField     = "csrf"
)

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// ParseForm reads and checks a form definition.
func ParseForm(data []byte) (*Form, error) {
	var f Form
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("intake: form: %w", err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		return nil, fmt.Errorf("intake: form: unknown setting %q", undec[0].String())
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("intake: form: %w", err)
	}
	return &f, nil
}

func (f *Form) check() error {
	if len(f.Questions) == 0 {
		return errors.New("no questions")
	}
	seen := map[string]bool{}
	for i := range f.Questions {
		q := &f.Questions[i]
		if !idPattern.MatchString(q.ID) {
			return fmt.Errorf("question %d: id %q must be lower-case letters, digits and _", i+1, q.ID)
		}
		if q.ID == HoneypotField || q.ID == CSRFField {
			return fmt.Errorf("question id %q is reserved", q.ID)
		}
		if seen[q.ID] {
			return fmt.Errorf("question %q appears twice", q.ID)
		}
		seen[q.ID] = true
		if q.Label.In("en") == "" {
			return fmt.Errorf("question %q has no label", q.ID)
		}
		switch q.Type {
		case Text, LongText, Date, Number:
			if len(q.Options) > 0 {
				return fmt.Errorf("question %q: options only belong to choice questions", q.ID)
			}
		case Choice, MultiChoice:
			if len(q.Options) == 0 || len(q.Options) > maxOptions {
				return fmt.Errorf("question %q needs 1 to %d options", q.ID, maxOptions)
			}
			vals := map[string]bool{}
			for _, o := range q.Options {
				if !idPattern.MatchString(o.Value) || vals[o.Value] {
					return fmt.Errorf("question %q: option value %q is invalid or repeated", q.ID, o.Value)
				}
				vals[o.Value] = true
				if o.Label.In("en") == "" {
					return fmt.Errorf("question %q: option %q has no label", q.ID, o.Value)
				}
				if o.Urgency < 0 || o.Urgency > 3 {
					return fmt.Errorf("question %q: option %q: urgency must be 0..3", q.ID, o.Value)
				}
			}
		default:
			return fmt.Errorf("question %q: unknown type %q", q.ID, q.Type)
		}
		if q.Class == "" {
			q.Class = "testimony"
		}
		if !slices.Contains(sensitivityClasses, q.Class) {
			return fmt.Errorf("question %q: class %q is not one of %v", q.ID, q.Class, sensitivityClasses)
		}
		if q.MaxLength == 0 {
			q.MaxLength = DefaultTextMax
			if q.Type == LongText {
				q.MaxLength = DefaultLongTextMax
			}
		}
		if q.MaxLength < 0 || q.MaxLength > 100000 {
			return fmt.Errorf("question %q: max_length out of range", q.ID)
		}
	}
	if f.UrgencyQuestion != "" {
		q := f.Question(f.UrgencyQuestion)
		if q == nil || q.Type != Choice {
			return fmt.Errorf("urgency_question %q must name a choice question", f.UrgencyQuestion)
		}
	}
	return nil
}

// Question returns the question with the given id, or nil.
func (f *Form) Question(id string) *Question {
	for i := range f.Questions {
		if f.Questions[i].ID == id {
			return &f.Questions[i]
		}
	}
	return nil
}

// Answers maps question ids to the values given (several for multichoice).
type Answers map[string][]string

// Problem codes; the web layer turns them into translated messages.
const (
	ProblemRequired = "required"
	ProblemTooLong  = "too_long"
	ProblemChoice   = "invalid_choice"
	ProblemDate     = "invalid_date"
	ProblemNumber   = "invalid_number"
	ProblemRange    = "out_of_range"
	ProblemEncoding = "invalid_text"
	ProblemTooMany  = "too_many_values"
)

// FieldErrors maps question ids to a problem code.
type FieldErrors map[string]string

// Parse validates submitted values against the form. It returns the clean
// answers, and the problems found; the caller re-shows the form with
// what was typed when there are problems.
func (f *Form) Parse(values map[string][]string) (Answers, FieldErrors) {
	ans := Answers{}
	probs := FieldErrors{}
	for i := range f.Questions {
		q := &f.Questions[i]
		var vals []string
		for _, v := range values[q.ID] {
			v = strings.TrimSpace(strings.ReplaceAll(v, "\r\n", "\n"))
			if v != "" {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			if q.Required {
				probs[q.ID] = ProblemRequired
			}
			continue
		}
		if p := q.check(vals); p != "" {
			probs[q.ID] = p
			continue
		}
		ans[q.ID] = vals
	}
	return ans, probs
}

func (q *Question) check(vals []string) string {
	for _, v := range vals {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return ProblemEncoding
		}
	}
	switch q.Type {
	case Text, LongText:
		if len(vals) > 1 {
			return ProblemTooMany
		}
		if utf8.RuneCountInString(vals[0]) > q.MaxLength {
			return ProblemTooLong
		}
		if q.Type == Text && strings.ContainsRune(vals[0], '\n') {
			return ProblemEncoding
		}
	case Choice:
		if len(vals) > 1 {
			return ProblemTooMany
		}
		if !q.hasOption(vals[0]) {
			return ProblemChoice
		}
	case MultiChoice:
		if len(vals) > len(q.Options) {
			return ProblemTooMany
		}
		seen := map[string]bool{}
		for _, v := range vals {
			if !q.hasOption(v) || seen[v] {
				return ProblemChoice
			}
			seen[v] = true
		}
	case Date:
		if len(vals) > 1 {
			return ProblemTooMany
		}
		d, err := time.Parse(time.DateOnly, vals[0])
		if err != nil {
			return ProblemDate
		}
		if d.Year() < 1900 || d.Year() > 2200 {
			return ProblemRange
		}
	case Number:
		if len(vals) > 1 {
			return ProblemTooMany
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(vals[0], ",", "."), 64)
		if err != nil || len(vals[0]) > 32 {
			return ProblemNumber
		}
		if (q.Min != nil && n < *q.Min) || (q.Max != nil && n > *q.Max) {
			return ProblemRange
		}
	}
	return ""
}

func (q *Question) hasOption(v string) bool {
	return slices.ContainsFunc(q.Options, func(o Option) bool { return o.Value == v })
}

// Urgency derives the request's urgency level from its answers.
func (f *Form) Urgency(a Answers) int {
	q := f.Question(f.UrgencyQuestion)
	if q == nil || len(a[q.ID]) == 0 {
		return 0
	}
	for _, o := range q.Options {
		if o.Value == a[q.ID][0] {
			return o.Urgency
		}
	}
	return 0
}

// OptionLabel returns the label of a choice value, or the value itself.
func (q *Question) OptionLabel(value, lang string) string {
	for _, o := range q.Options {
		if o.Value == value {
			return o.Label.In(lang)
		}
	}
	return value
}
