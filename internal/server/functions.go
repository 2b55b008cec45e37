package server

import (
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

// Functions are the entry points the server routes to (REFERENCE §3). A nil
// field answers 501 not_implemented.
type Functions struct {
	MigrateSegment  QueueFunc        // POST /MigrateSegment (queue trigger, binding "msg")
	VerifySegments  TimerFunc        // POST /VerifySegments (timer trigger, binding "timer")
	EnqueueSegments echo.HandlerFunc // POST /api/segments/enqueue
	SegmentStatus   echo.HandlerFunc // GET  /api/segments/status
	Files           echo.HandlerFunc // POST /api/files/:op
	PublishMessage  echo.HandlerFunc // POST /api/messages/:queue
	ReleaseSegments echo.HandlerFunc // POST /api/segments/release
	DrainOutbox     TimerFunc        // POST /DrainOutbox (timer trigger, binding "timer")
	DrainOutboxHTTP echo.HandlerFunc // POST /api/messages/drain
}

// handler is the Echo handler of route r: the function adapted to the
// protocol, or nil when it is not set.
func (f Functions) handler(s *Server, r Route) echo.HandlerFunc {
	var h echo.HandlerFunc
	switch r.Function {
	case "MigrateSegment":
		if f.MigrateSegment != nil {
			h = s.queueInvocation(r, f.MigrateSegment)
		}
	case "VerifySegments":
		if f.VerifySegments != nil {
			h = s.timerInvocation(r, f.VerifySegments)
		}
	case "EnqueueSegments":
		h = f.EnqueueSegments
	case "SegmentStatus":
		h = f.SegmentStatus
	case "Files":
		h = f.Files
	case "PublishMessage":
		h = f.PublishMessage
	case "ReleaseSegments":
		h = f.ReleaseSegments
	case "DrainOutbox":
		if f.DrainOutbox != nil {
			h = s.timerInvocation(r, f.DrainOutbox)
		}
	case "DrainOutboxHttp":
		h = f.DrainOutboxHTTP
	}
	return h
}
