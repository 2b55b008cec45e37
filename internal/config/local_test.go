package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocalSettingsOverlay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LocalSettingsFile)
	if v, err := LocalSettings(path); err != nil || v != nil {
		t.Fatalf("a missing file is no error: %v %v", v, err)
	}
	if err := os.WriteFile(path, []byte(`{"IsEncrypted":false,"Values":{"SQL_CONNECTION_STRING":"sqlite:./x.db","SEGMENT_QUEUE":"from-file","N":5}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := LocalSettings(path)
	if err != nil || v["N"] != "5" {
		t.Fatalf("%v %v", v, err)
	}
	get := Overlay(env(map[string]string{"SEGMENT_QUEUE": "from-env", "SQL_CONNECTION_STRING": " "}), v)
	if get("SEGMENT_QUEUE") != "from-env" || get("SQL_CONNECTION_STRING") != "sqlite:./x.db" || get("NONE") != "" {
		t.Fatalf("environment first, then the file: %q %q", get("SEGMENT_QUEUE"), get("SQL_CONNECTION_STRING"))
	}
	if err := os.WriteFile(path, []byte(`{"IsEncrypted":true,"Values":{"A":"xyz"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LocalSettings(path); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("encrypted file: %v", err)
	}
}

func TestRequireTriggerSettings(t *testing.T) {
	refs := []TriggerSetting{
		{Name: "SEGMENT_QUEUE", Function: "MigrateSegment", Property: "queueName"},
		{Name: "VERIFY_SCHEDULE", Function: "VerifySegments", Property: "schedule"},
		{Name: "OUTBOX_SCHEDULE", Function: "DrainOutbox", Property: "schedule"},
	}
	err := RequireTriggerSettings(env(map[string]string{"VERIFY_SCHEDULE": "0 */10 * * * *"}), refs)
	if err == nil {
		t.Fatal("missing settings accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "OUTBOX_SCHEDULE is not set") || !strings.HasPrefix(lines[1], "SEGMENT_QUEUE is not set") ||
		!strings.Contains(lines[1], "MigrateSegment") {
		t.Fatalf("one line per missing setting, naming its function:\n%v", err)
	}
	if err := RequireTriggerSettings(env(map[string]string{"SEGMENT_QUEUE": "q-1", "VERIFY_SCHEDULE": "x", "OUTBOX_SCHEDULE": "y"}), refs); err != nil {
		t.Fatal(err)
	}
}

func TestLoadHost(t *testing.T) {
	h, err := LoadHost("../..", nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.FunctionTimeout != 10*time.Minute || h.Queues.MaxDequeueCount != 5 || h.Queues.BatchSize != 4 ||
		h.Queues.VisibilityTimeout != 30*time.Second || h.Queues.MessageEncoding != "base64" || h.RoutePrefix != "api" ||
		h.Executable != "offload" || len(h.Arguments) != 1 || h.Arguments[0] != "serve" {
		t.Fatalf("the repository's host.json: %+v", h)
	}
	if d := h.InvocationDeadline(); d != 9*time.Minute+30*time.Second {
		t.Fatalf("deadline under a 10 min functionTimeout: %s", d)
	}
	h, err = LoadHost(t.TempDir(), env(map[string]string{"AzureFunctionsJobHost__functionTimeout": "00:00:04"}))
	if err != nil || h.FunctionTimeout != 4*time.Second || h.InvocationDeadline() != 3*time.Second {
		t.Fatalf("no host.json, override: %+v %v", h, err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, HostFile), []byte(`{"functionTimeout":"ten minutes"}`), 0o600)
	if _, err := LoadHost(dir, nil); err == nil || !strings.Contains(err.Error(), "functionTimeout") {
		t.Fatalf("bad functionTimeout: %v", err)
	}
	os.WriteFile(filepath.Join(dir, HostFile), []byte(`{"functionTimeout":"-1"}`), 0o600)
	if h, err := LoadHost(dir, nil); err != nil || h.FunctionTimeout != 0 || h.InvocationDeadline() != 0 {
		t.Fatalf("unlimited: %+v %v", h, err)
	}
}
