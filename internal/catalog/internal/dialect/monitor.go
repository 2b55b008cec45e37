package dialect

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// defaultReasons and defaultLatest bound the failure lists of the Monitor.
const defaultReasons, defaultLatest, defaultRuns = 20, 20, 10

// HistoryWindow checks p and returns its start truncated to the second (the
// buckets are whole seconds on both engines) and the bucket width in
// seconds.
func HistoryWindow(p catalog.MigrationHistoryParams) (time.Time, int64, error) {
	if p.Since.IsZero() || p.Bucket < time.Second {
		return time.Time{}, 0, fmt.Errorf("catalog: migration history needs a start and a bucket of at least 1s, got %v and %v", p.Since, p.Bucket)
	}
	return p.Since.UTC().Truncate(time.Second), int64(p.Bucket / time.Second), nil
}

// CollectHistory reads (bucket number, segments, bytes) rows into buckets
// starting at since, and closes rows.
func CollectHistory(rows *sql.Rows, since time.Time, width time.Duration) ([]catalog.HistoryBucket, error) {
	width = width.Truncate(time.Second)
	return Collect(rows, func(sc Scanner) (catalog.HistoryBucket, error) {
		var b catalog.HistoryBucket
		var n int64
		err := sc.Scan(&n, &b.Segments, &b.Bytes)
		b.Start = since.Add(time.Duration(n) * width)
		return b, err
	})
}

// CollectReasons reads (reason, count) rows and closes rows.
func CollectReasons(rows *sql.Rows) ([]catalog.ReasonCount, error) {
	return Collect(rows, func(sc Scanner) (catalog.ReasonCount, error) {
		var r catalog.ReasonCount
		err := sc.Scan(&r.Reason, &r.Count)
		return r, err
	})
}

// ReasonsLimit is n, or the default when n <= 0.
func ReasonsLimit(n int) int {
	if n <= 0 {
		return defaultReasons
	}
	return n
}

// FailureLimits are p's bounds with their defaults.
func FailureLimits(p catalog.SegmentFailuresParams) (reasons, latest int) {
	latest = p.Latest
	if latest <= 0 {
		latest = defaultLatest
	}
	return ReasonsLimit(p.Reasons), latest
}

// RunsLimit is p.Limit with its default.
func RunsLimit(p catalog.VerifyRunsParams) int {
	if p.Limit <= 0 {
		return defaultRuns
	}
	return p.Limit
}

// RunsAfter is p.EndedAfter, or a time before every run when zero (one
// query shape for both cases).
func RunsAfter(p catalog.VerifyRunsParams) time.Time {
	if p.EndedAfter.IsZero() {
		return time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return p.EndedAfter
}

// CheckVerifyRun refuses a run without its times or ending before it began.
func CheckVerifyRun(p catalog.RecordVerifyRunParams) error {
	if p.StartedAt.IsZero() || p.EndedAt.IsZero() || p.EndedAt.Before(p.StartedAt) {
		return fmt.Errorf("catalog: verify run needs StartedAt <= EndedAt, got %v and %v", p.StartedAt, p.EndedAt)
	}
	return nil
}
