// Package demo fills an installation with synthetic people and cases, so
// that a newcomer can try every screen and benchmarks have data
// (corridor demo). Every name ends in "(demo)"; phone numbers are in the
// +7 900 000-xx-xx block, e-mail addresses at example.org (reserved for
// examples, RFC 2606) and handles start with demo_, so nothing generated
// can be mistaken for, or collide with, a real person.
//
// The generator is deterministic for a seed, except for the keys and ids,
// which are random as always.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/corridor-org/corridor/internal/cases"
	"github.com/corridor-org/corridor/internal/intake"
	"github.com/corridor-org/corridor/internal/store"
)

// Options says what to generate.
type Options struct {
	Cases    int       // cases to create
	Requests int       // hotline requests without a case; < 0 means none, 0 means Cases/10 (at least 1)
	Seed     uint64    // same seed, same people
	Now      time.Time // zero means time.Now(); dates are spread over the two years before it
	// BatchSize is how many cases go into one transaction; <= 0 means 500.
	BatchSize int
	// Progress, if set, is called after each batch with the cases done.
	Progress func(done int)
}

// Result counts what was generated.
type Result struct {
	Cases      int
	Requests   int
	Duplicates int // cases that share a phone number with an earlier one (the same person twice)
}

var (
	firstRU = []string{"Ислам", "Магомед", "Адам", "Руслан", "Ибрагим", "Хасан", "Алихан", "Зелимхан", "Ахмед", "Умар",
		"Мовсар", "Аслан", "Иван", "Дмитрий", "Сергей", "Алексей", "Максим", "Артём", "Мария", "Анна", "Елена", "Мадина", "Хеда", "Зарема"}
	lastRU = []string{"Исаев", "Магомедов", "Алиев", "Хасанов", "Умаров", "Дудаев", "Мусаев", "Ахмадов", "Идрисов", "Садулаев",
		"Иванов", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Новиков", "Морозов"}
	firstEN = []string{"Adam", "Daniel", "Oliver", "James", "Samuel", "Lucas", "Emma", "Sophia", "Olivia", "Alex", "Robin", "Sasha"}
	lastEN  = []string{"Smith", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Hughes", "Green", "Baker", "Hall"}
	cities  = []string{"Грозный", "Гудермес", "Аргун", "Шали", "Урус-Мартан", "Назрань", "Махачкала", "Владикавказ", "Нальчик",
		"Москва", "Санкт-Петербург", "Ростов-на-Дону", "Краснодар", "Ставрополь", "Нижний Новгород", "Екатеринбург"}
	hosts = []string{"Canada", "Germany", "France", "Lithuania", "the Netherlands", "Sweden", "Norway"}

	stories = []string{
		"Detained at a checkpoint, phone searched, released after three days. Relatives were told.",
		"Задержан полицией, допрашивали о знакомых, требовали назвать имена.",
		"Family found messages and threatened to kill him; hiding with a friend.",
		"Родственники узнали и угрожают; ушёл из дома, живёт у знакомых.",
		"Was lured to a meeting through a dating app; beaten, filmed, money extorted.",
		"Вызывали в отдел, отобрали паспорт, велели не уезжать из города.",
		"A colleague was detained and named him; police came to his workplace.",
	}
	notesText = []string{
		"Called back; safe for now, will check in tomorrow.",
		"Связались через Signal, договорились о времени звонка.",
		"Tickets booked for the bus, leaves in the morning.",
		"Документы: нужен загранпаспорт, старый изъят.",
		"Partner organisation confirmed a place in the shelter.",
		"No answer for two days; trying the second contact.",
	}
	notesClass = []string{cases.ClassIdentity, cases.ClassIdentity, cases.ClassLogistics, cases.ClassIdentity, cases.ClassLogistics, cases.ClassIdentity}
	factors    = []string{"detained_before", "family_threat", "police_search", "injured", "phone_seized"}
)

// Generate creates synthetic cases (in batches, through cases.Seed) and
// hotline requests (through intake.Import, which needs no receipt and so
// runs no argon2id). The vault must be unsealed. Cases are assigned to
// existing staff whose role may hold a case; with none, they stay
// unassigned.
func Generate(ctx context.Context, st store.Store, cs *cases.Service, in *intake.Service, opt Options) (Result, error) {
	if opt.Cases < 0 {
		return Result{}, fmt.Errorf("demo: negative number of cases")
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 500
	}
	if opt.Requests == 0 {
		opt.Requests = max(opt.Cases/10, 1)
	}
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x636f727269646f72))
	users, err := st.ListUsers(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("demo: users: %w", err)
	}
	var staff []int64
	for _, u := range users {
		if !u.Disabled && cs.Policy().Assignable(u.Role) && u.Role != store.RoleAdmin && u.Role != store.RoleCoordinator {
			staff = append(staff, u.ID)
		}
	}
	g := &generator{rng: rng, now: opt.Now.UTC(), wf: cs.Workflow(), staff: staff}
	var res Result
	for done := 0; done < opt.Cases; {
		n := min(opt.BatchSize, opt.Cases-done)
		batch := make([]cases.SeedCase, n)
		for i := range batch {
			var dup bool
			batch[i], dup = g.seedCase(done + i)
			if dup {
				res.Duplicates++
			}
		}
		if _, err := cs.Seed(ctx, 0, batch); err != nil {
			return res, fmt.Errorf("demo: cases %d–%d: %w", done+1, done+n, err)
		}
		done += n
		res.Cases = done
		if opt.Progress != nil {
			opt.Progress(done)
		}
	}
	for i := range max(opt.Requests, 0) {
		a, at := g.request(i)
		if _, err := in.Import(ctx, a, "ru", at); err != nil {
			return res, fmt.Errorf("demo: request %d: %w", i+1, err)
		}
		res.Requests++
	}
	return res, nil
}

type generator struct {
	rng    *rand.Rand
	now    time.Time
	wf     *cases.Workflow
	staff  []int64
	phones []string // earlier cases' phone numbers, for duplicates
}

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

// person makes up a name, a birth year and contacts.
func (g *generator) person(i int) map[string]string {
	r := g.rng
	var name string
	if r.IntN(4) == 0 {
		name = pick(r, firstEN) + " " + pick(r, lastEN)
	} else {
		name = pick(r, firstRU) + " " + pick(r, lastRU)
	}
	f := map[string]string{
		cases.FieldName:      name + " (demo)",
		cases.FieldBirthYear: strconv.Itoa(1970 + r.IntN(36)),
		cases.FieldPhone:     fmt.Sprintf("+7 900 %03d-%02d-%02d", (i/10000)%1000, (i/100)%100, i%100),
		"languages":          pick(r, []string{"ru", "ru, ce", "ru, en", "en"}),
	}
	if r.IntN(2) == 0 {
		f[cases.FieldMessenger] = fmt.Sprintf("@demo_%d", i)
	}
	if r.IntN(3) == 0 {
		f[cases.FieldEmail] = fmt.Sprintf("person%d@example.org", i)
	}
	return f
}

// stageTimes spreads n moves between created and now.
func (g *generator) stageTimes(created time.Time, n int) []time.Time {
	span := g.now.Sub(created)
	out := make([]time.Time, n)
	for i := range out {
		out[i] = created.Add(span * time.Duration(i+1) / time.Duration(n+2)).Add(-time.Duration(g.rng.IntN(3600)) * time.Second)
	}
	return out
}

func (g *generator) seedCase(i int) (cases.SeedCase, bool) {
	r := g.rng
	created := g.now.Add(-time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour))))
	identity := g.person(i)
	dup := false
	// About one case in thirty is someone who reached out before, through
	// another channel: the same phone number, another name spelling.
	if len(g.phones) > 0 && r.IntN(30) == 0 {
		identity[cases.FieldPhone] = "8" + pick(r, g.phones)[2:] // same number, dialled with the trunk prefix
		dup = true
	} else {
		g.phones = append(g.phones, identity[cases.FieldPhone])
		if len(g.phones) > 5000 {
			g.phones = g.phones[1:]
		}
	}
	sc := cases.SeedCase{
		CreatedAt: created,
		Sections: map[string]map[string]string{
			cases.ClassIdentity:  identity,
			cases.ClassLocation:  {"current_region": pick(r, cities), "home_region": pick(r, cities[:9])},
			cases.ClassTestimony: {"account": pick(r, stories)},
		},
	}
	if len(g.staff) > 0 && r.IntN(10) > 0 {
		sc.AssigneeID = g.staff[r.IntN(len(g.staff))]
	}
	// Where the case is now: every stage gets some, more in the early ones.
	var open []string
	for _, st := range g.wf.Stages() {
		if !g.wf.IsClosed(st.ID) {
			open = append(open, st.ID)
		}
	}
	var closed []string
	for _, st := range g.wf.Stages() {
		if g.wf.IsClosed(st.ID) {
			closed = append(closed, st.ID)
		}
	}
	target := min(r.IntN(len(open)+3), len(open)) // len(open) means closed
	path := slices.Clone(open[1:min(target+1, len(open))])
	var closeReason string
	if target == len(open) && len(closed) > 0 {
		path = append(path, closed[0])
		closeReason = pick(r, g.wf.CloseReasons()).ID
		if r.IntN(2) == 0 {
			closeReason = "resettled"
			if !g.wf.ValidCloseReason(closeReason) {
				closeReason = g.wf.CloseReasons()[0].ID
			}
		}
	}
	times := g.stageTimes(created, len(path))
	for k, st := range path {
		ss := cases.SeedStage{Stage: st, At: times[k], ActorID: sc.AssigneeID}
		if g.wf.IsClosed(st) {
			ss.CloseReason = closeReason
		}
		sc.Stages = append(sc.Stages, ss)
	}
	if len(path) >= 1 {
		sc.Risk = 1 + r.IntN(cases.MaxRisk)
		sc.Sections[cases.ClassTestimony]["what_happened"] = pick(r, factors)
	}
	if len(path) >= 2 {
		sc.Verified = true
		sc.Sections[cases.ClassLogistics] = map[string]string{"plan": "Bus to " + pick(r, cities[9:]) + ", then " + pick(r, hosts), "needs": "housing, documents"}
	}
	sc.Flagged = r.IntN(100) == 0
	for k := range r.IntN(3) {
		n := r.IntN(len(notesText))
		class := notesClass[n]
		if class == cases.ClassLogistics && !sc.Verified {
			class = cases.ClassIdentity
		}
		sc.Notes = append(sc.Notes, cases.SeedNote{At: created.Add(time.Duration(k+1) * time.Hour), ActorID: sc.AssigneeID, Class: class, Text: notesText[n]})
	}
	sc.LastContactAt = g.now.Add(-time.Duration(r.Int64N(int64(60 * 24 * time.Hour))))
	if sc.LastContactAt.Before(created) {
		sc.LastContactAt = created
	}
	return sc, dup
}

// request makes up a hotline request that has no case yet.
func (g *generator) request(i int) (intake.Answers, time.Time) {
	r := g.rng
	at := g.now.Add(-time.Duration(r.Int64N(int64(30 * 24 * time.Hour))))
	a := intake.Answers{
		"what_happened": {pick(r, stories) + " (demo)"},
		"urgency":       {pick(r, []string{"immediate", "days", "weeks", "not_urgent"})},
		"location":      {pick(r, cities)},
		"contact":       {fmt.Sprintf("Signal +7 901 %03d-%02d-%02d (demo)", (i/10000)%1000, (i/100)%100, i%100)},
		"languages":     {"ru"},
	}
	return a, at
}
