package cases

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// Duplicates and the watch list rest on blind indexes (DESIGN.md, "Keys"):
// identifiers from a case's identity section are normalised, then keyed
// with HMAC under the vault's blind-index key, and only the HMACs are
// stored. Whoever holds the database but not the unsealed root key cannot
// test a guessed phone number against them; the server can tell that two
// cases share one. In 2017 the same person often reached out twice through
// different channels, and police posed as victims: both show up here.

// Identity fields that are indexed. "contact" is the hotline form's free
// text answer ("Signal +7 912 …, or @handle"); phone numbers, handles and
// e-mail addresses are picked out of it.
const (
	FieldName      = "name"
	FieldBirthYear = "birth_year"
	FieldPhone     = "phone"
	FieldMessenger = "messenger"
	FieldEmail     = "email"
	FieldContact   = "contact"
)

// IndexValue is one normalised identifier, before it is blinded.
type IndexValue struct {
	Kind  string // store.IndexPhone, IndexHandle, IndexEmail, IndexNameYear
	Value string
}

// NormalisePhone reduces a phone number to its digits with the country
// code, so that "+7 (912) 345-67-89", "8 912 345 67 89" and "9123456789"
// are one number. The rules are kept simple and Russia-first, as the
// hotline's callers are:
//
//   - everything but digits is dropped (a leading + included);
//   - an international prefix 00 is dropped;
//   - 11 digits starting with 8 are a Russian number dialled with the
//     trunk prefix: 8 becomes the country code 7;
//   - 10 digits starting with 9 are a Russian mobile number without any
//     prefix: 7 is put in front.
//
// Anything with fewer than 7 or more than 15 digits (E.164's maximum) is
// not a phone number.
func NormalisePhone(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		if '0' <= r && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := strings.TrimPrefix(b.String(), "00")
	switch {
	case len(d) == 11 && d[0] == '8':
		d = "7" + d[1:]
	case len(d) == 10 && d[0] == '9':
		d = "7" + d
	}
	if len(d) < 7 || len(d) > 15 {
		return "", false
	}
	return d, true
}

// NormaliseHandle reduces a messenger handle to lower case without a
// leading @ or a t.me link, so "@Ivan_P", "ivan_p" and
// "https://t.me/ivan_p" are one handle. A handle is one word.
func NormaliseHandle(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(norm.NFKC.String(s)))
	for _, p := range []string{"https://", "http://", "www.", "t.me/", "telegram.me/"} {
		s = strings.TrimPrefix(s, p)
	}
	s = strings.TrimLeft(s, "@")
	if s == "" || strings.ContainsFunc(s, unicode.IsSpace) || len(s) > 100 {
		return "", false
	}
	return s, true
}

// NormaliseEmail lower-cases and trims an e-mail address. The whole
// address is lower-cased: mail servers that tell cases apart in the
// local part are rare, and missing a duplicate is worse than a false
// hint a person checks.
func NormaliseEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(norm.NFKC.String(s)))
	s = strings.TrimPrefix(s, "mailto:")
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") || strings.ContainsAny(domain, "@") ||
		strings.ContainsFunc(s, unicode.IsSpace) || len(s) > 254 {
		return "", false
	}
	return s, true
}

// NormaliseNameYear joins a name and a birth year into one identifier.
// The name is Unicode-normalised (NFKC), lower-cased and cut into words of
// letters only; ё is read as е, as Russian writing mostly does; the words
// are sorted, so "Petrov Ivan" and "Ivan Petrov" match. Scripts are kept
// as typed: "Иван" and "Ivan" do not match (no transliteration). The year
// must be four digits between 1900 and 2100.
func NormaliseNameYear(name, year string) (string, bool) {
	year = strings.TrimSpace(year)
	if len(year) != 4 || year < "1900" || year > "2100" || strings.ContainsFunc(year, func(r rune) bool { return r < '0' || r > '9' }) {
		return "", false
	}
	name = strings.ToLower(norm.NFKC.String(name))
	name = strings.NewReplacer("ё", "е").Replace(name)
	words := strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) })
	if len(words) == 0 {
		return "", false
	}
	slices.Sort(words)
	return strings.Join(words, " ") + "|" + year, true
}

// Patterns that pick identifiers out of free text (the contact answer).
var (
	emailInText  = regexp.MustCompile(`[^\s@,;<>()]+@[^\s@,;<>()]+\.[^\s@,;<>()]+`)
	handleInText = regexp.MustCompile(`(?:^|[\s,;(])@([\pL\pN_.]{2,64})|t\.me/([A-Za-z0-9_]{2,64})`)
	phoneInText  = regexp.MustCompile(`\+?\d[\d\s\-().]{5,20}\d`)
)

// splitList cuts a field that may hold several values ("+7 912…, 8 903…").
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '/' })
}

// IdentityValues returns the normalised identifiers of an identity
// section, each once, ordered by kind and value.
func IdentityValues(fields map[string]string) []IndexValue {
	var out []IndexValue
	add := func(kind, v string, ok bool) {
		if ok && !slices.Contains(out, IndexValue{kind, v}) {
			out = append(out, IndexValue{kind, v})
		}
	}
	for _, p := range splitList(fields[FieldPhone]) {
		v, ok := NormalisePhone(p)
		add(store.IndexPhone, v, ok)
	}
	for _, h := range splitList(fields[FieldMessenger]) {
		// "+7 912 …" in the messenger field is a Signal or WhatsApp
		// number: a phone number.
		if p, ok := NormalisePhone(h); ok && !strings.ContainsFunc(h, unicode.IsLetter) && !strings.Contains(h, "@") {
			add(store.IndexPhone, p, true)
			continue
		}
		v, ok := NormaliseHandle(h)
		add(store.IndexHandle, v, ok)
	}
	for _, e := range splitList(fields[FieldEmail]) {
		v, ok := NormaliseEmail(e)
		add(store.IndexEmail, v, ok)
	}
	if c := fields[FieldContact]; c != "" {
		for _, e := range emailInText.FindAllString(c, -1) {
			v, ok := NormaliseEmail(e)
			add(store.IndexEmail, v, ok)
		}
		rest := emailInText.ReplaceAllString(c, " ")
		for _, m := range handleInText.FindAllStringSubmatch(rest, -1) {
			v, ok := NormaliseHandle(m[1] + m[2])
			add(store.IndexHandle, v, ok)
		}
		for _, p := range phoneInText.FindAllString(rest, -1) {
			v, ok := NormalisePhone(p)
			add(store.IndexPhone, v, ok)
		}
	}
	v, ok := NormaliseNameYear(fields[FieldName], fields[FieldBirthYear])
	add(store.IndexNameYear, v, ok)
	slices.SortFunc(out, func(a, b IndexValue) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value)) })
	return out
}

// indexDomain separates kinds inside the HMAC, so the same string as a
// handle and as an e-mail never gives the same value. The watch list uses
// the same domains, which is what lets it match cases.
func indexDomain(kind string) string { return "identity/" + kind }

// blindValues keys normalised identifiers with the blind-index key. It
// needs the vault unsealed.
func (s *Service) blindValues(vals []IndexValue) ([]store.IndexEntry, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	k, err := s.vault.Key(keys.PurposeBlindIndex)
	if err != nil {
		return nil, fmt.Errorf("cases: blind index key: %w", err)
	}
	defer keys.Wipe(k)
	out := make([]store.IndexEntry, len(vals))
	for i, v := range vals {
		out[i] = store.IndexEntry{Kind: v.Kind, Value: keys.BlindIndex(k, indexDomain(v.Kind), v.Value)}
	}
	return out, nil
}

// indexIdentity replaces a case's blind indexes with those of its
// identity fields, in the transaction that writes them, and flags the
// case if any is on the watch list.
//
// The other people of the case (person records) are indexed with it: a
// partner or child who reached out on their own is a duplicate too.
func (s *Service) indexIdentity(ctx context.Context, tx store.Store, c *store.Case, fields map[string]string, now time.Time) error {
	vals := IdentityValues(fields)
	people, err := s.peopleValues(ctx, tx, c)
	if err != nil {
		return err
	}
	for _, v := range people {
		if !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	entries, err := s.blindValues(vals)
	if err != nil {
		return err
	}
	if err := tx.SetCaseIndex(ctx, c.ID, entries); err != nil {
		return fmt.Errorf("cases: index: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	hits, err := tx.MatchWatch(ctx, entries)
	if err != nil {
		return fmt.Errorf("cases: watch list: %w", err)
	}
	if len(hits) == 0 {
		return nil
	}
	return s.watchFlag(ctx, tx, c, now)
}

// peopleValues returns the normalised identifiers of a case's person
// records (name and birth year, and whatever contact was given), whatever
// their status: someone who left the case may still write in again.
func (s *Service) peopleValues(ctx context.Context, tx store.Store, c *store.Case) ([]IndexValue, error) {
	list, err := tx.CaseRecords(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("cases: records: %w", err)
	}
	var out []IndexValue
	err = s.withKey(c, func(dk []byte) error {
		for _, r := range list {
			if r.Kind != RecordPerson {
				continue
			}
			b, err := openRecord(dk, r)
			if err != nil {
				return err
			}
			for _, v := range IdentityValues(map[string]string{
				FieldName: b.Name, FieldBirthYear: b.BirthYear, FieldContact: b.Contact,
			}) {
				if !slices.Contains(out, v) {
					out = append(out, v)
				}
			}
		}
		return nil
	})
	return out, err
}

// reindex indexes a case again from its current identity section and
// person records, after a person was added.
func (s *Service) reindex(ctx context.Context, tx store.Store, c *store.Case, dk []byte, now time.Time) error {
	secs, err := tx.Sections(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("cases: sections: %w", err)
	}
	fields := map[string]string{}
	for _, sec := range secs {
		if sec.Class == ClassIdentity {
			if fields, err = openSection(dk, sec); err != nil {
				return err
			}
		}
	}
	return s.indexIdentity(ctx, tx, c, fields, now)
}

// watchFlag raises the suspected-infiltrator flag on a case that matches
// the watch list, as the system (actor 0): a flag event without a body
// (which entry matched shows on the case page, from the index) and the
// audit entry case.watch_flag. A case already flagged is left alone.
func (s *Service) watchFlag(ctx context.Context, tx store.Store, c *store.Case, now time.Time) error {
	if c.Flagged {
		return nil
	}
	c.Flagged = true
	if err := updateCase(ctx, tx, c, now); err != nil {
		return err
	}
	e := &store.CaseEvent{ID: newID("e"), CaseID: c.ID, At: now, ActorID: 0, Kind: KindFlag}
	if err := tx.AddCaseEvent(ctx, e); err != nil {
		return fmt.Errorf("cases: event: %w", err)
	}
	return audit.New(tx, s.now).Record(ctx, 0, "case.watch_flag", object(c.ID))
}

// DuplicateMatch is another case that shares identifiers with the one at
// hand: its id and which kinds matched, nothing of its contents.
type DuplicateMatch struct {
	CaseID string
	Kinds  []string // store.IndexPhone, …, in the order of store.IndexKinds
	// Access: the viewer may open it (assigned, shared, break-glass).
	// Others see the id only; opening it is refused as any other case.
	Access bool
}

// Duplicates is what the blind indexes say about a case.
type Duplicates struct {
	Matches []DuplicateMatch // ordered by case id
	// Watch lists the kinds of the case's identifiers that are on the
	// watch list (each kind once).
	Watch []string
}

// maxDuplicates bounds the matches shown: a value shared by hundreds of
// cases (a shelter's phone number) says nothing about a person.
const maxDuplicates = 50

// Duplicates lists the other cases that share a blind index value with
// case id, and whether it matches the watch list. The viewer needs access
// to the case's contents, as for View; only ids and kinds are shown, never
// anything of the other cases.
func (s *Service) Duplicates(ctx context.Context, actor *store.User, id string) (*Duplicates, error) {
	_, _, err := s.contentAccess(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	entries, err := s.st.CaseIndex(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("cases: index: %w", err)
	}
	return s.lookup(ctx, actor, entries, id)
}

// DuplicatesOf looks up identity fields that belong to no case yet (a
// hotline request's contact answer, a case about to be opened): the cases
// that share them, and the watch list. Roles that open cases may.
func (s *Service) DuplicatesOf(ctx context.Context, actor *store.User, fields map[string]string) (*Duplicates, error) {
	if !active(actor) || !CanOpen(actor.Role) {
		return nil, ErrForbidden
	}
	entries, err := s.blindValues(IdentityValues(fields))
	if err != nil {
		return nil, err
	}
	return s.lookup(ctx, actor, entries, "")
}

func (s *Service) lookup(ctx context.Context, actor *store.User, entries []store.IndexEntry, self string) (*Duplicates, error) {
	d := &Duplicates{}
	if len(entries) == 0 {
		return d, nil
	}
	matches, err := s.st.FindCases(ctx, entries, maxDuplicates+1)
	if err != nil {
		return nil, fmt.Errorf("cases: find duplicates: %w", err)
	}
	now := s.clock()
	for _, m := range matches {
		if m.CaseID == self {
			continue
		}
		if n := len(d.Matches); n > 0 && d.Matches[n-1].CaseID == m.CaseID {
			d.Matches[n-1].Kinds = append(d.Matches[n-1].Kinds, m.Kind)
			continue
		}
		if len(d.Matches) == maxDuplicates {
			break
		}
		other, err := s.st.GetCase(ctx, m.CaseID)
		if err != nil {
			return nil, fmt.Errorf("cases: duplicate %s: %w", m.CaseID, err)
		}
		how, err := s.accessOf(ctx, s.st, actor, other, now)
		if err != nil {
			return nil, err
		}
		d.Matches = append(d.Matches, DuplicateMatch{CaseID: m.CaseID, Kinds: []string{m.Kind}, Access: how != ""})
	}
	for i := range d.Matches {
		sortKinds(d.Matches[i].Kinds)
	}
	hits, err := s.st.MatchWatch(ctx, entries)
	if err != nil {
		return nil, fmt.Errorf("cases: watch list: %w", err)
	}
	for _, h := range hits {
		if !slices.Contains(d.Watch, h.Kind) {
			d.Watch = append(d.Watch, h.Kind)
		}
	}
	sortKinds(d.Watch)
	return d, nil
}

func sortKinds(kinds []string) {
	order := store.IndexKinds()
	slices.SortFunc(kinds, func(a, b string) int { return cmp.Compare(slices.Index(order, a), slices.Index(order, b)) })
}
