package mssql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
)

// finalizeColumns in drop order: RawPayload first, because a FILESTREAM
// column needs its ROWGUIDCOL until it is gone.
var finalizeColumns = []string{"RawPayload", "PayloadRowGuid"}

// Finalize implements catalog.Catalog. In one transaction it counts the
// unreleased rows under an exclusive table lock (no row can be added or
// change state until it ends), then drops what depends on RawPayload and
// PayloadRowGuid (indexes and unique constraints, default constraints,
// column CHECK constraints, the ROWGUIDCOL property) and the two columns.
// Constraint and index names come from the catalog views and are quoted
// with QUOTENAME inside the dynamic statement; no value is ever spliced
// into SQL text.
func (d *DB) Finalize(ctx context.Context, p catalog.FinalizeParams) (int64, error) {
	table := d.schema + ".LayerTensorSegments"
	if p.DryRun {
		var n int64
		if err := d.db.QueryRowContext(ctx, d.q("SELECT COUNT_BIG(*) FROM dbo.LayerTensorSegments WHERE OffloadState <> N'released'")).Scan(&n); err != nil {
			return 0, fmt.Errorf("mssql: finalize: %w", err)
		}
		if n > 0 {
			return n, fmt.Errorf("mssql: finalize: %d segment(s) not released: %w", n, catalog.ErrConflict)
		}
		return 0, nil
	}
	var unreleased int64
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, d.q("SELECT COUNT_BIG(*) FROM dbo.LayerTensorSegments WITH (TABLOCKX, HOLDLOCK) WHERE OffloadState <> N'released'")).Scan(&unreleased); err != nil {
			return err
		}
		if unreleased > 0 {
			return fmt.Errorf("%d segment(s) not released: %w", unreleased, catalog.ErrConflict)
		}
		for _, col := range finalizeColumns {
			if err := d.dropColumn(ctx, tx, table, col); err != nil {
				return fmt.Errorf("drop %s: %w", col, err)
			}
		}
		return nil
	})
	if err != nil {
		return unreleased, fmt.Errorf("mssql: finalize: %w", err)
	}
	return 0, d.refreshPayloadColumn(ctx)
}

// dependents lists what must go before column col of table can be dropped:
// (kind, name) pairs from the catalog views. kind is "constraint" (unique,
// default or check constraint) or "index". A primary key is never dropped:
// if one used the column, DROP COLUMN fails and says so.
const dependentsSQL = `
SELECT N'constraint' AS Kind, i.name AS Name
FROM sys.indexes AS i
JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE i.object_id = OBJECT_ID(@p1) AND c.name = @p2 AND i.is_unique_constraint = 1
UNION
SELECT N'index', i.name
FROM sys.indexes AS i
JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE i.object_id = OBJECT_ID(@p1) AND c.name = @p2 AND i.is_unique_constraint = 0 AND i.is_primary_key = 0
  AND i.name IS NOT NULL
UNION
SELECT N'constraint', dc.name
FROM sys.default_constraints AS dc
JOIN sys.columns AS c ON c.object_id = dc.parent_object_id AND c.column_id = dc.parent_column_id
WHERE dc.parent_object_id = OBJECT_ID(@p1) AND c.name = @p2
UNION
SELECT N'constraint', cc.name
FROM sys.check_constraints AS cc
JOIN sys.columns AS c ON c.object_id = cc.parent_object_id AND c.column_id = cc.parent_column_id
WHERE cc.parent_object_id = OBJECT_ID(@p1) AND c.name = @p2`

func (d *DB) dropColumn(ctx context.Context, tx *sql.Tx, table, col string) error {
	var present *int64
	if err := tx.QueryRowContext(ctx, "SELECT COL_LENGTH(@p1, @p2)", table, col).Scan(&present); err != nil {
		return err
	}
	if present == nil {
		return nil // already dropped: Finalize is idempotent
	}
	rows, err := tx.QueryContext(ctx, dependentsSQL, table, col)
	if err != nil {
		return fmt.Errorf("find dependents: %w", err)
	}
	type dep struct{ kind, name string }
	var deps []dep
	for rows.Next() {
		var x dep
		if err := rows.Scan(&x.kind, &x.name); err != nil {
			rows.Close()
			return err
		}
		deps = append(deps, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// table is "<validated identifier>.LayerTensorSegments": safe as text.
	// IF EXISTS (SQL Server 2016+) because the names come from the catalog
	// views, and an engine may show a name there that DROP does not accept
	// (Babelfish lists a column default as a constraint it keeps as a
	// column property). A drop that was really needed and silently did not
	// happen still fails loudly: DROP COLUMN below refuses while anything
	// depends on the column.
	for _, x := range deps {
		stmt := "DECLARE @sql nvarchar(max) = N'ALTER TABLE " + table + " DROP CONSTRAINT IF EXISTS ' + QUOTENAME(@p1); EXEC sys.sp_executesql @sql;"
		if x.kind == "index" {
			stmt = "DECLARE @sql nvarchar(max) = N'DROP INDEX IF EXISTS ' + QUOTENAME(@p1) + N' ON " + table + "'; EXEC sys.sp_executesql @sql;"
		}
		if _, err := tx.ExecContext(ctx, stmt, x.name); err != nil {
			return fmt.Errorf("drop %s %s: %w", x.kind, x.name, err)
		}
		d.log.Info("finalize: dropped", "kind", x.kind, "name", x.name, "column", col)
	}
	var rowguid *int64
	if err := tx.QueryRowContext(ctx, "SELECT COLUMNPROPERTY(OBJECT_ID(@p1), @p2, 'IsRowGuidCol')", table, col).Scan(&rowguid); err != nil {
		return err
	}
	if rowguid != nil && *rowguid == 1 {
		if _, err := tx.ExecContext(ctx, "ALTER TABLE "+table+" ALTER COLUMN "+col+" DROP ROWGUIDCOL"); err != nil {
			return fmt.Errorf("drop ROWGUIDCOL: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE "+table+" DROP COLUMN "+col); err != nil {
		return err
	}
	d.log.Info("finalize: column dropped", "column", col)
	return nil
}
