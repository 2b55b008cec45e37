package functions

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/hartonomous/offload/internal/config"
)

// functionJSON is every functions/<Name>/function.json, as packaged for the
// host: the binary knows the bindings the host will index.
//
//go:embed */function.json
var functionJSON embed.FS

// Binding is one binding of a function.json, with the properties Offload
// reads (the host reads more).
type Binding struct {
	Type       string `json:"type"`
	Direction  string `json:"direction"`
	Name       string `json:"name"`
	DataType   string `json:"dataType,omitempty"`
	QueueName  string `json:"queueName,omitempty"`
	Connection string `json:"connection,omitempty"`
	Schedule   string `json:"schedule,omitempty"`
	// RunOnStartup and UseMonitor are the timer trigger's options.
	RunOnStartup bool     `json:"runOnStartup,omitempty"`
	UseMonitor   *bool    `json:"useMonitor,omitempty"`
	AuthLevel    string   `json:"authLevel,omitempty"`
	Methods      []string `json:"methods,omitempty"`
	Route        string   `json:"route,omitempty"`
}

// Definition is one function: its folder name and bindings.
type Definition struct {
	Name     string
	Bindings []Binding
}

// Definitions returns every function.json the binary carries, by name.
func Definitions() ([]Definition, error) { return ReadDefinitions(functionJSON) }

// ReadDefinitions reads <Name>/function.json from every folder of fsys.
func ReadDefinitions(fsys fs.FS) ([]Definition, error) {
	files, err := fs.Glob(fsys, "*/function.json")
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var out []Definition
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var fj struct {
			Bindings []Binding `json:"bindings"`
		}
		if err := json.Unmarshal(b, &fj); err != nil {
			return nil, fmt.Errorf("functions: %s: %w", f, err)
		}
		out = append(out, Definition{Name: path.Dir(f), Bindings: fj.Bindings})
	}
	return out, nil
}

// settingRef is a %NAME% in a binding property, which the host resolves
// from the app settings (INameResolver.ResolveWholeString).
var settingRef = regexp.MustCompile(`%([^%]+)%`)

// TriggerSettings lists every %NAME% the bindings of defs resolve, in the
// order the functions and properties come: the settings the host needs for
// each function to be indexed.
func TriggerSettings(defs []Definition) []config.TriggerSetting {
	var out []config.TriggerSetting
	for _, d := range defs {
		for _, b := range d.Bindings {
			for _, p := range []struct{ name, v string }{
				{"queueName", b.QueueName}, {"schedule", b.Schedule}, {"route", b.Route},
			} {
				for _, m := range settingRef.FindAllStringSubmatch(p.v, -1) {
					out = append(out, config.TriggerSetting{Name: strings.TrimSpace(m[1]), Function: d.Name, Property: p.name})
				}
			}
		}
	}
	return out
}
