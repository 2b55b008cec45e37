package tsqlviews

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hartonomous/offload/internal/cutover"
)

// columnBytes counts a FILESTREAM column's rows and bytes; the names are
// quoted by QUOTENAME on the server.
const columnBytes = `DECLARE @sql nvarchar(max) = N'SELECT COUNT_BIG(' + QUOTENAME(@p3) + N'), COALESCE(SUM(CONVERT(bigint, DATALENGTH('
    + QUOTENAME(@p3) + N'))), 0) FROM ' + QUOTENAME(@p1) + N'.' + QUOTENAME(@p2);
EXEC sys.sp_executesql @sql;`

// Filestream implements cutover.Views.
func (v *Views) Filestream(ctx context.Context) (cutover.Filestream, error) {
	var fs cutover.Filestream
	for _, view := range []string{"filegroups", "filetables", "database_files"} {
		if ok, err := v.has(ctx, view); err != nil || !ok {
			return fs, err
		}
	}
	if err := v.db.QueryRowContext(ctx, "SELECT recovery_model_desc FROM sys.databases WHERE database_id = DB_ID()").Scan(&fs.RecoveryModel); err != nil {
		return fs, fmt.Errorf("tsqlviews: recovery model: %w", err)
	}
	var err error
	fs.Columns, err = collect(ctx, v.db, `SELECT s.name, t.name, c.name FROM sys.columns AS c
JOIN sys.tables AS t ON t.object_id = c.object_id JOIN sys.schemas AS s ON s.schema_id = t.schema_id
WHERE c.is_filestream = 1 ORDER BY s.name, t.name, c.name`, func(r *sql.Rows) (cutover.FilestreamColumn, error) {
		var c cutover.FilestreamColumn
		return c, r.Scan(&c.SchemaName, &c.TableName, &c.ColumnName)
	})
	if err != nil {
		return fs, fmt.Errorf("tsqlviews: FILESTREAM columns: %w", err)
	}
	for i, c := range fs.Columns {
		if err := v.db.QueryRowContext(ctx, columnBytes, c.SchemaName, c.TableName, c.ColumnName).Scan(&fs.Columns[i].Rows, &fs.Columns[i].Bytes); err != nil {
			return fs, fmt.Errorf("tsqlviews: bytes of %s.%s.%s: %w", c.SchemaName, c.TableName, c.ColumnName, err)
		}
	}
	fs.Tables, err = collect(ctx, v.db, `SELECT s.name, t.name, COALESCE(ds.name, N''), t.is_filetable FROM sys.tables AS t
JOIN sys.schemas AS s ON s.schema_id = t.schema_id
LEFT JOIN sys.data_spaces AS ds ON ds.data_space_id = t.filestream_data_space_id
WHERE t.filestream_data_space_id IS NOT NULL OR t.is_filetable = 1 ORDER BY s.name, t.name`, func(r *sql.Rows) (cutover.FilestreamTable, error) {
		var t cutover.FilestreamTable
		return t, r.Scan(&t.SchemaName, &t.Name, &t.DataSpace, &t.IsFileTable)
	})
	if err != nil {
		return fs, fmt.Errorf("tsqlviews: FILESTREAM tables: %w", err)
	}
	if fs.Filegroups, err = strs(ctx, v.db, "SELECT name FROM sys.filegroups WHERE type = 'FD' ORDER BY name"); err != nil {
		return fs, fmt.Errorf("tsqlviews: FILESTREAM filegroups: %w", err)
	}
	fs.Files, err = collect(ctx, v.db, `SELECT f.name, COALESCE(fg.name, N''), f.physical_name FROM sys.database_files AS f
LEFT JOIN sys.filegroups AS fg ON fg.data_space_id = f.data_space_id
WHERE f.type_desc = N'FILESTREAM' ORDER BY f.name`, func(r *sql.Rows) (cutover.DatabaseFile, error) {
		var f cutover.DatabaseFile
		return f, r.Scan(&f.Name, &f.FilegroupName, &f.PhysicalName)
	})
	if err != nil {
		return fs, fmt.Errorf("tsqlviews: FILESTREAM files: %w", err)
	}
	return fs, nil
}

// Readiness implements cutover.Views: Offload's own state in dbo.
func (v *Views) Readiness(ctx context.Context) (cutover.Readiness, error) {
	var r cutover.Readiness
	var state, blobs bool
	err := v.db.QueryRowContext(ctx, `SELECT
    CASE WHEN OBJECT_ID(N'dbo.LayerTensorSegments', N'U') IS NULL THEN 0 ELSE 1 END,
    CASE WHEN COL_LENGTH(N'dbo.LayerTensorSegments', N'RawPayload') IS NULL THEN 0 ELSE 1 END,
    CASE WHEN COL_LENGTH(N'dbo.LayerTensorSegments', N'OffloadState') IS NULL THEN 0 ELSE 1 END,
    CASE WHEN COL_LENGTH(N'dbo.Atoms', N'BlobUri') IS NULL OR COL_LENGTH(N'dbo.Atoms', N'PayloadLocator') IS NULL THEN 0 ELSE 1 END,
    CASE WHEN OBJECT_ID(N'dbo.OffloadOutbox', N'U') IS NOT NULL AND OBJECT_ID(N'dbo.usp_PublishMessage', N'P') IS NOT NULL THEN 1 ELSE 0 END`).
		Scan(&r.HasSegmentsTable, &r.RawPayload, &state, &blobs, &r.HasOutbox)
	if err != nil {
		return r, fmt.Errorf("tsqlviews: readiness: %w", err)
	}
	if !r.HasSegmentsTable {
		return r, nil
	}
	q := `SELECT COUNT_BIG(*), COUNT_BIG(*) FROM dbo.LayerTensorSegments` // before schema apply: nothing is proven
	if state {
		q = `SELECT COUNT_BIG(CASE WHEN OffloadState NOT IN (N'verified', N'released') THEN 1 END),
    COUNT_BIG(CASE WHEN OffloadState <> N'released' THEN 1 END) FROM dbo.LayerTensorSegments`
	}
	if err := v.db.QueryRowContext(ctx, q).Scan(&r.Unverified, &r.Unreleased); err != nil {
		return r, fmt.Errorf("tsqlviews: segments: %w", err)
	}
	if blobs {
		var n sql.NullInt64
		if err := v.db.QueryRowContext(ctx, "SELECT COUNT_BIG(*) FROM dbo.Atoms WHERE PayloadLocator IS NOT NULL AND BlobUri IS NULL").Scan(&n); err != nil {
			return r, fmt.Errorf("tsqlviews: atoms: %w", err)
		}
		r.AtomsUnlinked = n.Int64
	}
	return r, nil
}
