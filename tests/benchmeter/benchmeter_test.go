package benchmeter

import (
	"os"
	"testing"
	"time"
)

// procsCPU must read a live process's times: for this process it agrees
// with getrusage to within two clock ticks (/proc counts user and system
// time each in whole ticks, truncated), once it has burnt enough CPU that
// a tick is a small part of it. A pid that does not exist counts nothing.
func TestProcsCPU(t *testing.T) {
	tick := time.Second / clockTicks
	x := 0
	for selfCPU() < 20*tick { // CPU time, not wall time: load only makes it longer
		for i := range 1_000_000 {
			x += i % 7
		}
	}
	_ = x
	before := selfCPU()
	got := procsCPU([]int{os.Getpid()})
	after := selfCPU()
	if got < before-2*tick || got > after {
		t.Fatalf("procsCPU(self) = %v, want %v-2×%v..%v (getrusage)", got, before, tick, after)
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
