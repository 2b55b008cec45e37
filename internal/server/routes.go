package server

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/hartonomous/offload/internal/hostproto"
)

// RoutePrefix is host.json's extensions.http.routePrefix: the host forwards
// an HTTP function's request at /<RoutePrefix>/<route>.
const RoutePrefix = "api"

// Route is one way the host reaches a function, built from its
// function.json: an HTTP trigger's route and methods as the host forwards
// them (/api/<route>), a queue or timer trigger's invocation envelope as a
// POST to /<Name>.
type Route struct {
	Function string // function name = folder name under functions/
	Trigger  string // hostproto.TriggerQueue, TriggerTimer or TriggerHTTP
	Binding  string // name of the trigger binding, the envelope's Data key
	Method   string // method the host uses to reach us
	Path     string // Echo path we serve, {param} spelled :param
}

// routeParam is a route template's parameter: {name}, or {name?} as the
// last segment (optional: the route matches with and without it, as ASP.NET
// routing does). Constraints ({id:int}) and catch-all ({*rest}) parameters
// are ASP.NET forms this server does not match, so a function.json using
// them is refused at start rather than routed differently from the host.
var (
	routeParam   = regexp.MustCompile(`^\{([A-Za-z_][A-Za-z0-9_]*)(\?)?\}$`)
	routeLiteral = regexp.MustCompile(`^[^{}:*?]+$`)
)

// anyMethod is what an httpTrigger without "methods" accepts.
var anyMethod = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// buildRoutes builds the routes of defs; an error names the function whose
// function.json the server cannot serve as the host would.
func buildRoutes(defs []hostproto.Definition) ([]Route, error) {
	var out []Route
	seen := map[string]string{}
	for _, d := range defs {
		rs, err := defRoutes(d)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		for _, r := range rs {
			key := r.Method + " " + strings.ToLower(r.Path)
			if other, dup := seen[key]; dup {
				return nil, fmt.Errorf("server: %s and %s both route %s", other, d.Name, key)
			}
			seen[key] = d.Name
			out = append(out, r)
		}
	}
	return out, nil
}

func defRoutes(d hostproto.Definition) ([]Route, error) {
	t, err := d.Trigger()
	if err != nil {
		return nil, err
	}
	switch t.Type {
	case hostproto.TriggerQueue, hostproto.TriggerTimer:
		return []Route{{Function: d.Name, Trigger: t.Type, Binding: t.Name, Method: http.MethodPost, Path: "/" + d.Name}}, nil
	case hostproto.TriggerHTTP:
	default:
		return nil, fmt.Errorf("function %s: trigger %q is not served", d.Name, t.Type)
	}
	paths, err := echoPaths(cmp.Or(t.Route, d.Name))
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", d.Name, err)
	}
	methods := anyMethod
	if len(t.Methods) > 0 {
		methods = nil
		for _, m := range t.Methods {
			methods = append(methods, strings.ToUpper(m))
		}
	}
	var out []Route
	for _, path := range paths {
		for _, m := range methods {
			out = append(out, Route{Function: d.Name, Trigger: t.Type, Binding: t.Name, Method: m, Path: path})
		}
	}
	return out, nil
}

// echoPaths is /api/<route> with each {param} spelled :param; a route
// ending in an optional {param?} is also served without that segment.
func echoPaths(route string) ([]string, error) {
	segs := strings.Split(strings.Trim(route, "/"), "/")
	optional := false
	for i, s := range segs {
		if m := routeParam.FindStringSubmatch(s); m != nil {
			if m[2] == "?" && i != len(segs)-1 {
				return nil, fmt.Errorf("route %q: the optional %s is not the last segment", route, s)
			}
			segs[i], optional = ":"+m[1], m[2] == "?"
			continue
		}
		if !routeLiteral.MatchString(s) {
			return nil, fmt.Errorf("route %q: segment %q is neither a literal nor a {parameter}", route, s)
		}
	}
	full := "/" + RoutePrefix + "/" + strings.Join(segs, "/")
	if !optional {
		return []string{full}, nil
	}
	return []string{"/" + RoutePrefix + "/" + strings.Join(segs[:len(segs)-1], "/"), full}, nil
}
