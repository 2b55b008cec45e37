package faultdraw

import "testing"

func TestClamp(t *testing.T) {
	nan := 0.0
	nan /= nan
	for in, want := range map[float64]float64{-1: 0, 0: 0, 0.25: 0.25, 1: 1, 3: 1} {
		if got := clamp(in); got != want {
			t.Errorf("clamp(%v) = %v, want %v", in, got, want)
		}
	}
	if got := clamp(nan); got != 0 {
		t.Errorf("clamp(NaN) = %v, want 0", got)
	}
}

type kind int

func TestAllAndCheck(t *testing.T) {
	if all := All(kind(4)); len(all) != 3 || all[0] != 1 || all[2] != 3 {
		t.Fatalf("All(4) = %v", all)
	}
	if Check([]kind{1, 3}, 4, 0.5) != nil || Check([]kind{4}, 4, 0) == nil || Check([]kind{0}, 4, 0) == nil || Check(nil, kind(4), 1.5) == nil {
		t.Fatal("Check")
	}
}
