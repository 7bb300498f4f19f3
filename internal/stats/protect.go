package stats

import (
	"container/heap"
	"math"
)

// Protection of a family of linked tables.
//
// The tables one family publishes (cells, row totals, column totals, the
// grand total, and for the outcome family the time-to-safety bands that
// split one of its rows) are exactly the flows of a circulation in a small
// network: one arc per published number, one node per equation linking
// them (a row: its total equals the sum of its cells; a column likewise;
// the grand total equals both sums). Finer counts that no table shows but
// an attacker could try to bound (outcome × period × band) are arcs too,
// always hidden.
//
// What an attacker holding the release knows is: the value of every
// published arc, that every count is a whole number ≥ 0, and that flow is
// conserved at every node. Whatever the attacker can derive about a hidden
// arc is therefore an interval [lo, hi] over the circulations that agree
// with the published arcs. Its lower end is the arc's value less the most
// flow that can be rerouted around it
// through hidden arcs, each of which may grow without bound or shrink to
// zero: a maximum flow from its tail to its head, since taking t off the
// arc leaves t too much at its tail and t too little at its head. Network matrices are totally unimodular, so this
// bound of the linear relaxation is also the bound over whole numbers, and
// the rerouted flow itself is a whole-number table that agrees with
// everything published and has the arc at lo.
//
// The protection rule: every arc that counts at least one and fewer than
// the threshold of people must have lo = 0, so that no one, however much
// they know besides, can prove from the release that anyone at all is in
// that cell. Cells with a value below the threshold are hidden (primary
// suppression); where that is not enough, published arcs along the
// cheapest augmenting paths are hidden too (complementary suppression),
// cheapest meaning small interior cells before margins, margins before
// the grand total. Hiding an arc only relaxes the system, so an arc once
// protected stays protected while others are handled.

// arc is one count of a family: a published number or a finer one.
type arc struct {
	from, to int
	value    int  // units (violations, outcomes) it counts
	persons  int  // distinct people among them
	hidden   bool // not published
	model    bool // never published: a count no table shows
	weight   int  // cost of hiding it, per unit
}

type network struct {
	nodes int
	arcs  []*arc
}

func (n *network) node() int {
	n.nodes++
	return n.nodes - 1
}

func (n *network) add(from, to, value, persons, weight int) *arc {
	a := &arc{from: from, to: to, value: value, persons: persons, weight: weight}
	n.arcs = append(n.arcs, a)
	return a
}

// sensitive reports whether a's people must not be provably there: at
// least one and fewer than k.
func (a *arc) sensitive(k int) bool { return a.value > 0 && a.persons < k }

// flowGraph is a residual graph for one maximum-flow computation.
type flowGraph struct {
	adj   [][]int
	edges []edge
}

type edge struct {
	to, rev int
	cap     int64
	arc     *arc // the arc a candidate edge would hide; nil for hidden arcs
	cost    int64
}

const unbounded = math.MaxInt64 / 4

func newFlowGraph(nodes int) *flowGraph {
	return &flowGraph{adj: make([][]int, nodes)}
}

func (g *flowGraph) addEdge(from, to int, cap, cost int64, a *arc) {
	g.adj[from] = append(g.adj[from], len(g.edges))
	g.edges = append(g.edges, edge{to: to, rev: len(g.edges) + 1, cap: cap, arc: a, cost: cost})
	g.adj[to] = append(g.adj[to], len(g.edges))
	g.edges = append(g.edges, edge{to: from, rev: len(g.edges) - 1, cap: 0, arc: a, cost: -cost})
}

// residual builds the graph in which rerouting flow around skip is a
// flow: each hidden arc may grow (an edge along it, unbounded) or shrink
// (an edge against it, up to its value).
func (n *network) residual(skip *arc) *flowGraph {
	g := newFlowGraph(n.nodes)
	for _, a := range n.arcs {
		if a == skip || !a.hidden {
			continue
		}
		g.addEdge(a.from, a.to, unbounded, 0, nil)
		if a.value > 0 {
			g.addEdge(a.to, a.from, int64(a.value), 0, nil)
		}
	}
	return g
}

// maxFlow pushes up to need units from s to t (Edmonds–Karp) and returns
// how many it pushed.
func (g *flowGraph) maxFlow(s, t int, need int64) int64 {
	var total int64
	prev := make([]int, len(g.adj))
	for total < need {
		for i := range prev {
			prev[i] = -1
		}
		queue := []int{s}
		prev[s] = -2
		for len(queue) > 0 && prev[t] == -1 {
			u := queue[0]
			queue = queue[1:]
			for _, ei := range g.adj[u] {
				e := &g.edges[ei]
				if e.cap > 0 && prev[e.to] == -1 {
					prev[e.to] = ei
					queue = append(queue, e.to)
				}
			}
		}
		if prev[t] == -1 {
			break
		}
		push := need - total
		for v := t; v != s; v = g.edges[g.edges[prev[v]].rev].to {
			push = min(push, g.edges[prev[v]].cap)
		}
		for v := t; v != s; v = g.edges[g.edges[prev[v]].rev].to {
			e := &g.edges[prev[v]]
			e.cap -= push
			g.edges[e.rev].cap += push
		}
		total += push
	}
	return total
}

// lowerBound is the least value a whole-number table agreeing with every
// published arc can give a.
func (n *network) lowerBound(a *arc) int {
	g := n.residual(a)
	moved := g.maxFlow(a.from, a.to, int64(a.value))
	return a.value - int(moved)
}

// protect hides arcs until every sensitive arc has lower bound 0. Arcs
// below the threshold, and model arcs, are hidden first.
func (n *network) protect(k int) {
	for _, a := range n.arcs {
		if a.model || a.persons < k {
			a.hidden = true
		}
	}
	for _, a := range n.arcs {
		if !a.sensitive(k) {
			continue
		}
		for {
			g := n.residual(a)
			moved := g.maxFlow(a.from, a.to, int64(a.value))
			if moved >= int64(a.value) {
				break
			}
			path := n.cheapestPath(g, a)
			if len(path) == 0 {
				// Unreachable: with every arc hidden, a's whole cycle can
				// shrink to zero. Hide everything rather than publish a
				// disclosure.
				for _, b := range n.arcs {
					b.hidden = true
				}
				break
			}
			for _, b := range path {
				b.hidden = true
			}
		}
	}
}

// cheapestPath finds, in the residual graph g left after rerouting what
// can be rerouted around a, the cheapest way to reroute one more unit if
// some published arcs were hidden, and returns those arcs. Hidden arcs'
// remaining residual edges cost nothing; a published arc may be used in
// either direction (growing, or shrinking down to zero) at its weight.
func (n *network) cheapestPath(g *flowGraph, a *arc) []*arc {
	for _, b := range n.arcs {
		if b.hidden || b == a {
			continue
		}
		w := int64(b.weight) * int64(max(b.value, 1))
		g.addEdge(b.from, b.to, unbounded, w, b)
		if b.value > 0 {
			g.addEdge(b.to, b.from, int64(b.value), w, b)
		}
	}
	s, t := a.from, a.to
	dist := make([]int64, len(g.adj))
	prev := make([]int, len(g.adj))
	for i := range dist {
		dist[i], prev[i] = unbounded, -1
	}
	dist[s] = 0
	pq := &nodeQueue{{s, 0}}
	for pq.Len() > 0 {
		it := heap.Pop(pq).(nodeDist)
		if it.d > dist[it.node] {
			continue
		}
		for _, ei := range g.adj[it.node] {
			e := g.edges[ei]
			// Only forward candidate edges carry a cost; reverse edges of
			// candidates (cap 0 until used) never qualify.
			if e.cap <= 0 || e.cost < 0 {
				continue
			}
			if d := it.d + e.cost; d < dist[e.to] {
				dist[e.to], prev[e.to] = d, ei
				heap.Push(pq, nodeDist{e.to, d})
			}
		}
	}
	if prev[t] == -1 && s != t {
		return nil
	}
	var path []*arc
	for v := t; v != s; v = g.edges[g.edges[prev[v]].rev].to {
		if b := g.edges[prev[v]].arc; b != nil {
			path = append(path, b)
		}
	}
	return path
}

type nodeDist struct {
	node int
	d    int64
}

type nodeQueue []nodeDist

func (q nodeQueue) Len() int           { return len(q) }
func (q nodeQueue) Less(i, j int) bool { return q[i].d < q[j].d }
func (q nodeQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *nodeQueue) Push(x any)        { *q = append(*q, x.(nodeDist)) }
func (q *nodeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// Weights: hiding an interior cell costs least, a margin more, the grand
// total most; within each, small counts before large ones.
const (
	weightCell   = 1
	weightMargin = 3
	weightTotal  = 50
)
