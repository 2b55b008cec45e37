package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestGrowthTargets: a cost that grows tenfold from 10k to 100k rows is
// linear (met); a rate that drops is a cost per item that grew (not met).
func TestGrowthTargets(t *testing.T) {
	in := `pkg: github.com/hartonomous/offload/internal/segments
BenchmarkScale/tsql/10000/status-2     3   100000000 ns/op
BenchmarkScale/tsql/100000/status-2    3  1000000000 ns/op
BenchmarkScale/sqlite/10000/status-2   3   100000000 ns/op
BenchmarkScale/sqlite/100000/status-2  3  1100000000 ns/op
BenchmarkScale/tsql/10000/enqueue-2    1        5 ns/op   442 msgs/s
BenchmarkScale/tsql/100000/enqueue-2   1        5 ns/op   390 msgs/s
BenchmarkScale/sqlite/10000/enqueue-2  1        5 ns/op   400 msgs/s
BenchmarkScale/sqlite/100000/enqueue-2 1        5 ns/op   420 msgs/s
`
	var out bytes.Buffer
	printTargets(&out, aggregate(parse(strings.NewReader(in))))
	want := map[string]string{
		"tsql status, 10k → 100k rows":                                       "10.00×",
		"sqlite status, 10k → 100k rows":                                     "11.00×",
		"tsql enqueue, 10k → 100k rows (cost per item, 10% noise allowed)":   "1.13×",
		"sqlite enqueue, 10k → 100k rows (cost per item, 10% noise allowed)": "0.95×",
	}
	verdict := map[string]string{
		"tsql status, 10k → 100k rows":                                       "met",
		"sqlite status, 10k → 100k rows":                                     "NOT MET",
		"tsql enqueue, 10k → 100k rows (cost per item, 10% noise allowed)":   "NOT MET",
		"sqlite enqueue, 10k → 100k rows (cost per item, 10% noise allowed)": "met",
	}
	lines := strings.Split(out.String(), "\n")
	for what, v := range want {
		found := false
		for _, l := range lines {
			if !strings.HasPrefix(l, what+" ") {
				continue
			}
			found = true
			if !strings.Contains(l, v) {
				t.Errorf("%s: want %s in %q", what, v, l)
			}
			if got := strings.TrimSpace(l[strings.LastIndex(l, "×")+len("×"):]); !strings.HasSuffix(got, verdict[what]) || (verdict[what] == "met" && strings.HasSuffix(got, "NOT MET")) {
				t.Errorf("%s: want verdict %s in %q", what, verdict[what], l)
			}
		}
		if !found {
			t.Errorf("no target line %q in\n%s", what, out.String())
		}
	}
}
