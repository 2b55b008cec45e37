package segments_test

import (
	"bytes"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/segments"
)

// wantRequests fails the test unless the blob requests since the last
// call were exactly want (by operation); counting starts afresh.
func (e *env) wantRequests(what string, want map[string]int64) {
	e.t.Helper()
	if got := e.reqs.Take(); !maps.Equal(got, want) {
		e.t.Errorf("%s: requests %v, want %v", what, got, want)
	}
}

// The requests a migration costs: a fresh segment is its bytes alone (one
// Put Blob up to a block, a full one included; else its blocks and a block
// list), with no listing of staged blocks, since no earlier attempt could
// have staged any.
func TestMigrateRequests(t *testing.T) {
	e := setup(t)
	bs := int(e.cfg.BlockSize)
	for _, tc := range []struct {
		size int
		want map[string]int64
	}{
		{bs - 1, map[string]int64{"PutBlob": 1}},
		{bs, map[string]int64{"PutBlob": 1}},
		{bs + 1, map[string]int64{"PutBlock": 2, "PutBlockList": 1}},
		{5*bs + 7, map[string]int64{"PutBlock": 6, "PutBlockList": 1}},
	} {
		id := e.addSegment(payload(tc.size, tc.size))
		if _, err := e.svc.Migrate(e.ctx, id); err != nil { // the first one creates the container
			t.Fatal(err)
		}
		e.reqs.Reset()
		seg := e.segment(id)
		if err := e.cat.ResetBlob(e.ctx, catalog.ResetBlobParams{ID: id, ExpectETag: seg.BlobETag, Reason: "again", Now: timeNow()}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Migrate(e.ctx, id); err != nil {
			t.Fatal(err)
		}
		e.wantRequests("migrate", tc.want)
		e.assertMigrated(id, payload(tc.size, tc.size))
		e.reqs.Reset() // the check's download
		// Already migrated: one HEAD to check the blob is still the one
		// recorded.
		if res, err := e.svc.Migrate(e.ctx, id); err != nil || res.Outcome != segments.OutcomeAlreadyDone {
			t.Fatalf("again: %+v %v", res, err)
		}
		e.wantRequests("already migrated", map[string]int64{"GetProperties": 1})
	}
}

// A worker killed after staging leaves no failure record, only its claim:
// the next attempt (once the claim expired) still finds and reuses the
// staged blocks, listing them once.
func TestKilledAttemptReusesStagedBlocks(t *testing.T) { killedAttempt(t, setup(t)) }

// On T-SQL the dead claim is read back through the mssql dialect.
func TestKilledAttemptReusesStagedBlocksOnTSQL(t *testing.T) {
	killedAttempt(t, setupOn(t, openTSQL(t)))
}

func killedAttempt(t *testing.T, e *env) {
	src := payload(16, 900_000)
	id := e.addSegment(src)
	// What the killed worker did: claim the row, stage every block under
	// the blob name, and die before committing (so no RecordFailure).
	now := timeNow()
	if err := e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "dead", Now: now.Add(-time.Hour), Until: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	killed := errors.New("SIGKILL")
	_, err := e.blobs.Upload(e.ctx, e.container, segments.BlobName(e.segment(id)), bytes.NewReader(src), blobstore.UploadOptions{
		BlockSize: e.cfg.BlockSize, Concurrency: 2, Resume: true, AfterStage: func() error { return killed },
	})
	if !errors.Is(err, killed) {
		t.Fatal(err)
	}
	if seg := e.segment(id); seg.Attempts != 0 || seg.ClaimedUntil.IsZero() {
		t.Fatalf("row %+v: want the dead claim and no attempt recorded", seg)
	}
	e.reqs.Reset()
	res, err := e.svc.Migrate(e.ctx, id)
	if err != nil || res.Outcome != segments.OutcomeMigrated {
		t.Fatalf("next attempt: %+v %v", res, err)
	}
	blocks := (len(src) + int(e.cfg.BlockSize) - 1) / int(e.cfg.BlockSize)
	if res.BlocksReused != blocks {
		t.Fatalf("reused %d staged blocks, want all %d", res.BlocksReused, blocks)
	}
	e.wantRequests("after the kill", map[string]int64{"CreateContainer": 1, "GetBlockList": 1, "PutBlockList": 1})
	e.assertMigrated(id, src)
}
