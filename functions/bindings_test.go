package functions_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hartonomous/offload/functions"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/hostproto"
)

// The binary carries every function.json, and the settings their triggers
// resolve are the ones serve mode requires.
func TestTriggerSettings(t *testing.T) {
	defs, err := functions.Definitions()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := hostproto.ReadDefinitions(os.DirFS("."))
	if err != nil || len(onDisk) != len(defs) || len(defs) == 0 {
		t.Fatalf("embedded %d definitions, %d on disk (%v)", len(defs), len(onDisk), err)
	}
	names := map[string]bool{}
	for _, r := range functions.TriggerSettings(defs) {
		names[r.Name] = true
	}
	for _, want := range []string{config.SettingSegmentQueue, config.SettingVerifySchedule} {
		if !names[want] {
			t.Errorf("%s is not among the trigger settings %v", want, names)
		}
	}
}

// Every setting a trigger resolves is in local.settings.json.example (so
// `func start` indexes every function), in the README's deploy steps, and
// in what `make package` prints.
func TestTriggerSettingsDocumented(t *testing.T) {
	defs, err := functions.Definitions()
	if err != nil {
		t.Fatal(err)
	}
	var example struct{ Values map[string]string }
	b, err := os.ReadFile("../local.settings.json.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &example); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	deploy := string(readme)
	if i := strings.Index(deploy, "## Deploy to Azure"); i >= 0 {
		deploy = deploy[i:]
		if j := strings.Index(deploy[3:], "\n## "); j >= 0 {
			deploy = deploy[:j+3]
		}
	} else {
		t.Fatal("README has no Deploy to Azure section")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed")
	}
	out, err := exec.Command("make", "-s", "-C", "..", "trigger-settings").CombinedOutput()
	if err != nil {
		t.Fatalf("make trigger-settings: %v\n%s", err, out)
	}
	for _, r := range functions.TriggerSettings(defs) {
		if example.Values[r.Name] == "" {
			t.Errorf("local.settings.json.example lacks %s (%s resolves it)", r.Name, r.Function)
		}
		if !strings.Contains(deploy, "`"+r.Name+"`") {
			t.Errorf("the README's deploy steps do not name %s", r.Name)
		}
		if !strings.Contains(string(out), r.Name) {
			t.Errorf("make trigger-settings does not list %s: %s", r.Name, out)
		}
	}
}
