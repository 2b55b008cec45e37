package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/config"
)

// Every command has --help; bad command lines exit 2; missing settings exit 3
// with one line naming each setting.
func TestCommandLine(t *testing.T) {
	w := newWorld(t)
	for _, args := range [][]string{
		{"--help"}, {"run", "--help"}, {"serve", "--help"}, {"schema", "apply", "--help"}, {"schema", "finalize", "--help"},
		{"segments", "enqueue", "--help"}, {"segments", "migrate", "--help"}, {"segments", "verify", "--help"},
		{"segments", "status", "--help"}, {"segments", "release", "--help"}, {"segments", "orphans", "--help"},
		{"models", "upload", "--help"}, {"models", "link", "--help"}, {"models", "verify", "--help"},
		{"atoms", "upload", "--help"}, {"atoms", "link", "--help"}, {"atoms", "verify", "--help"}, {"demo", "seed", "--help"},
		{"cutover", "assess", "--help"}, {"cutover", "apply", "--help"},
	} {
		out, errs, code := w.run(args...)
		if code != 0 || !strings.Contains(out, "Usage: offload") {
			t.Errorf("offload %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		// The help once, on stdout, with flags spelled as the usage line
		// says (--flag).
		if n := strings.Count(out+errs, "Usage: offload"); n != 1 || errs != "" {
			t.Errorf("offload %s: the help printed %d times (stderr %q)", strings.Join(args, " "), n, errs)
		}
		if m := regexp.MustCompile(`(?m)^  -[a-z]`).FindString(out); m != "" {
			t.Errorf("offload %s: a flag listed with one dash:\n%s", strings.Join(args, " "), out)
		}
	}
	if out, _, _ := w.run("segments", "status", "--help"); !strings.Contains(out, "  --json") {
		t.Errorf("segments status --help does not list --json:\n%s", out)
	}
	if _, _, code := w.run("no-such-command"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if _, _, code := w.run("segments", "enqueue", "--no-such-flag"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	// The file procedures: usage errors before any connection, and a clear
	// refusal on the embedded catalog (they need sp_invoke_external_rest_endpoint).
	for _, args := range [][]string{
		{"schema", "apply", "--with-file-procs"},
		{"schema", "apply", "--sign"},
		{"schema", "apply", "--with-file-procs", "--function-url", "http://app.azurewebsites.net"},
	} {
		if _, errs, code := w.run(args...); code != 2 {
			t.Errorf("offload %s: exit %d, want 2\n%s", strings.Join(args, " "), code, errs)
		}
	}
	if _, errs, code := w.run("schema", "apply", "--with-file-procs", "--function-url", "https://app.azurewebsites.net"); code == 0 || !strings.Contains(errs, "needs Azure SQL") {
		t.Errorf("file procedures on the embedded catalog: exit %d\n%s", code, errs)
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
	// The embedded catalog has no FILESTREAM, Service Broker or CLR: the
	// cutover has nothing to assess or apply, and says so with exit 0.
	for _, args := range [][]string{{"cutover", "assess"}, {"cutover", "assess", "--json"}, {"cutover", "apply"}} {
		if out := w.mustRun(args...); !strings.Contains(out, "nothing to assess") {
			t.Fatalf("offload %s on the embedded catalog:\n%s", strings.Join(args, " "), out)
		}
	}
	if _, errs, code := w.run("cutover", "apply", "--confirm", "--script", "x.sql"); code != 2 {
		t.Fatalf("cutover apply --confirm --script: exit %d, want 2\n%s", code, errs)
	}
}

// The commands read local.settings.json Values for the settings the
// environment lacks, as func start does; the environment wins.
func TestCommandsReadLocalSettings(t *testing.T) {
	w := newWorld(t)
	w.seedSmall()
	values := map[string]any{"IsEncrypted": false, "Values": map[string]string{
		"SQL_CONNECTION_STRING": w.env["SQL_CONNECTION_STRING"],
		"AzureWebJobsStorage":   w.env["AzureWebJobsStorage"],
		"SEGMENT_QUEUE":         "from-the-file",
	}}
	b, _ := json.Marshal(values)
	if err := os.WriteFile(filepath.Join(w.dir, "local.settings.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	delete(w.env, "SQL_CONNECTION_STRING")
	delete(w.env, "AzureWebJobsStorage")
	out := w.mustRun("segments", "status", "--json")
	if !strings.Contains(out, `"total"`) {
		t.Fatalf("status from local.settings.json: %s", out)
	}
	out = w.mustRun("segments", "enqueue", "--limit", "1")
	if !strings.Contains(out, "queued 1") {
		t.Fatalf("enqueue: %s", out)
	}
	if n := queueCount(t, w.env["SEGMENT_QUEUE"]); n != 1 {
		t.Fatalf("the environment's SEGMENT_QUEUE must win over the file's: %d message(s) there", n)
	}
}

// queueCount is the approximate number of messages on queue in Azurite.
func queueCount(t *testing.T, queue string) int64 {
	t.Helper()
	b, err := broker.New(config.Storage{ConnectionString: az.ConnectionString}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.Count(context.Background(), queue)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
