package functions

import (
	"context"
	"errors"

	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

// MigrateSegment is the queue-triggered function (queue %SEGMENT_QUEUE%).
// An error fails the invocation: the host retries it and, after
// maxDequeueCount, moves the message to segment-migration-poison.
func MigrateSegment(d Deps) server.QueueFunc {
	return func(ctx context.Context, body []byte, meta hostproto.QueueMeta) error {
		log := d.Logger.With("function", "MigrateSegment", "messageId", meta.ID, "dequeueCount", meta.DequeueCount)
		res, err := d.Segments.HandleMessage(ctx, body)
		if err != nil {
			if errors.Is(err, segments.ErrBadMessage) || errors.Is(err, segments.ErrUnknownSegment) {
				log.Error("message cannot succeed; it will end in the poison queue", "err", err)
			}
			return err
		}
		log.Info("segment message handled", "segmentId", res.SegmentID, "outcome", string(res.Outcome), "bytes", res.Bytes)
		return nil
	}
}
