package segments_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
	"github.com/hartonomous/offload/internal/catalog/engines"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
	"github.com/hartonomous/offload/internal/demo"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/tests/benchmeter"
)

// benchSizes is the migration data set: the realistic mix the issue names,
// payloads of 1–10 MB (most of Hartonomous's segments), 64 MiB in all by
// default and 1 GiB with OFFLOAD_BENCH_SCALE=full.
func benchSizes() []int64 {
	total := int64(64 << 20)
	if os.Getenv("OFFLOAD_BENCH_SCALE") == "full" {
		total = 1 << 30
	}
	var sizes []int64
	var sum int64
	for i := int64(0); sum < total; i++ {
		n := int64(1e6) + (i*2654435761)%int64(9e6)
		if sum+n > total {
			n = total - sum
		}
		sizes = append(sizes, n)
		sum += n
	}
	return sizes
}

const benchWorkers = 4

// setupBench seeds the sizes with production block size and concurrency.
func setupBench(b *testing.B) (*env, []int64, int64) {
	return seedBench(b, setup(b, prodConfig))
}

func prodConfig(c *segments.Config) {
	c.BlockSize, c.Concurrency = segments.DefaultBlockSize, segments.DefaultConcurrency
}

// seedBench seeds benchSizes into e's catalog.
func seedBench(b *testing.B, e *env) (*env, []int64, int64) {
	var ids []int64
	var total int64
	for i, n := range benchSizes() {
		id, err := e.cat.InsertSegment(e.ctx, catalog.NewSegment{LayerID: e.layerID, SegmentOrdinal: int64(i),
			QuantizationType: "Q4_K_M", Payload: demo.Payload(1, 1, 1, int64(i), n), Size: n})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
		total += n
	}
	return e, ids, total
}

// settle flushes dirty pages to disk before a timed region. Seeding writes
// hundreds of MiB (the catalog, Azurite's files): left to the kernel, their
// writeback lands at random inside the next measurement, which on this
// 2-core machine moved results by ±40% from run to run.
//
// The catalog's write-ahead log is checkpointed first, for the same reason:
// seeding appends the payloads to the WAL, and SQLite copies them into the
// database file at the first checkpoint, which is otherwise the first
// commit of the timed run (a verification's first row update), adding
// seconds to some runs and not others. Last it waits for Azurite to be idle
// (benchmeter.Quiesce).
func (e *env) settle(b *testing.B) {
	var cat catalog.Catalog = e.cat
	if w, ok := cat.(interface{ Unwrap() catalog.Catalog }); ok {
		cat = w.Unwrap() // the retry layer's dialect
	}
	if db, ok := cat.(*sqlite.DB); ok {
		if _, err := db.SQL().ExecContext(e.ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			b.Fatal(err)
		}
	}
	_ = exec.Command("sync").Run()
	benchmeter.Quiesce(az.Get(b).Pids...)
}

// BenchmarkMigrate: catalog → blob, the whole pipeline (chunked reads,
// hashing, parallel staging, row update), benchWorkers segments at a time.
func BenchmarkMigrate(b *testing.B) {
	e, ids, total := setupBench(b)
	b.SetBytes(total)
	e.settle(b)
	m := benchmeter.New(az.Get(b).Pids...).CountRequests(e.reqs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m.Stop()
		e.resetAll(b, ids) // make the next round migrate again
		e.settle(b)
		m.Start()
		b.StartTimer()
		parallelIDs(b, ids, func(id int64) error {
			_, err := e.svc.Migrate(e.ctx, id)
			return err
		})
	}
	b.StopTimer()
	m.Report(b, total*int64(b.N))
	m.ReportRequests(b, int64(len(ids)*b.N))
}

// BenchmarkMigrateRetry is BenchmarkMigrate with the embedded catalog
// opened as the binary opens it, bare (retry=off, as before the catalog's
// retry layer) and wrapped in it (retry=on), no fault: the layer must
// cost nothing measurable.
func BenchmarkMigrateRetry(b *testing.B) {
	for _, mode := range benchmeter.Alternating("off", "on") {
		b.Run("retry="+mode, func(b *testing.B) {
			_, path := sqlitetest.OpenPath(b)
			cat, err := engines.OpenWith(context.Background(), "sqlite:"+path, engines.Options{NoRetry: mode == "off"})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cat.Close() })
			e, ids, total := seedBench(b, setupOn(b, catalogtest.WithSeeder(b, cat), prodConfig))
			b.SetBytes(total)
			e.settle(b)
			m := benchmeter.New(az.Get(b).Pids...)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				m.Stop()
				e.resetAll(b, ids)
				e.settle(b)
				m.Start()
				b.StartTimer()
				parallelIDs(b, ids, func(id int64) error {
					_, err := e.svc.Migrate(e.ctx, id)
					return err
				})
			}
			b.StopTimer()
			m.Report(b, total*int64(b.N))
		})
	}
}

// resetAll puts the rows back to unmigrated, so that a round migrates again.
func (e *env) resetAll(b *testing.B, ids []int64) {
	for _, id := range ids {
		seg := e.segment(id)
		if seg.BlobETag != "" {
			if err := e.cat.ResetBlob(e.ctx, catalog.ResetBlobParams{ID: id, ExpectETag: seg.BlobETag, Reason: "bench", Now: timeNow()}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkUploadSDKEqual is BenchmarkMigrate's baseline: the same bytes
// (from memory, so no catalog read at all) uploaded with the azblob SDK's
// own calls doing the same integrity work — SHA-256 of the stream, the
// whole-stream MD5 as Content-MD5, a transactional MD5 on every request —
// in the same request pattern (one Put Blob up to a block, else blocks and
// a commit), same block size, concurrency and workers.
func BenchmarkUploadSDKEqual(b *testing.B) { benchSDKUpload(b, true) }

// BenchmarkUploadSDK is the same without any integrity work: what the SDK
// alone costs on this machine.
func BenchmarkUploadSDK(b *testing.B) { benchSDKUpload(b, false) }

func benchSDKUpload(b *testing.B, integrity bool) {
	e, ids, total := setupBench(b)
	sizes := benchSizes()
	bufs := map[int64][]byte{}
	for i, id := range ids {
		bufs[id], _ = io.ReadAll(demo.Payload(1, 1, 1, int64(i), sizes[i]))
	}
	reqs := &blobstore.Requests{}
	cc := sdkContainer(b, e, reqs)
	b.SetBytes(total)
	e.settle(b)
	m := benchmeter.New(az.Get(b).Pids...).CountRequests(reqs)
	m.Start()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		parallelIDs(b, ids, func(id int64) error {
			_, err := benchmeter.SDKUpload(e.ctx, cc.NewBlockBlobClient(fmt.Sprintf("sdk/%d.bin", id)), bytes.NewReader(bufs[id]),
				benchmeter.SDKUploadParams{BlockSize: segments.DefaultBlockSize, Concurrency: segments.DefaultConcurrency,
					Integrity: integrity, ContentMD5: integrity})
			return err
		})
	}
	b.StopTimer()
	m.Report(b, total*int64(b.N))
	m.ReportRequests(b, int64(len(ids)*b.N))
}

// sdkContainer is the bench's container as an azblob SDK client, its
// requests counted by reqs (when set).
func sdkContainer(b *testing.B, e *env, reqs *blobstore.Requests) *container.Client {
	svc, err := benchmeter.SDKClient(az.Get(b).ConnectionString, reqs)
	if err != nil {
		b.Fatal(err)
	}
	return svc.ServiceClient().NewContainerClient(e.container)
}

// BenchmarkVerifyFull: full re-hash of every migrated segment (read back and
// SHA-256), beside BenchmarkDownloadSDKHash (its equal-work baseline: the
// SDK's DownloadStream of the same blobs into SHA-256) and
// BenchmarkDownloadSDK (DownloadStream into io.Discard).
func BenchmarkVerifyFull(b *testing.B) {
	e, ids, total := setupBench(b)
	parallelIDs(b, ids, func(id int64) error { _, err := e.svc.Migrate(e.ctx, id); return err })
	b.SetBytes(total)
	e.settle(b)
	m := benchmeter.New(az.Get(b).Pids...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Sample everything: every verified row is fully re-hashed.
		b.StopTimer()
		m.Stop()
		if _, err := e.svc.Verify(e.ctx, segments.VerifyParams{}, nil); err != nil { // first pass: migrated → verified (reads source too)
			b.Fatal(err)
		}
		e.settle(b)
		m.Start()
		b.StartTimer()
		rep, err := e.svc.Verify(e.ctx, segments.VerifyParams{CheapEvery: 1, Sample: len(ids), Workers: benchWorkers, Batch: len(ids)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if rep.FullChecked != int64(len(ids)) {
			b.Fatalf("full checks %d of %d", rep.FullChecked, len(ids))
		}
	}
	b.StopTimer()
	m.Report(b, total*int64(b.N))
}

func BenchmarkDownloadSDKHash(b *testing.B) { benchSDKDownload(b, true) }

func BenchmarkDownloadSDK(b *testing.B) { benchSDKDownload(b, false) }

func benchSDKDownload(b *testing.B, hashed bool) {
	e, ids, total := setupBench(b)
	parallelIDs(b, ids, func(id int64) error { _, err := e.svc.Migrate(e.ctx, id); return err })
	cc := sdkContainer(b, e, nil)
	names := map[int64]string{}
	for _, id := range ids {
		names[id] = segments.BlobName(e.segment(id))
	}
	b.SetBytes(total)
	e.settle(b)
	m := benchmeter.New(az.Get(b).Pids...)
	m.Start()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		parallelIDs(b, ids, func(id int64) error {
			resp, err := cc.NewBlobClient(names[id]).DownloadStream(e.ctx, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var w io.Writer = io.Discard
			if hashed {
				w = sha256.New()
			}
			_, err = io.CopyBuffer(w, resp.Body, make([]byte, segments.DefaultBlockSize))
			return err
		})
	}
	b.StopTimer()
	m.Report(b, total*int64(b.N))
}

func parallelIDs(b *testing.B, ids []int64, fn func(int64) error) {
	benchmeter.InParallel(b, benchWorkers, len(ids), func(i int) error { return fn(ids[i]) })
}
