package functions

import (
	"embed"
	"regexp"
	"strings"

	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/hostproto"
)

// functionJSON is every functions/<Name>/function.json, as packaged for the
// host: the one source of each function's trigger, route and methods, from
// which the server builds its routes.
//
//go:embed */function.json
var functionJSON embed.FS

// Definitions returns every function.json the binary carries, by name.
func Definitions() ([]hostproto.Definition, error) { return hostproto.ReadDefinitions(functionJSON) }

// settingRef is a %NAME% in a binding property, which the host resolves
// from the app settings (INameResolver.ResolveWholeString).
var settingRef = regexp.MustCompile(`%([^%]+)%`)

// TriggerSettings lists every %NAME% the bindings of defs resolve, in the
// order the functions and properties come: the settings the host needs for
// each function to be indexed.
func TriggerSettings(defs []hostproto.Definition) []config.TriggerSetting {
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
