package segments_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/tests/benchmeter"
)

// scaleRows are the catalog sizes of BenchmarkScale: Hartonomous's
// 100,000 segment rows and a tenth of it, so that growth can be read off
// (cost must grow no worse than linearly). The quick default is a tenth of
// that again.
func scaleRows() []int {
	if os.Getenv("OFFLOAD_BENCH_SCALE") == "full" {
		return []int{10_000, 100_000}
	}
	return []int{1_000, 10_000}
}

// BenchmarkScale: the catalog-bound commands at Hartonomous's row counts,
// tiny payloads so that it runs anywhere, on SQLite and (with
// MSSQL_TEST_DSN) on the T-SQL engine. One in ten rows is verified
// (recently, so nothing is due), the rest pending. Sub-benchmarks, in the
// order they run on one seeded catalog:
//
//   - status-first: `segments status` as the command line runs it: a new
//     catalog handle (its own connection pool: login, and on the T-SQL
//     engine every query's first use on that connection), one Status call,
//     closed; sec/op;
//   - status: Service.Status on the service's warm connection pool, as the
//     SegmentStatus function answers every call after its first; sec/op;
//   - verify-plan: one VerifySegments run (dry) with nothing due: its
//     planning queries, fresh rows and the due window among 100k;
//   - release-dry: `segments release` without --confirm over the verified
//     tenth (one blob HEAD each: the blobs do not exist, so all are
//     skipped), rows/s;
//   - enqueue: `segments enqueue --limit 3000` (paging the pending rows by
//     key among all of them), msgs/s, beside
//   - sendmessage: a raw azqueue SendMessage loop of as many messages with
//     enqueue's parallelism (8), msgs/s.
//
// Enqueue is capped because Azurite's queue takes a few hundred messages
// a second on a small machine: 90,000 would take minutes and measure the
// emulator, not Offload's per-message cost at that row count.
func BenchmarkScale(b *testing.B) {
	engines := []struct {
		name string
		open opener
		seed func(*testing.B, *env, int)
	}{
		{"sqlite", openScaleSQLite, seedSQLite},
		{"tsql", openScaleTSQL, seedTSQL},
	}
	for _, eng := range engines {
		b.Run(eng.name, func(b *testing.B) {
			if eng.name == "tsql" && os.Getenv("MSSQL_TEST_DSN") == "" {
				b.Skip("MSSQL_TEST_DSN not set")
			}
			for _, n := range scaleRows() {
				b.Run(fmt.Sprint(n), func(b *testing.B) { benchScale(b, eng.open, eng.seed, n) })
			}
		})
	}
}

// enqueueCap is the most messages BenchmarkScale's enqueue sends.
const enqueueCap = 3000

// opener gives a fresh catalog and a way to open a second handle on it.
type opener func(testing.TB) (catalogtest.Catalog, func(context.Context) (catalog.Catalog, error))

func openScaleSQLite(tb testing.TB) (catalogtest.Catalog, func(context.Context) (catalog.Catalog, error)) {
	db, path := sqlitetest.OpenPath(tb)
	return db, func(ctx context.Context) (catalog.Catalog, error) { return sqlite.Open(ctx, path, sqlite.Options{}) }
}

func openScaleTSQL(tb testing.TB) (catalogtest.Catalog, func(context.Context) (catalog.Catalog, error)) {
	db, dsn := mssqltest.CatalogDSN(tb)
	return db, func(ctx context.Context) (catalog.Catalog, error) { return mssql.Open(ctx, dsn, mssql.Options{}) }
}

func benchScale(b *testing.B, open opener, seed func(*testing.B, *env, int), n int) {
	cat, reopen := open(b)
	e := setupOn(b, cat)
	t0 := time.Now()
	seed(b, e, n)
	b.Logf("seeded %d rows in %v", n, time.Since(t0).Round(time.Millisecond))
	verified := int64(n / 10)
	pending := int64(n) - verified

	status := func(b *testing.B, svc *segments.Service) {
		st, err := svc.Status(e.ctx)
		if err != nil {
			b.Fatal(err)
		}
		if st.Total.Segments != int64(n) {
			b.Fatalf("status counts %d rows, want %d", st.Total.Segments, n)
		}
	}
	b.Run("status-first", func(b *testing.B) {
		for b.Loop() {
			cat, err := reopen(e.ctx)
			if err != nil {
				b.Fatal(err)
			}
			cfg := e.cfg
			cfg.Catalog = cat
			svc, err := segments.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			status(b, svc)
			if err := cat.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("status", func(b *testing.B) {
		status(b, e.svc) // warm-up: make bench runs each benchmark once (-benchtime 1x)
		for b.Loop() {
			status(b, e.svc)
		}
	})
	b.Run("verify-plan", func(b *testing.B) {
		for b.Loop() {
			rep, err := e.svc.Verify(e.ctx, segments.VerifyParams{DryRun: true}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if rep.FullChecked+rep.CheapChecked != 0 {
				b.Fatalf("checked %d rows, want none due", rep.FullChecked+rep.CheapChecked)
			}
		}
	})
	b.Run("release-dry", func(b *testing.B) {
		for b.Loop() {
			res, err := e.svc.Release(e.ctx, segments.ReleaseParams{})
			if err != nil {
				b.Fatal(err)
			}
			if res.Skipped != verified {
				b.Fatalf("release looked at %d rows, want %d", res.Skipped, verified)
			}
		}
		b.ReportMetric(float64(verified)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("enqueue", func(b *testing.B) {
		// Once (run with -benchtime 1x, as make bench does): a second round would have nothing to send.
		res, err := e.svc.Enqueue(e.ctx, segments.EnqueueParams{Limit: enqueueCap})
		if err != nil {
			b.Fatal(err)
		}
		if res.Queued != min(pending, enqueueCap) {
			b.Fatalf("queued %d, want %d", res.Queued, min(pending, enqueueCap))
		}
		b.ReportMetric(float64(res.Queued)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("sendmessage", func(b *testing.B) {
		svc, err := azqueue.NewServiceClientFromConnectionString(az.Get(b).ConnectionString, nil)
		if err != nil {
			b.Fatal(err)
		}
		q := svc.NewQueueClient(e.queue + "-raw")
		if _, err := q.Create(e.ctx, nil); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		n := min(pending, enqueueCap)
		sendLoop(b, q, int(n), 8)
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// sendLoop sends n messages {"segmentId": i} with parallel senders.
func sendLoop(b *testing.B, q *azqueue.QueueClient, n, parallel int) {
	benchmeter.InParallel(b, parallel, n, func(i int) error {
		_, err := q.EnqueueMessage(context.Background(), fmt.Sprintf(`{"segmentId":%d}`, i+1), nil)
		return err
	})
}

// seedSQLite inserts n segments of 8 bytes in one statement (a recursive
// counter), and marks every tenth verified.
func seedSQLite(b *testing.B, e *env, n int) {
	db := e.cat.(*sqlite.DB).SQL()
	sqlitetest.InsertTinySegments(b, e.ctx, db, e.layerID, n)
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	if _, err := db.ExecContext(e.ctx, `
INSERT INTO OffloadSegments (LayerTensorSegmentId, OffloadState, PayloadSha256, BlobUri, BlobETag, BlobSizeBytes, MigratedAt, VerifiedAt, VerifyResult)
SELECT LayerTensorSegmentId, 'verified', ?, 'http://example.invalid/x', '"0x1"', 8, ?, ?, 'ok'
FROM LayerTensorSegments WHERE LayerId = ? AND SegmentOrdinal % 10 = 9`,
		strings.Repeat("a", 64), now, now, e.layerID); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(e.ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}

// seedTSQL inserts n segments of 8 bytes and marks every tenth verified.
func seedTSQL(b *testing.B, e *env, n int) {
	db := e.cat.(*mssql.DB).SQL()
	mssqltest.InsertTinySegments(b, e.ctx, db, e.layerID, n)
	now := time.Now().UTC()
	if _, err := db.ExecContext(e.ctx, `
UPDATE dbo.LayerTensorSegments SET OffloadState = N'verified', PayloadSha256 = @p1, BlobUri = N'http://example.invalid/x',
  BlobETag = N'"0x1"', BlobSizeBytes = 8, MigratedAt = @p2, VerifiedAt = @p2, VerifyResult = N'ok'
WHERE LayerId = @p3 AND SegmentOrdinal % 10 = 9`, strings.Repeat("a", 64), now, e.layerID); err != nil {
		b.Fatal(err)
	}
	mssqltest.SettleAutovacuum(b, db, "LayerTensorSegments")
}
