package functions

import (
	"context"
	"errors"
	"fmt"

	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

// ErrBusy fails a delivery whose segment another worker holds the claim
// on, so that the host delivers it again later.
var ErrBusy = errors.New("the segment is being migrated by another worker (its claim is live): retried later")

func init() { register("MigrateSegment", MigrateSegment) }

// MigrateSegment is the queue-triggered function (queue %SEGMENT_QUEUE%).
// An error fails the invocation: the host retries it and, after
// maxDequeueCount, moves it to segment-migration-poison.
//
// Under the host, a segment whose claim another worker holds fails the
// delivery (the host retries after visibilityTimeout) rather than
// completing it: that worker may be one the host killed, whose claim then
// runs out (ClaimTTL, a minute at most in serve mode) before the next
// delivery migrates the segment. The last delivery (maxDequeueCount)
// completes instead: by then the claim has outlived several TTLs, so it
// is being renewed by a live worker that will finish the segment, and the
// duplicate message is not worth a poison entry.
func MigrateSegment(d Deps) server.Entry {
	if d.Segments == nil {
		return server.Entry{}
	}
	return server.Entry{Queue: migrateSegment(d)}
}

func migrateSegment(d Deps) server.QueueFunc {
	maxDeliveries := int64(d.Host.Queues.MaxDequeueCount)
	return func(ctx context.Context, body []byte, meta hostproto.QueueMeta) error {
		log := d.Logger.With("function", "MigrateSegment", "messageId", meta.ID, "dequeueCount", meta.DequeueCount)
		res, err := d.Segments.HandleMessage(ctx, body)
		if err != nil {
			if errors.Is(err, segments.ErrBadMessage) || errors.Is(err, segments.ErrUnknownSegment) {
				log.Error("message cannot succeed; it will end in the poison queue", "err", err)
			}
			return err
		}
		if res.Outcome == segments.OutcomeBusy && maxDeliveries > 0 && meta.DequeueCount < maxDeliveries {
			return fmt.Errorf("segment %d: %w", res.SegmentID, ErrBusy)
		}
		log.Info("segment message handled", "segmentId", res.SegmentID, "outcome", string(res.Outcome), "bytes", res.Bytes)
		return nil
	}
}
