package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every command has --help; bad command lines exit 2; missing settings exit 3
// with one line naming each setting.
func TestCommandLine(t *testing.T) {
	w := newWorld(t)
	for _, args := range [][]string{
		{"--help"}, {"run", "--help"}, {"serve", "--help"}, {"schema", "apply", "--help"}, {"schema", "finalize", "--help"},
		{"segments", "enqueue", "--help"}, {"segments", "migrate", "--help"}, {"segments", "verify", "--help"},
		{"segments", "status", "--help"}, {"segments", "release", "--help"}, {"segments", "orphans", "--help"},
		{"models", "upload", "--help"}, {"models", "link", "--help"}, {"models", "verify", "--help"}, {"demo", "seed", "--help"},
	} {
		out, errs, code := w.run(args...)
		if code != 0 || !strings.Contains(out, "Usage: offload") {
			t.Errorf("offload %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
	if _, _, code := w.run("no-such-command"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if _, _, code := w.run("segments", "enqueue", "--no-such-flag"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	delete(w.env, "SQL_CONNECTION_STRING")
	w.env["MODELS_CONTAINER"] = "Bad_Name"
	_, errs, code := w.run("segments", "status")
	if code != 3 || !strings.Contains(errs, "SQL_CONNECTION_STRING") || !strings.Contains(errs, "MODELS_CONTAINER") {
		t.Errorf("missing settings: exit %d\n%s", code, errs)
	}
	// Writing commands take --dry-run and change nothing with it.
	w = newWorld(t)
	w.seedSmall()
	w.mustRun("segments", "enqueue", "--dry-run")
	var st struct {
		Totals map[string]struct{ Segments int64 } `json:"totals"`
	}
	out := w.mustRun("segments", "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Totals["queued"].Segments != 0 || st.Totals["pending"].Segments == 0 {
		t.Fatalf("enqueue --dry-run changed states (%v): %s", err, out)
	}
	out = w.mustRun("segments", "release", "--confirm", "--dry-run")
	if !strings.Contains(out, "dry run") {
		t.Fatalf("release --dry-run: %s", out)
	}
}
