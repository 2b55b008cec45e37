// Command benchtable runs the project's benchmarks and prints them as one
// table (what `make bench` shows). Speed and memory targets are read off
// this table, never asserted in tests.
//
// OFFLOAD_BENCH_SCALE=full uses the sizes the issues name (1 GiB data sets,
// a 1 GiB payload); the default is a quick run that fits anywhere.
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
	"sort"
	"strings"
	"text/tabwriter"
)

func main() {
	pkgs := flag.String("pkgs", "./...", "packages to benchmark")
	filter := flag.String("bench", ".", "benchmark regexp")
	benchtime := flag.String("benchtime", "1x", "go test -benchtime")
	flag.Parse()

	args := []string{"test", "-run", "^$", "-bench", *filter, "-benchtime", *benchtime, "-timeout", "60m"}
	args = append(args, strings.Fields(*pkgs)...)
	cmd := exec.Command("go", args...)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, os.Stderr)
	cmd.Stderr = os.Stderr
	fmt.Fprintf(os.Stderr, "go %s\n", strings.Join(args, " "))
	runErr := cmd.Run()

	rows := parse(&out)
	printTable(os.Stdout, rows)
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "benchtable: go test:", runErr)
		os.Exit(1)
	}
}

type row struct {
	pkg, name string
	metrics   map[string]string
}

var benchRE = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

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
		rw := row{pkg: pkg, name: strings.TrimPrefix(m[1], "Benchmark"), metrics: map[string]string{}}
		for i := 0; i+1 < len(f); i += 2 {
			rw.metrics[f[i+1]] = f[i]
		}
		rows = append(rows, rw)
	}
	return rows
}

func printTable(w io.Writer, rows []row) {
	units := map[string]bool{}
	for _, r := range rows {
		for u := range r.metrics {
			if u != "ns/op" && u != "B/op" && u != "allocs/op" {
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
	fmt.Fprint(tw, "package\tbenchmark\tsec/op\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c)
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		sec := "-"
		if ns, ok := r.metrics["ns/op"]; ok {
			var v float64
			fmt.Sscan(ns, &v)
			sec = fmt.Sprintf("%.3f", v/1e9)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t", r.pkg, r.name, sec)
		for _, c := range cols {
			v := r.metrics[c]
			if v == "" {
				v = "-"
			}
			fmt.Fprintf(tw, "%s\t", v)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
