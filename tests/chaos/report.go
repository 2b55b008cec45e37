package chaos

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/hartonomous/offload/tests/faultproxy"
)

// Report is what a chaos run did and found.
type Report struct {
	Seed      int64
	FaultRate float64
	Full      bool

	Segments     int64
	PayloadBytes int64

	// Storage requests through the proxies, and the faults injected into
	// them by kind (faultproxy.Kind names).
	Requests, BlobRequests, QueueRequests int64
	Faulted                               int64
	Faults                                map[string]int64
	// Retried is how many requests repeated one that a fault failed (the
	// SDK's retries, a redelivered message re-staging a block).
	Retried int64
	// Catalog is what the TDS fault proxy did (nil: no catalog faults).
	Catalog *CatalogReport

	EnqueueRuns int
	// Rounds of migrate under faults: SIGKILLed, or ended by themselves.
	Rounds, Kills, KillsPlanned, NaturalExits int
	// MigrateFailed and MigratePoisoned add up the summaries of the
	// migrate runs that ended by themselves (killed runs print none).
	MigrateFailed, MigratePoisoned int64
	// Attempts is the sum of OffloadAttempts (failed migrations recorded
	// on the rows) at the end.
	Attempts int64
	// PoisonedBeforeConverge is the poison queue's length when the faults
	// stopped; Poisoned the messages found in it at the end.
	PoisonedBeforeConverge int64
	Poisoned               int64
	PoisonExplained        int64

	// FaultVerifyRuns are verification passes run under faults, when a
	// drained queue left rows unmigrated; FaultMismatched the blobs they
	// found wrong (a blob really wrong, or a fault misread as one).
	FaultVerifyRuns int
	FaultMismatched int64

	VerifyRuns, FinalMigrates int
	Requeued, Mismatched      int64

	EndStates     map[string]int64
	Verified      int64 // checked independently: blob bytes = source bytes
	SourcesIntact int64
	BytesChecked  int64

	Problems []string
	Wall     time.Duration
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// OK reports whether the run proved what it should: every segment verified
// with its source's bytes, every source intact, and nothing unexplained.
func (r *Report) OK() bool {
	return len(r.Problems) == 0 && r.Verified == r.Segments && r.SourcesIntact == r.Segments
}

func (r *Report) form() string {
	if r.Full {
		return "long (full demo set)"
	}
	return "short (demo --small)"
}

// Markdown is the report as a table (docs/RELIABILITY.md's chaos section).
func (r *Report) Markdown() string {
	var b strings.Builder
	row := func(k, format string, args ...any) { fmt.Fprintf(&b, "| %s | %s |\n", k, fmt.Sprintf(format, args...)) }
	fmt.Fprintf(&b, "| chaos run | %s |\n|---|---|\n", r.form())
	row("seed, fault rate", "%d, %.0f%% of storage requests", r.Seed, r.FaultRate*100)
	row("segments", "%d (%s of payload)", r.Segments, mib(r.PayloadBytes))
	row("storage requests through the proxies", "%d (blob %d, queue %d)", r.Requests, r.BlobRequests, r.QueueRequests)
	kinds := make([]string, 0, len(r.Faults))
	for _, k := range faultproxy.AllKinds() {
		if n := r.Faults[k.String()]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	row("faults injected", "%d: %s", r.Faulted, strings.Join(kinds, ", "))
	row("requests sent again after a failing fault (retries)", "%d", r.Retried)
	r.Catalog.rows(row)
	row("SIGKILLs (planned)", "%d (%d)", r.Kills, r.KillsPlanned)
	row("migrate rounds under faults", "%d (%d ran to the end)", r.Rounds, r.NaturalExits)
	row("enqueue runs until one succeeded", "%d", r.EnqueueRuns)
	row("verify passes under faults (blobs found wrong)", "%d (%d)", r.FaultVerifyRuns, r.FaultMismatched)
	row("failed migration attempts recorded on rows", "%d", r.Attempts)
	row("failed / poisoned messages (runs that ended)", "%d / %d", r.MigrateFailed, r.MigratePoisoned)
	row("poison queue: when faults stopped, at the end, explained", "%d, %d, %d", r.PoisonedBeforeConverge, r.Poisoned, r.PoisonExplained)
	row("after the faults: verify runs, migrate runs", "%d, %d", r.VerifyRuns, r.FinalMigrates)
	row("segments re-queued by verification (all passes)", "%d", r.Requeued)
	row("end states", "%s", states(r.EndStates))
	row("verified independently (blob SHA-256 = source SHA-256)", "%d of %d (%s read back)", r.Verified, r.Segments, mib(r.BytesChecked))
	row("sources intact (RawPayload unchanged)", "%d of %d", r.SourcesIntact, r.Segments)
	verdict := "**pass**: nothing lost, nothing wrong"
	if !r.OK() {
		verdict = fmt.Sprintf("**FAIL**: %d problem(s)", len(r.Problems))
	}
	row("result", "%s", verdict)
	row("wall time", "%s on %d CPU(s)", r.Wall.Round(time.Second), runtime.NumCPU())
	return b.String()
}

func states(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// ReplaceSection rewrites the text between the lines
// "<!-- BEGIN name -->" and "<!-- END name -->" of the file at path (the
// generated tables of docs/RELIABILITY.md), keeping the markers.
func ReplaceSection(path, name, body string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin, end := []byte("<!-- BEGIN "+name+" -->\n"), []byte("<!-- END "+name+" -->")
	i := bytes.Index(doc, begin)
	j := bytes.Index(doc, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %q … %q section", path, strings.TrimSpace(string(begin)), end)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.WriteString(strings.TrimRight(body, "\n") + "\n")
	out.Write(doc[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
