package sqlitetest

import (
	"context"
	"database/sql"
	"testing"
)

// InsertTinySegments inserts n segments of 8 random bytes (ordinals
// 0..n-1) into layer in one statement: scale benchmarks need 100,000 rows
// in seconds.
func InsertTinySegments(tb testing.TB, ctx context.Context, db *sql.DB, layer int64, n int) {
	tb.Helper()
	if _, err := db.ExecContext(ctx, `
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x + 1 < ?)
INSERT INTO LayerTensorSegments (LayerId, SegmentOrdinal, QuantizationType, RawPayload)
SELECT ?, x, 'Q4_K_M', randomblob(8) FROM c`, n, layer); err != nil {
		tb.Fatal(err)
	}
}
