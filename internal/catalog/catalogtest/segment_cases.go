package catalogtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

func testApplyIdempotent(t *testing.T, e *env) {
	stmts, err := e.cat.Apply(e.ctx, catalog.ApplyParams{})
	wantOK(t, "second apply", err)
	if len(stmts) != 0 {
		t.Fatalf("second apply ran %d statement(s), want none: %q", len(stmts), stmts)
	}
	stmts, err = e.cat.Apply(e.ctx, catalog.ApplyParams{DryRun: true})
	wantOK(t, "dry-run apply", err)
	if len(stmts) != 0 {
		t.Fatalf("dry-run apply on an applied schema would run %q", stmts)
	}
	if d := e.cat.Dialect(); d != "sqlite" && d != "mssql" {
		t.Fatalf("Dialect() = %q", d)
	}
}

func testGetSegment(t *testing.T, e *env) {
	id := e.segment(1234)
	s := e.get(id)
	want := catalog.Segment{ID: id, LayerID: e.layer, ModelID: e.model, SegmentOrdinal: e.next,
		QuantizationType: "Q4_K_M", PayloadBytes: 1234, State: catalog.StatePending}
	if norm(s) != norm(want) {
		t.Fatalf("GetSegment:\n got %+v\nwant %+v", s, want)
	}
	_, err := e.cat.GetSegment(e.ctx, id+1000)
	wantErr(t, "unknown segment", err, catalog.ErrNotFound)
}

func testInsertSegmentChecksSize(t *testing.T, e *env) {
	before := e.segment(10)
	_, err := e.cat.InsertSegment(e.ctx, catalog.NewSegment{LayerID: e.layer, SegmentOrdinal: 50, QuantizationType: "F16",
		Payload: Payload(1, 5), Size: 10})
	if err == nil {
		t.Fatal("a payload shorter than Size was accepted")
	}
	_, err = e.cat.InsertSegment(e.ctx, catalog.NewSegment{LayerID: e.layer, SegmentOrdinal: 51, QuantizationType: "F16",
		Payload: Payload(1, 11), Size: 10})
	if err == nil {
		t.Fatal("a payload longer than Size was accepted")
	}
	_, err = e.cat.InsertSegment(e.ctx, catalog.NewSegment{LayerID: e.layer, SegmentOrdinal: e.next, QuantizationType: "F16",
		Payload: Payload(1, 3), Size: 3})
	if err == nil {
		t.Fatal("a duplicate (LayerId, SegmentOrdinal) was accepted")
	}
	rows, err := e.cat.ListSegments(e.ctx, catalog.SegmentFilter{Limit: 100})
	wantOK(t, "list", err)
	if len(rows) != 1 || rows[0].ID != before {
		t.Fatalf("failed inserts left rows behind: %+v", rows)
	}
}

func testListSegments(t *testing.T, e *env) {
	var layer1 []int64
	for range 5 {
		layer1 = append(layer1, e.segment(10))
	}
	model2, layer2 := e.newModel("model-b")
	var layer2ids []int64
	for range 2 {
		layer2ids = append(layer2ids, e.segmentIn(layer2, 20))
	}
	all := append(slices.Clone(layer1), layer2ids...)

	ids := func(f catalog.SegmentFilter) []int64 {
		t.Helper()
		var out []int64
		for {
			page, err := e.cat.ListSegments(e.ctx, f)
			wantOK(t, "list segments", err)
			if len(page) > f.Limit {
				t.Fatalf("page of %d rows for Limit %d", len(page), f.Limit)
			}
			for _, s := range page {
				out = append(out, s.ID)
			}
			if len(page) < f.Limit {
				return out
			}
			f.AfterID = page[len(page)-1].ID
		}
	}
	if got := ids(catalog.SegmentFilter{Limit: 2}); !slices.Equal(got, all) {
		t.Fatalf("paging by 2: %v, want %v", got, all)
	}
	if got := ids(catalog.SegmentFilter{Limit: 3, ModelID: model2}); !slices.Equal(got, layer2ids) {
		t.Fatalf("ModelID filter: %v, want %v", got, layer2ids)
	}
	if got := ids(catalog.SegmentFilter{Limit: 3, LayerID: e.layer}); !slices.Equal(got, layer1) {
		t.Fatalf("LayerID filter: %v, want %v", got, layer1)
	}
	page, err := e.cat.ListSegments(e.ctx, catalog.SegmentFilter{Limit: 10, ModelID: model2})
	wantOK(t, "list", err)
	if page[0].ModelID != model2 || page[0].LayerID != layer2 || page[0].PayloadBytes != 20 {
		t.Fatalf("listed segment %+v", page[0])
	}

	n, err := e.cat.MarkQueued(e.ctx, catalog.MarkQueuedParams{IDs: layer1[:2], Now: Base})
	wantOK(t, "mark queued", err)
	if n != 2 {
		t.Fatalf("MarkQueued changed %d rows, want 2", n)
	}
	e.migrate(layer1[2])
	e.verify(layer1[2])
	if got := ids(catalog.SegmentFilter{Limit: 10, States: []catalog.State{catalog.StateQueued, catalog.StateVerified}}); !slices.Equal(got, layer1[:3]) {
		t.Fatalf("States filter: %v, want %v", got, layer1[:3])
	}
	notQueued := append(slices.Clone(layer1[2:]), layer2ids...)
	if got := ids(catalog.SegmentFilter{Limit: 10, QueuedBefore: Base}); !slices.Equal(got, notQueued) {
		t.Fatalf("QueuedBefore Base (queued at Base): %v, want %v", got, notQueued)
	}
	if got := ids(catalog.SegmentFilter{Limit: 10, QueuedBefore: Base.Add(time.Microsecond)}); !slices.Equal(got, all) {
		t.Fatalf("QueuedBefore Base+1µs: %v, want all %v", got, all)
	}
	notVerified := slices.DeleteFunc(slices.Clone(all), func(id int64) bool { return id == layer1[2] })
	if got := ids(catalog.SegmentFilter{Limit: 10, VerifiedBefore: Base}); !slices.Equal(got, notVerified) {
		t.Fatalf("VerifiedBefore Base (verified at Base): %v, want %v", got, notVerified)
	}
	if got := ids(catalog.SegmentFilter{Limit: 10, VerifiedBefore: Base.Add(time.Second)}); !slices.Equal(got, all) {
		t.Fatalf("VerifiedBefore Base+1s: %v, want all %v", got, all)
	}
	if _, err := e.cat.ListSegments(e.ctx, catalog.SegmentFilter{}); err == nil {
		t.Fatal("Limit 0 was accepted")
	}
	if _, err := e.cat.ListSegments(e.ctx, catalog.SegmentFilter{Limit: 1, States: []catalog.State{"bogus"}}); err == nil {
		t.Fatal("unknown state was accepted")
	}
}

func testMarkQueued(t *testing.T, e *env) {
	pending, queued, mismatch := e.segment(10), e.segment(10), e.segment(10)
	migrated, verified, released := e.segment(10), e.segment(10), e.segment(10)
	if _, err := e.cat.MarkQueued(e.ctx, catalog.MarkQueuedParams{IDs: []int64{queued}, Now: Base.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.migrate(mismatch)
	wantOK(t, "record mismatch", e.cat.RecordVerified(e.ctx, catalog.RecordVerifiedParams{ID: mismatch, ExpectSha256: sha(mismatch),
		ExpectETag: etag(mismatch), State: catalog.StateMismatch, Result: "sha256", Now: Base}))
	e.migrate(migrated)
	e.migrate(verified)
	e.verify(verified)
	e.migrate(released)
	e.verify(released)
	e.release(released)

	n, err := e.cat.MarkQueued(e.ctx, catalog.MarkQueuedParams{IDs: []int64{pending, queued, mismatch, migrated, verified, released, released + 1000}, Now: Base})
	wantOK(t, "mark queued", err)
	if n != 3 {
		t.Fatalf("MarkQueued changed %d rows, want 3 (pending, queued, mismatch)", n)
	}
	for _, id := range []int64{pending, queued, mismatch} {
		s := e.get(id)
		wantState(t, s, catalog.StateQueued)
		wantTime(t, fmt.Sprintf("QueuedAt of %d", id), s.QueuedAt, Base)
	}
	for id, st := range map[int64]catalog.State{migrated: catalog.StateMigrated, verified: catalog.StateVerified, released: catalog.StateReleased} {
		s := e.get(id)
		wantState(t, s, st)
		if !s.QueuedAt.IsZero() {
			t.Fatalf("segment %d in state %s got QueuedAt %v", id, st, s.QueuedAt)
		}
	}
	if n, err := e.cat.MarkQueued(e.ctx, catalog.MarkQueuedParams{IDs: nil, Now: Base}); err != nil || n != 0 {
		t.Fatalf("MarkQueued(nil) = %d, %v", n, err)
	}
	// Many ids in one call (more than one statement's worth on SQL Server).
	var many []int64
	for i := range 1200 {
		many = append(many, pending+int64(i)*1_000_000)
	}
	many = append(many, pending)
	n, err = e.cat.MarkQueued(e.ctx, catalog.MarkQueuedParams{IDs: many, Now: Base.Add(time.Second)})
	wantOK(t, "mark queued many", err)
	if n != 1 {
		t.Fatalf("MarkQueued of 1201 ids changed %d rows, want 1", n)
	}
	wantTime(t, "QueuedAt after re-queue", e.get(pending).QueuedAt, Base.Add(time.Second))
}

func testClaim(t *testing.T, e *env) {
	id := e.segment(10)
	claim := func(tok string, now time.Time) error {
		return e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: tok, Now: now, Until: now.Add(time.Minute)})
	}
	wantOK(t, "claim A", claim("A", Base))
	wantTime(t, "ClaimedUntil", e.get(id).ClaimedUntil, Base.Add(time.Minute))
	wantOK(t, "claim A again (renewal)", claim("A", Base.Add(30*time.Second)))
	wantTime(t, "ClaimedUntil after renewal", e.get(id).ClaimedUntil, Base.Add(90*time.Second))
	wantErr(t, "claim B while A holds", claim("B", Base.Add(89*time.Second)), catalog.ErrClaimed)
	wantOK(t, "claim B after A expired", claim("B", Base.Add(90*time.Second)))
	wantErr(t, "claim A after B took over", claim("A", Base.Add(91*time.Second)), catalog.ErrClaimed)

	wantOK(t, "release claim by A (not held)", e.cat.ReleaseClaim(e.ctx, catalog.ReleaseClaimParams{ID: id, Token: "A"}))
	wantErr(t, "claim C while B holds", claim("C", Base.Add(92*time.Second)), catalog.ErrClaimed)
	wantOK(t, "release claim by B", e.cat.ReleaseClaim(e.ctx, catalog.ReleaseClaimParams{ID: id, Token: "B"}))
	if s := e.get(id); !s.ClaimedUntil.IsZero() {
		t.Fatalf("claim still recorded after release: %v", s.ClaimedUntil)
	}
	wantOK(t, "claim C after release", claim("C", Base.Add(92*time.Second)))
	wantOK(t, "release claim of unknown segment", e.cat.ReleaseClaim(e.ctx, catalog.ReleaseClaimParams{ID: id + 1000, Token: "C"}))
	err := e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id + 1000, Token: "A", Now: Base, Until: Base.Add(time.Minute)})
	wantErr(t, "claim unknown segment", err, catalog.ErrNotFound)
	if err := e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "", Now: Base, Until: Base.Add(time.Minute)}); err == nil {
		t.Fatal("empty token accepted")
	}
}

func testClaimRace(t *testing.T, e *env) {
	id := e.segment(10)
	const workers = 8
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			errs[i] = e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: fmt.Sprintf("w%d", i), Now: Base, Until: Base.Add(time.Minute)})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, catalog.ErrClaimed):
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d workers won the claim, want exactly 1", won)
	}
}

func testRecordMigrated(t *testing.T, e *env) {
	id := e.segment(100)
	rec := func(tok, sha, etag string) error {
		return e.cat.RecordMigrated(e.ctx, catalog.RecordMigratedParams{ID: id, Token: tok, Sha256: sha,
			BlobURI: "http://127.0.0.1/tensors/x.bin", ETag: etag, Size: 100, Now: Base})
	}
	wantErr(t, "record without a claim", rec("A", sha(id), etag(id)), catalog.ErrConflict)
	wantState(t, e.get(id), catalog.StatePending)

	wantOK(t, "claim", e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "A", Now: Base, Until: Base.Add(time.Minute)}))
	wantOK(t, "record failure", e.cat.RecordFailure(e.ctx, catalog.RecordFailureParams{ID: id, Token: "A", Error: "boom", Now: Base}))
	wantOK(t, "claim again", e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "A", Now: Base, Until: Base.Add(time.Minute)}))
	wantErr(t, "record with another token", rec("B", sha(id), etag(id)), catalog.ErrConflict)
	wantOK(t, "record with the claim", rec("A", sha(id), etag(id)))

	s := e.get(id)
	want := s
	want.State, want.Sha256, want.BlobURI, want.BlobETag, want.BlobSizeBytes = catalog.StateMigrated, sha(id), "http://127.0.0.1/tensors/x.bin", etag(id), 100
	want.MigratedAt, want.ClaimedUntil, want.LastError, want.Attempts = Base, time.Time{}, "", 1
	if norm(s) != norm(want) {
		t.Fatalf("after RecordMigrated:\n got %+v\nwant %+v", s, want)
	}
	wantOK(t, "claim by another worker after the record dropped the claim",
		e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "C", Now: Base, Until: Base.Add(time.Minute)}))
	wantOK(t, "same sha again (retry) is a no-op", rec("D", sha(id), "\"other-etag\""))
	if got := e.get(id); got.BlobETag != etag(id) || got.State != catalog.StateMigrated {
		t.Fatalf("no-op RecordMigrated changed the row: %+v", got)
	}
	wantErr(t, "different sha", rec("C", sha(id+1), "\"other-etag\""), catalog.ErrConflict)
	if got := e.get(id); got.Sha256 != sha(id) || got.BlobETag != etag(id) {
		t.Fatalf("conflicting RecordMigrated changed the row: %+v", got)
	}
	err := e.cat.RecordMigrated(e.ctx, catalog.RecordMigratedParams{ID: id + 1000, Token: "A", Sha256: sha(id), Now: Base})
	wantErr(t, "unknown segment", err, catalog.ErrNotFound)
}

func testRecordFailure(t *testing.T, e *env) {
	id := e.segment(10)
	wantOK(t, "claim A", e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "A", Now: Base, Until: Base.Add(time.Minute)}))
	wantOK(t, "failure by A", e.cat.RecordFailure(e.ctx, catalog.RecordFailureParams{ID: id, Token: "A", Error: "upload: connection reset", Now: Base}))
	s := e.get(id)
	if s.Attempts != 1 || s.LastError != "upload: connection reset" || !s.ClaimedUntil.IsZero() {
		t.Fatalf("after failure: %+v", s)
	}
	wantState(t, s, catalog.StatePending)
	wantOK(t, "claim B", e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "B", Now: Base, Until: Base.Add(time.Minute)}))
	wantErr(t, "stale failure by A while B holds", e.cat.RecordFailure(e.ctx, catalog.RecordFailureParams{ID: id, Token: "A", Error: "late", Now: Base}), catalog.ErrConflict)
	if s := e.get(id); s.Attempts != 1 || s.LastError != "upload: connection reset" {
		t.Fatalf("stale failure changed the row: %+v", s)
	}
	long := strings.Repeat("é", 3000)
	wantOK(t, "failure by B", e.cat.RecordFailure(e.ctx, catalog.RecordFailureParams{ID: id, Token: "B", Error: long, Now: Base}))
	s = e.get(id)
	if s.Attempts != 2 || s.LastError == "" || len(s.LastError) > 2000 || !strings.HasPrefix(long, s.LastError) {
		t.Fatalf("long error: attempts %d, %d bytes stored", s.Attempts, len(s.LastError))
	}
	wantErr(t, "unknown segment", e.cat.RecordFailure(e.ctx, catalog.RecordFailureParams{ID: id + 1000, Token: "A", Error: "x", Now: Base}), catalog.ErrNotFound)
}

func testRecordVerified(t *testing.T, e *env) {
	id := e.segment(10)
	rec := func(expSha, expETag string, st catalog.State, result, newETag string, now time.Time) error {
		return e.cat.RecordVerified(e.ctx, catalog.RecordVerifiedParams{ID: id, ExpectSha256: expSha, ExpectETag: expETag,
			State: st, Result: result, NewETag: newETag, Now: now})
	}
	wantErr(t, "verify a pending row", rec(sha(id), etag(id), catalog.StateVerified, "ok", "", Base), catalog.ErrConflict)
	e.migrate(id)
	wantErr(t, "wrong sha", rec(sha(id+1), etag(id), catalog.StateVerified, "ok", "", Base), catalog.ErrConflict)
	wantErr(t, "wrong etag", rec(sha(id), "\"nope\"", catalog.StateVerified, "ok", "", Base), catalog.ErrConflict)
	wantState(t, e.get(id), catalog.StateMigrated)

	wantOK(t, "verified", rec(sha(id), etag(id), catalog.StateVerified, "ok", "", Base))
	s := e.get(id)
	wantState(t, s, catalog.StateVerified)
	wantTime(t, "VerifiedAt", s.VerifiedAt, Base)
	if s.VerifyResult != "ok" {
		t.Fatalf("VerifyResult %q", s.VerifyResult)
	}
	wantOK(t, "cheap check keeps state", rec(sha(id), etag(id), "", "ok-cheap", "", Base.Add(time.Hour)))
	s = e.get(id)
	wantState(t, s, catalog.StateVerified)
	wantTime(t, "VerifiedAt after cheap check", s.VerifiedAt, Base.Add(time.Hour))
	if s.VerifyResult != "ok-cheap" {
		t.Fatalf("VerifyResult %q", s.VerifyResult)
	}
	wantOK(t, "new etag", rec(sha(id), etag(id), catalog.StateVerified, "ok", "\"new-etag\"", Base))
	if s := e.get(id); s.BlobETag != "\"new-etag\"" {
		t.Fatalf("NewETag not stored: %q", s.BlobETag)
	}
	wantErr(t, "old etag after replacement", rec(sha(id), etag(id), catalog.StateVerified, "ok", "", Base), catalog.ErrConflict)
	wantOK(t, "mismatch", rec(sha(id), "\"new-etag\"", catalog.StateMismatch, "sha256", "", Base))
	wantState(t, e.get(id), catalog.StateMismatch)
	if err := rec(sha(id), "\"new-etag\"", "bogus", "x", "", Base); err == nil || errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("unknown state: got %v, want a plain error", err)
	}
	if err := rec(sha(id), "\"new-etag\"", catalog.StatePending, "x", "", Base); err == nil {
		t.Fatal("a verification set state pending")
	}
	err := e.cat.RecordVerified(e.ctx, catalog.RecordVerifiedParams{ID: id + 1000, ExpectSha256: sha(id), ExpectETag: etag(id), State: catalog.StateVerified, Now: Base})
	wantErr(t, "unknown segment", err, catalog.ErrNotFound)
}

func testRecordVerifiedReleased(t *testing.T, e *env) {
	id := e.segment(10)
	e.migrate(id)
	e.verify(id)
	e.release(id)
	rec := func(st catalog.State) error {
		return e.cat.RecordVerified(e.ctx, catalog.RecordVerifiedParams{ID: id, ExpectSha256: sha(id), ExpectETag: etag(id), State: st, Result: string(st), Now: Base})
	}
	wantOK(t, "verified on a released row", rec(catalog.StateVerified))
	wantState(t, e.get(id), catalog.StateReleased)
	wantOK(t, "mismatch on a released row", rec(catalog.StateMismatch))
	wantState(t, e.get(id), catalog.StateLost)
	wantOK(t, "blob restored: verified again", rec(catalog.StateReleased))
	wantState(t, e.get(id), catalog.StateReleased)

	other := e.segment(10)
	e.migrate(other)
	err := e.cat.RecordVerified(e.ctx, catalog.RecordVerifiedParams{ID: other, ExpectSha256: sha(other), ExpectETag: etag(other), State: catalog.StateReleased, Result: "ok", Now: Base})
	wantOK(t, "released on a row with its source", err)
	if s := e.get(other); s.State != catalog.StateVerified || s.PayloadBytes != 10 {
		t.Fatalf("a verification marked a row with its source as %s (%d bytes)", s.State, s.PayloadBytes)
	}
}

func testResetBlob(t *testing.T, e *env) {
	id := e.segment(10)
	e.migrate(id)
	wantErr(t, "wrong etag", e.cat.ResetBlob(e.ctx, catalog.ResetBlobParams{ID: id, ExpectETag: "\"nope\"", Reason: "blob missing", Now: Base}), catalog.ErrConflict)
	wantState(t, e.get(id), catalog.StateMigrated)
	wantOK(t, "reset", e.cat.ResetBlob(e.ctx, catalog.ResetBlobParams{ID: id, ExpectETag: etag(id), Reason: "blob missing", Now: Base}))
	s := e.get(id)
	want := catalog.Segment{ID: id, LayerID: e.layer, ModelID: e.model, SegmentOrdinal: s.SegmentOrdinal, QuantizationType: "Q4_K_M",
		PayloadBytes: 10, State: catalog.StatePending, LastError: "blob missing"}
	if norm(s) != norm(want) {
		t.Fatalf("after reset:\n got %+v\nwant %+v", s, want)
	}
	e.migrate(id) // migrates again from pending
	e.verify(id)
	e.release(id)
	wantErr(t, "reset a released row", e.cat.ResetBlob(e.ctx, catalog.ResetBlobParams{ID: id, ExpectETag: etag(id), Reason: "x", Now: Base}), catalog.ErrConflict)
	wantState(t, e.get(id), catalog.StateReleased)
	wantErr(t, "unknown segment", e.cat.ResetBlob(e.ctx, catalog.ResetBlobParams{ID: id + 1000, ExpectETag: "", Reason: "x", Now: Base}), catalog.ErrNotFound)
}

func testReleasePayload(t *testing.T, e *env) {
	id := e.segment(4096)
	rel := func(id int64, s, tag string) error {
		return e.cat.ReleasePayload(e.ctx, catalog.ReleasePayloadParams{ID: id, ExpectSha256: s, ExpectETag: tag, Now: Base})
	}
	e.migrate(id)
	wantErr(t, "release a migrated (unverified) row", rel(id, sha(id), etag(id)), catalog.ErrConflict)
	e.verify(id)
	wantErr(t, "wrong sha", rel(id, sha(id+1), etag(id)), catalog.ErrConflict)
	wantErr(t, "wrong etag", rel(id, sha(id), "\"nope\""), catalog.ErrConflict)
	if s := e.get(id); s.State != catalog.StateVerified || s.PayloadBytes != 4096 {
		t.Fatalf("refused release changed the row: %+v", s)
	}
	wantOK(t, "release", rel(id, sha(id), etag(id)))
	s := e.get(id)
	wantState(t, s, catalog.StateReleased)
	wantTime(t, "ReleasedAt", s.ReleasedAt, Base)
	if s.PayloadBytes != 0 || s.Sha256 != sha(id) || s.BlobSizeBytes != 4096 {
		t.Fatalf("after release: %+v", s)
	}
	if n, _ := e.readAll(id, 1024, 1024); n != 0 {
		t.Fatalf("released payload still has %d bytes", n)
	}
	// The same release again (a retry after its answer was lost) is
	// recognised; another release of the released row is a conflict.
	wantOK(t, "the same release again", rel(id, sha(id), etag(id)))
	again := e.cat.ReleasePayload(e.ctx, catalog.ReleasePayloadParams{ID: id, ExpectSha256: sha(id), ExpectETag: etag(id), Now: Base.Add(time.Second)})
	wantErr(t, "another release of a released row", again, catalog.ErrConflict)

	// A source rewritten after verification is not released.
	changed := e.segment(4096)
	e.migrate(changed)
	e.verify(changed)
	wantOK(t, "overwrite", e.cat.OverwritePayload(e.ctx, catalog.OverwritePayloadParams{ID: changed, Payload: Payload(99, 5000), Size: 5000}))
	wantErr(t, "release a changed source", rel(changed, sha(changed), etag(changed)), catalog.ErrConflict)
	if s := e.get(changed); s.PayloadBytes != 5000 || s.State != catalog.StateVerified {
		t.Fatalf("refused release changed the row: %+v", s)
	}
	wantErr(t, "unknown segment", rel(id+1000, sha(id), etag(id)), catalog.ErrNotFound)
}

func testFinalize(t *testing.T, e *env) {
	a, b := e.segment(300), e.segment(0)
	e.migrate(a)
	e.verify(a)
	e.release(a)
	n, err := e.cat.Finalize(e.ctx, catalog.FinalizeParams{})
	wantErr(t, "finalize with an unreleased row", err, catalog.ErrConflict)
	if n != 1 {
		t.Fatalf("Finalize reported %d unreleased, want 1", n)
	}
	n, err = e.cat.Finalize(e.ctx, catalog.FinalizeParams{DryRun: true})
	wantErr(t, "dry-run finalize with an unreleased row", err, catalog.ErrConflict)
	if n != 1 {
		t.Fatalf("dry-run Finalize reported %d unreleased, want 1", n)
	}
	if got, _ := e.readAll(b, 64, 64); got != 0 || e.get(b).State != catalog.StatePending {
		t.Fatal("refused finalize changed a row")
	}
	e.migrate(b)
	e.verify(b)
	e.release(b)

	n, err = e.cat.Finalize(e.ctx, catalog.FinalizeParams{DryRun: true})
	if err != nil || n != 0 {
		t.Fatalf("dry-run finalize with all released: %d, %v", n, err)
	}
	// The dry run dropped nothing: payloads can still be released/emptied.
	c := e.segment(10)
	if _, err := e.cat.Finalize(e.ctx, catalog.FinalizeParams{DryRun: true}); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("dry-run finalize after a new segment: %v", err)
	}
	e.migrate(c)
	e.verify(c)
	e.release(c)

	n, err = e.cat.Finalize(e.ctx, catalog.FinalizeParams{})
	if err != nil || n != 0 {
		t.Fatalf("finalize: %d, %v", n, err)
	}
	n, err = e.cat.Finalize(e.ctx, catalog.FinalizeParams{})
	if err != nil || n != 0 {
		t.Fatalf("second finalize: %d, %v", n, err)
	}
	s := e.get(a)
	if s.State != catalog.StateReleased || s.PayloadBytes != 0 || s.Sha256 != sha(a) {
		t.Fatalf("after finalize: %+v", s)
	}
	if got, _ := e.readAll(a, 64, 64); got != 0 {
		t.Fatalf("after finalize a payload reads %d bytes", got)
	}
	rows, err := e.cat.Status(e.ctx)
	wantOK(t, "status after finalize", err)
	if len(rows) != 1 || rows[0].Segments != 3 || rows[0].PayloadBytes != 0 || rows[0].BlobBytes != 310 {
		t.Fatalf("status after finalize: %+v", rows)
	}
	list, err := e.cat.ListSegments(e.ctx, catalog.SegmentFilter{Limit: 10})
	wantOK(t, "list after finalize", err)
	if len(list) != 3 {
		t.Fatalf("list after finalize: %d rows", len(list))
	}
	stmts, err := e.cat.Apply(e.ctx, catalog.ApplyParams{})
	wantOK(t, "apply after finalize", err)
	if len(stmts) != 0 {
		t.Fatalf("apply after finalize ran %q", stmts)
	}
}

func testStatus(t *testing.T, e *env) {
	for _, size := range []int64{10, 20, 30} {
		e.segment(size)
	}
	mig := e.segment(40)
	e.migrate(mig)
	model2, layer2 := e.newModel("model-b")
	ver := e.segmentIn(layer2, 5)
	e.migrate(ver)
	if err := e.cat.RecordVerified(e.ctx, catalog.RecordVerifiedParams{ID: ver, ExpectSha256: sha(ver), ExpectETag: etag(ver),
		State: catalog.StateVerified, Result: "ok", Now: Base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rows, err := e.cat.Status(e.ctx)
	wantOK(t, "status", err)
	want := []catalog.StatusRow{
		{ModelID: e.model, ModelName: "model-a", State: catalog.StatePending, Segments: 3, PayloadBytes: 60},
		{ModelID: e.model, ModelName: "model-a", State: catalog.StateMigrated, Segments: 1, PayloadBytes: 40, BlobBytes: 40, LastMigratedAt: Base},
		{ModelID: model2, ModelName: "model-b", State: catalog.StateVerified, Segments: 1, PayloadBytes: 5, BlobBytes: 5,
			LastMigratedAt: Base, LastVerifiedAt: Base.Add(time.Hour)},
	}
	if len(rows) != len(want) {
		t.Fatalf("status rows:\n got %+v\nwant %+v", rows, want)
	}
	for i := range want {
		if normStatus(rows[i]) != normStatus(want[i]) {
			t.Fatalf("status row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
}

func testMigratedSince(t *testing.T, e *env) {
	tp, err := e.cat.MigratedSince(e.ctx, catalog.MigratedSinceParams{Since: Base.Add(-time.Hour)})
	wantOK(t, "migrated since, nothing migrated", err)
	if tp != (catalog.Throughput{}) {
		t.Fatalf("nothing migrated yet: %+v", tp)
	}
	a, b := e.segment(300), e.segment(700)
	e.segment(50) // never migrated
	e.migrate(a)
	e.migrate(b)
	tp, err = e.cat.MigratedSince(e.ctx, catalog.MigratedSinceParams{Since: Base.Add(-time.Minute)})
	wantOK(t, "migrated since", err)
	if tp.Segments != 2 || tp.Bytes != 1000 || !tp.First.Equal(Base) {
		t.Fatalf("MigratedSince(before) = %+v, want 2 segments, 1000 bytes, first %s", tp, Base)
	}
	tp, err = e.cat.MigratedSince(e.ctx, catalog.MigratedSinceParams{Since: Base.Add(time.Second)})
	wantOK(t, "migrated since later", err)
	if tp.Segments != 0 || tp.Bytes != 0 {
		t.Fatalf("MigratedSince(after) = %+v, want none", tp)
	}
}
