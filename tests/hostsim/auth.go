package hostsim

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Keys are the app's keys as the host keeps them (its secrets store:
// azure-functions-host SecretManager, HostSecrets and FunctionSecrets).
type Keys struct {
	// Master opens every function, admin ones included.
	Master string
	// Host are host-level function keys ("default" and others): they open
	// every function of authLevel function.
	Host []string
	// Function are each function's own keys, by function name.
	Function map[string][]string
}

// authorized is the host's key check for an HTTP trigger
// (WebJobs.Script.WebHost FunctionAuthorizationHandler and
// AuthenticationLevelHandler): the key arrives in the x-functions-key
// header, else in the code query parameter. authLevel anonymous needs no
// key; function (the default) takes the master key, a host key or one of
// the function's keys; admin takes the master key only. With no Keys (as
// under func start) nothing is checked.
func (s *Sim) authorized(f *Function, r *http.Request) bool {
	k := s.cfg.Keys
	if k == nil {
		return true
	}
	level := strings.ToLower(f.Trigger.AuthLevel)
	if level == "anonymous" {
		return true
	}
	key := r.Header.Get("x-functions-key")
	if key == "" {
		key = r.URL.Query().Get("code")
	}
	if key == "" {
		return false
	}
	if same(key, k.Master) {
		return true
	}
	if level == "admin" {
		return false
	}
	for _, h := range append(append([]string(nil), k.Host...), k.Function[f.Name]...) {
		if same(key, h) {
			return true
		}
	}
	return false
}

// same compares in constant time; an empty key never matches.
func same(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
