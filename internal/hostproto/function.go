package hostproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Trigger types, as function.json spells them.
const (
	TriggerQueue = "queueTrigger"
	TriggerTimer = "timerTrigger"
	TriggerHTTP  = "httpTrigger"
)

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

// Definition is one function as the host indexes it: its folder name and
// the bindings of its function.json.
type Definition struct {
	Name     string
	Bindings []Binding
}

// Trigger is the definition's one trigger binding (an "in" binding whose
// type ends in Trigger): the host refuses a function with none or several.
func (d Definition) Trigger() (Binding, error) {
	var found []Binding
	for _, b := range d.Bindings {
		if b.Direction == "in" && strings.HasSuffix(b.Type, "Trigger") {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 0:
		return Binding{}, fmt.Errorf("function %s: no trigger binding", d.Name)
	case 1:
		return found[0], nil
	}
	return Binding{}, errors.New("function " + d.Name + ": more than one trigger binding")
}

// ReadDefinitions reads <Name>/function.json from every folder of fsys, in
// name order.
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
			return nil, fmt.Errorf("hostproto: %s: %w", f, err)
		}
		out = append(out, Definition{Name: path.Dir(f), Bindings: fj.Bindings})
	}
	return out, nil
}
