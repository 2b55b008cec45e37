package catalog

import (
	"context"
	"time"
)

// Monitor is what the live migration page reads (the Dashboard function and
// `offload dashboard`): aggregates over Offload's own bookkeeping, each one
// query that never reads a payload, so a page refresh stays cheap at
// Hartonomous's scale (100,000 segment rows), and the record of
// verification runs, which nothing else keeps.
type Monitor interface {
	// MigrationHistory counts the segments migrated at or after p.Since in
	// buckets of p.Bucket starting at p.Since, oldest first. Buckets with
	// nothing migrated are left out.
	MigrationHistory(ctx context.Context, p MigrationHistoryParams) ([]HistoryBucket, error)
	// SegmentFailures groups the segments whose last attempt failed (their
	// OffloadError) by reason, most frequent first, and lists the latest
	// p.Latest of them, newest first.
	SegmentFailures(ctx context.Context, p SegmentFailuresParams) (FailureReport, error)
	// VerifyCoverage counts migrated segments by how far verification got.
	VerifyCoverage(ctx context.Context, p VerifyCoverageParams) (Coverage, error)
	// RecordVerifyRun stores one verification run's outcome and drops runs
	// that ended before p.KeepAfter. LeftUnverified is counted by the
	// catalog when the run is recorded.
	RecordVerifyRun(ctx context.Context, p RecordVerifyRunParams) error
	// VerifyRuns lists the latest p.Limit runs, newest first.
	VerifyRuns(ctx context.Context, p VerifyRunsParams) ([]VerifyRun, error)
	// OutboxFailures groups the failed outbox rows by LastError, most
	// frequent first.
	OutboxFailures(ctx context.Context, p OutboxFailuresParams) ([]ReasonCount, error)
	// AtomFailures lists the latest p.Limit atoms whose last verification
	// failed, newest first.
	AtomFailures(ctx context.Context, p AtomFailuresParams) ([]AtomFailure, error)
}

// AtomFailuresParams bounds AtomFailures.
type AtomFailuresParams struct {
	Limit int // 0: 20
}

// AtomFailure is an atom whose file failed its last verification.
type AtomFailure struct {
	ID             int64
	Modality       string
	PayloadLocator string
	Result         string // missing, size, etag, sha256, locator…
	VerifiedAt     time.Time
}

// MigrationHistoryParams selects MigrationHistory's window.
type MigrationHistoryParams struct {
	Since  time.Time
	Bucket time.Duration // at least a second
}

// HistoryBucket is what was migrated in [Start, Start+Bucket).
type HistoryBucket struct {
	Start    time.Time
	Segments int64
	Bytes    int64
}

// SegmentFailuresParams bounds SegmentFailures.
type SegmentFailuresParams struct {
	Reasons int // most reasons returned (0: 20)
	Latest  int // most failed segments listed (0: 20)
}

// ReasonCount is how many items failed for one reason.
type ReasonCount struct {
	Reason string
	Count  int64
}

// SegmentFailure is one segment whose last attempt failed.
type SegmentFailure struct {
	ID       int64
	ModelID  int64
	State    State
	Attempts int64
	Reason   string
	At       time.Time // zero when recorded before OffloadErrorAt existed
}

// FailureReport is SegmentFailures' answer.
type FailureReport struct {
	Total   int64
	Reasons []ReasonCount
	Latest  []SegmentFailure
}

// VerifyCoverageParams is empty: VerifyCoverage takes no options yet.
type VerifyCoverageParams struct{}

// Coverage counts segments that reached Blob Storage by what verification
// proved. ReadBack segments (and bytes) were read back in full and matched
// the source SHA-256 at least once (verified or released); Unverified are
// migrated and not read back yet; Mismatch and Lost were found wrong.
type Coverage struct {
	ReadBack, ReadBackBytes     int64
	Unverified, UnverifiedBytes int64
	Mismatch, Lost              int64
	// Cheap is how many of ReadBack were last checked cheaply (exists,
	// size, ETag) rather than re-hashed.
	Cheap int64
}

// RecordVerifyRunParams is one verification run, as segments.Verify reports it.
type RecordVerifyRunParams struct {
	StartedAt, EndedAt time.Time
	FullChecked        int64
	CheapChecked       int64
	Verified           int64
	Mismatched         int64
	Lost               int64
	Requeued           int64
	BytesHashed        int64
	AtomsChecked       int64
	AtomsFailed        int64
	Errors             int64
	// KeepAfter: runs that ended before it are deleted (zero: keep all).
	KeepAfter time.Time
}

// VerifyRunsParams selects VerifyRuns.
type VerifyRunsParams struct {
	Limit int // 0: 10
	// EndedAfter keeps only runs that ended at or after it (zero: all).
	EndedAfter time.Time
	// CompleteOnly keeps only runs that left nothing unverified: the last
	// of them ended the last full pass.
	CompleteOnly bool
}

// VerifyRun is a recorded run. LeftUnverified is how many segments were
// still migrated and not read back when it was recorded: a run that left
// none completed a full pass.
type VerifyRun struct {
	RecordVerifyRunParams
	ID             int64
	LeftUnverified int64
}

// OutboxFailuresParams bounds OutboxFailures.
type OutboxFailuresParams struct {
	Reasons int // 0: 20
}
