package load

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Markdown is the report as a table (docs/RELIABILITY.md's load section).
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d concurrent clients for %s (%s wall) on %d CPU(s); %d requests, %d failed; handler peak RSS (VmHWM) %.0f MiB, bound %.0f MiB\n\n",
		r.Clients, r.Duration, r.Wall.Round(100*time.Millisecond), runtime.NumCPU(), r.Requests, r.Failures,
		float64(r.PeakRSS)/(1<<20), float64(r.MemoryBound)/(1<<20))
	b.WriteString("| op | requests | failed | MiB moved | p50 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, op := range Ops {
		st := r.Ops[op]
		if st == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f | %s | %s | %s |\n", op, st.Count, st.Failures, float64(st.Bytes)/(1<<20),
			ms(st.P50), ms(st.P99), ms(st.Max))
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// PeakRSS reads a process's peak resident set size (VmHWM) from
// /proc/<pid>/status, in bytes.
func PeakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			f := strings.Fields(v) // "123456 kB"
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmHWM: unexpected %q", v)
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n << 10, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
}
