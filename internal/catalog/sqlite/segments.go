package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// Segment rows are LayerTensorSegments (the Hartonomous row: ids, payload)
// joined to OffloadSegments (Offload's bookkeeping, see
// schema/0003_offload_bookkeeping.sql). A segment without a bookkeeping row
// reads as pending; the first change creates the row.

// segmentCols reads one catalog.Segment. length() of a blob comes from the
// record header: no payload byte is read.
func (d *DB) segmentCols() string {
	payload := "coalesce(length(s.RawPayload), 0)"
	if !d.hasPayload.Load() {
		payload = "0"
	}
	return `s.LayerTensorSegmentId, s.LayerId, l.ModelId, s.SegmentOrdinal, s.QuantizationType,
	` + payload + `, coalesce(o.OffloadState, 'pending'), o.PayloadSha256, o.BlobUri, o.BlobETag,
	coalesce(o.BlobSizeBytes, 0), coalesce(o.OffloadAttempts, 0), o.OffloadError, o.VerifyResult,
	o.QueuedAt, o.MigratedAt, o.VerifiedAt, o.ReleasedAt, o.ClaimedUntil
FROM LayerTensorSegments AS s
JOIN ModelLayers AS l ON l.LayerId = s.LayerId
LEFT JOIN OffloadSegments AS o ON o.LayerTensorSegmentId = s.LayerTensorSegmentId`
}

func scanSegment(sc dialect.Scanner) (catalog.Segment, error) {
	var s catalog.Segment
	var state string
	var sha, uri, etag, lastErr, result sql.NullString
	var queued, migrated, verified, released, claimed sql.NullString
	err := sc.Scan(&s.ID, &s.LayerID, &s.ModelID, &s.SegmentOrdinal, &s.QuantizationType,
		&s.PayloadBytes, &state, &sha, &uri, &etag, &s.BlobSizeBytes,
		&s.Attempts, &lastErr, &result,
		&queued, &migrated, &verified, &released, &claimed)
	if err != nil {
		return s, err
	}
	s.State = catalog.State(state)
	s.Sha256, s.BlobURI, s.BlobETag = nullStr(sha), nullStr(uri), nullStr(etag)
	s.LastError, s.VerifyResult = nullStr(lastErr), nullStr(result)
	for _, t := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&s.QueuedAt, queued}, {&s.MigratedAt, migrated}, {&s.VerifiedAt, verified}, {&s.ReleasedAt, released}, {&s.ClaimedUntil, claimed}} {
		if *t.dst, err = parseTime(t.src); err != nil {
			return s, err
		}
	}
	return s, nil
}

// GetSegment implements catalog.Catalog.
func (d *DB) GetSegment(ctx context.Context, id int64) (catalog.Segment, error) {
	s, err := scanSegment(d.db.QueryRowContext(ctx, "SELECT "+d.segmentCols()+" WHERE s.LayerTensorSegmentId = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("sqlite: segment %d: %w", id, catalog.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("sqlite: segment %d: %w", id, err)
	}
	return s, nil
}

// ListSegments implements catalog.Catalog.
func (d *DB) ListSegments(ctx context.Context, f catalog.SegmentFilter) ([]catalog.Segment, error) {
	if err := dialect.CheckSegmentFilter(f); err != nil {
		return nil, err
	}
	where := []string{"s.LayerTensorSegmentId > ?"}
	args := []any{f.AfterID}
	if f.ModelID != 0 {
		where, args = append(where, "l.ModelId = ?"), append(args, f.ModelID)
	}
	if f.LayerID != 0 {
		where, args = append(where, "s.LayerId = ?"), append(args, f.LayerID)
	}
	if len(f.States) > 0 {
		// Without "pending" the bookkeeping row must exist, and the
		// state index can drive the query.
		col := "o.OffloadState"
		if slices.Contains(f.States, catalog.StatePending) {
			col = "coalesce(o.OffloadState, 'pending')"
		}
		where = append(where, col+" IN ("+placeholders(len(f.States))+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if !f.QueuedBefore.IsZero() {
		where, args = append(where, "(o.QueuedAt IS NULL OR o.QueuedAt < ?)"), append(args, ts(f.QueuedBefore))
	}
	if !f.VerifiedBefore.IsZero() {
		where, args = append(where, "(o.VerifiedAt IS NULL OR o.VerifiedAt < ?)"), append(args, ts(f.VerifiedBefore))
	}
	args = append(args, f.Limit)
	rows, err := d.db.QueryContext(ctx, "SELECT "+d.segmentCols()+" WHERE "+strings.Join(where, " AND ")+
		" ORDER BY s.LayerTensorSegmentId LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list segments: %w", err)
	}
	out, err := dialect.Collect(rows, scanSegment)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list segments: %w", err)
	}
	return out, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// ensureRows creates the (pending) bookkeeping rows of existing segments
// among ids that have none yet, and reports how many it created.
func ensureRows(ctx context.Context, q queryer, ids []int64) (int64, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return affected(q.ExecContext(ctx, `
INSERT OR IGNORE INTO OffloadSegments (LayerTensorSegmentId)
SELECT LayerTensorSegmentId FROM LayerTensorSegments WHERE LayerTensorSegmentId IN (`+placeholders(len(ids))+`)`, args...))
}

// change runs a conditional UPDATE of segment id's bookkeeping row and
// reports whether it applied. A segment without a bookkeeping row gets one
// (pending, all defaults) and the update is tried once more, so the
// condition is judged against the same defaults a reader sees.
func (d *DB) change(ctx context.Context, id int64, query string, args ...any) (bool, error) {
	n, err := affected(d.db.ExecContext(ctx, query, args...))
	if err != nil || n == 1 {
		return n == 1, err
	}
	created, err := ensureRows(ctx, d.db, []int64{id})
	if err != nil || created == 0 {
		return false, err
	}
	n, err = affected(d.db.ExecContext(ctx, query, args...))
	return n == 1, err
}

// MarkQueued implements catalog.Catalog.
func (d *DB) MarkQueued(ctx context.Context, p catalog.MarkQueuedParams) (int64, error) {
	var total int64
	for _, batch := range dialect.Batches(p.IDs, dialect.IDBatch) {
		if _, err := ensureRows(ctx, d.db, batch); err != nil {
			return total, fmt.Errorf("sqlite: mark queued: %w", err)
		}
		args := []any{ts(p.Now)}
		for _, id := range batch {
			args = append(args, id)
		}
		n, err := affected(d.db.ExecContext(ctx, `
UPDATE OffloadSegments SET OffloadState = 'queued', QueuedAt = ?
WHERE LayerTensorSegmentId IN (`+placeholders(len(batch))+`)
  AND OffloadState IN ('pending', 'queued', 'mismatch')`, args...))
		if err != nil {
			return total, fmt.Errorf("sqlite: mark queued: %w", err)
		}
		total += n
	}
	return total, nil
}

// ClaimSegment implements catalog.Catalog.
func (d *DB) ClaimSegment(ctx context.Context, p catalog.ClaimSegmentParams) error {
	if err := dialect.CheckClaim(p); err != nil {
		return err
	}
	ok, err := d.change(ctx, p.ID, `
UPDATE OffloadSegments SET ClaimToken = ?, ClaimedUntil = ?
WHERE LayerTensorSegmentId = ?
  AND (ClaimToken IS NULL OR ClaimToken = ? OR ClaimedUntil IS NULL OR ClaimedUntil <= ?)`,
		p.Token, ts(p.Until), p.ID, p.Token, ts(p.Now))
	if err != nil {
		return fmt.Errorf("sqlite: claim %d: %w", p.ID, err)
	}
	if ok {
		return nil
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("sqlite: claim %d: %w", p.ID, catalog.ErrClaimed))
}

// ReleaseClaim implements catalog.Catalog.
func (d *DB) ReleaseClaim(ctx context.Context, p catalog.ReleaseClaimParams) error {
	_, err := d.db.ExecContext(ctx, `
UPDATE OffloadSegments SET ClaimToken = NULL, ClaimedUntil = NULL
WHERE LayerTensorSegmentId = ? AND ClaimToken = ?`, p.ID, p.Token)
	if err != nil {
		return fmt.Errorf("sqlite: release claim %d: %w", p.ID, err)
	}
	return nil
}

// RecordMigrated implements catalog.Catalog.
func (d *DB) RecordMigrated(ctx context.Context, p catalog.RecordMigratedParams) error {
	if p.Sha256 == "" || p.Token == "" {
		return fmt.Errorf("sqlite: record migrated %d: Sha256 and Token are required", p.ID)
	}
	ok, err := d.change(ctx, p.ID, `
UPDATE OffloadSegments SET
  PayloadSha256 = ?, BlobUri = ?, BlobETag = ?, BlobSizeBytes = ?,
  OffloadState = 'migrated', MigratedAt = ?, OffloadError = NULL,
  VerifiedAt = NULL, VerifyResult = NULL,
  ClaimToken = NULL, ClaimedUntil = NULL
WHERE LayerTensorSegmentId = ? AND ClaimToken = ? AND PayloadSha256 IS NULL
  AND OffloadState IN ('pending', 'queued', 'mismatch', 'migrated')`,
		p.Sha256, str(p.BlobURI), str(p.ETag), p.Size, ts(p.Now), p.ID, p.Token)
	if err != nil {
		return fmt.Errorf("sqlite: record migrated %d: %w", p.ID, err)
	}
	if ok {
		return nil
	}
	var sha sql.NullString
	err = d.db.QueryRowContext(ctx, `
SELECT o.PayloadSha256 FROM LayerTensorSegments AS s
LEFT JOIN OffloadSegments AS o ON o.LayerTensorSegmentId = s.LayerTensorSegmentId
WHERE s.LayerTensorSegmentId = ?`, p.ID).Scan(&sha)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: record migrated %d: %w", p.ID, catalog.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: record migrated %d: %w", p.ID, err)
	case sha.String == p.Sha256:
		// Already recorded (a retry or a duplicate message): success;
		// nothing changes but our own claim goes.
		return d.ReleaseClaim(ctx, catalog.ReleaseClaimParams{ID: p.ID, Token: p.Token})
	case sha.Valid:
		return fmt.Errorf("sqlite: record migrated %d: row records sha256 %s, not %s: %w", p.ID, sha.String, p.Sha256, catalog.ErrConflict)
	default:
		return fmt.Errorf("sqlite: record migrated %d: claim %q no longer held: %w", p.ID, p.Token, catalog.ErrConflict)
	}
}

// RecordFailure implements catalog.Catalog. A failure reported under a
// claim that another worker now holds is stale: it changes nothing and
// returns ErrConflict.
func (d *DB) RecordFailure(ctx context.Context, p catalog.RecordFailureParams) error {
	ok, err := d.change(ctx, p.ID, `
UPDATE OffloadSegments SET
  OffloadAttempts = OffloadAttempts + 1, OffloadError = ?, OffloadErrorAt = ?,
  ClaimToken = NULL, ClaimedUntil = NULL
WHERE LayerTensorSegmentId = ? AND (ClaimToken IS NULL OR ClaimToken = ? OR ClaimedUntil <= ?)`,
		dialect.Truncate(p.Error, dialect.MaxErrorLen), ts(p.Now), p.ID, p.Token, ts(p.Now))
	if err != nil {
		return fmt.Errorf("sqlite: record failure %d: %w", p.ID, err)
	}
	if ok {
		return nil
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("sqlite: record failure %d: claimed by another worker: %w", p.ID, catalog.ErrConflict))
}

// RecordVerified implements catalog.Catalog. A row whose source was
// released stays in the released family: verified becomes released and
// mismatch becomes lost; "released" is never set on a row that still has
// its source.
func (d *DB) RecordVerified(ctx context.Context, p catalog.RecordVerifiedParams) error {
	if err := dialect.CheckVerified(p); err != nil {
		return err
	}
	var ok bool
	err := d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
		n, err := affected(c.ExecContext(ctx, `
UPDATE OffloadSegments SET
  OffloadState = CASE
    WHEN ?1 = '' THEN OffloadState
    WHEN ReleasedAt IS NOT NULL AND ?1 IN ('verified', 'released') THEN 'released'
    WHEN ReleasedAt IS NOT NULL AND ?1 IN ('mismatch', 'lost') THEN 'lost'
    WHEN ReleasedAt IS NOT NULL THEN OffloadState
    WHEN ?1 = 'released' THEN 'verified'
    ELSE ?1 END,
  VerifyResult = ?2, VerifiedAt = ?3,
  BlobETag = CASE WHEN ?4 <> '' THEN ?4 ELSE BlobETag END
WHERE LayerTensorSegmentId = ?5 AND PayloadSha256 = ?6 AND coalesce(BlobETag, '') = ?7
  AND OffloadState IN ('migrated', 'verified', 'mismatch', 'lost', 'released')`,
			string(p.State), dialect.Truncate(p.Result, dialect.MaxResultLen), ts(p.Now), p.NewETag,
			p.ID, p.ExpectSha256, p.ExpectETag))
		if err != nil || n == 0 {
			return err
		}
		ok = true
		if p.NewETag == "" {
			return nil
		}
		// A released row carries its blob fields on LayerTensorSegments too
		// (its payload is empty, so this write is cheap).
		_, err = c.ExecContext(ctx, `
UPDATE LayerTensorSegments SET BlobETag = ?
WHERE LayerTensorSegmentId = ?
  AND EXISTS (SELECT 1 FROM OffloadSegments AS o WHERE o.LayerTensorSegmentId = ? AND o.ReleasedAt IS NOT NULL)`,
			p.NewETag, p.ID, p.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: record verified %d: %w", p.ID, err)
	}
	if ok {
		return nil
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("sqlite: record verified %d: row no longer records sha256 %s / etag %s: %w", p.ID, p.ExpectSha256, p.ExpectETag, catalog.ErrConflict))
}

// ResetBlob implements catalog.Catalog.
func (d *DB) ResetBlob(ctx context.Context, p catalog.ResetBlobParams) error {
	ok, err := d.change(ctx, p.ID, `
UPDATE OffloadSegments SET
  OffloadState = 'pending', PayloadSha256 = NULL, BlobUri = NULL, BlobETag = NULL, BlobSizeBytes = 0,
  MigratedAt = NULL, VerifiedAt = NULL, VerifyResult = NULL, OffloadError = ?, OffloadErrorAt = ?
WHERE LayerTensorSegmentId = ? AND coalesce(BlobETag, '') = ?
  AND ReleasedAt IS NULL AND OffloadState NOT IN ('released', 'lost')`,
		dialect.Truncate(p.Reason, dialect.MaxErrorLen), ts(p.Now), p.ID, p.ExpectETag)
	if err != nil {
		return fmt.Errorf("sqlite: reset blob %d: %w", p.ID, err)
	}
	if ok {
		return nil
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("sqlite: reset blob %d: row changed or source released: %w", p.ID, catalog.ErrConflict))
}

// ReleasePayload implements catalog.Catalog. Besides state, hash and ETag,
// the payload must still be as long as the blob: a cheap guard against a
// source rewritten after verification. The payload is emptied and the blob
// fields copied to LayerTensorSegments in the same transaction.
func (d *DB) ReleasePayload(ctx context.Context, p catalog.ReleasePayloadParams) error {
	if !d.hasPayload.Load() {
		return d.missOr(ctx, p.ID, fmt.Errorf("sqlite: release %d: RawPayload was dropped: %w", p.ID, catalog.ErrConflict))
	}
	var ok bool
	err := d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
		n, err := affected(c.ExecContext(ctx, `
UPDATE OffloadSegments SET OffloadState = 'released', ReleasedAt = ?
WHERE LayerTensorSegmentId = ? AND OffloadState = 'verified'
  AND PayloadSha256 = ? AND coalesce(BlobETag, '') = ?
  AND BlobSizeBytes = (SELECT length(RawPayload) FROM LayerTensorSegments WHERE LayerTensorSegmentId = ?)`,
			ts(p.Now), p.ID, p.ExpectSha256, p.ExpectETag, p.ID))
		if err != nil || n == 0 {
			return err
		}
		ok = true
		_, err = c.ExecContext(ctx, `
UPDATE LayerTensorSegments
SET RawPayload = x'', BlobUri = o.BlobUri, BlobETag = o.BlobETag, BlobSizeBytes = o.BlobSizeBytes
FROM OffloadSegments AS o
WHERE o.LayerTensorSegmentId = LayerTensorSegments.LayerTensorSegmentId
  AND LayerTensorSegments.LayerTensorSegmentId = ?`, p.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: release %d: %w", p.ID, err)
	}
	if ok {
		return nil
	}
	// The same release (same blob, same Now) already recorded is this
	// release retried after its answer was lost: success. Another
	// releaser's (another Now) is a conflict.
	var one int
	err = d.db.QueryRowContext(ctx, `SELECT 1 FROM OffloadSegments WHERE LayerTensorSegmentId = ?
  AND ReleasedAt = ? AND PayloadSha256 = ? AND coalesce(BlobETag, '') = ?`, p.ID, ts(p.Now), p.ExpectSha256, p.ExpectETag).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: release %d: %w", p.ID, err)
	}
	return d.missOr(ctx, p.ID, fmt.Errorf("sqlite: release %d: not verified or changed since: %w", p.ID, catalog.ErrConflict))
}

// missOr returns ErrNotFound when the segment does not exist, else err.
func (d *DB) missOr(ctx context.Context, id int64, err error) error {
	ok, qerr := exists(ctx, d.db, "LayerTensorSegments", "LayerTensorSegmentId", id)
	if qerr != nil {
		return fmt.Errorf("sqlite: segment %d: %w", id, qerr)
	}
	if !ok {
		return fmt.Errorf("sqlite: segment %d: %w", id, catalog.ErrNotFound)
	}
	return err
}
