package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/hostproto"
)

type invocationIDKey struct{}

// InvocationID is the host's invocation id of the request ctx belongs to
// ("" outside the host), for functions that log on their own.
func InvocationID(ctx context.Context) string {
	id, _ := ctx.Value(invocationIDKey{}).(string)
	return id
}

// observe wraps a route's handler: it puts the invocation id in the request
// context, turns a panic into a 500, renders a returned error, and logs one
// line per invocation (function, invocation id, status, duration, outcome).
// A failed invocation also goes to stderr: the host drops the Logs of a
// failed invocation's reply.
func (s *Server) observe(r Route, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := c.Request().Header.Get(hostproto.InvocationIDHeader)
		ctx := context.WithValue(c.Request().Context(), invocationIDKey{}, id)
		if d := s.cfg.InvocationTimeout; d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(ctx, d, errDeadline)
			defer cancel()
		}
		c.SetRequest(c.Request().WithContext(ctx))
		c.Set(serverKey, s)

		if err := s.safely(r, c, next); err != nil {
			c.Error(err) // the HTTPErrorHandler answers it
		}

		status := c.Response().Status
		attrs := []any{
			slog.String("function", r.Function),
			slog.String("invocationId", id),
			slog.Int("status", status),
			slog.Float64("durationMs", float64(time.Since(start).Microseconds())/1000),
		}
		ok := status < 400
		if ok {
			s.log.Info("invocation", append(attrs, slog.String("outcome", "succeeded"))...)
			return nil
		}
		reason, _ := c.Get(failureKey).(string)
		attrs = append(attrs, slog.String("outcome", "failed"), slog.String("error", reason))
		level := slog.LevelWarn // the caller's mistake
		if status >= 500 || r.Trigger != hostproto.TriggerHTTP {
			level = slog.LevelError
			s.errLog.Error("invocation failed", attrs...)
		}
		s.log.Log(c.Request().Context(), level, "invocation", attrs...)
		return nil
	}
}

// safely runs next, turning a panic into errPanic after logging it with its
// stack (to the logs only: a response never carries a stack).
func (s *Server) safely(r Route, c echo.Context, next echo.HandlerFunc) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way to abort a response: let it through
			}
			reason := fmt.Sprintf("panic: %v", v)
			c.Set(failureKey, reason)
			s.errLog.Error("handler panicked", "function", r.Function,
				"invocationId", InvocationID(c.Request().Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = errPanic
		}
	}()
	return next(c)
}

// CodeLengthRequired is the error code of a request body the host would not
// forward (411).
const CodeLengthRequired = "length_required"

// limitBody refuses a body over n bytes: at once when Content-Length says
// so, else when the handler reads past n (an *http.MaxBytesError, which the
// error handler answers 413).
//
// An HTTP function's body must come with a Content-Length: the host
// forwards a body only when Content-Length > 0, buffered whole, so a
// chunked request reaches the function empty. A body without a length is
// answered 411 rather than acted on as if empty, and so is an empty body
// where the function needs one (required).
func limitBody(r Route, required bool, n int64, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if r.Trigger == hostproto.TriggerHTTP && req.Method != http.MethodGet && req.Method != http.MethodHead {
			switch {
			case req.ContentLength < 0:
				return Error(c, http.StatusLengthRequired, CodeLengthRequired,
					"the request body has no Content-Length (chunked?): the Functions host forwards a body only when its Content-Length is above 0, so send one")
			case req.ContentLength == 0 && required:
				return Error(c, http.StatusLengthRequired, CodeLengthRequired,
					r.Function+" needs a JSON body with a Content-Length: the request arrived empty (the Functions host forwards a body only when its Content-Length is above 0: a chunked body arrives empty)")
			}
		}
		if req.ContentLength > n {
			return Error(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body is over %d bytes", n))
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, n)
		return next(c)
	}
}
