package functions_test

import (
	"slices"
	"testing"

	"github.com/hartonomous/offload/functions"
	"github.com/hartonomous/offload/internal/atoms"
	"github.com/hartonomous/offload/internal/dashboard"
	"github.com/hartonomous/offload/internal/files"
	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/outbox"
	"github.com/hartonomous/offload/internal/publish"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

// allServices holds every service (never called here), so that every
// function gets its entry point.
func allServices() functions.Deps {
	return functions.Deps{Segments: &segments.Service{}, Atoms: &atoms.Service{}, Files: &files.Service{},
		Publish: &publish.Service{}, Outbox: &outbox.Service{}, Dashboard: &dashboard.Service{}}
}

// Every function.json has exactly one entry point, of the kind its trigger
// calls for, and every entry point has a function.json; the server can
// route them all.
func TestEveryFunctionHasItsEntryPoint(t *testing.T) {
	defs, err := functions.Definitions()
	if err != nil {
		t.Fatal(err)
	}
	fns := functions.New(allServices())
	var names []string
	for _, d := range defs {
		names = append(names, d.Name)
		trig, err := d.Trigger()
		if err != nil {
			t.Fatal(err)
		}
		e, ok := fns[d.Name]
		if !ok {
			t.Errorf("%s has a function.json and no entry point", d.Name)
			continue
		}
		kinds := map[string]bool{hostproto.TriggerQueue: e.Queue != nil, hostproto.TriggerTimer: e.Timer != nil, hostproto.TriggerHTTP: e.HTTP != nil}
		for kind, set := range kinds {
			if set != (kind == trig.Type) {
				t.Errorf("%s: trigger %s, entry point %+v", d.Name, trig.Type, e)
			}
		}
	}
	for name := range fns {
		if !slices.Contains(names, name) {
			t.Errorf("entry point %s has no functions/%s/function.json", name, name)
		}
	}
	if _, err := server.New(server.Config{}, defs, nil); err != nil {
		t.Fatal(err)
	}
}

// A function whose service is missing has no entry point (the server
// answers it 501, or 503 while the service is connecting).
func TestMissingServiceLeavesNoEntryPoint(t *testing.T) {
	d := allServices()
	d.Segments, d.Outbox, d.Dashboard = nil, nil, nil // what needs the catalog
	var got []string
	for name := range functions.New(d) {
		got = append(got, name)
	}
	slices.Sort(got)
	if want := []string{"Files", "PublishMessage"}; !slices.Equal(got, want) {
		t.Fatalf("without segments, outbox and dashboard: %v, want %v", got, want)
	}
}
