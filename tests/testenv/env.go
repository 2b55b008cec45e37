package testenv

import (
	"os"
	"strings"
)

// Environ is the environment for a run of the binary: the inherited one
// without any setting env names (so a developer's own settings cannot leak
// into a test) or FUNCTIONS_CUSTOMHANDLER_PORT (which would make every run
// a handler), plus env.
func Environ(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := env[k]; ours || k == "FUNCTIONS_CUSTOMHANDLER_PORT" {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
