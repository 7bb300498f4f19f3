package stats

import (
	"fmt"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
)

// PeriodLevels lists period levels, finest first.
func PeriodLevels() []string { return []string{LevelMonth, LevelQuarter, LevelYear} }

// MonthOf returns the first instant of t's calendar month, UTC.
func MonthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// periodNumber numbers periods of a level consecutively.
func periodNumber(m time.Time, level string) int {
	m = m.UTC()
	switch level {
	case LevelQuarter:
		return m.Year()*4 + (int(m.Month())-1)/3
	case LevelYear:
		return m.Year()
	}
	return m.Year()*12 + int(m.Month()) - 1
}

// periodAxis is the period dimension of a table: an "earlier" bucket for
// everything before the first period, then every period up to the last.
// It depends on the release's first month and cut-off only, never on the
// data, so that which columns a table has says nothing about who is in it.
type periodAxis struct {
	level       string
	first, last int
	cats        []Category
}

const earlierID = "earlier"

func newPeriodAxis(level string, first, last time.Time) *periodAxis {
	a := &periodAxis{level: level, first: periodNumber(first, level), last: periodNumber(last, level)}
	a.last = max(a.last, a.first)
	a.cats = append(a.cats, Category{ID: earlierID, Label: cases.Localised{
		"en": "Before " + first.Format("2006-01"), "ru": "До " + first.Format("2006-01")}})
	for p := a.first; p <= a.last; p++ {
		a.cats = append(a.cats, periodCategory(level, p))
	}
	return a
}

func periodCategory(level string, p int) Category {
	switch level {
	case LevelQuarter:
		y, q := p/4, p%4+1
		return Category{ID: fmt.Sprintf("%d-q%d", y, q), Label: cases.Localised{
			"en": fmt.Sprintf("%d Q%d", y, q), "ru": fmt.Sprintf("%d, %d кв.", y, q)}}
	case LevelYear:
		s := fmt.Sprintf("%d", p)
		return Category{ID: s, Label: cases.Localised{"en": s, "ru": s}}
	}
	s := fmt.Sprintf("%04d-%02d", p/12, p%12+1)
	return Category{ID: s, Label: cases.Localised{"en": s, "ru": s}}
}

// index returns the column of month m.
func (a *periodAxis) index(m time.Time) int {
	p := periodNumber(m, a.level)
	switch {
	case p < a.first:
		return 0
	case p > a.last:
		return len(a.cats) - 1
	}
	return p - a.first + 1
}
