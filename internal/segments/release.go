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
	DryRun   bool     `json:"dryRun"`
	Segments int64    `json:"segments"`
	Bytes    int64    `json:"bytes"`
	Skipped  int64    `json:"skipped"`
	Errors   []string `json:"errors,omitempty"`
}

// Release empties RawPayload of segments that verification proved (their
// blob read back with the SHA-256 taken from the source) and that are
// unchanged since: the row still records the verified SHA-256 and ETag, and
// the blob still has that ETag and size right now. Anything else is skipped.
func (s *Service) Release(ctx context.Context, p ReleaseParams) (ReleaseResult, error) {
	res := ReleaseResult{DryRun: !p.Confirm}
	f := catalog.SegmentFilter{ModelID: p.ModelID, LayerID: p.LayerID, States: []catalog.State{catalog.StateVerified}}
	err := s.page(ctx, f, p.Limit, func(page []catalog.Segment) error {
		for _, seg := range page {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			props, err := s.cfg.Blobs.Properties(ctx, s.cfg.Container, BlobName(seg))
			if err != nil || props.ETag != seg.BlobETag || props.Size != seg.BlobSizeBytes || seg.Sha256 == "" {
				if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
					res.Errors = append(res.Errors, fmt.Sprintf("segment %d: %v", seg.ID, err))
				}
				s.log.Warn("not releasing: blob no longer matches what was verified", "segmentId", seg.ID)
				res.Skipped++
				continue
			}
			if !p.Confirm {
				res.Segments++
				res.Bytes += seg.PayloadBytes
				continue
			}
			err = s.cfg.Catalog.ReleasePayload(ctx, catalog.ReleaseParams{ID: seg.ID, ExpectSha256: seg.Sha256, ExpectETag: seg.BlobETag, Now: s.now()})
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
