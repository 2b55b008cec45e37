// Package functions holds the Go entry point of each Azure Function: one
// small file per function, named after it, next to the function's folder
// with its function.json (embedded in the binary: the one source of the
// function's trigger, route and methods). Each file registers its entry
// point; the server builds its routes from the function.json files and
// dispatches to these. An entry point adapts the host's trigger (an
// invocation envelope or a forwarded HTTP request) to a domain service and
// back; none of them decides policy.
package functions

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/atoms"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/dashboard"
	"github.com/hartonomous/offload/internal/files"
	"github.com/hartonomous/offload/internal/outbox"
	"github.com/hartonomous/offload/internal/publish"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

// Deps are the services the functions call. A nil service leaves its
// functions without an entry point, and the server answers them 501 (or,
// while the service is still connecting, 503).
type Deps struct {
	Segments *segments.Service
	Atoms    *atoms.Service
	Files    *files.Service
	Publish  *publish.Service
	Outbox   *outbox.Service
	// Dashboard is the live migration page.
	Dashboard *dashboard.Service
	Logger    *slog.Logger
	// Host is host.json as the Functions host applies it; its zero value
	// (outside the host) keeps the queue function's plain behaviour.
	Host config.Host
}

// entryPoint makes a function's entry point from the services; it returns
// the zero Entry when a service it needs is missing.
type entryPoint func(d Deps) server.Entry

// entryPoints holds each function's entry point by function name, filled
// by register in the init of the function's own file and read-only after.
var entryPoints = map[string]entryPoint{}

// register adds the entry point of the function whose folder is name;
// adding a function is its functions/<Name>/function.json and a file that
// registers its entry point. A name registered twice is a programming
// error.
func register(name string, ep entryPoint) {
	if _, dup := entryPoints[name]; dup {
		panic("functions: " + name + " registered twice")
	}
	entryPoints[name] = ep
}

// New returns the entry point of every function whose services d holds.
func New(d Deps) server.Functions {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	fns := server.Functions{}
	for name, ep := range entryPoints {
		if e := ep(d); !e.IsZero() {
			fns[name] = e
		}
	}
	return fns
}

// lowerParam lower-cases the route parameter name before next reads it.
// The host matches a route's literals in any case but passes a
// parameter's value as it was typed, so /api/files/Exists arrives with op
// "Exists", which names the same operation.
func lowerParam(name string, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		names, values := c.ParamNames(), c.ParamValues()
		for i := range names {
			if names[i] == name && i < len(values) {
				values[i] = strings.ToLower(values[i])
			}
		}
		c.SetParamValues(values...)
		return next(c)
	}
}

// bindJSON decodes an optional JSON body into v; an empty body keeps v's
// zero value. Unknown fields are refused so a typo is not silently ignored.
func bindJSON(c echo.Context, v any) error {
	req := c.Request()
	if req.ContentLength == 0 {
		return nil
	}
	dec := jsonDecoder(http.MaxBytesReader(c.Response(), req.Body, 64<<10))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	return nil
}
