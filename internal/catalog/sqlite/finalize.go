package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// finalizeColumns are dropped by Finalize, RawPayload first (on SQL Server
// a FILESTREAM column needs its ROWGUIDCOL until it is gone).
var finalizeColumns = []string{"RawPayload", "PayloadRowGuid"}

// Finalize implements catalog.Catalog. The count and the drops run in one
// IMMEDIATE transaction, so no row can be added or un-released in between.
// A column ALTER TABLE DROP COLUMN refuses (one with a column-level UNIQUE,
// as a Hartonomous catalog copied into SQLite has on PayloadRowGuid) is
// dropped by rebuilding the table in that same transaction (rebuild.go).
func (d *DB) Finalize(ctx context.Context, dryRun bool) (int64, error) {
	const table = "LayerTensorSegments"
	rebuild := false
	for _, col := range finalizeColumns {
		u, err := uniqueOn(ctx, d.db, table, col)
		if err != nil {
			return 0, fmt.Errorf("sqlite: finalize: %w", err)
		}
		rebuild = rebuild || u
	}
	inTx := func(f func(*sql.Conn) error) error { return d.inTx(ctx, "IMMEDIATE", f) }
	if rebuild && !dryRun {
		inTx = func(f func(*sql.Conn) error) error { return d.withForeignKeysOff(ctx, f) }
	}
	var unreleased int64
	err := inTx(func(c *sql.Conn) error {
		cols, err := columns(ctx, c, table)
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
		var present []string
		for _, col := range finalizeColumns {
			if cols[strings.ToLower(col)] {
				present = append(present, col)
			}
		}
		if len(present) == 0 {
			return nil // already dropped: Finalize is idempotent
		}
		if rebuild {
			return d.rebuildWithout(ctx, c, table, present)
		}
		for _, col := range present {
			idx, err := indexesOn(ctx, c, table, col)
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
// cannot be dropped: Finalize rebuilds the table for those.
func indexesOn(ctx context.Context, q queryer, table, column string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `
SELECT DISTINCT il.name
FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii
WHERE ii.name = ? COLLATE NOCASE AND il.origin = 'c'`, table, column)
	if err != nil {
		return nil, fmt.Errorf("indexes on %s.%s: %w", table, column, err)
	}
	return dialect.Strings(rows)
}
