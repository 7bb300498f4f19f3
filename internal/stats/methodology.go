package stats

import (
	"strconv"

	"github.com/corridor-org/corridor/internal/i18n"
)

// Methodology explains, in the printer's language, how a release was
// made: what it counts, what is hidden and why, the levels of detail, the
// noise. It is generated from the release's own parameters, so it is true
// of that release even after the organisation changes its settings.
func Methodology(r *Release, p *i18n.Printer) []string {
	out := []string{
		p.T("stats.method.what", r.Cutoff.Format("2006-01-02")),
		p.T("stats.method.consent"),
		p.T("stats.method.units"),
		p.T("stats.method.threshold", r.Threshold),
		p.T("stats.method.secondary"),
		p.T("stats.method.once"),
	}
	if t := r.Table(TableRegionPeriod); t != nil {
		out = append(out, p.T("stats.method.levels", p.T("stats.level."+t.Rows.Level), p.T("stats.level."+t.Columns.Level)))
	}
	if t := r.Table(TableOutcomes); t != nil {
		out = append(out, p.T("stats.method.outcomes", p.T("stats.level."+t.Columns.Level)))
	}
	if r.Noise == nil {
		out = append(out, p.T("stats.method.exact"))
	} else {
		out = append(out, p.T("stats.method.noise", strconv.FormatFloat(r.Noise.Epsilon, 'f', -1, 64),
			r.Noise.Within90, r.Threshold, r.Noise.MaxRecordsPerPerson))
	}
	return append(out, p.T("stats.method.immutable"))
}
