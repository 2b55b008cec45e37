package mssql

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
)

// baselineSQL creates the Hartonomous tables for demo data and tests.
//
//go:embed baseline/hartonomous.sql
var baselineSQL string

// PrepareSeed implements catalog.Seeder: it refuses (ErrNotEmpty) when any
// Hartonomous table already holds a row, and otherwise creates the tables
// that are missing, in the InitialBaseline shapes. Offload's own columns
// are Apply's job.
func (d *DB) PrepareSeed(ctx context.Context) error {
	for _, t := range hartonomousTables {
		var id *int64
		if err := d.db.QueryRowContext(ctx, "SELECT OBJECT_ID(@p1, 'U')", d.schema+"."+t).Scan(&id); err != nil {
			return fmt.Errorf("mssql: prepare seed: %w", err)
		}
		if id == nil {
			continue
		}
		// t is one of hartonomousTables: a constant, safe as text.
		var n int
		if err := d.db.QueryRowContext(ctx, d.q("SELECT COUNT(*) FROM (SELECT TOP (1) 1 AS x FROM dbo."+t+") AS r")).Scan(&n); err != nil {
			return fmt.Errorf("mssql: prepare seed: %s: %w", t, err)
		}
		if n > 0 {
			return fmt.Errorf("mssql: %s.%s already holds rows: %w", d.schema, t, catalog.ErrNotEmpty)
		}
	}
	for _, b := range splitBatches(withSchema(baselineSQL, d.schema)) {
		if _, err := d.db.ExecContext(ctx, b); err != nil {
			return fmt.Errorf("mssql: prepare seed: create tables: %w", err)
		}
	}
	return d.refreshPayloadColumn(ctx)
}
