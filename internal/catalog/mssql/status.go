package mssql

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"strings"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// statusSQL is the DBA's status query (queries/status.sql) and the one
// Status runs: the file a DBA reads is the query the service uses.
//
//go:embed queries/status.sql
var statusSQL string

// payloadBytesExpr is how status.sql sums payload bytes; after Finalize
// dropped RawPayload it is replaced by 0.
const payloadBytesExpr = "CAST(DATALENGTH(s.RawPayload) AS bigint)"

// statusQuery is the first statement of status.sql without its comment
// lines (the statements after it are documentation).
func statusQuery(hasPayload bool) string {
	first, _, _ := strings.Cut(statusSQL, ";")
	var lines []string
	for _, l := range strings.Split(first, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
			lines = append(lines, l)
		}
	}
	q := strings.Join(lines, "\n")
	if !hasPayload {
		q = strings.Replace(q, payloadBytesExpr, "CAST(0 AS bigint)", 1)
	}
	return q
}

// Status implements catalog.Catalog.
func (d *DB) Status(ctx context.Context) ([]catalog.StatusRow, error) {
	rows, err := d.db.QueryContext(ctx, d.q(statusQuery(d.hasPayload.Load())))
	if err != nil {
		return nil, fmt.Errorf("mssql: status: %w", err)
	}
	defer rows.Close()
	var out []catalog.StatusRow
	for rows.Next() {
		var r catalog.StatusRow
		var state string
		var ver, mig sql.NullTime
		if err := rows.Scan(&r.ModelID, &r.ModelName, &state, &r.Segments, &r.PayloadBytes, &r.BlobBytes, &ver, &mig); err != nil {
			return nil, fmt.Errorf("mssql: status: %w", err)
		}
		r.State = catalog.State(state)
		r.LastVerifiedAt, r.LastMigratedAt = utc(ver), utc(mig)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mssql: status: %w", err)
	}
	dialect.SortStatus(out)
	return out, nil
}

// MigratedSince implements catalog.Catalog.
func (d *DB) MigratedSince(ctx context.Context, p catalog.MigratedSinceParams) (catalog.Throughput, error) {
	var tp catalog.Throughput
	var first sql.NullTime
	err := d.db.QueryRowContext(ctx, d.q(`
SELECT COUNT_BIG(*), COALESCE(SUM(BlobSizeBytes), 0), MIN(MigratedAt)
FROM dbo.LayerTensorSegments WHERE MigratedAt >= @p1`), dialect.Time(p.Since)).Scan(&tp.Segments, &tp.Bytes, &first)
	if err != nil {
		return tp, fmt.Errorf("mssql: migrated since: %w", err)
	}
	tp.First = utc(first)
	return tp, nil
}
