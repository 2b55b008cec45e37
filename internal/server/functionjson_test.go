package server_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/server"
)

// repoRoot is where host.json and functions/ live.
const repoRoot = "../.."

type binding struct {
	Type         string   `json:"type"`
	Direction    string   `json:"direction"`
	Name         string   `json:"name"`
	QueueName    string   `json:"queueName"`
	Connection   string   `json:"connection"`
	Schedule     string   `json:"schedule"`
	RunOnStartup *bool    `json:"runOnStartup"`
	UseMonitor   *bool    `json:"useMonitor"`
	AuthLevel    string   `json:"authLevel"`
	Methods      []string `json:"methods"`
	Route        string   `json:"route"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestFunctionJSON holds functions/*/function.json, the one source of the
// server's routes, to what the host needs of each: the functions
// REFERENCE §3 lists, a queue trigger on %SEGMENT_QUEUE%, timers on their
// schedule settings, and HTTP functions of exactly httpTrigger + http out
// at function level.
func TestFunctionJSON(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "functions", "*", "function.json"))
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, f := range files {
		folders = append(folders, filepath.Base(filepath.Dir(f)))
	}
	for _, name := range []string{"MigrateSegment", "VerifySegments", "EnqueueSegments", "SegmentStatus", "Files", "PublishMessage", "DrainOutbox"} {
		if !slices.Contains(folders, name) {
			t.Errorf("REFERENCE §3 function %s has no function.json", name)
		}
	}
	for _, name := range folders {
		t.Run(name, func(t *testing.T) {
			var fj struct {
				Bindings []binding `json:"bindings"`
			}
			readJSON(t, filepath.Join(repoRoot, "functions", name, "function.json"), &fj)
			if len(fj.Bindings) == 0 {
				t.Fatal("no bindings")
			}
			trig := fj.Bindings[0]
			if trig.Direction != "in" {
				t.Fatalf("trigger = %+v", trig)
			}
			switch trig.Type {
			case hostproto.TriggerQueue:
				if len(fj.Bindings) != 1 || trig.QueueName != "%"+config.SettingSegmentQueue+"%" || trig.Connection != config.SettingStorage {
					t.Fatalf("queue bindings = %+v", fj.Bindings)
				}
			case hostproto.TriggerTimer:
				schedule := map[string]string{"VerifySegments": config.SettingVerifySchedule, "DrainOutbox": config.SettingOutboxSchedule}[name]
				if len(fj.Bindings) != 1 || schedule == "" || trig.Schedule != "%"+schedule+"%" ||
					trig.RunOnStartup == nil || *trig.RunOnStartup || trig.UseMonitor == nil || !*trig.UseMonitor {
					t.Fatalf("timer bindings = %+v", fj.Bindings)
				}
			case hostproto.TriggerHTTP:
				// Exactly httpTrigger + http out: only then does the host
				// forward the original request (IsHttpInAndOutFunction).
				if len(fj.Bindings) != 2 {
					t.Fatalf("http function has %d bindings, want 2", len(fj.Bindings))
				}
				if out := fj.Bindings[1]; out.Type != "http" || out.Direction != "out" || out.Name != "res" {
					t.Fatalf("output binding = %+v", out)
				}
				if trig.AuthLevel != "function" {
					t.Fatalf("authLevel = %q, want function", trig.AuthLevel)
				}
				if len(trig.Methods) != 1 || trig.Route == "" {
					t.Fatalf("methods %v, route %q: want one method and a route", trig.Methods, trig.Route)
				}
			default:
				t.Fatalf("unknown trigger %q", trig.Type)
			}
		})
	}
}

func TestHostJSON(t *testing.T) {
	var h struct {
		Version         string `json:"version"`
		FunctionTimeout string `json:"functionTimeout"`
		ExtensionBundle struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"extensionBundle"`
		Extensions struct {
			HTTP struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
			Queues map[string]any `json:"queues"`
		} `json:"extensions"`
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string   `json:"defaultExecutablePath"`
				WorkingDirectory      *string  `json:"workingDirectory"`
				Arguments             []string `json:"arguments"`
			} `json:"description"`
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
		Logging struct {
			ApplicationInsights struct {
				SamplingSettings struct {
					IsEnabled *bool `json:"isEnabled"`
				} `json:"samplingSettings"`
			} `json:"applicationInsights"`
		} `json:"logging"`
	}
	readJSON(t, filepath.Join(repoRoot, "host.json"), &h)
	if h.Version != "2.0" || h.FunctionTimeout != "00:10:00" {
		t.Errorf("version %q, functionTimeout %q", h.Version, h.FunctionTimeout)
	}
	if h.ExtensionBundle.ID != "Microsoft.Azure.Functions.ExtensionBundle" || h.ExtensionBundle.Version != "[4.*, 5.0.0)" {
		t.Errorf("extensionBundle = %+v", h.ExtensionBundle)
	}
	if p := h.Extensions.HTTP.RoutePrefix; p == nil || *p != server.RoutePrefix {
		t.Errorf("routePrefix = %v, want %q", p, server.RoutePrefix)
	}
	wantQueues := map[string]any{"batchSize": 4.0, "newBatchThreshold": 2.0, "maxDequeueCount": 5.0,
		"visibilityTimeout": "00:00:30", "maxPollingInterval": "00:00:02", "messageEncoding": "base64"}
	for k, v := range wantQueues {
		if h.Extensions.Queues[k] != v {
			t.Errorf("extensions.queues.%s = %v, want %v", k, h.Extensions.Queues[k], v)
		}
	}
	d := h.CustomHandler.Description
	if d.DefaultExecutablePath != "offload" || !slices.Equal(d.Arguments, []string{"serve"}) || d.WorkingDirectory == nil || *d.WorkingDirectory != "" {
		t.Errorf("customHandler.description = %+v", d)
	}
	if !h.CustomHandler.EnableForwardingHTTPRequest {
		t.Error("customHandler.enableForwardingHttpRequest is not true: HTTP functions would get envelopes, not the request")
	}
	if s := h.Logging.ApplicationInsights.SamplingSettings.IsEnabled; s == nil || !*s {
		t.Error("logging.applicationInsights.samplingSettings.isEnabled is not true")
	}
}

func TestLocalSettingsExample(t *testing.T) {
	var ls struct {
		IsEncrypted *bool             `json:"IsEncrypted"`
		Values      map[string]string `json:"Values"`
	}
	readJSON(t, filepath.Join(repoRoot, "local.settings.json.example"), &ls)
	if ls.IsEncrypted == nil || *ls.IsEncrypted {
		t.Error("IsEncrypted is not false")
	}
	want := map[string]string{
		"FUNCTIONS_WORKER_RUNTIME":    "custom",
		config.SettingStorage:         "UseDevelopmentStorage=true",
		config.SettingSQL:             "sqlite:./.offload/catalog.db",
		config.SettingModelsContainer: config.DefaultModelsContainer,
		config.SettingAtomsContainer:  config.DefaultAtomsContainer,
		config.SettingTensors:         config.DefaultTensorsContainer,
		config.SettingSegmentQueue:    config.DefaultSegmentQueue,
		config.SettingVerifySchedule:  config.DefaultVerifySchedule,
		config.SettingFilesRoots:      config.DefaultFilesRoots,
		config.SettingPublishQueues:   config.DefaultPublishQueues,
	}
	for k, v := range want {
		if got, ok := ls.Values[k]; !ok || got != v {
			t.Errorf("Values[%s] = %q, want %q", k, got, v)
		}
	}
	// The example must load as a configuration.
	if _, err := config.Load(func(k string) string { return ls.Values[k] }); err != nil {
		t.Errorf("the example's Values do not load: %v", err)
	}
}
