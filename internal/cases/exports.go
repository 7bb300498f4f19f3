package cases

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/corridor-org/corridor/internal/store"
)

// CaseRow is one case in an export: clear metadata only, never contents.
type CaseRow struct {
	ID       string    `json:"id"`
	Stage    string    `json:"stage"`
	Since    time.Time `json:"since"`
	Risk     int       `json:"risk"`
	Verified bool      `json:"verified"`
	Flagged  bool      `json:"flagged"`
	Assignee string    `json:"assignee"` // username; "" when unassigned
	Created  time.Time `json:"created"`
}

// exportPage is how many cases an export reads at a time.
const exportPage = 500

// ExportCases returns every case that is not erased, in the list's order,
// for admins and coordinators. names maps user ids to usernames (the
// domain holds them only encrypted). The export is audited as
// export.cases before anything is read.
func (s *Service) ExportCases(ctx context.Context, actor *store.User, names map[int64]string) ([]CaseRow, error) {
	if !active(actor) || !CanManage(actor.Role) {
		return nil, ErrForbidden
	}
	if err := s.audit.Record(ctx, actor.ID, "export.cases", "cases"); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	var rows []CaseRow
	for offset := 0; ; offset += exportPage {
		list, _, err := s.st.ListCases(ctx, store.CaseFilter{Limit: exportPage, Offset: offset})
		if err != nil {
			return nil, fmt.Errorf("cases: export: %w", err)
		}
		for _, c := range list {
			row := CaseRow{ID: c.ID, Stage: c.Stage, Since: c.StageSince, Risk: c.Risk,
				Verified: c.Verified, Flagged: c.Flagged, Created: c.CreatedAt}
			if c.AssigneeID != 0 {
				row.Assignee = names[c.AssigneeID]
			}
			rows = append(rows, row)
		}
		if len(list) < exportPage {
			return rows, nil
		}
	}
}

// ExportDonors is DonorReport for download, audited as export.donors.
func (s *Service) ExportDonors(ctx context.Context, actor *store.User, from, to time.Time) (*DonorReport, error) {
	return s.donorReport(ctx, actor, from, to, "export.donors")
}

// CSVCell neutralises a cell against spreadsheet formula injection
// (OWASP, "CSV Injection"): a cell a spreadsheet would read as a formula —
// starting with =, +, -, @, a tab or a carriage return — gets a leading
// single quote, so it is shown as text. Usernames and stage ids come from
// staff and configuration, but an export is opened on someone's laptop,
// where a formula can exfiltrate the sheet.
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeCSV(w io.Writer, records [][]string) error {
	cw := csv.NewWriter(w)
	for _, rec := range records {
		for i := range rec {
			rec[i] = CSVCell(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("cases: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("cases: csv: %w", err)
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// WriteCasesCSV writes rows as CSV with a header line.
func WriteCasesCSV(w io.Writer, rows []CaseRow) error {
	recs := [][]string{{"id", "stage", "since", "risk", "verified", "flagged", "assignee", "created"}}
	for _, r := range rows {
		recs = append(recs, []string{r.ID, r.Stage, fmtTime(r.Since), strconv.Itoa(r.Risk),
			strconv.FormatBool(r.Verified), strconv.FormatBool(r.Flagged), r.Assignee, fmtTime(r.Created)})
	}
	return writeCSV(w, recs)
}

// WriteCasesJSON writes rows as a JSON array.
func WriteCasesJSON(w io.Writer, rows []CaseRow) error {
	if rows == nil {
		rows = []CaseRow{}
	}
	if err := json.NewEncoder(w).Encode(rows); err != nil {
		return fmt.Errorf("cases: json: %w", err)
	}
	return nil
}

// minorDigits is how many decimals the ISO 4217 currency's minor unit
// has: none or three for the codes listed, two for every other.
func minorDigits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
		"RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// FormatAmount writes an amount in minor units in the currency's major
// unit, e.g. 123456 EUR as "1234.56". No grouping separators: the value is
// for reading and for spreadsheets alike.
func FormatAmount(minor int64, currency string) string {
	digits := minorDigits(currency)
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	if digits == 0 {
		return sign + strconv.FormatInt(minor, 10)
	}
	s := strconv.FormatInt(minor, 10)
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	return sign + s[:len(s)-digits] + "." + s[len(s)-digits:]
}

// ParseAmount reads an amount in the major unit ("1234.56", "1234,56",
// "1234") into minor units of the currency, refusing more decimals than
// the currency has.
func ParseAmount(s, currency string) (int64, error) {
	digits := minorDigits(currency)
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", ".")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > digits || len(whole) > 15 {
		return 0, fmt.Errorf("%w: amount", ErrInvalid)
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, fmt.Errorf("%w: amount", ErrInvalid)
			}
		}
	}
	frac += strings.Repeat("0", digits-len(frac))
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: amount", ErrInvalid)
	}
	return v, nil
}

// WriteDonorsCSV writes a donor report as CSV: one line per category and
// currency, then one total line per currency.
func WriteDonorsCSV(w io.Writer, r *DonorReport) error {
	recs := [][]string{{"from", "to", "category", "currency", "amount", "amount_minor", "expenses", "cases"}}
	from, to := r.From.Format(time.DateOnly), r.To.AddDate(0, 0, -1).Format(time.DateOnly)
	for _, row := range r.Rows {
		recs = append(recs, []string{from, to, row.Category, row.Currency, FormatAmount(row.Amount, row.Currency),
			strconv.FormatInt(row.Amount, 10), strconv.Itoa(row.Count), strconv.Itoa(row.Cases)})
	}
	for _, cur := range r.Currency {
		recs = append(recs, []string{from, to, "total", cur, FormatAmount(r.Totals[cur], cur),
			strconv.FormatInt(r.Totals[cur], 10), "", strconv.Itoa(r.Cases)})
	}
	return writeCSV(w, recs)
}

// WriteDonorsJSON writes a donor report as JSON.
func WriteDonorsJSON(w io.Writer, r *DonorReport) error {
	type row struct {
		Category    string `json:"category"`
		Currency    string `json:"currency"`
		Amount      string `json:"amount"`
		AmountMinor int64  `json:"amount_minor"`
		Expenses    int    `json:"expenses"`
		Cases       int    `json:"cases"`
	}
	out := struct {
		From   string           `json:"from"`
		To     string           `json:"to"`
		Cases  int              `json:"cases"`
		Rows   []row            `json:"rows"`
		Totals map[string]int64 `json:"totals_minor"`
	}{From: r.From.Format(time.DateOnly), To: r.To.AddDate(0, 0, -1).Format(time.DateOnly), Cases: r.Cases,
		Rows: []row{}, Totals: r.Totals}
	for _, x := range r.Rows {
		out.Rows = append(out.Rows, row{x.Category, x.Currency, FormatAmount(x.Amount, x.Currency), x.Amount, x.Count, x.Cases})
	}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		return fmt.Errorf("cases: json: %w", err)
	}
	return nil
}

// Amount formats an amount for the report's page (see FormatAmount).
func (r *DonorReport) Amount(minor int64, currency string) string {
	return FormatAmount(minor, currency)
}

// Amount formats an amount for the case page (see FormatAmount).
func (w *Work) Amount(minor int64, currency string) string {
	return FormatAmount(minor, currency)
}
