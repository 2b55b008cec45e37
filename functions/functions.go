// Package functions holds the Go entry point of each Azure Function: one
// small file per function, named after it, next to the function's folder
// with its function.json. Each entry point adapts the host's trigger (an
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
	"github.com/hartonomous/offload/internal/files"
	"github.com/hartonomous/offload/internal/outbox"
	"github.com/hartonomous/offload/internal/publish"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

// Deps are the services the functions call. A nil service leaves its
// functions unset, and the server answers them 501.
type Deps struct {
	Segments *segments.Service
	Atoms    *atoms.Service
	Files    *files.Service
	Publish  *publish.Service
	Outbox   *outbox.Service
	Logger   *slog.Logger
	// Host is host.json as the Functions host applies it; its zero value
	// (outside the host) keeps the queue function's plain behaviour.
	Host config.Host
}

// New returns every function the app serves.
func New(d Deps) server.Functions {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	var fns server.Functions
	if d.Segments != nil {
		fns.MigrateSegment = MigrateSegment(d)
		fns.VerifySegments = VerifySegments(d)
		fns.EnqueueSegments = EnqueueSegments(d)
		fns.SegmentStatus = SegmentStatus(d)
		fns.ReleaseSegments = ReleaseSegments(d)
	}
	if d.Files != nil {
		fns.Files = lowerParam("op", d.Files.Handler())
	}
	if d.Publish != nil {
		fns.PublishMessage = d.Publish.Handler()
	}
	if d.Outbox != nil {
		fns.DrainOutbox = DrainOutbox(d)
		fns.DrainOutboxHTTP = DrainOutboxHTTP(d)
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
