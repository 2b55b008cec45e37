package atoms

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
)

// linked uploads and links n model files; it returns atom ids and digests.
func (e *env) linked(n int, size int64) ([]int64, []string) {
	e.t.Helper()
	var ids []int64
	var sums []string
	var paths []string
	for i := 0; i < n; i++ {
		p, s := writeModel(e.t, e.dir, uint64(100+i), size)
		ids = append(ids, e.atom(s, p))
		sums = append(sums, s)
		paths = append(paths, p)
	}
	if _, err := e.svc.Upload(e.ctx, UploadParams{Files: paths}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.Link(e.ctx, LinkParams{}); err != nil {
		e.t.Fatal(err)
	}
	return ids, sums
}

func TestVerifyDetectsDamage(t *testing.T) {
	e := setup(t)
	const size = testBlock + 17
	ids, sums := e.linked(5, size)
	okID, goneID, sizeID, rewrittenID, metaID := ids[0], ids[1], ids[2], ids[3], ids[4]

	if err := e.blobs.Delete(e.ctx, e.container, "sha256-"+sums[1], ""); err != nil {
		t.Fatal(err)
	}
	e.otherToolUpload("sha256-"+sums[2], content(1, size+1))
	// Rewritten with other bytes of the same size, keeping our metadata: only
	// a read can tell.
	if _, err := e.blobs.Upload(e.ctx, e.container, "sha256-"+sums[3], content(2, size), blobstore.UploadOptions{
		Metadata: map[string]string{MetaSha256: sums[3], MetaSizeBytes: strconv.Itoa(size)},
	}); err != nil {
		t.Fatal(err)
	}
	// A metadata-only change: new ETag, same bytes.
	if _, err := e.blobs.SetMetadata(e.ctx, e.container, "sha256-"+sums[4],
		map[string]string{MetaSha256: sums[4], MetaSizeBytes: strconv.Itoa(size), "Owner": "ops"}, ""); err != nil {
		t.Fatal(err)
	}

	check := func(p VerifyParams, expect map[int64]string) {
		t.Helper()
		res, err := e.svc.Verify(e.ctx, p)
		if err != nil {
			t.Fatalf("verify %+v: %v", p, err)
		}
		if len(res) != len(expect) {
			t.Fatalf("%d results, want %d: %+v", len(res), len(expect), res)
		}
		for _, r := range res {
			if r.Result != expect[r.AtomID] {
				t.Errorf("verify %+v: atom %d: %s, want %s", p, r.AtomID, r.Result, expect[r.AtomID])
			}
			if a := e.getAtom(r.AtomID); a.VerifyResult != r.Result || a.VerifiedAt.IsZero() {
				t.Errorf("atom %d recorded %q at %v, want %q", r.AtomID, a.VerifyResult, a.VerifiedAt, r.Result)
			}
		}
	}
	check(VerifyParams{}, map[int64]string{okID: ResultOK, goneID: ResultMissing, sizeID: ResultSize, rewrittenID: ResultETag, metaID: ResultETag})
	check(VerifyParams{Rehash: true}, map[int64]string{okID: ResultOK, goneID: ResultMissing, sizeID: ResultSize, rewrittenID: ResultSha256, metaID: ResultOK})

	// The rehash followed the metadata-only change: cheap checks pass again.
	props, err := e.blobs.Properties(e.ctx, e.container, "sha256-"+sums[4])
	if err != nil {
		t.Fatal(err)
	}
	if a := e.getAtom(metaID); a.BlobETag != props.ETag {
		t.Fatalf("atom keeps ETag %s, blob has %s", a.BlobETag, props.ETag)
	}
	check(VerifyParams{}, map[int64]string{okID: ResultOK, goneID: ResultMissing, sizeID: ResultSize, rewrittenID: ResultETag, metaID: ResultOK})

	// Dry run records nothing.
	before := e.getAtom(okID).VerifiedAt
	if _, err := e.svc.Verify(e.ctx, VerifyParams{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if after := e.getAtom(okID).VerifiedAt; !after.Equal(before) {
		t.Fatalf("dry run recorded: %v -> %v", before, after)
	}
}

func TestVerifyBoundedPassesRotate(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := setup(t, func(c *Config) { c.Now = clock })
	ids, _ := e.linked(5, 100)

	seen := map[int64]int{}
	for pass := 0; pass < 3; pass++ {
		res, err := e.svc.Verify(e.ctx, VerifyParams{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) > 2 {
			t.Fatalf("pass %d checked %d atoms, limit 2", pass, len(res))
		}
		for _, r := range res {
			seen[r.AtomID]++
		}
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("three passes of 2 checked %v, want each of %v once", seen, ids)
		}
	}
	if res, _ := e.svc.Verify(e.ctx, VerifyParams{Limit: 2}); len(res) != 0 {
		t.Fatalf("all atoms fresh, yet checked %+v", res)
	}
	mu.Lock()
	now = now.Add(DefaultVerifyEvery)
	mu.Unlock()
	if res, _ := e.svc.Verify(e.ctx, VerifyParams{Limit: 2}); len(res) != 2 {
		t.Fatalf("a day later checked %+v, want 2", res)
	}
}
