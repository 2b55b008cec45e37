package segments_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/segments"
)

// migrateAll queues and drains, then verifies once so every row is verified.
func (e *env) migrateAndVerify(srcs map[int64][]byte) {
	e.t.Helper()
	if _, err := e.svc.Enqueue(e.ctx, segments.EnqueueParams{}); err != nil {
		e.t.Fatal(err)
	}
	e.drain(2)
	rep, err := e.svc.Verify(e.ctx, segments.VerifyParams{}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if rep.Verified != int64(len(srcs)) {
		e.t.Fatalf("first verification: %+v, want %d verified", rep, len(srcs))
	}
	for id := range srcs {
		if s := e.segment(id); s.State != catalog.StateVerified || s.VerifiedAt.IsZero() || s.VerifyResult != "ok" {
			e.t.Fatalf("segment %d after verification: %s %q", id, s.State, s.VerifyResult)
		}
	}
}

func (e *env) addMany(n, size int) map[int64][]byte {
	srcs := map[int64][]byte{}
	for i := 0; i < n; i++ {
		src := payload(1000+i+int(e.next)*7, size+i*1001)
		srcs[e.addSegment(src)] = src
	}
	return srcs
}

// Corrupt one verified blob, delete another, change a third's metadata only:
// the next runs classify each correctly, re-queue the first two while the
// source is present, and after the queue drains everything verifies again.
func TestVerifyClassifiesDamage(t *testing.T) {
	e := setup(t)
	srcs := e.addMany(4, 150_000)
	e.migrateAndVerify(srcs)
	var ids []int64
	for id := range srcs {
		ids = append(ids, id)
	}
	corrupt, deleted, metaOnly, untouched := ids[0], ids[1], ids[2], ids[3]
	name := func(id int64) string { return segments.BlobName(e.segment(id)) }

	bad := payload(5, len(srcs[corrupt]))
	if _, err := e.blobs.Upload(e.ctx, e.container, name(corrupt), bytesReader(bad), blobstore.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.Delete(e.ctx, e.container, name(deleted), ""); err != nil {
		t.Fatal(err)
	}
	props, err := e.blobs.Properties(e.ctx, e.container, name(metaOnly))
	if err != nil {
		t.Fatal(err)
	}
	md := props.Metadata
	md["Note"] = "retagged"
	newETag, err := e.blobs.SetMetadata(e.ctx, e.container, name(metaOnly), md, props.ETag)
	if err != nil {
		t.Fatal(err)
	}

	// Cheap checks over everything (CheapEvery tiny), no random full re-hash.
	rep, err := e.svc.Verify(e.ctx, segments.VerifyParams{CheapEvery: time.Nanosecond, Sample: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mismatched != 2 || rep.Requeued < 2 || rep.Lost != 0 {
		t.Fatalf("report %+v: want 2 mismatched and re-queued", rep)
	}
	for _, id := range []int64{corrupt, deleted} {
		if s := e.segment(id); s.BlobURI != "" || (s.State != catalog.StateQueued && s.State != catalog.StatePending) {
			t.Fatalf("damaged segment %d not reset and queued: %s %q", id, s.State, s.BlobURI)
		}
	}
	if s := e.segment(metaOnly); s.State != catalog.StateVerified || s.BlobETag != newETag {
		t.Fatalf("metadata-only change: want verified under the new ETag %s, got %s %s", newETag, s.State, s.BlobETag)
	}
	if s := e.segment(untouched); s.State != catalog.StateVerified {
		t.Fatalf("untouched segment: %s", s.State)
	}

	e.drain(2)
	rep, err = e.svc.Verify(e.ctx, segments.VerifyParams{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verified != 2 {
		t.Fatalf("after re-migration: %+v, want the 2 re-migrated verified", rep)
	}
	for id, src := range srcs {
		e.assertMigrated(id, src)
		if s := e.segment(id); s.State != catalog.StateVerified {
			t.Fatalf("segment %d ends %s", id, s.State)
		}
	}
}

// Release refuses unverified rows, releases verified ones; verification after
// release passes from the blob alone; a blob lost after release is reported.
func TestReleaseOnlyVerified(t *testing.T) {
	e := setup(t)
	verified := e.addMany(2, 80_000)
	e.migrateAndVerify(verified)
	unverified := payload(77, 90_000)
	uid := e.addSegment(unverified)
	if _, err := e.svc.Migrate(e.ctx, uid); err != nil {
		t.Fatal(err)
	}

	dry, err := e.svc.Release(e.ctx, segments.ReleaseParams{})
	if err != nil || !dry.DryRun || dry.Segments != 2 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	for id, src := range verified {
		if got := e.payloadFromCatalog(id); len(got) != len(src) {
			t.Fatalf("dry run released segment %d", id)
		}
	}
	if _, err := e.cat.Finalize(e.ctx, catalog.FinalizeParams{}); !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("finalize must refuse while rows are unreleased: %v", err)
	}

	res, err := e.svc.Release(e.ctx, segments.ReleaseParams{Confirm: true})
	if err != nil || res.Segments != 2 {
		t.Fatalf("release: %+v %v", res, err)
	}
	for id := range verified {
		s := e.segment(id)
		if s.State != catalog.StateReleased || s.PayloadBytes != 0 || len(e.payloadFromCatalog(id)) != 0 {
			t.Fatalf("segment %d not released: %+v", id, s)
		}
	}
	if s := e.segment(uid); s.State != catalog.StateMigrated || len(e.payloadFromCatalog(uid)) != len(unverified) {
		t.Fatalf("unverified segment was released: %+v", s)
	}
	n, err := e.cat.Finalize(e.ctx, catalog.FinalizeParams{})
	if !errors.Is(err, catalog.ErrConflict) || n != 1 {
		t.Fatalf("finalize with one unreleased row: n=%d err=%v", n, err)
	}

	// Verification after release: full re-hash of every released row passes.
	rep, err := e.svc.Verify(e.ctx, segments.VerifyParams{CheapEvery: time.Nanosecond, Sample: 100}, nil)
	if err != nil || rep.Lost != 0 {
		t.Fatalf("verify after release: %+v %v", rep, err)
	}
	for id := range verified {
		if s := e.segment(id); s.State != catalog.StateReleased || s.VerifyResult != "ok" {
			t.Fatalf("released segment %d after verify: %s %q", id, s.State, s.VerifyResult)
		}
	}

	// A blob deleted after release: lost, loudly, never re-migrated.
	var victim int64
	for id := range verified {
		victim = id
	}
	if err := e.blobs.Delete(e.ctx, e.container, segments.BlobName(e.segment(victim)), ""); err != nil {
		t.Fatal(err)
	}
	rep, err = e.svc.Verify(e.ctx, segments.VerifyParams{CheapEvery: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 1 {
		t.Fatalf("want 1 lost, got %+v", rep)
	}
	st, err := e.svc.Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Lost != 1 || st.Totals[catalog.StateLost].Segments != 1 {
		t.Fatalf("status must report the lost segment: %+v", st)
	}
	if _, err := e.svc.Migrate(e.ctx, victim); err == nil {
		t.Fatal("migrating a lost segment (source released) must fail, not write an empty blob")
	}
}

// Unmigrated segments whose message was lost (never queued, or queued long
// ago) are queued by the verification run.
func TestVerifyRequeuesOverdue(t *testing.T) {
	e := setup(t)
	srcs := e.addMany(3, 1000)
	rep, err := e.svc.Verify(e.ctx, segments.VerifyParams{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requeued != 3 {
		t.Fatalf("never-queued segments: requeued %d, want 3", rep.Requeued)
	}
	// Just queued: not overdue, not queued again.
	rep, err = e.svc.Verify(e.ctx, segments.VerifyParams{}, nil)
	if err != nil || rep.Requeued != 0 {
		t.Fatalf("second run requeued %d (%v), want 0", rep.Requeued, err)
	}
	e.drain(2)
	for id, src := range srcs {
		e.assertMigrated(id, src)
	}
}

func TestStatusCountsByState(t *testing.T) {
	e := setup(t)
	srcs := e.addMany(3, 10_000)
	var one int64
	for id := range srcs {
		one = id
		break
	}
	if _, err := e.svc.Migrate(e.ctx, one); err != nil {
		t.Fatal(err)
	}
	st, err := e.svc.Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Models) != 1 || st.Models[0].ModelID != e.modelID {
		t.Fatalf("models %+v", st.Models)
	}
	if st.Totals[catalog.StatePending].Segments != 2 || st.Totals[catalog.StateMigrated].Segments != 1 {
		t.Fatalf("totals %+v", st.Totals)
	}
	var total int64
	for _, src := range srcs {
		total += int64(len(src))
	}
	if st.Total.PayloadBytes != total || st.Totals[catalog.StateMigrated].BlobBytes != int64(len(srcs[one])) {
		t.Fatalf("bytes: payload %d (want %d), migrated blob bytes %d", st.Total.PayloadBytes, total, st.Totals[catalog.StateMigrated].BlobBytes)
	}
	if st.ThroughputBytesPerSec <= 0 || st.ETASeconds == nil {
		t.Fatalf("throughput/ETA missing after a migration: %+v", st)
	}
}

func TestEnqueueDryRunAndFilters(t *testing.T) {
	e := setup(t)
	srcs := e.addMany(3, 2000)
	var total, largest int64
	for _, s := range srcs {
		total += int64(len(s))
		largest = max(largest, int64(len(s)))
	}
	res, err := e.svc.Enqueue(e.ctx, segments.EnqueueParams{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments != 3 || res.Queued != 0 || res.TotalBytes != total || res.LargestBytes != largest || len(res.MonthlyCost) < 3 {
		t.Fatalf("dry run %+v", res)
	}
	if n, _ := e.broker.Count(e.ctx, e.queue); n != 0 {
		t.Fatalf("dry run queued %d messages", n)
	}
	res, err = e.svc.Enqueue(e.ctx, segments.EnqueueParams{Limit: 2})
	if err != nil || res.Queued != 2 {
		t.Fatalf("limit 2: %+v %v", res, err)
	}
	res, err = e.svc.Enqueue(e.ctx, segments.EnqueueParams{LayerID: e.layerID + 1000})
	if err != nil || res.Segments != 0 {
		t.Fatalf("other layer: %+v %v", res, err)
	}
	// Re-enqueue: only the one not queued yet.
	res, err = e.svc.Enqueue(e.ctx, segments.EnqueueParams{ModelID: e.modelID})
	if err != nil || res.Queued != 1 {
		t.Fatalf("re-enqueue: %+v %v", res, err)
	}
	if n, _ := e.broker.Count(e.ctx, e.queue); n != 3 {
		t.Fatalf("queue holds %d messages, want 3", n)
	}
}
