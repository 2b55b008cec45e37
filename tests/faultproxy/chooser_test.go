package faultproxy

import (
	"slices"
	"testing"
)

func draws(c *chooser, n int) []fault {
	out := make([]fault, n)
	for i := range out {
		out[i] = c.next()
	}
	return out
}

func TestChooserSameSeedSameFaults(t *testing.T) {
	a := draws(newChooser(42, 0.3, AllKinds()), 2000)
	b := draws(newChooser(42, 0.3, AllKinds()), 2000)
	if !slices.Equal(a, b) {
		t.Fatal("two choosers with seed 42 gave different fault sequences")
	}
	c := draws(newChooser(43, 0.3, AllKinds()), 2000)
	if slices.Equal(a, c) {
		t.Fatal("seeds 42 and 43 gave the same fault sequence")
	}
}

func TestChooserRate(t *testing.T) {
	for _, f := range draws(newChooser(1, 0, AllKinds()), 1000) {
		if f.kind != None {
			t.Fatalf("rate 0 gave fault %v", f.kind)
		}
	}
	seen := map[Kind]int{}
	for _, f := range draws(newChooser(1, 1, AllKinds()), 1000) {
		if f.kind == None {
			t.Fatal("rate 1 gave a request without fault")
		}
		if f.frac < 0 || f.frac >= 1 {
			t.Fatalf("frac %v out of [0,1)", f.frac)
		}
		seen[f.kind]++
	}
	for _, k := range AllKinds() {
		if seen[k] < 50 { // ~143 expected of each
			t.Errorf("kind %v drawn %d times in 1000, expected about 1000/%d", k, seen[k], len(AllKinds()))
		}
	}

	faulted := 0
	const n = 10000
	for _, f := range draws(newChooser(7, 0.3, AllKinds()), n) {
		if f.kind != None {
			faulted++
		}
	}
	if share := float64(faulted) / n; share < 0.28 || share > 0.32 {
		t.Errorf("rate 0.3 faulted %.3f of requests", share)
	}
}

func TestChooserOnlyConfiguredKinds(t *testing.T) {
	kinds := []Kind{Truncate, ServerBusy503}
	for _, f := range draws(newChooser(3, 1, kinds), 500) {
		if !slices.Contains(kinds, f.kind) {
			t.Fatalf("drew %v, configured only %v", f.kind, kinds)
		}
	}
}

// SetRate changes which requests fault, never the kinds drawn at each
// position: a run that pauses faults stays comparable to one that does not.
func TestChooserSetRateKeepsSequence(t *testing.T) {
	want := draws(newChooser(9, 1, AllKinds()), 100)
	c := newChooser(9, 1, AllKinds())
	c.setRate(0)
	for i, f := range draws(c, 10) {
		if f.kind != None {
			t.Fatalf("draw %d after SetRate(0): %v", i, f.kind)
		}
	}
	c.setRate(1)
	if got := draws(c, 90); !slices.Equal(got, want[10:]) {
		t.Fatal("SetRate shifted the fault sequence")
	}
}
