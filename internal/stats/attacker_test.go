package stats

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// The attacker of the re-identification tests. It is written apart from
// the builder and shares none of its code: it reads only what was
// published (release documents, as served), writes down every linear
// equation the numbers in them satisfy, and asks a general linear-program
// solver (gonum's simplex) for the smallest value any count can take over
// all whole-number tables that agree with everything published. Since
// every family of tables is a network (margins are sums of cells), the
// linear bound is also the bound over whole numbers (total unimodularity),
// so "the minimum is 0" means: no table consistent with every release
// puts anyone in that cell, as far as anyone can prove.

type expr map[int]float64

type equation struct {
	e expr
	v float64
}

type attacker struct {
	vars   map[string]int
	eqs    []equation
	extras []equation // knowledge besides the releases (monotone growth, in the naive test)

	// The reduced system, kept while no equation is added.
	cachedN, cachedVars int
	col                 map[int]int
	rows                []row
}

func newAttacker() *attacker { return &attacker{vars: map[string]int{}} }

func (a *attacker) v(name string) int {
	if i, ok := a.vars[name]; ok {
		return i
	}
	a.vars[name] = len(a.vars)
	return a.vars[name]
}

func sum(ids ...int) expr {
	e := expr{}
	for _, i := range ids {
		e[i]++
	}
	return e
}

func (a *attacker) publish(e expr, v Value) {
	if !v.Hidden {
		a.eqs = append(a.eqs, equation{e, float64(v.N)})
	}
}

// read adds what one release says. Each release's counts are unknowns of
// their own: nothing published ties one release's people to another's.
func (a *attacker) read(r *Release) {
	tag := fmt.Sprintf("r%d", r.Version)
	for _, t := range r.Tables {
		switch t.ID {
		case TableTypePerpetrator, TableRegionPeriod:
			a.readTwoWay(tag, &t)
		case TableOutcomes:
			a.readOutcomes(tag, &t, r.Table(TableSafety))
		}
	}
}

// cellVar names a cell of a release's table by its categories, so that
// the same cell of different releases can be added up.
func cellVar(tag, table, row, col string) string { return tag + "/" + table + "/" + row + "/" + col }

func (a *attacker) readTwoWay(tag string, t *Table) {
	rows, cols := t.Rows.Categories, t.Columns.Categories
	all := expr{}
	for i, rc := range rows {
		row := expr{}
		for j, cc := range cols {
			x := a.v(cellVar(tag, t.ID, rc.ID, cc.ID))
			row[x], all[x] = 1, 1
			a.publish(sum(x), t.Cells[i][j])
		}
		a.publish(row, t.RowTotals[i])
	}
	for j, cc := range cols {
		col := expr{}
		for _, rc := range rows {
			col[a.v(cellVar(tag, t.ID, rc.ID, cc.ID))] = 1
		}
		a.publish(col, t.ColumnTotals[j])
	}
	a.publish(all, t.Total)
}

// readOutcomes: people by outcome and period; the evacuated are further
// split by time to safety, which a second table publishes by band only.
func (a *attacker) readOutcomes(tag string, t, safety *Table) {
	bands := safety.Rows.Categories
	for i, oc := range t.Rows.Categories {
		row := expr{}
		for j, pc := range t.Columns.Categories {
			var cell expr
			if oc.ID == OutcomeEvacuated {
				cell = expr{}
				for _, b := range bands {
					cell[a.v(cellVar(tag, "evacuated_safety", pc.ID, b.ID))] = 1
				}
			} else {
				cell = sum(a.v(cellVar(tag, t.ID, oc.ID, pc.ID)))
			}
			for x := range cell {
				row[x] = 1
			}
			a.publish(cell, t.Cells[i][j])
		}
		a.publish(row, t.RowTotals[i])
		if oc.ID == OutcomeEvacuated {
			a.publish(row, safety.Total)
		}
	}
	for k, b := range bands {
		band := expr{}
		for _, pc := range t.Columns.Categories {
			band[a.v(cellVar(tag, "evacuated_safety", pc.ID, b.ID))] = 1
		}
		a.publish(band, safety.RowTotals[k])
	}
}

// minimum returns the least value e takes over the non-negative solutions
// of every equation known; names not yet seen are free (and so 0).
func (a *attacker) minimum(e expr) (float64, error) {
	eqs := append(slices.Clone(a.eqs), a.extras...)
	n := len(a.vars)
	if a.rows == nil || a.cachedN != len(eqs) || a.cachedVars != n {
		used := make([]bool, n)
		for _, q := range eqs {
			for x := range q.e {
				used[x] = true
			}
		}
		a.col = map[int]int{}
		for x := range n {
			if used[x] {
				a.col[x] = len(a.col)
			}
		}
		a.rows, a.cachedN, a.cachedVars = reduce(eqs, a.col), len(eqs), n
	}
	col, rows := a.col, a.rows
	m := len(rows)
	// Two extra columns in an extra row (s1 + s2 = 0) keep the matrix
	// wider than tall, as the solver needs, without changing anything.
	nc := len(col) + 2
	A := mat.NewDense(m+1, nc, nil)
	b := make([]float64, m+1)
	for i, r := range rows {
		for j, v := range r.coef {
			A.Set(i, j, v)
		}
		b[i] = r.v
	}
	A.Set(m, nc-2, 1)
	A.Set(m, nc-1, 1)
	c := make([]float64, nc)
	for x, v := range e {
		if j, ok := col[x]; ok {
			c[j] = v
		}
	}
	opt, _, err := lp.Simplex(c, A, b, 1e-10, nil)
	if err != nil {
		return 0, err
	}
	return opt, nil
}

type row struct {
	coef []float64
	v    float64
}

// reduce turns equations into independent rows (Gaussian elimination with
// partial pivoting; the data are small integers, so a tolerance of 1e-9
// separates zero from non-zero safely).
func reduce(eqs []equation, col map[int]int) []row {
	var rows []row
	for _, q := range eqs {
		r := row{coef: make([]float64, len(col)), v: q.v}
		for x, v := range q.e {
			r.coef[col[x]] = v
		}
		rows = append(rows, r)
	}
	var out []row
	pivotCol := 0
	for pivotCol < len(col) && len(rows) > 0 {
		best := -1
		for i, r := range rows {
			if math.Abs(r.coef[pivotCol]) > 1e-9 && (best < 0 || math.Abs(r.coef[pivotCol]) > math.Abs(rows[best].coef[pivotCol])) {
				best = i
			}
		}
		if best < 0 {
			pivotCol++
			continue
		}
		p := rows[best]
		rows = slices.Delete(rows, best, best+1)
		for i := range rows {
			if f := rows[i].coef[pivotCol] / p.coef[pivotCol]; f != 0 {
				for j := range rows[i].coef {
					rows[i].coef[j] -= f * p.coef[j]
				}
				rows[i].v -= f * p.v
			}
		}
		out = append(out, p)
		pivotCol++
	}
	return out
}
