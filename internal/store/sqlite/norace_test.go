//go:build !race

package sqlite

// raceEnabled reports whether the race detector is on, under which the
// pure-Go SQLite runs too slowly for the tests that fill 100,000 rows.
const raceEnabled = false
