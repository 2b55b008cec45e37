package segments_test

import (
	"testing"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/segments"
)

// A blob overwritten (and another deleted) after verification: release
// keeps both sources, marks the rows mismatch and re-queues them in the
// same pass; the queue migrates them again from the sources, verification
// passes, and the next release frees them.
func TestReleaseRequeuesDriftedBlob(t *testing.T) { testReleaseRequeuesDriftedBlob(t, setup(t)) }

// The same with the catalog on a T-SQL engine (MSSQL_TEST_DSN).
func TestReleaseRequeuesDriftedBlobOnTSQL(t *testing.T) {
	testReleaseRequeuesDriftedBlob(t, setupOn(t, openTSQL(t)))
}

func testReleaseRequeuesDriftedBlob(t *testing.T, e *env) {
	srcs := e.addMany(3, 120_000)
	e.migrateAndVerify(srcs)
	var ids []int64
	for id := range srcs {
		ids = append(ids, id)
	}
	overwritten, deleted, intact := ids[0], ids[1], ids[2]
	if _, err := e.blobs.Upload(e.ctx, e.container, segments.BlobName(e.segment(overwritten)),
		bytesReader(payload(4242, len(srcs[overwritten]))), blobstore.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.Delete(e.ctx, e.container, segments.BlobName(e.segment(deleted)), ""); err != nil {
		t.Fatal(err)
	}

	// A dry run says so and changes nothing.
	dry, err := e.svc.Release(e.ctx, segments.ReleaseParams{})
	if err != nil || dry.Segments != 1 || dry.Mismatched != 2 || dry.Requeued != 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if n, _ := e.broker.Count(e.ctx, e.queue); n != 0 {
		t.Fatalf("dry run queued %d messages", n)
	}
	for _, id := range []int64{overwritten, deleted} {
		if s := e.segment(id); s.State != catalog.StateVerified {
			t.Fatalf("dry run changed segment %d to %s", id, s.State)
		}
	}

	res, err := e.svc.Release(e.ctx, segments.ReleaseParams{Confirm: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments != 1 || res.Skipped != 2 || res.Mismatched != 2 || res.Requeued != 2 {
		t.Fatalf("release: %+v, want the intact one released, two mismatched and re-queued", res)
	}
	if s := e.segment(intact); s.State != catalog.StateReleased {
		t.Fatalf("intact segment: %s", s.State)
	}
	want := map[int64]string{overwritten: "etag", deleted: "missing"}
	for id, result := range want {
		s := e.segment(id)
		if s.State != catalog.StateQueued || s.VerifyResult != result || s.QueuedAt.IsZero() {
			t.Fatalf("segment %d after release: %s %q queued %v, want queued after %q", id, s.State, s.VerifyResult, s.QueuedAt, result)
		}
		if got := e.payloadFromCatalog(id); len(got) != len(srcs[id]) || s.PayloadBytes != int64(len(srcs[id])) {
			t.Fatalf("segment %d: source not kept (%d bytes)", id, len(got))
		}
	}
	if n, err := e.broker.Count(e.ctx, e.queue); err != nil || n != 2 {
		t.Fatalf("queue holds %d messages (%v), want 2", n, err)
	}

	// The repair: migrate from the kept sources, verify, release.
	e.drain(2)
	for id := range want {
		e.assertMigrated(id, srcs[id])
	}
	rep, err := e.svc.Verify(e.ctx, segments.VerifyParams{}, nil)
	if err != nil || rep.Verified != 2 {
		t.Fatalf("verify after repair: %+v %v", rep, err)
	}
	res, err = e.svc.Release(e.ctx, segments.ReleaseParams{Confirm: true})
	if err != nil || res.Segments != 2 || res.Mismatched != 0 {
		t.Fatalf("release after repair: %+v %v", res, err)
	}
	for _, id := range ids {
		if s := e.segment(id); s.State != catalog.StateReleased {
			t.Fatalf("segment %d ends %s", id, s.State)
		}
	}
}
