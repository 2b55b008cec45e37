package cutover_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/cutover"
	"github.com/hartonomous/offload/internal/cutover/cutovertest"
)

func setup(t *testing.T, f *cutovertest.Fixture, queues map[string]string) cutover.Report {
	t.Helper()
	r, err := cutover.Assess(context.Background(), f, cutover.Options{ServiceQueues: queues})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// find returns the findings of rule whose object and detail contain the
// given texts.
func find(r cutover.Report, rule, object, detail string) []cutover.Finding {
	var out []cutover.Finding
	for _, f := range r.Findings {
		if f.Rule == rule && strings.Contains(f.Object, object) && strings.Contains(f.Detail, detail) {
			out = append(out, f)
		}
	}
	return out
}

func one(t *testing.T, r cutover.Report, rule, object, detail string) cutover.Finding {
	t.Helper()
	fs := find(r, rule, object, detail)
	if len(fs) != 1 {
		for _, f := range r.Findings {
			t.Logf("%+v", f)
		}
		t.Fatalf("%s %s %q: %d findings, want 1", rule, object, detail, len(fs))
	}
	return fs[0]
}

func TestCleanDatabaseAssessesClean(t *testing.T) {
	r := setup(t, cutovertest.Clean(), nil)
	if r.Blockers != 0 || len(r.Findings) != 0 || r.Verdict != "nothing blocks Azure SQL Database" {
		t.Fatalf("clean database: %+v", r)
	}
}

func TestDump(t *testing.T) {
	r := setup(t, cutovertest.Hartonomous(), cutovertest.ServiceQueues())
	for _, f := range r.Findings {
		t.Logf("%s %s %s %s:%d %s | %s | %s", f.Severity, f.Rule, f.Type, f.Object, f.Line, f.Detail, f.Offload, f.Suggestion)
	}
	t.Log(r.Verdict)
}
