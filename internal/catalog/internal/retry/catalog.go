package retry

import (
	"context"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
)

// Catalog is a catalog.Catalog whose operations are retried under a
// Retrier. Each method says what it allows: Repeatable where running the
// operation again is harmless because it reads, or because its change is a
// compare-and-set that the dialect recognises as already applied (a claim
// under the same token, a migration record with the same SHA-256, a
// release of the same blob, an outbox mark with the same queue message
// id); Once where a second run would count twice (RecordFailure's
// attempts, an insert). Payload reads are capped per instance and resume
// after a cut (payload.go).
type Catalog struct {
	inner catalog.Catalog
	r     *Retrier
	// readers caps concurrent payload reads; nil: no cap.
	readers chan struct{}
}

// Options tune Wrap.
type Options struct {
	// PayloadReaders caps the payload reads open at once; 0: no cap.
	PayloadReaders int
}

var (
	_ catalog.Catalog = (*Catalog)(nil)
	_ catalog.Seeder  = (*Catalog)(nil)
)

// Wrap returns inner with r's retries. When inner has stored procedures
// (catalog.ProcApplier) so has the result.
func Wrap(inner catalog.Catalog, r *Retrier, o Options) catalog.Catalog {
	c := &Catalog{inner: inner, r: r}
	if o.PayloadReaders > 0 {
		c.readers = make(chan struct{}, o.PayloadReaders)
	}
	if pa, ok := inner.(catalog.ProcApplier); ok {
		return &procCatalog{Catalog: c, pa: pa}
	}
	return c
}

// Unwrap is the dialect under the retries (tests and tooling).
func (c *Catalog) Unwrap() catalog.Catalog { return c.inner }

// procCatalog is a Catalog whose dialect has stored procedures.
type procCatalog struct {
	*Catalog
	pa catalog.ProcApplier
}

// ApplyProcs implements catalog.ProcApplier: CREATE OR ALTER runs again
// harmlessly.
func (c *procCatalog) ApplyProcs(ctx context.Context, p catalog.ApplyParams) ([]string, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]string, error) { return c.pa.ApplyProcs(ctx, p) })
}

// value runs f under r and returns its value.
func value[T any](ctx context.Context, r *Retrier, k Kind, f func(context.Context) (T, error)) (T, error) {
	var v T
	err := r.Do(ctx, k, func(ctx context.Context) error {
		var err error
		v, err = f(ctx)
		return err
	})
	return v, err
}

func (c *Catalog) Dialect() string { return c.inner.Dialect() }
func (c *Catalog) Close() error    { return c.inner.Close() }

// Apply is idempotent: a second run changes nothing.
func (c *Catalog) Apply(ctx context.Context, p catalog.ApplyParams) ([]string, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]string, error) { return c.inner.Apply(ctx, p) })
}

// Finalize drops columns: retried only when it did not run.
func (c *Catalog) Finalize(ctx context.Context, p catalog.FinalizeParams) (int64, error) {
	return value(ctx, c.r, Once, func(ctx context.Context) (int64, error) { return c.inner.Finalize(ctx, p) })
}

func (c *Catalog) GetSegment(ctx context.Context, id int64) (catalog.Segment, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (catalog.Segment, error) { return c.inner.GetSegment(ctx, id) })
}

func (c *Catalog) ListSegments(ctx context.Context, f catalog.SegmentFilter) ([]catalog.Segment, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]catalog.Segment, error) { return c.inner.ListSegments(ctx, f) })
}

// MarkQueued is repeatable; after a lost answer the count is of the second
// run (rows already queued count again: pending/queued/mismatch → queued).
func (c *Catalog) MarkQueued(ctx context.Context, p catalog.MarkQueuedParams) (int64, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (int64, error) { return c.inner.MarkQueued(ctx, p) })
}

// ClaimSegment is idempotent for the same token.
func (c *Catalog) ClaimSegment(ctx context.Context, p catalog.ClaimSegmentParams) error {
	return c.r.Do(ctx, Repeatable, func(ctx context.Context) error { return c.inner.ClaimSegment(ctx, p) })
}

func (c *Catalog) ReleaseClaim(ctx context.Context, p catalog.ReleaseClaimParams) error {
	return c.r.Do(ctx, Repeatable, func(ctx context.Context) error { return c.inner.ReleaseClaim(ctx, p) })
}

// RecordMigrated recognises its own record by the SHA-256.
func (c *Catalog) RecordMigrated(ctx context.Context, p catalog.RecordMigratedParams) error {
	return c.r.Do(ctx, Repeatable, func(ctx context.Context) error { return c.inner.RecordMigrated(ctx, p) })
}

// RecordFailure counts an attempt: run twice, it would count two.
func (c *Catalog) RecordFailure(ctx context.Context, p catalog.RecordFailureParams) error {
	return c.r.Do(ctx, Once, func(ctx context.Context) error { return c.inner.RecordFailure(ctx, p) })
}

// RecordVerified writes the same outcome again under the same expectations.
func (c *Catalog) RecordVerified(ctx context.Context, p catalog.RecordVerifiedParams) error {
	return c.r.Do(ctx, Repeatable, func(ctx context.Context) error { return c.inner.RecordVerified(ctx, p) })
}

// ResetBlob clears the ETag it is conditioned on: a second run after a
// lost answer would report a conflict, so it is retried only when unsent
// (the next verification run resets what is left).
func (c *Catalog) ResetBlob(ctx context.Context, p catalog.ResetBlobParams) error {
	return c.r.Do(ctx, Once, func(ctx context.Context) error { return c.inner.ResetBlob(ctx, p) })
}

// ReleasePayload recognises a release of the same blob already done.
func (c *Catalog) ReleasePayload(ctx context.Context, p catalog.ReleasePayloadParams) error {
	return c.r.Do(ctx, Repeatable, func(ctx context.Context) error { return c.inner.ReleasePayload(ctx, p) })
}

func (c *Catalog) Status(ctx context.Context) ([]catalog.StatusRow, error) {
	return value(ctx, c.r, Repeatable, c.inner.Status)
}

func (c *Catalog) MigratedSince(ctx context.Context, p catalog.MigratedSinceParams) (catalog.Throughput, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (catalog.Throughput, error) { return c.inner.MigratedSince(ctx, p) })
}

func (c *Catalog) ListAtoms(ctx context.Context, f catalog.AtomFilter) ([]catalog.Atom, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]catalog.Atom, error) { return c.inner.ListAtoms(ctx, f) })
}

func (c *Catalog) AtomStatus(ctx context.Context) ([]catalog.AtomStatusRow, error) {
	return value(ctx, c.r, Repeatable, c.inner.AtomStatus)
}

// LinkAtom writes the same blob fields again while the locator holds.
func (c *Catalog) LinkAtom(ctx context.Context, p catalog.LinkAtomParams) error {
	return c.r.Do(ctx, Repeatable, func(ctx context.Context) error { return c.inner.LinkAtom(ctx, p) })
}

func (c *Catalog) RecordAtomVerified(ctx context.Context, p catalog.RecordAtomVerifiedParams) error {
	return c.r.Do(ctx, Repeatable, func(ctx context.Context) error { return c.inner.RecordAtomVerified(ctx, p) })
}

// BeginPublish starts the caller's transaction: what runs in it is the
// caller's to retry, as a whole.
func (c *Catalog) BeginPublish(ctx context.Context) (catalog.OutboxTx, error) {
	return value(ctx, c.r, Once, c.inner.BeginPublish)
}

func (c *Catalog) Unsequenced(ctx context.Context, p catalog.UnsequencedParams) ([]catalog.OutboxRow, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]catalog.OutboxRow, error) { return c.inner.Unsequenced(ctx, p) })
}

// FailOutbox applies only to unsequenced pending rows: a second run finds
// them failed and leaves them.
func (c *Catalog) FailOutbox(ctx context.Context, p catalog.FailOutboxParams) (int64, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (int64, error) { return c.inner.FailOutbox(ctx, p) })
}

// SequenceOutbox skips rows that have a sequence: a second run after a lost
// answer sequences nothing again, and the rows stay claimed by the token.
func (c *Catalog) SequenceOutbox(ctx context.Context, p catalog.SequenceOutboxParams) (int64, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (int64, error) { return c.inner.SequenceOutbox(ctx, p) })
}

// ClaimOutbox returns every row the token holds, whichever run claimed it.
func (c *Catalog) ClaimOutbox(ctx context.Context, p catalog.ClaimOutboxParams) ([]catalog.OutboxRow, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) ([]catalog.OutboxRow, error) { return c.inner.ClaimOutbox(ctx, p) })
}

func (c *Catalog) OutboxMessages(ctx context.Context, p catalog.OutboxMessagesParams) (map[int64]string, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (map[int64]string, error) { return c.inner.OutboxMessages(ctx, p) })
}

// MarkOutboxSent counts a row already marked with the same queue message id.
func (c *Catalog) MarkOutboxSent(ctx context.Context, p catalog.MarkOutboxSentParams) (int64, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (int64, error) { return c.inner.MarkOutboxSent(ctx, p) })
}

// RetryOutbox drops the claim it is conditioned on: a second run changes
// nothing.
func (c *Catalog) RetryOutbox(ctx context.Context, r catalog.RetryOutboxParams) error {
	return c.r.Do(ctx, Repeatable, func(ctx context.Context) error { return c.inner.RetryOutbox(ctx, r) })
}

func (c *Catalog) ReleaseOutbox(ctx context.Context, p catalog.ReleaseOutboxParams) error {
	return c.r.Do(ctx, Repeatable, func(ctx context.Context) error { return c.inner.ReleaseOutbox(ctx, p) })
}

func (c *Catalog) PurgeOutbox(ctx context.Context, p catalog.PurgeOutboxParams) (int64, error) {
	return value(ctx, c.r, Repeatable, func(ctx context.Context) (int64, error) { return c.inner.PurgeOutbox(ctx, p) })
}

func (c *Catalog) OutboxStatus(ctx context.Context) ([]catalog.OutboxCount, error) {
	return value(ctx, c.r, Repeatable, c.inner.OutboxStatus)
}

// seeder is the dialect's Seeder.
func (c *Catalog) seeder() (catalog.Seeder, error) {
	s, ok := c.inner.(catalog.Seeder)
	if !ok {
		return nil, fmt.Errorf("catalog: the %s catalog cannot be seeded", c.inner.Dialect())
	}
	return s, nil
}

// PrepareSeed only reads and creates missing tables.
func (c *Catalog) PrepareSeed(ctx context.Context) error {
	s, err := c.seeder()
	if err != nil {
		return err
	}
	return c.r.Do(ctx, Repeatable, s.PrepareSeed)
}

func (c *Catalog) InsertModel(ctx context.Context, m catalog.NewModel) (int64, error) {
	s, err := c.seeder()
	if err != nil {
		return 0, err
	}
	return value(ctx, c.r, Once, func(ctx context.Context) (int64, error) { return s.InsertModel(ctx, m) })
}

func (c *Catalog) InsertLayer(ctx context.Context, l catalog.NewLayer) (int64, error) {
	s, err := c.seeder()
	if err != nil {
		return 0, err
	}
	return value(ctx, c.r, Once, func(ctx context.Context) (int64, error) { return s.InsertLayer(ctx, l) })
}

// InsertSegment streams its payload: once read, it cannot be sent again.
func (c *Catalog) InsertSegment(ctx context.Context, n catalog.NewSegment) (int64, error) {
	s, err := c.seeder()
	if err != nil {
		return 0, err
	}
	return s.InsertSegment(ctx, n)
}

func (c *Catalog) InsertAtom(ctx context.Context, a catalog.NewAtom) (int64, error) {
	s, err := c.seeder()
	if err != nil {
		return 0, err
	}
	return value(ctx, c.r, Once, func(ctx context.Context) (int64, error) { return s.InsertAtom(ctx, a) })
}

// OverwritePayload streams its payload: not retried.
func (c *Catalog) OverwritePayload(ctx context.Context, p catalog.OverwritePayloadParams) error {
	s, err := c.seeder()
	if err != nil {
		return err
	}
	return s.OverwritePayload(ctx, p)
}
