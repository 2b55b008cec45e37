package segments

import (
	"context"
	"errors"
	"fmt"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
)

// ReleaseParams select what Release frees. Confirm false is a dry run: it
// is the default on purpose.
type ReleaseParams struct {
	ModelID int64 `json:"modelId,omitempty"`
	LayerID int64 `json:"layerId,omitempty"`
	Limit   int   `json:"limit,omitempty"`
	Confirm bool  `json:"confirm,omitempty"`
}

// ReleaseResult counts what was (or would be) released.
type ReleaseResult struct {
	DryRun   bool  `json:"dryRun"`
	Segments int64 `json:"segments"`
	Bytes    int64 `json:"bytes"`
	Skipped  int64 `json:"skipped"`
	// Mismatched are skipped segments whose blob no longer matches what was
	// verified: marked mismatch (or, in a dry run, would be); Requeued of
	// them got a migration message in the same pass.
	Mismatched int64    `json:"mismatched"`
	Requeued   int64    `json:"requeued"`
	Errors     []string `json:"errors,omitempty"`
}

// Release empties RawPayload of segments that verification proved (their
// blob read back with the SHA-256 taken from the source) and that are
// unchanged since: the row still records the verified SHA-256 and ETag, and
// the blob still has that ETag and size right now. Anything else is skipped.
//
// A verified segment whose blob is gone or changed keeps its source, and
// the repair starts at once rather than at the next cheap check (up to
// CheapEvery later): the row is marked mismatch, as verification would,
// and re-queued in the same pass. A message that cannot be sent leaves it
// mismatch, which the verification timer re-queues.
func (s *Service) Release(ctx context.Context, p ReleaseParams) (ReleaseResult, error) {
	res := ReleaseResult{DryRun: !p.Confirm}
	queueReady := false
	f := catalog.SegmentFilter{ModelID: p.ModelID, LayerID: p.LayerID, States: []catalog.State{catalog.StateVerified}}
	err := s.page(ctx, f, p.Limit, func(page []catalog.Segment) error {
		for _, seg := range page {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			props, err := s.cfg.Blobs.Properties(ctx, s.cfg.Container, BlobName(seg))
			if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				res.Errors = append(res.Errors, fmt.Sprintf("segment %d: %v", seg.ID, err))
				res.Skipped++
				continue
			}
			if seg.Sha256 == "" {
				res.Skipped++
				continue
			}
			if result := blobDrift(props, err, seg); result != "" {
				s.log.Warn("not releasing: blob no longer matches what was verified; marked mismatch and re-queued",
					"segmentId", seg.ID, "blob", BlobName(seg), "result", result, "dryRun", !p.Confirm)
				res.Skipped++
				if !p.Confirm {
					res.Mismatched++
					continue
				}
				if err := s.requeueDrifted(ctx, seg, result, &queueReady, &res); err != nil {
					res.Errors = append(res.Errors, err.Error())
				}
				continue
			}
			if !p.Confirm {
				res.Segments++
				res.Bytes += seg.PayloadBytes
				continue
			}
			err = s.cfg.Catalog.ReleasePayload(ctx, catalog.ReleasePayloadParams{ID: seg.ID, ExpectSha256: seg.Sha256, ExpectETag: seg.BlobETag, Now: s.now()})
			switch {
			case errors.Is(err, catalog.ErrConflict):
				res.Skipped++
			case err != nil:
				res.Errors = append(res.Errors, fmt.Sprintf("segment %d: %v", seg.ID, err))
			default:
				res.Segments++
				res.Bytes += seg.PayloadBytes
				s.log.Info("segment source released", "segmentId", seg.ID, "bytes", seg.PayloadBytes, "sha256", seg.Sha256)
			}
		}
		return nil
	})
	if err == nil && len(res.Errors) > 0 {
		err = fmt.Errorf("segments: release: %d errors, first: %s", len(res.Errors), res.Errors[0])
	}
	return res, err
}

// blobDrift names how the blob differs from what was verified ("" when it
// does not): missing, size or etag (the verification results' words).
func blobDrift(props blobstore.Props, propsErr error, seg catalog.Segment) string {
	switch {
	case errors.Is(propsErr, blobstore.ErrNotFound):
		return "missing"
	case props.Size != seg.BlobSizeBytes:
		return "size"
	case props.ETag != seg.BlobETag:
		return "etag"
	}
	return ""
}

// requeueDrifted marks a verified segment whose blob drifted mismatch
// (conditional on the row still recording what was verified) and sends it
// a migration message; Migrate then finds the blob wrong, resets the row
// and uploads again from the source, which release never touched.
func (s *Service) requeueDrifted(ctx context.Context, seg catalog.Segment, result string, queueReady *bool, res *ReleaseResult) error {
	now := s.now()
	err := s.cfg.Catalog.RecordVerified(ctx, catalog.RecordVerifiedParams{ID: seg.ID, ExpectSha256: seg.Sha256,
		ExpectETag: seg.BlobETag, State: catalog.StateMismatch, Result: result, Now: now})
	if errors.Is(err, catalog.ErrConflict) {
		return nil // the row moved on (re-migrated, released): nothing to repair here
	}
	if err != nil {
		return fmt.Errorf("segment %d: mark mismatch: %v", seg.ID, err)
	}
	res.Mismatched++
	if s.cfg.Broker == nil {
		return nil // the verification timer re-queues mismatch rows
	}
	if !*queueReady {
		if err := s.cfg.Broker.Ensure(ctx, s.cfg.Queue); err != nil {
			return fmt.Errorf("segment %d: re-queue: %v (the verification timer re-queues it)", seg.ID, err)
		}
		*queueReady = true
	}
	ids, err := s.publish(ctx, []catalog.Segment{seg})
	if err == nil {
		_, err = s.cfg.Catalog.MarkQueued(ctx, catalog.MarkQueuedParams{IDs: ids, Now: now})
	}
	if err != nil {
		return fmt.Errorf("segment %d: re-queue: %v (the verification timer re-queues it)", seg.ID, err)
	}
	res.Requeued++
	return nil
}
