package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
	mssqldb "github.com/microsoft/go-mssqldb"
)

// sha is a char(64) parameter: sent as varchar so the comparison with the
// column needs no conversion.
func sha(s string) any { return mssqldb.VarChar(s) }

// segmentCols reads one catalog.Segment. DATALENGTH of varbinary(max) comes
// from the LOB's metadata, not its bytes.
func (d *DB) segmentCols() string {
	payload := "ISNULL(CAST(DATALENGTH(s.RawPayload) AS bigint), 0)"
	if !d.hasPayload.Load() {
		payload = "CAST(0 AS bigint)"
	}
	return d.q(`s.LayerTensorSegmentId, s.LayerId, l.ModelId, s.SegmentOrdinal, s.QuantizationType,
	` + payload + `, s.OffloadState, s.PayloadSha256, s.BlobUri, s.BlobETag, s.BlobSizeBytes,
	s.OffloadAttempts, s.OffloadError, s.VerifyResult,
	s.QueuedAt, s.MigratedAt, s.VerifiedAt, s.ReleasedAt, s.ClaimedUntil
FROM dbo.LayerTensorSegments AS s
JOIN dbo.ModelLayers AS l ON l.LayerId = s.LayerId`)
}

func scanSegment(sc dialect.Scanner) (catalog.Segment, error) {
	var s catalog.Segment
	var state string
	var shaV, uri, etag, lastErr, result sql.NullString
	var queued, migrated, verified, released, claimed sql.NullTime
	err := sc.Scan(&s.ID, &s.LayerID, &s.ModelID, &s.SegmentOrdinal, &s.QuantizationType,
		&s.PayloadBytes, &state, &shaV, &uri, &etag, &s.BlobSizeBytes,
		&s.Attempts, &lastErr, &result,
		&queued, &migrated, &verified, &released, &claimed)
	if err != nil {
		return s, err
	}
	s.State = catalog.State(state)
	s.Sha256, s.BlobURI, s.BlobETag = strings.TrimSpace(shaV.String), uri.String, etag.String
	s.LastError, s.VerifyResult = lastErr.String, result.String
	s.QueuedAt, s.MigratedAt, s.VerifiedAt, s.ReleasedAt, s.ClaimedUntil = utc(queued), utc(migrated), utc(verified), utc(released), utc(claimed)
	return s, nil
}

// GetSegment implements catalog.Catalog.
func (d *DB) GetSegment(ctx context.Context, id int64) (catalog.Segment, error) {
	s, err := scanSegment(d.db.QueryRowContext(ctx, "SELECT "+d.segmentCols()+" WHERE s.LayerTensorSegmentId = @p1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("mssql: segment %d: %w", id, catalog.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("mssql: segment %d: %w", id, err)
	}
	return s, nil
}

// params numbers positional parameters @p1, @p2, … as they are added.
type params struct{ args []any }

func (p *params) add(v any) string {
	p.args = append(p.args, v)
	return fmt.Sprintf("@p%d", len(p.args))
}

func (p *params) list(vs []any) string {
	ph := make([]string, len(vs))
	for i, v := range vs {
		ph[i] = p.add(v)
	}
	return strings.Join(ph, ", ")
}

// ListSegments implements catalog.Catalog.
func (d *DB) ListSegments(ctx context.Context, f catalog.SegmentFilter) ([]catalog.Segment, error) {
	if err := dialect.CheckSegmentFilter(f); err != nil {
		return nil, err
	}
	var p params
	top := p.add(f.Limit)
	where := []string{"s.LayerTensorSegmentId > " + p.add(f.AfterID)}
	if f.ModelID != 0 {
		where = append(where, "l.ModelId = "+p.add(f.ModelID))
	}
	if f.LayerID != 0 {
		where = append(where, "s.LayerId = "+p.add(f.LayerID))
	}
	if len(f.States) > 0 {
		states := make([]any, len(f.States))
		for i, s := range f.States {
			states[i] = string(s)
		}
		where = append(where, "s.OffloadState IN ("+p.list(states)+")")
	}
	if !f.QueuedBefore.IsZero() {
		where = append(where, "(s.QueuedAt IS NULL OR s.QueuedAt < "+p.add(dt(f.QueuedBefore))+")")
	}
	if !f.VerifiedBefore.IsZero() {
		where = append(where, "(s.VerifiedAt IS NULL OR s.VerifiedAt < "+p.add(dt(f.VerifiedBefore))+")")
	}
	rows, err := d.db.QueryContext(ctx, "SELECT TOP ("+top+") "+d.segmentCols()+" WHERE "+strings.Join(where, " AND ")+
		" ORDER BY s.LayerTensorSegmentId", p.args...)
	if err != nil {
		return nil, fmt.Errorf("mssql: list segments: %w", err)
	}
	out, err := dialect.Collect(rows, scanSegment)
	if err != nil {
		return nil, fmt.Errorf("mssql: list segments: %w", err)
	}
	return out, nil
}

// MarkQueued implements catalog.Catalog.
func (d *DB) MarkQueued(ctx context.Context, p catalog.MarkQueuedParams) (int64, error) {
	var total int64
	for _, batch := range dialect.Batches(p.IDs, dialect.IDBatch) {
		var a params
		at := a.add(dt(p.Now))
		vs := make([]any, len(batch))
		for i, id := range batch {
			vs[i] = id
		}
		n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE dbo.LayerTensorSegments SET OffloadState = N'queued', QueuedAt = `+at+`
WHERE LayerTensorSegmentId IN (`+a.list(vs)+`)
  AND OffloadState IN (N'pending', N'queued', N'mismatch')`), a.args...))
		if err != nil {
			return total, fmt.Errorf("mssql: mark queued: %w", err)
		}
		total += n
	}
	return total, nil
}

// ClaimSegment implements catalog.Catalog. The UPDATE's row lock makes
// concurrent claims take turns; the condition is re-read under it.
func (d *DB) ClaimSegment(ctx context.Context, p catalog.ClaimSegmentParams) error {
	if err := dialect.CheckClaim(p); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE dbo.LayerTensorSegments SET ClaimToken = @p1, ClaimedUntil = @p2
WHERE LayerTensorSegmentId = @p3
  AND (ClaimToken IS NULL OR ClaimToken = @p1 OR ClaimedUntil IS NULL OR ClaimedUntil <= @p4)`),
		p.Token, dt(p.Until), p.ID, dt(p.Now)))
	if err != nil {
		return fmt.Errorf("mssql: claim %d: %w", p.ID, err)
	}
	if n == 1 {
		return nil
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("mssql: claim %d: %w", p.ID, catalog.ErrClaimed))
}

// ReleaseClaim implements catalog.Catalog.
func (d *DB) ReleaseClaim(ctx context.Context, p catalog.ReleaseClaimParams) error {
	_, err := d.db.ExecContext(ctx, d.q(`
UPDATE dbo.LayerTensorSegments SET ClaimToken = NULL, ClaimedUntil = NULL
WHERE LayerTensorSegmentId = @p1 AND ClaimToken = @p2`), p.ID, p.Token)
	if err != nil {
		return fmt.Errorf("mssql: release claim %d: %w", p.ID, err)
	}
	return nil
}

// RecordMigrated implements catalog.Catalog.
func (d *DB) RecordMigrated(ctx context.Context, p catalog.RecordMigratedParams) error {
	if p.Sha256 == "" || p.Token == "" {
		return fmt.Errorf("mssql: record migrated %d: Sha256 and Token are required", p.ID)
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE dbo.LayerTensorSegments SET
  PayloadSha256 = @p1, BlobUri = @p2, BlobETag = @p3, BlobSizeBytes = @p4,
  OffloadState = N'migrated', MigratedAt = @p5, OffloadError = NULL,
  VerifiedAt = NULL, VerifyResult = NULL,
  ClaimToken = NULL, ClaimedUntil = NULL
WHERE LayerTensorSegmentId = @p6 AND ClaimToken = @p7 AND PayloadSha256 IS NULL
  AND OffloadState IN (N'pending', N'queued', N'mismatch', N'migrated')`),
		sha(p.Sha256), nstr(p.BlobURI), nstr(p.ETag), p.Size, dt(p.Now), p.ID, p.Token))
	if err != nil {
		return fmt.Errorf("mssql: record migrated %d: %w", p.ID, err)
	}
	if n == 1 {
		return nil
	}
	var recorded sql.NullString
	err = d.db.QueryRowContext(ctx, d.q("SELECT PayloadSha256 FROM dbo.LayerTensorSegments WHERE LayerTensorSegmentId = @p1"), p.ID).Scan(&recorded)
	got := strings.TrimSpace(recorded.String)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("mssql: record migrated %d: %w", p.ID, catalog.ErrNotFound)
	case err != nil:
		return fmt.Errorf("mssql: record migrated %d: %w", p.ID, err)
	case got == p.Sha256:
		// Already recorded (a retry or a duplicate message): success;
		// nothing changes but our own claim goes.
		return d.ReleaseClaim(ctx, catalog.ReleaseClaimParams{ID: p.ID, Token: p.Token})
	case recorded.Valid:
		return fmt.Errorf("mssql: record migrated %d: row records sha256 %s, not %s: %w", p.ID, got, p.Sha256, catalog.ErrConflict)
	default:
		return fmt.Errorf("mssql: record migrated %d: claim %q no longer held: %w", p.ID, p.Token, catalog.ErrConflict)
	}
}

// RecordFailure implements catalog.Catalog. A failure reported under a
// claim that another worker now holds is stale: it changes nothing and
// returns ErrConflict.
func (d *DB) RecordFailure(ctx context.Context, p catalog.RecordFailureParams) error {
	n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE dbo.LayerTensorSegments SET
  OffloadAttempts = OffloadAttempts + 1, OffloadError = @p1, OffloadErrorAt = @p4,
  ClaimToken = NULL, ClaimedUntil = NULL
WHERE LayerTensorSegmentId = @p2 AND (ClaimToken IS NULL OR ClaimToken = @p3 OR ClaimedUntil <= @p4)`),
		dialect.Truncate(p.Error, dialect.MaxErrorLen), p.ID, p.Token, dt(p.Now)))
	if err != nil {
		return fmt.Errorf("mssql: record failure %d: %w", p.ID, err)
	}
	if n == 1 {
		return nil
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("mssql: record failure %d: claimed by another worker: %w", p.ID, catalog.ErrConflict))
}

// RecordVerified implements catalog.Catalog. A row whose source was
// released stays in the released family: verified becomes released and
// mismatch becomes lost; "released" is never set on a row that still has
// its source.
func (d *DB) RecordVerified(ctx context.Context, p catalog.RecordVerifiedParams) error {
	if err := dialect.CheckVerified(p); err != nil {
		return err
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE dbo.LayerTensorSegments SET
  OffloadState = CASE
    WHEN @p1 = N'' THEN OffloadState
    WHEN ReleasedAt IS NOT NULL AND @p1 IN (N'verified', N'released') THEN N'released'
    WHEN ReleasedAt IS NOT NULL AND @p1 IN (N'mismatch', N'lost') THEN N'lost'
    WHEN ReleasedAt IS NOT NULL THEN OffloadState
    WHEN @p1 = N'released' THEN N'verified'
    ELSE @p1 END,
  VerifyResult = @p2, VerifiedAt = @p3,
  BlobETag = CASE WHEN @p4 <> N'' THEN @p4 ELSE BlobETag END
WHERE LayerTensorSegmentId = @p5 AND PayloadSha256 = @p6 AND ISNULL(BlobETag, N'') = @p7
  AND OffloadState IN (N'migrated', N'verified', N'mismatch', N'lost', N'released')`),
		string(p.State), dialect.Truncate(p.Result, dialect.MaxResultLen), dt(p.Now), p.NewETag,
		p.ID, sha(p.ExpectSha256), p.ExpectETag))
	if err != nil {
		return fmt.Errorf("mssql: record verified %d: %w", p.ID, err)
	}
	if n == 1 {
		return nil
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("mssql: record verified %d: row no longer records sha256 %s / etag %s: %w", p.ID, p.ExpectSha256, p.ExpectETag, catalog.ErrConflict))
}

// ResetBlob implements catalog.Catalog.
func (d *DB) ResetBlob(ctx context.Context, p catalog.ResetBlobParams) error {
	n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE dbo.LayerTensorSegments SET
  OffloadState = N'pending', PayloadSha256 = NULL, BlobUri = NULL, BlobETag = NULL, BlobSizeBytes = 0,
  MigratedAt = NULL, VerifiedAt = NULL, VerifyResult = NULL, OffloadError = @p1, OffloadErrorAt = @p4
WHERE LayerTensorSegmentId = @p2 AND ISNULL(BlobETag, N'') = @p3
  AND ReleasedAt IS NULL AND OffloadState NOT IN (N'released', N'lost')`),
		dialect.Truncate(p.Reason, dialect.MaxErrorLen), p.ID, p.ExpectETag, dt(p.Now)))
	if err != nil {
		return fmt.Errorf("mssql: reset blob %d: %w", p.ID, err)
	}
	if n == 1 {
		return nil
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("mssql: reset blob %d: row changed or source released: %w", p.ID, catalog.ErrConflict))
}

// ReleasePayload implements catalog.Catalog. Besides state, hash and ETag,
// the payload must still be as long as the blob: a cheap guard against a
// source rewritten after verification.
func (d *DB) ReleasePayload(ctx context.Context, p catalog.ReleasePayloadParams) error {
	if !d.hasPayload.Load() {
		return d.missOr(ctx, p.ID, fmt.Errorf("mssql: release %d: RawPayload was dropped: %w", p.ID, catalog.ErrConflict))
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE dbo.LayerTensorSegments SET RawPayload = 0x, OffloadState = N'released', ReleasedAt = @p1
WHERE LayerTensorSegmentId = @p2 AND OffloadState = N'verified'
  AND PayloadSha256 = @p3 AND ISNULL(BlobETag, N'') = @p4
  AND DATALENGTH(RawPayload) = BlobSizeBytes`),
		dt(p.Now), p.ID, sha(p.ExpectSha256), p.ExpectETag))
	if err != nil {
		return fmt.Errorf("mssql: release %d: %w", p.ID, err)
	}
	if n == 1 {
		return nil
	}
	// The same release (same blob, same Now) already recorded is this
	// release retried after its answer was lost: success. Another
	// releaser's (another Now) is a conflict.
	var one int
	err = d.db.QueryRowContext(ctx, d.q(`SELECT 1 FROM dbo.LayerTensorSegments WHERE LayerTensorSegmentId = @p1
  AND ReleasedAt = @p4 AND PayloadSha256 = @p2 AND ISNULL(BlobETag, N'') = @p3`), p.ID, sha(p.ExpectSha256), p.ExpectETag, dt(p.Now)).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("mssql: release %d: %w", p.ID, err)
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("mssql: release %d: not verified or changed since: %w", p.ID, catalog.ErrConflict))
}

// missOr returns ErrNotFound when the segment does not exist, else err.
func (d *DB) missOr(ctx context.Context, id int64, err error) error {
	var one int
	qerr := d.db.QueryRowContext(ctx, d.q("SELECT 1 FROM dbo.LayerTensorSegments WHERE LayerTensorSegmentId = @p1"), id).Scan(&one)
	if errors.Is(qerr, sql.ErrNoRows) {
		return fmt.Errorf("mssql: segment %d: %w", id, catalog.ErrNotFound)
	}
	if qerr != nil {
		return fmt.Errorf("mssql: segment %d: %w", id, qerr)
	}
	return err
}
