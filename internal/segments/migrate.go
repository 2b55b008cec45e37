package segments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
)

// Outcome says what Migrate did.
type Outcome string

const (
	// OutcomeMigrated: the payload was streamed into a blob and recorded.
	OutcomeMigrated Outcome = "migrated"
	// OutcomeAlreadyDone: the row already records a blob that matches; no change.
	OutcomeAlreadyDone Outcome = "already-migrated"
	// OutcomeBusy: another live worker holds the claim; nothing was done.
	// The verification timer re-queues the segment if that worker dies.
	OutcomeBusy Outcome = "busy"
)

// MigrateResult describes one migration.
type MigrateResult struct {
	SegmentID int64
	Outcome   Outcome
	Bytes     int64
	Sha256    string
	BlobName  string
	Duration  time.Duration
	// BlocksReused counts the blocks an earlier, interrupted attempt had
	// staged, which this one did not send again.
	BlocksReused int
}

// HandleMessage parses a queue message and migrates its segment.
func (s *Service) HandleMessage(ctx context.Context, body []byte) (MigrateResult, error) {
	m, err := ParseMessage(body)
	if err != nil {
		return MigrateResult{}, err
	}
	return s.Migrate(ctx, m.SegmentID)
}

// Migrate streams one segment's RawPayload into its blob and records the
// blob on the row. It is idempotent and safe to run concurrently for the
// same segment:
//
//   - a row that already records a blob whose properties still match is a
//     no-op (OutcomeAlreadyDone);
//   - an exclusive, expiring claim on the row keeps a second worker out
//     (OutcomeBusy); the claim is renewed while the upload runs;
//   - the blob is committed before the row points at it, and the row update
//     is conditional on the claim, so a crash anywhere leaves either an
//     unreferenced blob (overwritten by the next attempt) or a complete row;
//   - a row that already records a different SHA-256 is a conflict: it is
//     logged and failed, never silently overwritten.
//
// RawPayload is never modified here: release is a separate, verified step.
func (s *Service) Migrate(ctx context.Context, id int64) (MigrateResult, error) {
	start := s.cfg.Now()
	res := MigrateResult{SegmentID: id}
	log := s.log.With("segmentId", id)

	seg, err := s.cfg.Catalog.GetSegment(ctx, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return res, fmt.Errorf("%w: LayerTensorSegmentId %d", ErrUnknownSegment, id)
	}
	if err != nil {
		return res, fmt.Errorf("segments: migrate %d: %w", id, err)
	}
	res.BlobName = BlobName(seg)

	if done, err := s.alreadyMigrated(ctx, seg); err != nil {
		return res, err
	} else if done {
		res.Outcome, res.Sha256, res.Bytes = OutcomeAlreadyDone, seg.Sha256, seg.BlobSizeBytes
		log.Info("segment already migrated; nothing to do", "blob", res.BlobName, "sha256", seg.Sha256)
		return res, nil
	}

	if err := s.ensureContainer(ctx); err != nil {
		return res, err
	}
	token := newToken()
	now := s.now()
	err = s.cfg.Catalog.ClaimSegment(ctx, catalog.ClaimSegmentParams{ID: id, Token: token, Now: now, Until: now.Add(s.cfg.ClaimTTL)})
	switch {
	case errors.Is(err, catalog.ErrClaimed):
		log.Info("segment is being migrated by another worker; skipping", "blob", res.BlobName)
		res.Outcome = OutcomeBusy
		return res, nil
	case errors.Is(err, catalog.ErrNotFound):
		return res, fmt.Errorf("%w: LayerTensorSegmentId %d (deleted)", ErrUnknownSegment, id)
	case err != nil:
		return res, fmt.Errorf("segments: claim %d: %w", id, err)
	}

	up, err := s.upload(ctx, seg, token)
	if err != nil {
		s.recordFailure(id, token, err)
		return res, err
	}
	sum, etag := up.Summary, up.ETag
	res.Bytes, res.Sha256, res.BlocksReused = sum.Size, hex.EncodeToString(sum.SHA256[:]), up.BlocksSkipped

	err = s.cfg.Catalog.RecordMigrated(ctx, catalog.RecordMigratedParams{
		ID: id, Token: token, Sha256: res.Sha256, BlobURI: s.cfg.Blobs.URL(s.cfg.Container, res.BlobName),
		ETag: etag, Size: sum.Size, Now: s.now(),
	})
	if err != nil {
		if errors.Is(err, catalog.ErrConflict) {
			log.Error("segment row records another SHA-256 or lost its claim; not overwritten",
				"blob", res.BlobName, "sha256", res.Sha256, "err", err)
		}
		s.recordFailure(id, token, err)
		return res, fmt.Errorf("segments: record %d: %w", id, err)
	}
	res.Outcome, res.Duration = OutcomeMigrated, s.cfg.Now().Sub(start)
	log.Info("segment migrated", "blob", res.BlobName, "bytes", res.Bytes, "sha256", res.Sha256,
		"ms", res.Duration.Milliseconds(), "blocksReused", res.BlocksReused)
	return res, nil
}

// alreadyMigrated reports whether the row records a blob that still exists
// with the recorded ETag and size. A row that records a blob which is gone
// or changed is reset (while its source is present) so it migrates again.
func (s *Service) alreadyMigrated(ctx context.Context, seg catalog.Segment) (bool, error) {
	if seg.Sha256 == "" || seg.BlobETag == "" {
		return false, nil
	}
	p, err := s.cfg.Blobs.Properties(ctx, s.cfg.Container, BlobName(seg))
	if err != nil && !errors.Is(err, blobstore.ErrNotFound) {
		return false, fmt.Errorf("segments: properties of %s: %w", BlobName(seg), err)
	}
	if err == nil && p.ETag == seg.BlobETag && p.Size == seg.BlobSizeBytes {
		return true, nil
	}
	if seg.State == catalog.StateReleased || seg.State == catalog.StateLost {
		// The source is gone: re-migrating would write an empty blob. This is
		// verification's to report, never migration's to paper over.
		return false, fmt.Errorf("segments: segment %d is %s and its blob does not match; source already released", seg.ID, seg.State)
	}
	reason := "blob missing"
	if err == nil {
		reason = "blob changed"
	}
	s.log.Warn("segment records a blob that no longer matches; migrating again", "segmentId", seg.ID, "reason", reason)
	if err := s.cfg.Catalog.ResetBlob(ctx, catalog.ResetBlobParams{ID: seg.ID, ExpectETag: seg.BlobETag, Reason: reason, Now: s.now()}); err != nil && !errors.Is(err, catalog.ErrConflict) {
		return false, fmt.Errorf("segments: reset %d: %w", seg.ID, err)
	}
	return false, nil
}

// upload streams the payload into the blob while the claim is renewed.
func (s *Service) upload(ctx context.Context, seg catalog.Segment, token string) (blobstore.Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go s.renewClaim(ctx, cancel, seg.ID, token)

	pr, err := s.cfg.Catalog.OpenPayload(ctx, catalog.OpenPayloadParams{ID: seg.ID, Chunk: int(s.cfg.BlockSize)})
	if err != nil {
		return blobstore.Result{}, fmt.Errorf("segments: open payload %d: %w", seg.ID, err)
	}
	defer pr.Close()
	size := pr.Size()

	var sum blobstore.Summary
	meta := map[string]string{
		"ModelId":          strconv.FormatInt(seg.ModelID, 10),
		"LayerId":          strconv.FormatInt(seg.LayerID, 10),
		"SegmentOrdinal":   strconv.FormatInt(seg.SegmentOrdinal, 10),
		"QuantizationType": seg.QuantizationType,
	}
	res, err := s.cfg.Blobs.Upload(ctx, s.cfg.Container, BlobName(seg), pr, blobstore.UploadOptions{
		BlockSize:       s.cfg.BlockSize,
		Concurrency:     s.cfg.Concurrency,
		ContentType:     "application/octet-stream",
		Metadata:        meta,
		HashMetadataKey: "Sha256",
		SetContentMD5:   true,
		// A payload of several blocks keeps what an interrupted attempt
		// staged (block ids are the index and MD5 of the content), so a
		// segment too big for one invocation's deadline progresses across
		// attempts; listing them costs a request, so only when the row
		// shows such an attempt (mayHaveStaged). One block is a single Put
		// Blob: nothing to keep.
		Resume:     size > s.cfg.BlockSize && mayHaveStaged(seg),
		AfterStage: s.hook(s.cfg.Hooks.AfterStage, seg.ID),
		BeforeCommit: func(got blobstore.Summary) error {
			// The reader is a consistent snapshot, so a short read means the
			// engine lied or the row vanished: never commit a partial payload.
			if got.Size != size {
				return fmt.Errorf("read %d bytes of a %d-byte payload", got.Size, size)
			}
			sum = got
			return nil
		},
	})
	if err != nil {
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			err = fmt.Errorf("%w (%v)", err, c)
		}
		return blobstore.Result{Summary: sum}, fmt.Errorf("segments: upload %d to %s: %w", seg.ID, BlobName(seg), err)
	}
	if h := s.hook(s.cfg.Hooks.AfterCommit, seg.ID); h != nil {
		if err := h(); err != nil {
			return blobstore.Result{Summary: sum}, err
		}
	}
	return res, nil
}

// mayHaveStaged reports whether the row, as read before this attempt
// claimed it, shows an earlier attempt that may have left blocks staged and
// uncommitted under the segment's blob name. Blocks are staged only under a
// claim, and a claim leaves the row only three ways: RecordMigrated (the
// blob was committed, which discards its uncommitted blocks),
// RecordFailure (which counts an attempt: Attempts > 0 from then on), or
// the next claim over an expired one. So an attempt that was cut off, by
// its deadline (RecordFailure) or by a crash at any line after its claim
// (no record, but its claim stays in the row, expired or not), is always
// seen by the attempts after it.
//
// Not listing is never a correctness matter, only one of work: blocks are
// then all sent again under the same ids, and the block list committed is
// this attempt's own. The one case it misses is a race, an attempt that
// claimed between this one's read of the row and its claim and then died:
// this attempt sends everything again, and leaves its own record for the
// next.
func mayHaveStaged(seg catalog.Segment) bool {
	return seg.Attempts > 0 || !seg.ClaimedUntil.IsZero()
}

// renewClaim keeps the claim alive during long uploads and cancels the
// upload when the claim is lost (another worker took over an expired claim).
func (s *Service) renewClaim(ctx context.Context, cancel context.CancelCauseFunc, id int64, token string) {
	t := time.NewTicker(s.cfg.ClaimTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := s.now()
			err := s.cfg.Catalog.ClaimSegment(ctx, catalog.ClaimSegmentParams{ID: id, Token: token, Now: now, Until: now.Add(s.cfg.ClaimTTL)})
			if err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("claim on segment %d lost: %w", id, err))
				return
			}
		}
	}
}

func (s *Service) hook(h func(int64) error, id int64) func() error {
	if h == nil {
		return nil
	}
	return func() error { return h(id) }
}

// recordFailure notes the error on the row and drops the claim. It uses a
// fresh context: the caller's may be the reason we failed.
func (s *Service) recordFailure(id int64, token string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.cfg.Catalog.RecordFailure(ctx, catalog.RecordFailureParams{ID: id, Token: token, Error: cause.Error(), Now: s.now()}); err != nil {
		s.log.Error("could not record migration failure", "segmentId", id, "err", err, "cause", cause.Error())
	}
	s.log.Warn("segment migration failed", "segmentId", id, "err", cause.Error(), slog.Bool("willRetry", true))
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
