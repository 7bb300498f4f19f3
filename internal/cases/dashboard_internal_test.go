package cases

import (
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	h := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, x := range n {
			out = append(out, time.Duration(x)*time.Hour)
		}
		return out
	}
	for _, tc := range []struct {
		in     []time.Duration
		p      int
		want   time.Duration
		reason string
	}{
		{nil, 50, 0, "none"},
		{h(7), 50, 7 * time.Hour, "one value is every percentile"},
		{h(7), 90, 7 * time.Hour, "one value is every percentile"},
		{h(1, 2), 50, 1 * time.Hour, "ceil(0.5·2) = 1st"},
		{h(1, 2), 90, 2 * time.Hour, "ceil(0.9·2) = 2nd"},
		{h(1, 2, 3), 50, 2 * time.Hour, "ceil(1.5) = 2nd"},
		{h(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Hour, "ceil(5) = 5th"},
		{h(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Hour, "ceil(9) = 9th"},
		{h(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 90, 10 * time.Hour, "ceil(9.9) = 10th"},
		{h(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 100, 10 * time.Hour, "the maximum"},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %d) = %v, want %v (%s)", tc.in, tc.p, got, tc.want, tc.reason)
		}
	}
}
