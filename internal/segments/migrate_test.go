package segments_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/segments"
)

func TestMigrateStreamsPayloadIntoBlob(t *testing.T) {
	e := setup(t)
	sizes := []int{1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 700_001}
	ids := map[int64][]byte{}
	for i, n := range sizes {
		src := payload(i+1, n)
		ids[e.addSegment(src)] = src
	}
	for id, src := range ids {
		res, err := e.svc.Migrate(e.ctx, id)
		if err != nil {
			t.Fatalf("migrate %d: %v", id, err)
		}
		if res.Outcome != segments.OutcomeMigrated || res.Bytes != int64(len(src)) {
			t.Fatalf("migrate %d: %+v", id, res)
		}
		seg := e.assertMigrated(id, src)
		_, props := e.blobBytes(id)
		for k, want := range map[string]string{"ModelId": itoa(seg.ModelID), "LayerId": itoa(seg.LayerID),
			"SegmentOrdinal": itoa(seg.SegmentOrdinal), "QuantizationType": "Q4_K_M"} {
			if got := props.Meta(k); got != want {
				t.Errorf("segment %d metadata %s = %q, want %q", id, k, got, want)
			}
		}
		if len(props.ContentMD5) != 16 {
			t.Errorf("segment %d: no Content-MD5 on the blob", id)
		}
		if want := e.blobs.URL(e.container, segments.BlobName(seg)); seg.BlobURI != want {
			t.Errorf("BlobUri %q, want %q", seg.BlobURI, want)
		}
	}
}

func TestMigrateZeroByteSegment(t *testing.T) {
	e := setup(t)
	id := e.addSegment(nil)
	if _, err := e.svc.Migrate(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	seg := e.assertMigrated(id, nil)
	empty := sha256.Sum256(nil)
	if seg.Sha256 != hex.EncodeToString(empty[:]) || seg.BlobSizeBytes != 0 {
		t.Fatalf("empty segment recorded as %s / %d", seg.Sha256, seg.BlobSizeBytes)
	}
}

func TestMigrateUnknownSegment(t *testing.T) {
	e := setup(t)
	_, err := e.svc.Migrate(e.ctx, 987654)
	if !errors.Is(err, segments.ErrUnknownSegment) {
		t.Fatalf("want ErrUnknownSegment, got %v", err)
	}
}

func TestMalformedMessages(t *testing.T) {
	e := setup(t)
	for _, body := range []string{``, `{`, `[]`, `"x"`, `{"segmentId":"12"}`, `{"segmentId":0}`, `{"segmentId":-4}`,
		`{"segmentId":1.5}`, `{"segmentId":null}`, `{"id":1}`, `{"segmentId":1}{"segmentId":2}`, `{"segmentId":99999999999999999999}`} {
		_, err := e.svc.HandleMessage(e.ctx, []byte(body))
		if !errors.Is(err, segments.ErrBadMessage) {
			t.Errorf("%q: want ErrBadMessage, got %v", body, err)
		}
	}
	if m, err := segments.ParseMessage([]byte(`{"segmentId": 42}`)); err != nil || m.SegmentID != 42 {
		t.Fatalf("valid message: %v %v", m, err)
	}
}

// At-least-once: a second delivery of the same message changes nothing.
func TestMigrateTwiceIsNoop(t *testing.T) {
	e := setup(t)
	src := payload(7, 300_000)
	id := e.addSegment(src)
	msg := segments.Message{SegmentID: id}.Encode()
	if _, err := e.svc.HandleMessage(e.ctx, msg); err != nil {
		t.Fatal(err)
	}
	first := e.assertMigrated(id, src)
	res, err := e.svc.HandleMessage(e.ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != segments.OutcomeAlreadyDone {
		t.Fatalf("second delivery: outcome %s", res.Outcome)
	}
	second := e.assertMigrated(id, src)
	if first.BlobETag != second.BlobETag || !first.MigratedAt.Equal(second.MigratedAt) {
		t.Fatalf("second delivery changed the row: %+v -> %+v", first, second)
	}
}

// Two workers racing on the same segment: one migrates, the other backs off
// or finds it done; the row is updated once and the blob is right.
func TestTwoWorkersRace(t *testing.T) {
	e := setup(t)
	src := payload(9, 1_000_000)
	id := e.addSegment(src)
	var wg sync.WaitGroup
	results := make([]segments.MigrateResult, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], errs[i] = e.svc.Migrate(e.ctx, id)
		}(i)
	}
	wg.Wait()
	migrated := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		if r.Outcome == segments.OutcomeMigrated {
			migrated++
		}
	}
	if migrated != 1 {
		t.Fatalf("want exactly one worker to migrate, got %d: %+v", migrated, results)
	}
	seg := e.assertMigrated(id, src)
	if seg.Attempts != 0 {
		t.Fatalf("attempts %d: a race must not count as failure", seg.Attempts)
	}
}

// Every message delivered twice through the queue, with several workers.
func TestQueueDeliversEverythingTwice(t *testing.T) {
	e := setup(t)
	srcs := map[int64][]byte{}
	for i := 0; i < 6; i++ {
		src := payload(100+i, 50_000*(i+1))
		srcs[e.addSegment(src)] = src
	}
	res, err := e.svc.Enqueue(e.ctx, segments.EnqueueParams{})
	if err != nil || res.Queued != 6 {
		t.Fatalf("enqueue: %+v %v", res, err)
	}
	for id := range srcs { // the duplicate of each message
		if _, err := e.broker.Publish(e.ctx, e.queue, segments.Message{SegmentID: id}.Encode(), 0); err != nil {
			t.Fatal(err)
		}
	}
	st := e.drain(3)
	if st.Failed != 0 || st.Poisoned != 0 || st.Processed != 12 {
		t.Fatalf("worker stats %+v, want 12 processed and no failure", st)
	}
	for id, src := range srcs {
		e.assertMigrated(id, src)
	}
}

// Crash points: after staging (nothing committed), after the blob commit but
// before the row update. A rerun converges, and no row ever points at a blob
// whose content differs from its source.
func TestCrashSafety(t *testing.T) {
	crash := errors.New("injected crash")
	for _, point := range []string{"after-stage", "after-commit"} {
		t.Run(point, func(t *testing.T) {
			e := setup(t)
			src := payload(11, 400_000)
			id := e.addSegment(src)
			crashing := e.withService(func(c *segments.Config) {
				if point == "after-stage" {
					c.Hooks.AfterStage = func(int64) error { return crash }
				} else {
					c.Hooks.AfterCommit = func(int64) error { return crash }
				}
			})
			if _, err := crashing.Migrate(e.ctx, id); !errors.Is(err, crash) {
				t.Fatalf("want the injected crash, got %v", err)
			}
			seg := e.segment(id)
			if seg.BlobURI != "" || seg.Sha256 != "" || seg.State == catalog.StateMigrated {
				t.Fatalf("row points at a blob after a crash: %+v", seg)
			}
			_, perr := e.blobs.Properties(e.ctx, e.container, segments.BlobName(seg))
			if point == "after-stage" && !errors.Is(perr, blobstore.ErrNotFound) {
				t.Fatalf("a blob was committed before the crash after staging: %v", perr)
			}
			if point == "after-commit" && perr != nil {
				t.Fatalf("blob should be committed: %v", perr)
			}
			if seg.Attempts != 1 || seg.LastError == "" {
				t.Fatalf("failure not recorded: attempts %d, error %q", seg.Attempts, seg.LastError)
			}
			// The claim was dropped with the failure: the rerun need not wait.
			res, err := e.svc.Migrate(e.ctx, id)
			if err != nil || res.Outcome != segments.OutcomeMigrated {
				t.Fatalf("rerun: %+v %v", res, err)
			}
			e.assertMigrated(id, src)
		})
	}
}

// A claim left by a worker that died (no failure recorded) blocks others
// until it expires; then the next delivery migrates.
func TestDeadWorkerClaimExpires(t *testing.T) {
	e := setup(t)
	src := payload(12, 10_000)
	id := e.addSegment(src)
	if err := e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "dead-worker", Now: timeNow(), Until: timeNow().Add(-1)}); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Migrate(e.ctx, id)
	if err != nil || res.Outcome != segments.OutcomeMigrated {
		t.Fatalf("expired claim should not block: %+v %v", res, err)
	}
	id2 := e.addSegment(src)
	if err := e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id2, Token: "live-worker", Now: timeNow(), Until: timeNow().Add(hour)}); err != nil {
		t.Fatal(err)
	}
	res, err = e.svc.Migrate(e.ctx, id2)
	if err != nil || res.Outcome != segments.OutcomeBusy {
		t.Fatalf("live claim should make Migrate back off: %+v %v", res, err)
	}
	if seg := e.segment(id2); seg.Sha256 != "" {
		t.Fatalf("busy segment was recorded: %+v", seg)
	}
}

// A payload that changes while it is being read: the blob holds the consistent
// snapshot that was read and the row its hash; verification then finds the
// source changed and re-queues it, and the next migration records the new bytes.
func TestRowChangedMidFlight(t *testing.T) {
	e := setup(t)
	old := payload(13, 500_000)
	id := e.addSegment(old)
	newer := payload(14, 320_000)
	changing := e.withService(func(c *segments.Config) {
		c.Hooks.AfterStage = func(int64) error {
			return e.cat.OverwritePayload(context.Background(), catalog.OverwritePayloadParams{ID: id, Payload: bytesReader(newer), Size: int64(len(newer))})
		}
	})
	res, err := changing.Migrate(e.ctx, id)
	if err != nil {
		// A dialect may also refuse with a conflict; then nothing is recorded.
		if !errors.Is(err, catalog.ErrConflict) {
			t.Fatalf("migrate while the row changes: %v", err)
		}
		if seg := e.segment(id); seg.Sha256 != "" {
			t.Fatalf("conflicting read recorded a hash: %+v", seg)
		}
	} else {
		oldSum := sha256.Sum256(old)
		if res.Sha256 != hex.EncodeToString(oldSum[:]) {
			t.Fatalf("the blob must be the snapshot read (old bytes), got sha %s", res.Sha256)
		}
		rep, err := e.svc.Verify(e.ctx, segments.VerifyParams{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Mismatched != 1 || rep.Requeued < 1 {
			t.Fatalf("verification should find the source changed and re-queue: %+v", rep)
		}
		e.drain(1)
	}
	if _, err := e.svc.Migrate(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	e.assertMigrated(id, newer)
}

// A migration stopped after staging (an invocation's deadline, a killed
// worker) leaves its blocks staged: the next attempt sends only what is
// missing, so a segment too big for one invocation still finishes.
func TestInterruptedAttemptReusesStagedBlocks(t *testing.T) {
	e := setup(t)
	src := payload(15, 900_000) // several of the test's blocks
	id := e.addSegment(src)
	stop := errors.New("deadline")
	stopped := e.withService(func(c *segments.Config) {
		c.Hooks.AfterStage = func(int64) error { return stop }
	})
	if _, err := stopped.Migrate(e.ctx, id); !errors.Is(err, stop) {
		t.Fatalf("want the interruption, got %v", err)
	}
	res, err := e.svc.Migrate(e.ctx, id)
	if err != nil || res.Outcome != segments.OutcomeMigrated {
		t.Fatalf("next attempt: %+v %v", res, err)
	}
	if blocks := (len(src) + int(e.cfg.BlockSize) - 1) / int(e.cfg.BlockSize); res.BlocksReused != blocks {
		t.Fatalf("reused %d staged blocks, want all %d", res.BlocksReused, blocks)
	}
	e.assertMigrated(id, src)
}
