package sqlite

import (
	"context"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
)

// hartonomousTables are the tables demo rows go into.
var hartonomousTables = []string{"Models", "ModelLayers", "LayerTensorSegments", "Atoms"}

// PrepareSeed implements catalog.Seeder: ErrNotEmpty when any Hartonomous
// table already holds a row; otherwise the schema is applied (which creates
// the missing tables on the embedded catalog).
func (d *DB) PrepareSeed(ctx context.Context) error {
	for _, t := range hartonomousTables {
		var exists int
		if err := d.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE", t).Scan(&exists); err != nil {
			return fmt.Errorf("sqlite: prepare seed: %w", err)
		}
		if exists == 0 {
			continue
		}
		var n int
		// t is one of hartonomousTables: a constant, safe as text.
		if err := d.db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+t+")").Scan(&n); err != nil {
			return fmt.Errorf("sqlite: prepare seed: %s: %w", t, err)
		}
		if n > 0 {
			return fmt.Errorf("sqlite: %s already holds rows: %w", t, catalog.ErrNotEmpty)
		}
	}
	if _, err := d.Apply(ctx, catalog.ApplyParams{}); err != nil {
		return fmt.Errorf("sqlite: prepare seed: %w", err)
	}
	return nil
}
