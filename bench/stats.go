package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Dist is a sorted sample of durations.
type Dist []time.Duration

// NewDist sorts a copy of d.
func NewDist(d []time.Duration) Dist {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

// Q is the nearest-rank quantile (q in [0, 1]; 0 is the minimum, 1 the
// maximum); zero for an empty sample.
func (d Dist) Q(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return quantile(d, q)
}

// Min, Median and Max are Q(0), Q(0.5) and Q(1).
func (d Dist) Min() time.Duration    { return d.Q(0) }
func (d Dist) Median() time.Duration { return d.Q(0.5) }
func (d Dist) Max() time.Duration    { return d.Q(1) }

// String is "min a / median b / p90 c / max d (n=N)".
func (d Dist) String() string {
	if len(d) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("min %s / median %s / p90 %s / max %s (n=%d)",
		fmtDur(d.Min()), fmtDur(d.Median()), fmtDur(d.Q(0.9)), fmtDur(d.Max()), len(d))
}

// quantile is the nearest-rank quantile of sorted s.
func quantile(s []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// PoissonSchedule is the arrival times, from 0, of a Poisson process of
// rate per second over dur: exponential gaps of mean 1/rate from a
// generator seeded with seed, so every system of one run gets the same
// callers at the same moments.
func PoissonSchedule(rate float64, dur time.Duration, seed uint64) []time.Duration {
	if rate <= 0 || dur <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	out := make([]time.Duration, 0, int(rate*dur.Seconds()*1.1)+1)
	var t float64 // seconds
	for {
		t += rng.ExpFloat64() / rate
		at := time.Duration(t * float64(time.Second))
		if at >= dur {
			return out
		}
		out = append(out, at)
	}
}

// ratio is a/b formatted as "×1.23"; "—" when b is zero.
func ratioOf(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("×%.3g", a/b)
}
