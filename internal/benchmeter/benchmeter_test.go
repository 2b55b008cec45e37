package benchmeter

import (
	"os"
	"testing"
)

// procsCPU must read a live process's times (this one burns some CPU first)
// and count nothing for a pid that does not exist.
func TestProcsCPU(t *testing.T) {
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	_ = x
	if got := procsCPU([]int{os.Getpid()}); got <= 0 {
		t.Fatalf("procsCPU(self) = %v, want > 0", got)
	}
	if got := procsCPU([]int{1 << 30}); got != 0 {
		t.Fatalf("procsCPU(no such pid) = %v, want 0", got)
	}
	if selfCPU() <= 0 {
		t.Fatal("selfCPU = 0")
	}
	if kb, ok := PeakRSSKiB(); !ok || kb <= 0 {
		t.Fatalf("PeakRSSKiB = %d, %v", kb, ok)
	}
}
