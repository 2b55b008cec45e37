package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// Status implements catalog.Catalog: one row per (model, state) that has
// segments.
//
// PayloadBytes sums length(RawPayload) through a correlated subquery on
// purpose: SQLite's GROUP BY sorter stores every column an aggregate's
// argument names, so sum(length(s.RawPayload)) would copy each whole payload
// into the sorter. The subquery is evaluated per row after sorting, and
// length() of a blob is read from the record header alone.
func (d *DB) Status(ctx context.Context) ([]catalog.StatusRow, error) {
	payload := "(SELECT coalesce(length(p.RawPayload), 0) FROM LayerTensorSegments AS p WHERE p.LayerTensorSegmentId = s.LayerTensorSegmentId)"
	if !d.hasPayload.Load() {
		payload = "0"
	}
	rows, err := d.db.QueryContext(ctx, `
SELECT m.ModelId, m.ModelName, coalesce(o.OffloadState, 'pending') AS State, count(*),
  coalesce(sum(`+payload+`), 0), coalesce(sum(o.BlobSizeBytes), 0),
  max(o.VerifiedAt), max(o.MigratedAt)
FROM LayerTensorSegments AS s
JOIN ModelLayers AS l ON l.LayerId = s.LayerId
JOIN Models AS m ON m.ModelId = l.ModelId
LEFT JOIN OffloadSegments AS o ON o.LayerTensorSegmentId = s.LayerTensorSegmentId
GROUP BY m.ModelId, m.ModelName, State`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: status: %w", err)
	}
	defer rows.Close()
	var out []catalog.StatusRow
	for rows.Next() {
		var r catalog.StatusRow
		var state string
		var ver, mig sql.NullString
		if err := rows.Scan(&r.ModelID, &r.ModelName, &state, &r.Segments, &r.PayloadBytes, &r.BlobBytes, &ver, &mig); err != nil {
			return nil, fmt.Errorf("sqlite: status: %w", err)
		}
		r.State = catalog.State(state)
		if r.LastVerifiedAt, err = parseTime(ver); err != nil {
			return nil, err
		}
		if r.LastMigratedAt, err = parseTime(mig); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: status: %w", err)
	}
	dialect.SortStatus(out)
	return out, nil
}

// MigratedSince implements catalog.Catalog.
func (d *DB) MigratedSince(ctx context.Context, p catalog.MigratedSinceParams) (catalog.Throughput, error) {
	var tp catalog.Throughput
	var first sql.NullString
	err := d.db.QueryRowContext(ctx, `
SELECT count(*), coalesce(sum(BlobSizeBytes), 0), min(MigratedAt)
FROM OffloadSegments WHERE MigratedAt >= ?`, ts(p.Since)).Scan(&tp.Segments, &tp.Bytes, &first)
	if err != nil {
		return tp, fmt.Errorf("sqlite: migrated since: %w", err)
	}
	tp.First, err = parseTime(first)
	return tp, err
}
