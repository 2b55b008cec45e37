// Command benchtable runs the project's benchmarks and prints them as one
// table (what `make bench` shows), then the issues' targets worked out from
// it. Speed and memory targets are read off this table, never asserted in
// tests.
//
// OFFLOAD_BENCH_SCALE=full uses the sizes the issues name (1 GiB data sets,
// a 1 GiB payload); the default is a quick run that fits anywhere.
//
// On a small machine one run of a quick benchmark is noisy (a few hundred
// milliseconds, Azurite sharing the cores): -count 3 runs each benchmark
// three times, in three interleaved rounds, and prints the median of every
// metric, which is what the targets are then computed from.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	pkgs := flag.String("pkgs", "./...", "packages to benchmark")
	filter := flag.String("bench", ".", "benchmark regexp")
	benchtime := flag.String("benchtime", "1x", "go test -benchtime")
	count := flag.Int("count", 1, "rounds: each a go test -count 1 run of every benchmark (the table shows medians)")
	from := flag.String("from", "", "read saved go test -bench output from this file instead of running go test")
	flag.Parse()

	if *from != "" {
		f, err := os.Open(*from)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		defer f.Close()
		rows := aggregate(parse(f))
		printTable(os.Stdout, rows)
		printTargets(os.Stdout, rows)
		return
	}

	// Each round is a go test run of its own (-count 1), so the rounds of
	// the benchmarks interleave: Offload's k-th run and its baselines' k-th
	// runs meet the emulator in the same state. With go test -count N the
	// N runs of one benchmark would come back to back, and Azurite, which
	// slows as it fills, would favour whichever ran first.
	args := []string{"test", "-run", "^$", "-bench", *filter, "-benchtime", *benchtime,
		"-count", "1", "-timeout", "60m"}
	args = append(args, strings.Fields(*pkgs)...)
	var out bytes.Buffer
	var runErr error
	for round := 1; round <= max(*count, 1); round++ {
		cmd := exec.Command("go", args...)
		// The round's number, for benchmarks that alternate the order of
		// their variants between rounds (benchmeter.Alternating).
		cmd.Env = append(os.Environ(), fmt.Sprintf("OFFLOAD_BENCH_ROUND=%d", round))
		cmd.Stdout = io.MultiWriter(&out, os.Stderr)
		cmd.Stderr = os.Stderr
		fmt.Fprintf(os.Stderr, "round %d of %d: go %s\n", round, max(*count, 1), strings.Join(args, " "))
		if err := cmd.Run(); err != nil {
			runErr = err
			break
		}
	}

	rows := aggregate(parse(&out))
	printTable(os.Stdout, rows)
	printTargets(os.Stdout, rows)
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "benchtable: go test:", runErr)
		os.Exit(1)
	}
}

// row is one benchmark: with -count, the median of its runs, and the
// lowest and highest MB/s of them (on a small shared machine the spread
// says as much as the median).
type row struct {
	pkg, name string
	runs      int
	metrics   map[string]float64
	lo, hi    float64 // MB/s range over the runs; 0 when not measured
}

var benchRE = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parse reads go test -bench output: one row per result line.
func parse(r io.Reader) []row {
	var rows []row
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "pkg: ") {
			pkg = strings.TrimPrefix(line, "pkg: ")
			pkg = pkg[strings.LastIndex(pkg, "/")+1:]
			continue
		}
		m := benchRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		rw := row{pkg: pkg, name: strings.TrimPrefix(m[1], "Benchmark"), runs: 1, metrics: map[string]float64{}}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				rw.metrics[f[i+1]] = v
			}
		}
		rows = append(rows, rw)
	}
	return rows
}

// aggregate folds the runs of each benchmark into one row of medians, in
// the order the benchmarks first appeared.
func aggregate(rows []row) []row {
	var order []string
	runs := map[string][]row{}
	for _, r := range rows {
		k := r.pkg + "." + r.name
		if _, ok := runs[k]; !ok {
			order = append(order, k)
		}
		runs[k] = append(runs[k], r)
	}
	out := make([]row, 0, len(order))
	for _, k := range order {
		rs := runs[k]
		agg := row{pkg: rs[0].pkg, name: rs[0].name, runs: len(rs), metrics: map[string]float64{}}
		vals := map[string][]float64{}
		for _, r := range rs {
			for u, v := range r.metrics {
				vals[u] = append(vals[u], v)
			}
		}
		for u, vs := range vals {
			agg.metrics[u] = median(vs)
		}
		if ns, ok := agg.metrics["ns/op"]; ok {
			agg.metrics["sec/op"] = ns / 1e9
		}
		if vs := vals["MB/s"]; len(vs) > 0 {
			agg.lo, agg.hi = slices.Min(vs), slices.Max(vs)
		}
		out = append(out, agg)
	}
	return out
}

func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func format(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e6:
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func printTable(w io.Writer, rows []row) {
	units := map[string]bool{}
	multi := false
	for _, r := range rows {
		multi = multi || r.runs > 1
		for u := range r.metrics {
			if u != "ns/op" && u != "sec/op" && u != "B/op" && u != "allocs/op" {
				units[u] = true
			}
		}
	}
	var cols []string
	for u := range units {
		cols = append(cols, u)
	}
	sort.Slice(cols, func(i, j int) bool {
		if cols[i] == "MB/s" {
			return true
		}
		if cols[j] == "MB/s" {
			return false
		}
		return cols[i] < cols[j]
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "package\tbenchmark\t")
	if multi {
		fmt.Fprint(tw, "runs\t")
	}
	fmt.Fprint(tw, "sec/op\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c)
		if c == "MB/s" && multi {
			fmt.Fprint(tw, "MB/s min-max\t")
		}
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		sec := "-"
		if ns, ok := r.metrics["ns/op"]; ok {
			sec = fmt.Sprintf("%.3f", ns/1e9)
		}
		fmt.Fprintf(tw, "%s\t%s\t", r.pkg, r.name)
		if multi {
			fmt.Fprintf(tw, "%d\t", r.runs)
		}
		fmt.Fprintf(tw, "%s\t", sec)
		for _, c := range cols {
			v, ok := r.metrics[c]
			s := "-"
			if ok {
				s = format(v)
			}
			fmt.Fprintf(tw, "%s\t", s)
			if c == "MB/s" && multi {
				rng := "-"
				if r.hi > 0 {
					rng = format(r.lo) + "-" + format(r.hi)
				}
				fmt.Fprintf(tw, "%s\t", rng)
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// target is one of the issues' goals, read off the table: either the ratio
// of a metric between two benchmarks (ours over its ceiling) or a bound on
// one benchmark's metric.
type target struct {
	what  string
	pkg   string
	bench string
	over  string // ceiling benchmark for a ratio; "" for a bound
	// overs: the ratio is against the slowest of these ceilings (when set,
	// instead of over).
	overs     []string
	metric    string
	min, max  float64 // the goal: value >= min (ratio) or value < max (bound)
	ratioGoal bool
	// growth: the cost at bench (100k rows) over the cost at over (10k
	// rows), which must be at most max: 10 is linear. A rate metric
	// (rows/s, msgs/s) is turned into a cost per item first, so max is 1.
	growth bool
}

// targets: each speed goal is against the baseline doing the same
// integrity work (the plain-SDK rows without it are in the table beside
// them, to show what that work costs on this machine).
var targets = []target{
	{what: "segment migration (1–10 MB payloads) vs SDK upload, equal work", pkg: "segments", bench: "Migrate", over: "UploadSDKEqual", metric: "MB/s", min: 0.90, ratioGoal: true},
	{what: "full verification vs SDK DownloadStream → SHA-256", pkg: "segments", bench: "VerifyFull", over: "DownloadSDKHash", metric: "MB/s", min: 0.95, ratioGoal: true},
	{what: "model upload vs SDK upload, equal work", pkg: "atoms", bench: "UploadModels", over: "UploadSDKEqual", metric: "MB/s", min: 0.95, ratioGoal: true},
	{what: "model upload vs AzCopy on the same files", pkg: "atoms", bench: "UploadModels", over: "UploadAzCopy", metric: "MB/s", min: 1.00, ratioGoal: true},
	{what: "model upload peak RSS (MiB)", pkg: "atoms", bench: "UploadModels", metric: "peak-RSS-MiB", max: 256},
	{what: "large payload migration peak RSS (MiB)", pkg: "tests", bench: "MigrateLargePayloadRSS", metric: "peak-RSS-MiB", max: 128},
	{what: "segments status at 100k rows, SQLite (s)", pkg: "segments", bench: "Scale/sqlite/100000/status", metric: "sec/op", max: 1},
	{what: "segments status at 100k rows, T-SQL (s)", pkg: "segments", bench: "Scale/tsql/100000/status", metric: "sec/op", max: 1},
	{what: "status-first at 100k rows, T-SQL (s): a new connection, as the CLI", pkg: "segments", bench: "Scale/tsql/100000/status-first", metric: "sec/op", max: 1},
	growthTarget("sqlite", "status", "sec/op"), growthTarget("tsql", "status", "sec/op"),
	growthTarget("sqlite", "verify-plan", "sec/op"), growthTarget("tsql", "verify-plan", "sec/op"),
	growthTarget("sqlite", "release-dry", "rows/s"), growthTarget("tsql", "release-dry", "rows/s"),
	growthTarget("sqlite", "enqueue", "msgs/s"), growthTarget("tsql", "enqueue", "msgs/s"),
	{what: "T-SQL migration (4 MiB chunks) vs slower of raw upload / SELECT RawPayload", pkg: "tests", bench: "TSQLMigrate/chunk=4MiB",
		overs: []string{"TSQLRawUpload", "TSQLSelectRawPayload"}, metric: "MB/s", min: 0.85, ratioGoal: true},
	{what: "SQLite migration with the catalog's retry layer vs without, no fault", pkg: "segments", bench: "MigrateRetry/retry=on", over: "MigrateRetry/retry=off", metric: "MB/s", min: 0.95, ratioGoal: true},
	{what: "T-SQL migration with the catalog's retry layer vs without, no fault", pkg: "tests", bench: "TSQLMigrateRetry/retry=on", over: "TSQLMigrateRetry/retry=off", metric: "MB/s", min: 0.95, ratioGoal: true},
	{what: "T-SQL recovery after a 30 s catalog outage: end of outage to first segment migrated (s)", pkg: "tests", bench: "TSQLOutageRecovery", metric: "recover-s", max: 15},
	{what: "T-SQL large payload migration peak RSS (MiB)", pkg: "tests", bench: "TSQLMigrateLargeRSS", metric: "peak-RSS-MiB", max: 128},
	{what: "outbox drain vs raw SendMessage (msg/s)", pkg: "outbox", bench: "Drain", over: "RawSend", metric: "msg/s", min: 0.80, ratioGoal: true},
	{what: "outbox drain on T-SQL vs raw SendMessage (msg/s)", pkg: "outbox", bench: "DrainTSQL", over: "RawSend", metric: "msg/s", min: 0.80, ratioGoal: true},
	{what: "publish in the caller's transaction, p99 (ms)", pkg: "outbox", bench: "Publish", metric: "p99-ms", max: 10},
	{what: "dashboard refresh at 100k rows, SQLite, warm (s)", pkg: "dashboard", bench: "Refresh/sqlite/100000", metric: "sec/op", max: 1},
	{what: "dashboard refresh at 100k rows, T-SQL, warm (s)", pkg: "dashboard", bench: "Refresh/tsql/100000", metric: "sec/op", max: 1},
}

// growthTarget: a scale benchmark's cost from 10k to 100k rows must grow
// no worse than linearly.
func growthTarget(engine, step, metric string) target {
	t := target{what: fmt.Sprintf("%s %s, 10k → 100k rows", engine, step), pkg: "segments", metric: metric, growth: true,
		bench: fmt.Sprintf("Scale/%s/100000/%s", engine, step), over: fmt.Sprintf("Scale/%s/10000/%s", engine, step), max: 10}
	if metric != "sec/op" {
		// A constant cost per item is linear. The 10% is the spread of
		// one rate between rounds on a 2-core machine (Azurite's queue and
		// HEADs), so that a flat cost does not read as growth half the time.
		t.what += " (cost per item, 10% noise allowed)"
		t.max = 1.1
	}
	return t
}

// printTargets prints each target whose benchmarks ran, with the value
// worked out and whether it is met. It never fails the run: targets are
// read, not asserted.
func printTargets(w io.Writer, rows []row) {
	find := func(pkg, name, metric string) (float64, bool) {
		for _, r := range rows {
			if r.pkg == pkg && r.name == name {
				v, ok := r.metrics[metric]
				return v, ok
			}
		}
		return 0, false
	}
	var lines [][4]string
	for _, t := range targets {
		v, ok := find(t.pkg, t.bench, t.metric)
		if !ok {
			continue
		}
		var value, goal string
		met := false
		switch {
		case t.growth:
			c, ok := find(t.pkg, t.over, t.metric)
			if !ok || c == 0 || v == 0 {
				continue
			}
			g := v / c
			if t.metric != "sec/op" {
				g = c / v // a rate: cost per item is its inverse
			}
			value = fmt.Sprintf("%.2f× (%s → %s %s)", g, format(c), format(v), t.metric)
			goal = fmt.Sprintf("<= %s×", format(t.max))
			met = g <= t.max
		case t.ratioGoal:
			c, ok := find(t.pkg, t.over, t.metric)
			base := t.over
			for i, o := range t.overs {
				v, found := find(t.pkg, o, t.metric)
				if i == 0 || (found && v < c) {
					c, ok, base = v, found, o
				}
				ok = ok && found
			}
			if !ok || c == 0 {
				continue
			}
			ratio := v / c
			value = fmt.Sprintf("%.2f (%s / %s %s)", ratio, format(v), format(c), base)
			goal = fmt.Sprintf(">= %.2f", t.min)
			met = ratio >= t.min
		default:
			value = format(v)
			goal = fmt.Sprintf("< %s", format(t.max))
			met = v < t.max
		}
		verdict := "met"
		if !met {
			verdict = "NOT MET"
		}
		lines = append(lines, [4]string{t.what, value, goal, verdict})
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tvalue\tgoal\t")
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l[0], l[1], l[2], l[3])
	}
	tw.Flush()
}
