package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

var _ catalog.Monitor = (*DB)(nil)

// MigrationHistory implements catalog.Monitor. Buckets are whole seconds
// from p.Since: strftime('%s') reads the stored UTC text without loading
// anything but OffloadSegments.
func (d *DB) MigrationHistory(ctx context.Context, p catalog.MigrationHistoryParams) ([]catalog.HistoryBucket, error) {
	since, width, err := dialect.HistoryWindow(p)
	if err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `
SELECT (CAST(strftime('%s', MigratedAt) AS INTEGER) - ?) / ? AS b, count(*), coalesce(sum(BlobSizeBytes), 0)
FROM OffloadSegments WHERE MigratedAt >= ?
GROUP BY b ORDER BY b`, since.Unix(), width, ts(since))
	if err != nil {
		return nil, fmt.Errorf("sqlite: migration history: %w", err)
	}
	return dialect.CollectHistory(rows, since, p.Bucket)
}

// SegmentFailures implements catalog.Monitor.
func (d *DB) SegmentFailures(ctx context.Context, p catalog.SegmentFailuresParams) (catalog.FailureReport, error) {
	reasons, latest := dialect.FailureLimits(p)
	var rep catalog.FailureReport
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM OffloadSegments WHERE OffloadError IS NOT NULL`).Scan(&rep.Total)
	if err != nil {
		return rep, fmt.Errorf("sqlite: segment failures: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, `
SELECT OffloadError, count(*) AS n FROM OffloadSegments WHERE OffloadError IS NOT NULL
GROUP BY OffloadError ORDER BY n DESC, OffloadError LIMIT ?`, reasons)
	if err != nil {
		return rep, fmt.Errorf("sqlite: segment failures: %w", err)
	}
	if rep.Reasons, err = dialect.CollectReasons(rows); err != nil {
		return rep, fmt.Errorf("sqlite: segment failures: %w", err)
	}
	rows, err = d.db.QueryContext(ctx, `
SELECT o.LayerTensorSegmentId, l.ModelId, o.OffloadState, o.OffloadAttempts, o.OffloadError, o.OffloadErrorAt
FROM OffloadSegments AS o
JOIN LayerTensorSegments AS s ON s.LayerTensorSegmentId = o.LayerTensorSegmentId
JOIN ModelLayers AS l ON l.LayerId = s.LayerId
WHERE o.OffloadError IS NOT NULL
ORDER BY o.OffloadErrorAt DESC, o.LayerTensorSegmentId DESC LIMIT ?`, latest)
	if err != nil {
		return rep, fmt.Errorf("sqlite: segment failures: %w", err)
	}
	rep.Latest, err = dialect.Collect(rows, func(sc dialect.Scanner) (catalog.SegmentFailure, error) {
		var f catalog.SegmentFailure
		var state string
		var at sql.NullString
		if err := sc.Scan(&f.ID, &f.ModelID, &state, &f.Attempts, &f.Reason, &at); err != nil {
			return f, err
		}
		f.State = catalog.State(state)
		var err error
		f.At, err = parseTime(at)
		return f, err
	})
	if err != nil {
		return rep, fmt.Errorf("sqlite: segment failures: %w", err)
	}
	return rep, nil
}

// VerifyCoverage implements catalog.Monitor.
func (d *DB) VerifyCoverage(ctx context.Context, _ catalog.VerifyCoverageParams) (catalog.Coverage, error) {
	var c catalog.Coverage
	err := d.db.QueryRowContext(ctx, `
SELECT
  coalesce(sum(OffloadState IN ('verified', 'released')), 0),
  coalesce(sum(CASE WHEN OffloadState IN ('verified', 'released') THEN BlobSizeBytes ELSE 0 END), 0),
  coalesce(sum(OffloadState = 'migrated'), 0),
  coalesce(sum(CASE WHEN OffloadState = 'migrated' THEN BlobSizeBytes ELSE 0 END), 0),
  coalesce(sum(OffloadState = 'mismatch'), 0),
  coalesce(sum(OffloadState = 'lost'), 0),
  coalesce(sum(OffloadState IN ('verified', 'released') AND VerifyResult = 'ok-cheap'), 0)
FROM OffloadSegments
WHERE OffloadState IN ('migrated', 'verified', 'released', 'mismatch', 'lost')`).Scan(
		&c.ReadBack, &c.ReadBackBytes, &c.Unverified, &c.UnverifiedBytes, &c.Mismatch, &c.Lost, &c.Cheap)
	if err != nil {
		return c, fmt.Errorf("sqlite: verify coverage: %w", err)
	}
	return c, nil
}

// RecordVerifyRun implements catalog.Monitor: the insert, its
// LeftUnverified count and the purge of old runs in one transaction.
func (d *DB) RecordVerifyRun(ctx context.Context, p catalog.RecordVerifyRunParams) error {
	if err := dialect.CheckVerifyRun(p); err != nil {
		return err
	}
	err := d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `
INSERT INTO OffloadVerifyRuns (StartedAt, EndedAt, FullChecked, CheapChecked, Verified, Mismatched, Lost,
  Requeued, BytesHashed, AtomsChecked, AtomsFailed, Errors, LeftUnverified)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT count(*) FROM OffloadSegments WHERE OffloadState = 'migrated'))`,
			ts(p.StartedAt), ts(p.EndedAt), p.FullChecked, p.CheapChecked, p.Verified, p.Mismatched, p.Lost,
			p.Requeued, p.BytesHashed, p.AtomsChecked, p.AtomsFailed, p.Errors)
		if err != nil || p.KeepAfter.IsZero() {
			return err
		}
		_, err = c.ExecContext(ctx, `DELETE FROM OffloadVerifyRuns WHERE EndedAt < ?`, ts(p.KeepAfter))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: record verify run: %w", err)
	}
	return nil
}

// VerifyRuns implements catalog.Monitor.
func (d *DB) VerifyRuns(ctx context.Context, p catalog.VerifyRunsParams) ([]catalog.VerifyRun, error) {
	rows, err := d.db.QueryContext(ctx, `
SELECT RunId, StartedAt, EndedAt, FullChecked, CheapChecked, Verified, Mismatched, Lost, Requeued,
  BytesHashed, AtomsChecked, AtomsFailed, Errors, LeftUnverified
FROM OffloadVerifyRuns
WHERE EndedAt >= ? AND (? = 0 OR LeftUnverified = 0)
ORDER BY EndedAt DESC, RunId DESC LIMIT ?`, ts(dialect.RunsAfter(p)), p.CompleteOnly, dialect.RunsLimit(p))
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify runs: %w", err)
	}
	runs, err := dialect.Collect(rows, func(sc dialect.Scanner) (catalog.VerifyRun, error) {
		var r catalog.VerifyRun
		var started, ended sql.NullString
		if err := sc.Scan(&r.ID, &started, &ended, &r.FullChecked, &r.CheapChecked, &r.Verified, &r.Mismatched,
			&r.Lost, &r.Requeued, &r.BytesHashed, &r.AtomsChecked, &r.AtomsFailed, &r.Errors, &r.LeftUnverified); err != nil {
			return r, err
		}
		var err error
		if r.StartedAt, err = parseTime(started); err != nil {
			return r, err
		}
		r.EndedAt, err = parseTime(ended)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: verify runs: %w", err)
	}
	return runs, nil
}

// OutboxFailures implements catalog.Monitor.
func (d *DB) OutboxFailures(ctx context.Context, p catalog.OutboxFailuresParams) ([]catalog.ReasonCount, error) {
	rows, err := d.db.QueryContext(ctx, `
SELECT coalesce(LastError, ''), count(*) AS n FROM OffloadOutbox WHERE OutboxState = 'failed'
GROUP BY LastError ORDER BY n DESC, LastError LIMIT ?`, dialect.ReasonsLimit(p.Reasons))
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox failures: %w", err)
	}
	out, err := dialect.CollectReasons(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox failures: %w", err)
	}
	return out, nil
}

// AtomFailures implements catalog.Monitor.
func (d *DB) AtomFailures(ctx context.Context, p catalog.AtomFailuresParams) ([]catalog.AtomFailure, error) {
	rows, err := d.db.QueryContext(ctx, `
SELECT AtomId, Modality, coalesce(PayloadLocator, ''), VerifyResult, VerifiedAt FROM Atoms
WHERE VerifyResult IS NOT NULL AND VerifyResult <> 'ok'
ORDER BY VerifiedAt DESC, AtomId DESC LIMIT ?`, dialect.ReasonsLimit(p.Limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: atom failures: %w", err)
	}
	out, err := dialect.Collect(rows, func(sc dialect.Scanner) (catalog.AtomFailure, error) {
		var f catalog.AtomFailure
		var at sql.NullString
		if err := sc.Scan(&f.ID, &f.Modality, &f.PayloadLocator, &f.Result, &at); err != nil {
			return f, err
		}
		var err error
		f.VerifiedAt, err = parseTime(at)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: atom failures: %w", err)
	}
	return out, nil
}
