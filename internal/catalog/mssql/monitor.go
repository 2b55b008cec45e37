package mssql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

var _ catalog.Monitor = (*DB)(nil)

// MigrationHistory implements catalog.Monitor. The start is a typed
// parameter: an expression there is evaluated per row on some engines
// (docs/TSQL.md).
func (d *DB) MigrationHistory(ctx context.Context, p catalog.MigrationHistoryParams) ([]catalog.HistoryBucket, error) {
	since, width, err := dialect.HistoryWindow(p)
	if err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, d.q(`
SELECT b, COUNT_BIG(*), COALESCE(SUM(BlobSizeBytes), 0)
FROM (SELECT DATEDIFF(second, @p1, MigratedAt) / @p2 AS b, BlobSizeBytes
      FROM dbo.LayerTensorSegments WHERE MigratedAt >= @p1) AS m
GROUP BY b ORDER BY b`), dialect.Time(since), width)
	if err != nil {
		return nil, fmt.Errorf("mssql: migration history: %w", err)
	}
	return dialect.CollectHistory(rows, since, p.Bucket)
}

// SegmentFailures implements catalog.Monitor.
func (d *DB) SegmentFailures(ctx context.Context, p catalog.SegmentFailuresParams) (catalog.FailureReport, error) {
	reasons, latest := dialect.FailureLimits(p)
	var rep catalog.FailureReport
	err := d.db.QueryRowContext(ctx, d.q(`SELECT COUNT_BIG(*) FROM dbo.LayerTensorSegments WHERE OffloadError IS NOT NULL`)).Scan(&rep.Total)
	if err != nil {
		return rep, fmt.Errorf("mssql: segment failures: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, d.q(`
SELECT TOP (@p1) OffloadError, COUNT_BIG(*) AS n FROM dbo.LayerTensorSegments WHERE OffloadError IS NOT NULL
GROUP BY OffloadError ORDER BY n DESC, OffloadError`), reasons)
	if err != nil {
		return rep, fmt.Errorf("mssql: segment failures: %w", err)
	}
	if rep.Reasons, err = dialect.CollectReasons(rows); err != nil {
		return rep, fmt.Errorf("mssql: segment failures: %w", err)
	}
	rows, err = d.db.QueryContext(ctx, d.q(`
SELECT TOP (@p1) s.LayerTensorSegmentId, l.ModelId, s.OffloadState, s.OffloadAttempts, s.OffloadError, s.OffloadErrorAt
FROM dbo.LayerTensorSegments AS s JOIN dbo.ModelLayers AS l ON l.LayerId = s.LayerId
WHERE s.OffloadError IS NOT NULL
ORDER BY s.OffloadErrorAt DESC, s.LayerTensorSegmentId DESC`), latest)
	if err != nil {
		return rep, fmt.Errorf("mssql: segment failures: %w", err)
	}
	rep.Latest, err = dialect.Collect(rows, func(sc dialect.Scanner) (catalog.SegmentFailure, error) {
		var f catalog.SegmentFailure
		var state string
		var at sql.NullTime
		err := sc.Scan(&f.ID, &f.ModelID, &state, &f.Attempts, &f.Reason, &at)
		f.State, f.At = catalog.State(state), utc(at)
		return f, err
	})
	if err != nil {
		return rep, fmt.Errorf("mssql: segment failures: %w", err)
	}
	return rep, nil
}

// VerifyCoverage implements catalog.Monitor.
func (d *DB) VerifyCoverage(ctx context.Context, _ catalog.VerifyCoverageParams) (catalog.Coverage, error) {
	var c catalog.Coverage
	err := d.db.QueryRowContext(ctx, d.q(`
SELECT
  COUNT_BIG(CASE WHEN OffloadState IN (N'verified', N'released') THEN 1 END),
  COALESCE(SUM(CASE WHEN OffloadState IN (N'verified', N'released') THEN BlobSizeBytes ELSE 0 END), 0),
  COUNT_BIG(CASE WHEN OffloadState = N'migrated' THEN 1 END),
  COALESCE(SUM(CASE WHEN OffloadState = N'migrated' THEN BlobSizeBytes ELSE 0 END), 0),
  COUNT_BIG(CASE WHEN OffloadState = N'mismatch' THEN 1 END),
  COUNT_BIG(CASE WHEN OffloadState = N'lost' THEN 1 END),
  COUNT_BIG(CASE WHEN OffloadState IN (N'verified', N'released') AND VerifyResult = N'ok-cheap' THEN 1 END)
FROM dbo.LayerTensorSegments
WHERE OffloadState IN (N'migrated', N'verified', N'released', N'mismatch', N'lost')`)).Scan(
		&c.ReadBack, &c.ReadBackBytes, &c.Unverified, &c.UnverifiedBytes, &c.Mismatch, &c.Lost, &c.Cheap)
	if err != nil {
		return c, fmt.Errorf("mssql: verify coverage: %w", err)
	}
	return c, nil
}

// RecordVerifyRun implements catalog.Monitor. LeftUnverified is counted in
// the INSERT itself.
func (d *DB) RecordVerifyRun(ctx context.Context, p catalog.RecordVerifyRunParams) error {
	if err := dialect.CheckVerifyRun(p); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, d.q(`
INSERT INTO dbo.OffloadVerifyRuns (StartedAt, EndedAt, FullChecked, CheapChecked, Verified, Mismatched, Lost,
  Requeued, BytesHashed, AtomsChecked, AtomsFailed, Errors, LeftUnverified)
SELECT @p1, @p2, @p3, @p4, @p5, @p6, @p7, @p8, @p9, @p10, @p11, @p12,
  (SELECT COUNT_BIG(*) FROM dbo.LayerTensorSegments WHERE OffloadState = N'migrated')`),
		dialect.Time(p.StartedAt), dialect.Time(p.EndedAt), p.FullChecked, p.CheapChecked, p.Verified, p.Mismatched,
		p.Lost, p.Requeued, p.BytesHashed, p.AtomsChecked, p.AtomsFailed, p.Errors)
	if err == nil && !p.KeepAfter.IsZero() {
		_, err = d.db.ExecContext(ctx, d.q(`DELETE FROM dbo.OffloadVerifyRuns WHERE EndedAt < @p1`), dialect.Time(p.KeepAfter))
	}
	if err != nil {
		return fmt.Errorf("mssql: record verify run: %w", err)
	}
	return nil
}

// VerifyRuns implements catalog.Monitor.
func (d *DB) VerifyRuns(ctx context.Context, p catalog.VerifyRunsParams) ([]catalog.VerifyRun, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`
SELECT TOP (@p1) RunId, StartedAt, EndedAt, FullChecked, CheapChecked, Verified, Mismatched, Lost, Requeued,
  BytesHashed, AtomsChecked, AtomsFailed, Errors, LeftUnverified
FROM dbo.OffloadVerifyRuns
WHERE EndedAt >= @p2 AND (@p3 = 0 OR LeftUnverified = 0)
ORDER BY EndedAt DESC, RunId DESC`), dialect.RunsLimit(p), dialect.Time(dialect.RunsAfter(p)), p.CompleteOnly)
	if err != nil {
		return nil, fmt.Errorf("mssql: verify runs: %w", err)
	}
	runs, err := dialect.Collect(rows, func(sc dialect.Scanner) (catalog.VerifyRun, error) {
		var r catalog.VerifyRun
		var started, ended sql.NullTime
		err := sc.Scan(&r.ID, &started, &ended, &r.FullChecked, &r.CheapChecked, &r.Verified, &r.Mismatched,
			&r.Lost, &r.Requeued, &r.BytesHashed, &r.AtomsChecked, &r.AtomsFailed, &r.Errors, &r.LeftUnverified)
		r.StartedAt, r.EndedAt = utc(started), utc(ended)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("mssql: verify runs: %w", err)
	}
	return runs, nil
}

// OutboxFailures implements catalog.Monitor. READPAST, as the outbox status
// query: rows of open transactions are not counted and not waited for.
func (d *DB) OutboxFailures(ctx context.Context, p catalog.OutboxFailuresParams) ([]catalog.ReasonCount, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`
SELECT TOP (@p1) COALESCE(LastError, N''), COUNT_BIG(*) AS n FROM dbo.OffloadOutbox WITH (READPAST)
WHERE OutboxState = N'failed'
GROUP BY LastError ORDER BY n DESC, COALESCE(LastError, N'')`), dialect.ReasonsLimit(p.Reasons))
	if err != nil {
		return nil, fmt.Errorf("mssql: outbox failures: %w", err)
	}
	out, err := dialect.CollectReasons(rows)
	if err != nil {
		return nil, fmt.Errorf("mssql: outbox failures: %w", err)
	}
	return out, nil
}

// AtomFailures implements catalog.Monitor.
func (d *DB) AtomFailures(ctx context.Context, p catalog.AtomFailuresParams) ([]catalog.AtomFailure, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`
SELECT TOP (@p1) AtomId, Modality, COALESCE(PayloadLocator, N''), VerifyResult, VerifiedAt FROM dbo.Atoms
WHERE VerifyResult IS NOT NULL AND VerifyResult <> N'ok'
ORDER BY VerifiedAt DESC, AtomId DESC`), dialect.ReasonsLimit(p.Limit))
	if err != nil {
		return nil, fmt.Errorf("mssql: atom failures: %w", err)
	}
	out, err := dialect.Collect(rows, func(sc dialect.Scanner) (catalog.AtomFailure, error) {
		var f catalog.AtomFailure
		var at sql.NullTime
		err := sc.Scan(&f.ID, &f.Modality, &f.PayloadLocator, &f.Result, &at)
		f.VerifiedAt = utc(at)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("mssql: atom failures: %w", err)
	}
	return out, nil
}
