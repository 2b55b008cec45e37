package server

import (
	"cmp"
	"context"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/hostproto"
)

// QueueFunc handles one queue message: body is the message as the producer
// wrote it, meta its queue metadata. An error fails the invocation, so the
// host retries the message and, after maxDequeueCount, moves it to the
// poison queue.
type QueueFunc func(ctx context.Context, body []byte, meta hostproto.QueueMeta) error

// TimerFunc handles one timer occurrence. An error fails the invocation
// (the next occurrence runs regardless).
type TimerFunc func(ctx context.Context, t hostproto.TimerInfo) error

// Body limits of the HTTP functions. Files takes what
// sp_invoke_external_rest_endpoint can send (100 MB); the others take small
// JSON bodies (a storage queue message is at most 64 KiB).
const (
	FilesBodyLimit int64 = 100 << 20
	SmallBodyLimit int64 = 64 << 10
)

// Entry is a function's entry point: the one of Queue, Timer and HTTP that
// its function.json's trigger calls for.
type Entry struct {
	Queue QueueFunc        // queueTrigger: POST /<Name> with an envelope
	Timer TimerFunc        // timerTrigger: POST /<Name> with an envelope
	HTTP  echo.HandlerFunc // httpTrigger: the forwarded request
	// BodyLimit caps an HTTP request's body (SmallBodyLimit when 0); an
	// envelope's is Config.MaxInvocationBytes.
	BodyLimit int64
	// BodyRequired: the function cannot work without a body, so an empty
	// one (what the host forwards for a chunked request) is answered 411.
	BodyRequired bool
}

// IsZero reports whether e has no entry point.
func (e Entry) IsZero() bool { return e.Queue == nil && e.Timer == nil && e.HTTP == nil }

// Functions are the entry points the server routes to, by function name.
// A function without one, or with one its trigger cannot call, answers 501
// not_implemented.
type Functions map[string]Entry

// handler is the Echo handler of route r: the entry point adapted to the
// protocol, its body limited, or nil when there is none for r's trigger.
func (f Functions) handler(s *Server, r Route) echo.HandlerFunc {
	e := f[r.Function]
	var h echo.HandlerFunc
	limit := s.cfg.MaxInvocationBytes
	switch {
	case r.Trigger == hostproto.TriggerQueue && e.Queue != nil:
		h = s.queueInvocation(r, e.Queue)
	case r.Trigger == hostproto.TriggerTimer && e.Timer != nil:
		h = s.timerInvocation(r, e.Timer)
	case r.Trigger == hostproto.TriggerHTTP && e.HTTP != nil:
		h, limit = e.HTTP, cmp.Or(e.BodyLimit, SmallBodyLimit)
	default:
		return nil
	}
	return limitBody(r, e.BodyRequired, limit, h)
}
