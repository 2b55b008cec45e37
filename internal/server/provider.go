package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Provider supplies the functions, which may depend on a catalog or a
// storage account that does not answer yet: the server listens (and
// answers the host's readiness poll) before they are reachable.
type Provider interface {
	// Functions returns the functions available now. While some are not
	// (no entry), err says why, naming what is unreachable and never a
	// secret.
	Functions() (Functions, error)
	// Wait blocks until every function is available or ctx is done, and
	// returns the reason when they are not.
	Wait(ctx context.Context) error
	// Health says which dependency does not answer ("" when all do). It
	// is added to the reason of an invocation stopped at its deadline.
	Health() string
}

// CodeUnavailable is the error code of a function whose dependencies are
// not reachable yet.
const CodeUnavailable = "unavailable"

// resolve is route r's handler: the function as the provider has it now,
// or, while it is not available, after waiting for it within the
// request's deadline; 503 with the provider's reason when that runs out.
func (s *Server) resolve(r Route) echo.HandlerFunc {
	return func(c echo.Context) error {
		fns, why := s.fns.Functions()
		if h := fns.handler(s, r); h != nil {
			return h(c)
		}
		if why == nil {
			return notImplemented(r.Function)(c)
		}
		if err := s.fns.Wait(c.Request().Context()); err != nil {
			c.Response().Header().Set("Retry-After", "10")
			return Error(c, http.StatusServiceUnavailable, CodeUnavailable, r.Function+" is not available yet: "+err.Error())
		}
		fns, _ = s.fns.Functions()
		if h := fns.handler(s, r); h != nil {
			return h(c)
		}
		return notImplemented(r.Function)(c)
	}
}

// errDeadline is the cause of a request's context cancelled at
// Config.InvocationTimeout.
var errDeadline = errors.New("invocation deadline")

// deadlineReason explains a failure of a request whose context ended at its
// deadline ("" otherwise): how long it had, why, and what did not answer.
func (s *Server) deadlineReason(ctx context.Context) string {
	if !errors.Is(context.Cause(ctx), errDeadline) {
		return ""
	}
	reason := "stopped at its deadline of " + s.cfg.InvocationTimeout.String() +
		" (host.json functionTimeout less a margin, so that it fails cleanly before the host kills the worker)"
	if h := s.fns.Health(); h != "" {
		reason += "; " + h
	}
	return reason
}

// canonicalPath rewrites the path of a request for a route to that route's
// own spelling, as ASP.NET routing matches them (WebJobsRouteBuilder): a
// literal segment in any case, and a trailing slash. Parameter values keep
// the case they were sent in (the host passes {op} as typed). A path that
// matches no route is 404 here, as at the host: Echo would otherwise let a
// last parameter take the rest of the path ("a/b").
func (s *Server) canonicalPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.URL.Path == "/" {
			return next(c)
		}
		p, ok := canonical(s.routes, req.URL.Path)
		if !ok {
			return echo.ErrNotFound
		}
		if p != req.URL.Path {
			req.URL.Path, req.URL.RawPath = p, ""
		}
		return next(c)
	}
}

// canonical maps path onto the route it matches (ok false when none).
func canonical(routes []Route, path string) (string, bool) {
	trimmed := path
	if len(trimmed) > 1 {
		trimmed = strings.TrimSuffix(trimmed, "/")
	}
	got := strings.Split(strings.TrimPrefix(trimmed, "/"), "/")
	for _, r := range routes {
		want := strings.Split(strings.TrimPrefix(r.Path, "/"), "/")
		if len(want) != len(got) {
			continue
		}
		out := make([]string, len(want))
		match := true
		for i, w := range want {
			switch {
			case strings.HasPrefix(w, ":") && got[i] != "":
				out[i] = got[i]
			case strings.EqualFold(w, got[i]):
				out[i] = w
			default:
				match = false
			}
			if !match {
				break
			}
		}
		if match {
			return "/" + strings.Join(out, "/"), true
		}
	}
	return path, false
}
