package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hartonomous/offload/internal/catalog"
)

// finalizeColumns are dropped by Finalize, RawPayload first (on SQL Server
// a FILESTREAM column needs its ROWGUIDCOL until it is gone).
var finalizeColumns = []string{"RawPayload", "PayloadRowGuid"}

// Finalize implements catalog.Catalog. The count and the drops run in one
// IMMEDIATE transaction, so no row can be added or un-released in between.
func (d *DB) Finalize(ctx context.Context, dryRun bool) (int64, error) {
	var unreleased int64
	err := d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
		cols, err := columns(ctx, c, "LayerTensorSegments")
		if err != nil {
			return err
		}
		if len(cols) == 0 {
			return fmt.Errorf("table LayerTensorSegments does not exist (run schema apply)")
		}
		if err := c.QueryRowContext(ctx, `
SELECT count(*) FROM LayerTensorSegments AS s
LEFT JOIN OffloadSegments AS o ON o.LayerTensorSegmentId = s.LayerTensorSegmentId
WHERE coalesce(o.OffloadState, 'pending') <> 'released'`).Scan(&unreleased); err != nil {
			return err
		}
		if unreleased > 0 {
			return fmt.Errorf("%d segment(s) not released: %w", unreleased, catalog.ErrConflict)
		}
		if dryRun {
			return nil
		}
		for _, col := range finalizeColumns {
			if !cols[strings.ToLower(col)] {
				continue // already dropped: Finalize is idempotent
			}
			idx, err := indexesOn(ctx, c, "LayerTensorSegments", col)
			if err != nil {
				return err
			}
			for _, name := range idx {
				if _, err := c.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
					return fmt.Errorf("drop index %s: %w", name, err)
				}
				d.log.Info("finalize: index dropped", "index", name)
			}
			if _, err := c.ExecContext(ctx, "ALTER TABLE LayerTensorSegments DROP COLUMN "+col); err != nil {
				return fmt.Errorf("drop column %s: %w", col, err)
			}
			d.log.Info("finalize: column dropped", "column", col)
		}
		return nil
	})
	if err != nil {
		return unreleased, fmt.Errorf("sqlite: finalize: %w", err)
	}
	if dryRun {
		return 0, nil
	}
	return 0, d.refreshPayloadColumn(ctx)
}

// indexesOn lists the named (droppable) indexes of table that use column.
// Indexes SQLite made for inline UNIQUE constraints (sqlite_autoindex_*)
// cannot be dropped; DROP COLUMN then fails and says why.
func indexesOn(ctx context.Context, q queryer, table, column string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
SELECT DISTINCT il.name
FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii
WHERE ii.name = ? COLLATE NOCASE AND il.origin = 'c'`, table, column)
	if err != nil {
		return nil, fmt.Errorf("indexes on %s.%s: %w", table, column, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}
