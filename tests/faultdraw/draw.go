// Package faultdraw draws the faults of the test proxies (tests/faultproxy
// for storage, tests/tdsproxy for the catalog) from a seeded PRNG: the same
// seed and the same order of requests give the same faults.
package faultdraw

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// Kind is a proxy's fault kind: an int enumeration whose zero is "none"
// and whose kinds run from 1 to a count (exclusive).
type Kind interface{ ~int }

// All lists the kinds 1..n-1 (none excluded).
func All[K Kind](n K) []K {
	out := make([]K, 0, int(n)-1)
	for k := K(1); k < n; k++ {
		out = append(out, k)
	}
	return out
}

// Check validates a proxy's kinds (each in 1..n-1) and rate (0..1).
func Check[K Kind](kinds []K, n K, rate float64) error {
	for _, k := range kinds {
		if k <= 0 || k >= n {
			return fmt.Errorf("unknown fault kind %v", k)
		}
	}
	if rate < 0 || rate > 1 || rate != rate {
		return fmt.Errorf("rate %v is not within 0..1", rate)
	}
	return nil
}

// Draw draws one fault per request. Every draw takes the same three
// numbers whatever the outcome, so the sequence of kinds is a function of
// the seed and the request's position alone: changing the rate (SetRate)
// only changes which positions get their fault.
type Draw[K Kind] struct {
	mu    sync.Mutex
	rng   *rand.Rand
	rate  float64
	kinds []K
}

// New draws from kinds with equal odds, a share rate of the requests.
func New[K Kind](seed int64, rate float64, kinds []K) *Draw[K] {
	s := uint64(seed)
	return &Draw[K]{rng: rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)), rate: clamp(rate), kinds: append([]K(nil), kinds...)}
}

// Next is the next request's fault (0: none) and a fraction in [0,1) that
// places it (a share of the longest delay, where an answer is cut).
func (d *Draw[K]) Next() (K, float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.rng.Float64()
	k := d.kinds[d.rng.IntN(len(d.kinds))]
	frac := d.rng.Float64()
	if u >= d.rate {
		return 0, 0
	}
	return k, frac
}

// SetRate changes the share of requests that get a fault, clamped to 0..1.
func (d *Draw[K]) SetRate(r float64) {
	d.mu.Lock()
	d.rate = clamp(r)
	d.mu.Unlock()
}

// clamp keeps r in [0,1]; NaN is 0.
func clamp(r float64) float64 {
	switch {
	case r > 1:
		return 1
	case r > 0:
		return r
	default:
		return 0
	}
}
