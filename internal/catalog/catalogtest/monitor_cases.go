package catalogtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// monitorCases are the Monitor's conformance tests (the live page's data).
var monitorCases = []struct {
	name string
	fn   func(*testing.T, *env)
}{
	{"MigrationHistory", testMigrationHistory},
	{"SegmentFailures", testSegmentFailures},
	{"VerifyCoverage", testVerifyCoverage},
	{"VerifyRuns", testVerifyRuns},
	{"OutboxFailures", testOutboxFailures},
}

// migrateAt claims and records segment id as migrated at now.
func (e *env) migrateAt(id int64, now time.Time) {
	e.t.Helper()
	tok := fmt.Sprintf("tok-at-%d", id)
	wantOK(e.t, "claim", e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: tok, Now: now, Until: now.Add(time.Minute)}))
	seg := e.get(id)
	wantOK(e.t, "record migrated", e.cat.RecordMigrated(e.ctx, catalog.RecordMigratedParams{ID: id, Token: tok, Sha256: sha(id),
		BlobURI: fmt.Sprintf("http://127.0.0.1/tensors/%d.bin", id), ETag: etag(id), Size: seg.PayloadBytes, Now: now}))
}

// testMigrationHistory: buckets of whole widths from the start, by
// MigratedAt, empty buckets left out, nothing before the start.
func testMigrationHistory(t *testing.T, e *env) {
	since := Base.Truncate(time.Second)
	got, err := e.cat.MigrationHistory(e.ctx, catalog.MigrationHistoryParams{Since: since, Bucket: time.Minute})
	wantOK(t, "history of nothing", err)
	if len(got) != 0 {
		t.Fatalf("history with nothing migrated: %+v", got)
	}
	e.migrateAt(e.segment(100), since.Add(-time.Second)) // before the window
	e.migrateAt(e.segment(200), since)
	e.migrateAt(e.segment(300), since.Add(59*time.Second+999*time.Millisecond))
	e.migrateAt(e.segment(400), since.Add(3*time.Minute+time.Second))
	e.segment(50) // never migrated
	got, err = e.cat.MigrationHistory(e.ctx, catalog.MigrationHistoryParams{Since: since, Bucket: time.Minute})
	wantOK(t, "history", err)
	want := []catalog.HistoryBucket{
		{Start: since, Segments: 2, Bytes: 500},
		{Start: since.Add(3 * time.Minute), Segments: 1, Bytes: 400},
	}
	if len(got) != len(want) {
		t.Fatalf("history = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || got[i].Segments != want[i].Segments || got[i].Bytes != want[i].Bytes {
			t.Fatalf("history[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := e.cat.MigrationHistory(e.ctx, catalog.MigrationHistoryParams{Since: since}); err == nil {
		t.Fatal("history without a bucket width: no error")
	}
}

// testSegmentFailures: the current OffloadError of each segment, grouped
// and the latest listed newest first; a later migration clears it.
func testSegmentFailures(t *testing.T, e *env) {
	rep, err := e.cat.SegmentFailures(e.ctx, catalog.SegmentFailuresParams{})
	wantOK(t, "failures of nothing", err)
	if rep.Total != 0 || len(rep.Reasons) != 0 || len(rep.Latest) != 0 {
		t.Fatalf("failures with none: %+v", rep)
	}
	a, b, c := e.segment(10), e.segment(10), e.segment(10)
	fail := func(id int64, msg string, at time.Time) {
		t.Helper()
		tok := fmt.Sprintf("tok-fail-%d-%d", id, at.Unix())
		wantOK(t, "claim", e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: tok, Now: at, Until: at.Add(time.Minute)}))
		wantOK(t, "record failure", e.cat.RecordFailure(e.ctx, catalog.RecordFailureParams{ID: id, Token: tok, Error: msg, Now: at}))
	}
	fail(a, "storage: 503", Base)
	fail(b, "storage: 503", Base.Add(time.Second))
	fail(c, "catalog: timeout", Base.Add(2*time.Second))
	fail(a, "storage: 503", Base.Add(3*time.Second)) // a again: still one segment
	rep, err = e.cat.SegmentFailures(e.ctx, catalog.SegmentFailuresParams{Latest: 2})
	wantOK(t, "failures", err)
	if rep.Total != 3 || len(rep.Reasons) != 2 || rep.Reasons[0] != (catalog.ReasonCount{Reason: "storage: 503", Count: 2}) ||
		rep.Reasons[1] != (catalog.ReasonCount{Reason: "catalog: timeout", Count: 1}) {
		t.Fatalf("failure groups = %+v", rep)
	}
	if len(rep.Latest) != 2 || rep.Latest[0].ID != a || rep.Latest[1].ID != c {
		t.Fatalf("latest failures = %+v, want %d then %d", rep.Latest, a, c)
	}
	if l := rep.Latest[0]; l.ModelID != e.model || l.Attempts != 2 || l.Reason != "storage: 503" || !l.At.Equal(Base.Add(3*time.Second)) {
		t.Fatalf("latest failure = %+v", l)
	}
	e.migrate(a)
	rep, err = e.cat.SegmentFailures(e.ctx, catalog.SegmentFailuresParams{})
	wantOK(t, "failures after a migration", err)
	if rep.Total != 2 {
		t.Fatalf("a migrated segment still counted as failed: %+v", rep)
	}
}

// testVerifyCoverage counts what verification proved, by state.
func testVerifyCoverage(t *testing.T, e *env) {
	ver, rel, mig, cheap := e.segment(100), e.segment(200), e.segment(400), e.segment(800)
	e.segment(1600) // pending: not counted
	for _, id := range []int64{ver, rel, mig, cheap} {
		e.migrate(id)
	}
	e.verify(ver)
	e.verify(rel)
	e.release(rel)
	e.verify(cheap)
	wantOK(t, "cheap check", e.cat.RecordVerified(e.ctx, catalog.RecordVerifiedParams{ID: cheap, ExpectSha256: sha(cheap),
		ExpectETag: etag(cheap), State: catalog.StateVerified, Result: "ok-cheap", Now: Base.Add(time.Hour)}))
	c, err := e.cat.VerifyCoverage(e.ctx, catalog.VerifyCoverageParams{})
	wantOK(t, "coverage", err)
	want := catalog.Coverage{ReadBack: 3, ReadBackBytes: 1100, Unverified: 1, UnverifiedBytes: 400, Cheap: 1}
	if c != want {
		t.Fatalf("coverage = %+v, want %+v", c, want)
	}
}

// testVerifyRuns: runs are recorded with the number of segments still not
// read back, listed newest first, and old ones purged.
func testVerifyRuns(t *testing.T, e *env) {
	if err := e.cat.RecordVerifyRun(e.ctx, catalog.RecordVerifyRunParams{StartedAt: Base, EndedAt: Base.Add(-time.Second)}); err == nil {
		t.Fatal("a run ending before it started: no error")
	}
	a := e.segment(10)
	e.migrate(a)
	first := catalog.RecordVerifyRunParams{StartedAt: Base, EndedAt: Base.Add(time.Minute), FullChecked: 3, CheapChecked: 4,
		Verified: 5, Mismatched: 6, Lost: 7, Requeued: 8, BytesHashed: 9, AtomsChecked: 10, AtomsFailed: 11, Errors: 12}
	wantOK(t, "record run", e.cat.RecordVerifyRun(e.ctx, first))
	e.verify(a)
	second := catalog.RecordVerifyRunParams{StartedAt: Base.Add(time.Hour), EndedAt: Base.Add(time.Hour + time.Minute), FullChecked: 1}
	wantOK(t, "record second run", e.cat.RecordVerifyRun(e.ctx, second))
	runs, err := e.cat.VerifyRuns(e.ctx, catalog.VerifyRunsParams{})
	wantOK(t, "runs", err)
	if len(runs) != 2 || runs[0].FullChecked != 1 || runs[0].LeftUnverified != 0 || runs[1].LeftUnverified != 1 {
		t.Fatalf("runs = %+v", runs)
	}
	got := runs[1].RecordVerifyRunParams
	got.StartedAt, got.EndedAt = normTime(got.StartedAt), normTime(got.EndedAt)
	if got != first {
		t.Fatalf("first run read back as %+v, want %+v", got, first)
	}
	third := catalog.RecordVerifyRunParams{StartedAt: Base.Add(2 * time.Hour), EndedAt: Base.Add(2 * time.Hour), KeepAfter: Base.Add(30 * time.Minute)}
	wantOK(t, "record run with purge", e.cat.RecordVerifyRun(e.ctx, third))
	runs, err = e.cat.VerifyRuns(e.ctx, catalog.VerifyRunsParams{Limit: 10})
	wantOK(t, "runs after purge", err)
	if len(runs) != 2 || !runs[1].EndedAt.Equal(second.EndedAt) {
		t.Fatalf("runs after purging before %v: %+v", third.KeepAfter, runs)
	}
}

// testOutboxFailures groups failed outbox rows by their reason.
func testOutboxFailures(t *testing.T, e *env) {
	got, err := e.cat.OutboxFailures(e.ctx, catalog.OutboxFailuresParams{})
	wantOK(t, "outbox failures of nothing", err)
	if len(got) != 0 {
		t.Fatalf("outbox failures with none: %+v", got)
	}
	tx, err := e.cat.BeginPublish(e.ctx)
	wantOK(t, "begin publish", err)
	var ids []string
	for i := range 3 {
		id, err := tx.Publish(e.ctx, catalog.OutboxMessage{Queue: "neo4j-sync", Message: fmt.Sprintf(`{"n":%d}`, i)})
		wantOK(t, "publish", err)
		ids = append(ids, id)
	}
	wantOK(t, "commit", tx.Commit())
	rows, err := e.cat.Unsequenced(e.ctx, catalog.UnsequencedParams{Limit: 10})
	wantOK(t, "unsequenced", err)
	var fs []catalog.OutboxFailure
	for i, r := range rows {
		reason := "queue not allowed"
		if i == 2 {
			reason = "not JSON"
		}
		fs = append(fs, catalog.OutboxFailure{ID: r.ID, Reason: reason})
	}
	_, err = e.cat.FailOutbox(e.ctx, catalog.FailOutboxParams{Failures: fs})
	wantOK(t, "fail outbox", err)
	got, err = e.cat.OutboxFailures(e.ctx, catalog.OutboxFailuresParams{})
	wantOK(t, "outbox failures", err)
	want := []catalog.ReasonCount{{Reason: "queue not allowed", Count: 2}, {Reason: "not JSON", Count: 1}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("outbox failures = %+v, want %+v (published %v)", got, want, ids)
	}
}
