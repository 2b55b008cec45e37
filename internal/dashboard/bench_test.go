package dashboard

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
)

// refreshRows are the catalog sizes of BenchmarkRefresh: Hartonomous's
// 100,000 segment rows and a tenth of it (the quick default: a tenth again).
func refreshRows() []int {
	if os.Getenv("OFFLOAD_BENCH_SCALE") == "full" {
		return []int{10_000, 100_000}
	}
	return []int{1_000, 10_000}
}

// BenchmarkRefresh is one poll of the live page, GET api/dashboard/data,
// on a warm connection pool (every poll after the page's first), at
// 10,000 and 100,000 segment rows, on SQLite and (with MSSQL_TEST_DSN) the
// T-SQL engine. A tenth of the rows are verified, a twentieth migrated in
// the last hour, a hundredth failed; sec/op is the refresh's cost. The
// target is under a second at 100,000 rows.
func BenchmarkRefresh(b *testing.B) {
	for _, eng := range []struct {
		name string
		open func(testing.TB) (Catalog, *sql.DB)
	}{
		{"sqlite", func(tb testing.TB) (Catalog, *sql.DB) { db := sqlitetest.Open(tb); return db, db.SQL() }},
		{"tsql", func(tb testing.TB) (Catalog, *sql.DB) { db := mssqltest.Catalog(tb); return db, db.SQL() }},
	} {
		b.Run(eng.name, func(b *testing.B) {
			if eng.name == "tsql" && os.Getenv("MSSQL_TEST_DSN") == "" {
				b.Skip("MSSQL_TEST_DSN not set")
			}
			for _, n := range refreshRows() {
				b.Run(fmt.Sprint(n), func(b *testing.B) {
					cat, db := eng.open(b)
					seedScale(b, cat, db, n)
					svc, err := New(Config{Catalog: cat})
					if err != nil {
						b.Fatal(err)
					}
					refresh(b, svc) // the first call on the pool is not what a poll costs
					for b.Loop() {
						refresh(b, svc)
					}
				})
			}
		})
	}
}

func refresh(b *testing.B, svc *Service) {
	rec := httptest.NewRecorder()
	svc.Serve(rec, httptest.NewRequest(http.MethodGet, "/api/dashboard/data", nil), ViewData)
	if rec.Code != 200 {
		b.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}
	_, _ = io.Copy(io.Discard, rec.Body)
}

// seedScale inserts one model of n tiny segments and gives them states in
// one set-based statement (a row at a time would take minutes at 100,000).
func seedScale(b *testing.B, cat Catalog, db *sql.DB, n int) {
	ctx := context.Background()
	seeder := cat.(catalog.Seeder)
	m, err := seeder.InsertModel(ctx, catalog.NewModel{Name: "scale", Type: "llama"})
	if err != nil {
		b.Fatal(err)
	}
	layer, err := seeder.InsertLayer(ctx, catalog.NewLayer{ModelID: m, QuantizationType: "Q4_K_M"})
	if err != nil {
		b.Fatal(err)
	}
	recent := time.Now().UTC().Add(-30 * time.Minute)
	sha, stamp := strings.Repeat("a", 64), recent.Format("2006-01-02T15:04:05.000000Z")
	switch cat.(type) {
	case *sqlite.DB:
		sqlitetest.InsertTinySegments(b, ctx, db, layer, n)
		if _, err := db.ExecContext(ctx, `
INSERT INTO OffloadSegments (LayerTensorSegmentId, OffloadState, PayloadSha256, BlobUri, BlobETag, BlobSizeBytes, MigratedAt, VerifiedAt, VerifyResult, OffloadError, OffloadErrorAt)
SELECT LayerTensorSegmentId,
  CASE WHEN SegmentOrdinal % 10 = 9 THEN 'verified' WHEN SegmentOrdinal % 20 = 3 THEN 'migrated' ELSE 'pending' END,
  ?, 'http://example.invalid/x', '"0x1"', 8,
  CASE WHEN SegmentOrdinal % 10 = 9 OR SegmentOrdinal % 20 = 3 THEN ? END, ?, 'ok',
  CASE WHEN SegmentOrdinal % 100 = 7 THEN 'storage: 503 server busy' END, ?
FROM LayerTensorSegments WHERE LayerId = ?`, sha, stamp, stamp, stamp, layer); err != nil {
			b.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
	case *mssql.DB:
		mssqltest.InsertTinySegments(b, ctx, db, layer, n)
		if _, err := db.ExecContext(ctx, `
UPDATE dbo.LayerTensorSegments SET
  OffloadState = CASE WHEN SegmentOrdinal % 10 = 9 THEN N'verified' WHEN SegmentOrdinal % 20 = 3 THEN N'migrated' ELSE N'pending' END,
  PayloadSha256 = @p1, BlobUri = N'http://example.invalid/x', BlobETag = N'"0x1"', BlobSizeBytes = 8,
  MigratedAt = CASE WHEN SegmentOrdinal % 10 = 9 OR SegmentOrdinal % 20 = 3 THEN @p2 END, VerifiedAt = @p2, VerifyResult = N'ok',
  OffloadError = CASE WHEN SegmentOrdinal % 100 = 7 THEN N'storage: 503 server busy' END, OffloadErrorAt = @p2
WHERE LayerId = @p3`, sha, recent, layer); err != nil {
			b.Fatal(err)
		}
		mssqltest.SettleAutovacuum(b, db, "LayerTensorSegments")
	default:
		b.Fatalf("no seeding for %T", cat)
	}
}
