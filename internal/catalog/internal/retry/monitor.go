package retry

import (
	"context"

	"github.com/hartonomous/offload/internal/catalog"
)

// The live page's reads are repeatable; a verification run's record is an
// insert, so it runs once.

func (c *Catalog) MigrationHistory(ctx context.Context, p catalog.MigrationHistoryParams) ([]catalog.HistoryBucket, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]catalog.HistoryBucket, error) { return c.inner.MigrationHistory(ctx, p) })
}

func (c *Catalog) SegmentFailures(ctx context.Context, p catalog.SegmentFailuresParams) (catalog.FailureReport, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (catalog.FailureReport, error) { return c.inner.SegmentFailures(ctx, p) })
}

func (c *Catalog) VerifyCoverage(ctx context.Context, p catalog.VerifyCoverageParams) (catalog.Coverage, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (catalog.Coverage, error) { return c.inner.VerifyCoverage(ctx, p) })
}

func (c *Catalog) RecordVerifyRun(ctx context.Context, p catalog.RecordVerifyRunParams) error {
	return c.r.Do(ctx, Once, func(ctx context.Context) error { return c.inner.RecordVerifyRun(ctx, p) })
}

func (c *Catalog) VerifyRuns(ctx context.Context, p catalog.VerifyRunsParams) ([]catalog.VerifyRun, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]catalog.VerifyRun, error) { return c.inner.VerifyRuns(ctx, p) })
}

func (c *Catalog) OutboxFailures(ctx context.Context, p catalog.OutboxFailuresParams) ([]catalog.ReasonCount, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]catalog.ReasonCount, error) { return c.inner.OutboxFailures(ctx, p) })
}

func (c *Catalog) AtomFailures(ctx context.Context, p catalog.AtomFailuresParams) ([]catalog.AtomFailure, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]catalog.AtomFailure, error) { return c.inner.AtomFailures(ctx, p) })
}
