package mssqltest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// InsertTinySegments inserts n segments of 8 bytes (ordinals 0..n-1) into
// layer, 1,000 rows per INSERT (the VALUES limit; one parameter a row, far
// below the 2,100 limit): scale benchmarks need 100,000 rows in seconds.
func InsertTinySegments(tb testing.TB, ctx context.Context, db *sql.DB, layer int64, n int) {
	tb.Helper()
	const per = 1000
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		var sb strings.Builder
		sb.WriteString("INSERT INTO dbo.LayerTensorSegments (LayerId, SegmentOrdinal, QuantizationType, RawPayload) VALUES ")
		args := []any{layer}
		for i := lo; i < hi; i++ {
			if i > lo {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "(@p1, @p%d, N'Q4_K_M', CONVERT(varbinary(8), CAST(@p%[1]d AS bigint)))", len(args)+1)
			args = append(args, int64(i))
		}
		if _, err := db.ExecContext(ctx, sb.String(), args...); err != nil {
			tb.Fatal(err)
		}
	}
}
