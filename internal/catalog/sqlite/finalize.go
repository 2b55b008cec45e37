package sqlite

import (
	"context"
	"database/sql"
	"errors"
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
//
// A column that carries a column-level UNIQUE constraint cannot be dropped
// by SQLite's ALTER TABLE DROP COLUMN ("cannot drop UNIQUE column"), only
// by rebuilding the table. Offload's own SQLite schema never declares one
// (it makes a named unique index, which is dropped first), and the embedded
// catalog serves local runs, the demo and tests, never a Hartonomous
// deployment (README, "The embedded catalog"): so such a catalog is refused
// before anything changes, with the way out in the message.
func (d *DB) Finalize(ctx context.Context, p catalog.FinalizeParams) (int64, error) {
	const table = "LayerTensorSegments"
	var unreleased int64
	err := d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
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
		if p.DryRun {
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
		if err := refuseColumnUnique(ctx, c, table, present); err != nil {
			return err
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
	if p.DryRun {
		return 0, nil
	}
	return 0, d.refreshPayloadColumn(ctx)
}

// errColumnUnique: a column to drop carries a column-level UNIQUE.
var errColumnUnique = errors.New("declared UNIQUE in the table definition, which SQLite's ALTER TABLE DROP COLUMN cannot drop")

// refuseColumnUnique returns errColumnUnique, naming the column and the way
// out, when a UNIQUE constraint of the table definition covers one of cols
// (the index SQLite made for it has origin 'u' and cannot be dropped).
func refuseColumnUnique(ctx context.Context, q queryer, table string, cols []string) error {
	for _, col := range cols {
		var n int
		err := q.QueryRowContext(ctx, `
SELECT count(*) FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii
WHERE ii.name = ? COLLATE NOCASE AND il.origin = 'u'`, table, col).Scan(&n)
		if err != nil {
			return fmt.Errorf("unique constraints on %s.%s: %w", table, col, err)
		}
		if n > 0 {
			return fmt.Errorf("%s.%s is %w; nothing was changed: rebuild the table without it "+
				"(https://www.sqlite.org/lang_altertable.html#otheralter) or declare the uniqueness "+
				"as a CREATE UNIQUE INDEX, then run finalize again", table, col, errColumnUnique)
		}
	}
	return nil
}

// indexesOn lists the named (droppable) indexes of table that use column.
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
