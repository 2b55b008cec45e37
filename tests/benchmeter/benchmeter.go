// Package benchmeter measures what a benchmark's timed region cost besides
// wall time: CPU-seconds per GB of this process and of other processes (the
// Azurite emulator's), and this process's peak resident set. The issues'
// speed targets compare Offload with baselines on a small machine that
// Azurite shares, where integrity work shows up as wall time; the CPU
// columns say who did the work.
//
// Linux only (getrusage and /proc); elsewhere the metrics are left out.
package benchmeter

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/azstorage"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// Meter accumulates CPU time over the timed regions of one benchmark. Use
// Start and Stop around each timed region (beside b.StartTimer and
// b.StopTimer) and Report at the end.
type Meter struct {
	pids        []int
	running     bool
	self, other time.Duration // accumulated
	self0       time.Duration // at Start
	other0      time.Duration

	reqs        *azstorage.Requests
	reqs0, nreq map[string]int64 // at Start; accumulated
}

// New resets the process's peak-RSS count and returns a stopped Meter that
// also counts the CPU time of pids (Azurite's processes).
func New(pids ...int) *Meter {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return &Meter{pids: pids}
}

// Start begins a timed region.
func (m *Meter) Start() {
	if m.running {
		return
	}
	m.running = true
	m.self0, m.other0 = selfCPU(), procsCPU(m.pids)
	if m.reqs != nil {
		m.reqs0 = m.reqs.Counts()
	}
}

// Stop ends a timed region.
func (m *Meter) Stop() {
	if !m.running {
		return
	}
	m.running = false
	m.self += selfCPU() - m.self0
	m.other += procsCPU(m.pids) - m.other0
	if m.reqs != nil {
		if m.nreq == nil {
			m.nreq = map[string]int64{}
		}
		for op, n := range m.reqs.Counts() {
			m.nreq[op] += n - m.reqs0[op]
		}
	}
}

// CountRequests makes the meter count the storage requests r sees in the
// timed regions, for ReportRequests. Call it before the first Start.
func (m *Meter) CountRequests(r *azstorage.Requests) *Meter {
	m.reqs = r
	return m
}

// ReportRequests stops the meter and reports req/item, the storage
// requests of the timed regions per item (items over all of them: files,
// segments), and logs them by operation. Unlike the timings it is
// deterministic, so before/after comparisons of a request pattern need one
// run.
func (m *Meter) ReportRequests(b *testing.B, items int64) {
	b.Helper()
	m.Stop()
	if m.reqs == nil || items <= 0 {
		return
	}
	var total int64
	ops := make([]string, 0, len(m.nreq))
	for op, n := range m.nreq {
		if n != 0 {
			total += n
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	var by strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&by, " %s=%.3g", op, float64(m.nreq[op])/float64(items))
	}
	b.ReportMetric(float64(total)/float64(items), "req/item")
	b.Logf("storage requests per item (%d items):%s", items, by.String())
}

// Report stops the meter and reports, over totalBytes moved in all the
// timed regions: cpu-s/GB (this process), az-cpu-s/GB (the other
// processes; omitted without pids) and peak-RSS-MiB (this process, since
// New).
func (m *Meter) Report(b *testing.B, totalBytes int64) {
	m.Stop()
	kb, _ := PeakRSSKiB() // 0 when unknown: then not reported
	m.ReportChild(b, totalBytes, m.self, kb)
}

// SelfCPU is the CPU time (user + system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procsCPU is the CPU time (user + system) the processes have used, read
// from /proc/<pid>/stat; a process that is gone counts nothing.
func procsCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: fields after it are
		// counted from its closing parenthesis. utime and stime are fields
		// 14 and 15, so 12 and 13 after the state (field 3).
		s := string(raw)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		total += time.Duration(u+st) * time.Second / clockTicks
	}
	return total
}

// PeakRSSKiB is this process's VmHWM (peak resident set) in KiB.
func PeakRSSKiB() (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			if fields := strings.Fields(v); len(fields) > 0 {
				if kb, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return kb, true
				}
			}
		}
	}
	return 0, false
}

// ReportChild reports like Report (which is ReportChild with this
// process's own CPU and peak), but for work done by a child process
// (a baseline run as its own program, such as AzCopy): cpu-s/GB and
// peak-RSS-MiB are the child's, from its rusage (ru_maxrss is in KiB on
// Linux), so its row reads like the others.
func (m *Meter) ReportChild(b *testing.B, totalBytes int64, cpu time.Duration, peakKiB int64) {
	m.Stop()
	if totalBytes > 0 {
		gb := float64(totalBytes) / 1e9
		b.ReportMetric(cpu.Seconds()/gb, "cpu-s/GB")
		if len(m.pids) > 0 {
			b.ReportMetric(m.other.Seconds()/gb, "az-cpu-s/GB")
		}
	}
	if peakKiB > 0 {
		b.ReportMetric(float64(peakKiB)/1024, "peak-RSS-MiB")
	}
}

// Quiesce waits until the processes (Azurite's) are idle: under 5% of one
// core over a quarter of a second, for at most 15 s. A timed region that
// starts while the emulator still persists or collects what the previous
// one wrote carries that work: on this 2-core machine whichever benchmark
// ran second in a round was up to 40% slower for it, whatever it was. It
// returns how long it waited.
func Quiesce(pids ...int) time.Duration {
	const window = 250 * time.Millisecond
	t0 := time.Now()
	for time.Since(t0) < 15*time.Second {
		c0 := procsCPU(pids)
		time.Sleep(window)
		if procsCPU(pids)-c0 < window/20 {
			break
		}
	}
	return time.Since(t0)
}

// InParallel runs f(0..n-1) on workers goroutines and fails tb with the
// first error once all have returned: the benchmarks' fan-out (seeding,
// migrating, sending) in one place.
func InParallel(tb testing.TB, workers, n int, f func(int) error) {
	tb.Helper()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for k := range next {
				if err := f(k); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for k := range n {
		next <- k
	}
	close(next)
	wg.Wait()
	if first != nil {
		tb.Fatal(first)
	}
}

// Alternating returns a and b in an order that alternates between
// benchtable's rounds (OFFLOAD_BENCH_ROUND, which benchtable sets for each
// round; without it the parity of the process id picks): two variants
// measured in one process then take turns meeting the emulator, and its
// state, second.
func Alternating[T any](a, b T) []T {
	round, err := strconv.Atoi(os.Getenv("OFFLOAD_BENCH_ROUND"))
	if err != nil {
		round = os.Getpid()
	}
	if round%2 == 0 {
		return []T{b, a}
	}
	return []T{a, b}
}
