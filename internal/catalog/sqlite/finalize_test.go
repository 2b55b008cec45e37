package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
)

// hartonomousCopyDDL is a Hartonomous catalog copied into SQLite the way a
// conversion tool writes it: PayloadRowGuid with a column-level UNIQUE
// (which ALTER TABLE DROP COLUMN refuses), quoted names, a comment with a
// comma in it, a CHECK on another column, an index, a view and a trigger
// of its own.
var hartonomousCopyDDL = []string{
	`CREATE TABLE Models (ModelId INTEGER PRIMARY KEY, ModelName TEXT NOT NULL, ModelType TEXT NOT NULL)`,
	`CREATE TABLE ModelLayers (LayerId INTEGER PRIMARY KEY, ModelId INTEGER NOT NULL REFERENCES Models(ModelId) ON DELETE CASCADE,
	  LayerIdx INTEGER NOT NULL, LayerName TEXT, QuantizationType TEXT)`,
	`CREATE TABLE "LayerTensorSegments" (
	  "LayerTensorSegmentId" INTEGER PRIMARY KEY,
	  "LayerId" INTEGER NOT NULL REFERENCES ModelLayers(LayerId) ON DELETE CASCADE, -- the layer, cascade
	  SegmentOrdinal INTEGER NOT NULL CHECK (SegmentOrdinal >= 0),
	  PointOffset INTEGER, PointCount INTEGER,
	  QuantizationType TEXT NOT NULL DEFAULT 'F16',
	  RawPayload BLOB NOT NULL,
	  [PayloadRowGuid] TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))),
	  CreatedAt TEXT DEFAULT ('2024-01-01, midnight'),
	  CONSTRAINT UQ_Layer_Ordinal UNIQUE (LayerId, SegmentOrdinal))`,
	`CREATE TABLE Atoms (AtomId INTEGER PRIMARY KEY, ContentHash BLOB NOT NULL UNIQUE, Modality TEXT NOT NULL, SourceType TEXT,
	  PayloadLocator TEXT, Metadata TEXT, CreatedAt TEXT, UpdatedAt TEXT)`,
	`CREATE INDEX Their_Segments_Quant ON LayerTensorSegments (QuantizationType)`,
	`CREATE VIEW Their_SegmentCounts AS SELECT LayerId, count(*) AS n FROM LayerTensorSegments GROUP BY LayerId`,
	`CREATE TABLE Their_Audit (SegmentId INTEGER, At TEXT)`,
	`CREATE TRIGGER Their_SegmentAudit AFTER UPDATE OF PointCount ON LayerTensorSegments
	  BEGIN INSERT INTO Their_Audit VALUES (new.LayerTensorSegmentId, 'x'); END`,
	`INSERT INTO Models VALUES (7, 'llama', 'llama')`,
	`INSERT INTO ModelLayers VALUES (70, 7, 0, 'blk.0', 'Q8_0')`,
}

// releasedCopy builds that catalog with n segments, migrated, verified and
// released but the last one (left verified).
func releasedCopy(t *testing.T, n int) (*DB, context.Context, []int64) {
	t.Helper()
	db, ctx := setup(t)
	for _, s := range hartonomousCopyDDL {
		if _, err := db.db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		t.Fatal(err)
	}
	now := catalogtest.Base
	var ids []int64
	for i := range n {
		id, err := db.InsertSegment(ctx, catalog.NewSegment{LayerID: 70, SegmentOrdinal: int64(i), QuantizationType: "Q8_0",
			Payload: strings.NewReader("abcd"), Size: 4})
		if err != nil {
			t.Fatal(err)
		}
		sha, etag := strings.Repeat(fmt.Sprintf("%02x", i), 32), fmt.Sprintf("e%d", i)
		steps := []error{
			db.ClaimSegment(ctx, catalog.ClaimParams{ID: id, Token: "t", Now: now, Until: now.Add(time.Minute)}),
			db.RecordMigrated(ctx, catalog.MigratedParams{ID: id, Token: "t", Sha256: sha, BlobURI: "http://x/" + etag, ETag: etag, Size: 4, Now: now}),
			db.RecordVerified(ctx, catalog.VerifiedParams{ID: id, ExpectSha256: sha, ExpectETag: etag, State: catalog.StateVerified, Result: "ok", Now: now}),
		}
		if i < n-1 {
			steps = append(steps, db.ReleasePayload(ctx, catalog.ReleaseParams{ID: id, ExpectSha256: sha, ExpectETag: etag, Now: now}))
		}
		for k, err := range steps {
			if err != nil {
				t.Fatalf("segment %d step %d: %v", id, k, err)
			}
		}
		ids = append(ids, id)
	}
	return db, ctx, ids
}

func releaseLast(t *testing.T, db *DB, ctx context.Context, ids []int64) {
	t.Helper()
	i := len(ids) - 1
	sha, etag := strings.Repeat(fmt.Sprintf("%02x", i), 32), fmt.Sprintf("e%d", i)
	if err := db.ReleasePayload(ctx, catalog.ReleaseParams{ID: ids[i], ExpectSha256: sha, ExpectETag: etag, Now: catalogtest.Base}); err != nil {
		t.Fatal(err)
	}
}

func schemaObjects(t *testing.T, db *DB, ctx context.Context) map[string]bool {
	t.Helper()
	rows, err := db.db.QueryContext(ctx, "SELECT type || ':' || name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out[s] = true
	}
	return out
}

// TestFinalizeColumnLevelUnique: Finalize drops a PayloadRowGuid declared
// UNIQUE on the column (ALTER TABLE DROP COLUMN refuses it) by rebuilding
// the table, keeping every row, other column, constraint, index, view,
// trigger and foreign key, in both directions.
func TestFinalizeColumnLevelUnique(t *testing.T) {
	db, ctx, ids := releasedCopy(t, 3)
	before := schemaObjects(t, db, ctx)

	// One segment not released: refused, nothing changed.
	if n, err := db.Finalize(ctx, false); !errors.Is(err, catalog.ErrConflict) || n != 1 {
		t.Fatalf("finalize with one unreleased: %d, %v", n, err)
	}
	if cols, _ := columns(ctx, db.db, "LayerTensorSegments"); !cols["payloadrowguid"] || !cols["rawpayload"] {
		t.Fatalf("refused finalize dropped columns: %v", cols)
	}
	releaseLast(t, db, ctx, ids)
	if n, err := db.Finalize(ctx, true); err != nil || n != 0 {
		t.Fatalf("finalize dry run: %d, %v", n, err)
	}
	if cols, _ := columns(ctx, db.db, "LayerTensorSegments"); !cols["payloadrowguid"] {
		t.Fatal("dry run dropped PayloadRowGuid")
	}

	if n, err := db.Finalize(ctx, false); err != nil || n != 0 {
		t.Fatalf("finalize: %d, %v", n, err)
	}
	cols, err := columns(ctx, db.db, "LayerTensorSegments")
	if err != nil || cols["rawpayload"] || cols["payloadrowguid"] {
		t.Fatalf("columns after finalize: %v, %v", cols, err)
	}
	for _, c := range []string{"layertensorsegmentid", "layerid", "segmentordinal", "pointoffset", "pointcount", "quantizationtype", "createdat", "bloburi", "blobetag", "blobsizebytes"} {
		if !cols[c] {
			t.Fatalf("column %s lost: %v", c, cols)
		}
	}
	// Every row, released, with its blob fields; the bookkeeping rows too.
	for i, id := range ids {
		seg, err := db.GetSegment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if seg.State != catalog.StateReleased || seg.BlobETag != fmt.Sprintf("e%d", i) || seg.SegmentOrdinal != int64(i) || seg.QuantizationType != "Q8_0" {
			t.Fatalf("segment after finalize: %+v", seg)
		}
	}
	after := schemaObjects(t, db, ctx)
	for obj := range before {
		if !after[obj] {
			t.Errorf("%s lost in the rebuild", obj)
		}
	}
	if after["table:LayerTensorSegments_offload_rebuild"] {
		t.Error("the rebuild's table is left over")
	}

	exec := func(s string, args ...any) error { _, err := db.db.ExecContext(ctx, s, args...); return err }
	// Constraints still hold: CHECK, composite UNIQUE, foreign key to the
	// layers (enforcement is back on), and the bookkeeping table's foreign
	// key to the rebuilt table.
	if err := exec(`INSERT INTO LayerTensorSegments (LayerId, SegmentOrdinal, QuantizationType) VALUES (70, -1, 'F16')`); err == nil {
		t.Error("CHECK (SegmentOrdinal >= 0) lost")
	}
	if err := exec(`INSERT INTO LayerTensorSegments (LayerId, SegmentOrdinal, QuantizationType) VALUES (70, 0, 'F16')`); err == nil {
		t.Error("UNIQUE (LayerId, SegmentOrdinal) lost")
	}
	if err := exec(`INSERT INTO LayerTensorSegments (LayerId, SegmentOrdinal, QuantizationType) VALUES (999, 9, 'F16')`); err == nil {
		t.Error("foreign key to ModelLayers not enforced after the rebuild")
	}
	if err := exec(`INSERT INTO OffloadSegments (LayerTensorSegmentId) VALUES (999999)`); err == nil {
		t.Error("OffloadSegments' foreign key to the rebuilt table not enforced")
	}
	// Defaults kept; the trigger fires; the view reads the new table.
	if err := exec(`INSERT INTO LayerTensorSegments (LayerTensorSegmentId, LayerId, SegmentOrdinal) VALUES (900, 70, 50)`); err != nil {
		t.Fatal(err)
	}
	var q, created string
	if err := db.db.QueryRowContext(ctx, "SELECT QuantizationType, CreatedAt FROM LayerTensorSegments WHERE LayerTensorSegmentId = 900").Scan(&q, &created); err != nil ||
		q != "F16" || created != "2024-01-01, midnight" {
		t.Fatalf("defaults after rebuild: %q %q %v", q, created, err)
	}
	if err := exec(`UPDATE LayerTensorSegments SET PointCount = 1 WHERE LayerTensorSegmentId = 900`); err != nil {
		t.Fatal(err)
	}
	var audited, n int
	if err := db.db.QueryRowContext(ctx, "SELECT count(*) FROM Their_Audit WHERE SegmentId = 900").Scan(&audited); err != nil || audited != 1 {
		t.Fatalf("trigger after rebuild: %d, %v", audited, err)
	}
	if err := db.db.QueryRowContext(ctx, "SELECT n FROM Their_SegmentCounts WHERE LayerId = 70").Scan(&n); err != nil || n != 4 {
		t.Fatalf("view after rebuild: %d, %v", n, err)
	}
	// Deleting a layer still cascades into the rebuilt table and on.
	if err := exec(`DELETE FROM ModelLayers WHERE LayerId = 70`); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM LayerTensorSegments) + (SELECT count(*) FROM OffloadSegments)").Scan(&left); err != nil || left != 0 {
		t.Fatalf("cascade after rebuild left %d rows, %v", left, err)
	}

	// Idempotent.
	if n, err := db.Finalize(ctx, false); err != nil || n != 0 {
		t.Fatalf("second finalize: %d, %v", n, err)
	}
}

// TestFinalizeRebuildRollsBack: when something else needs a column the
// rebuild drops (here a view reads PayloadRowGuid), Finalize fails with a
// message naming it and changes nothing.
func TestFinalizeRebuildRollsBack(t *testing.T) {
	db, ctx, ids := releasedCopy(t, 2)
	releaseLast(t, db, ctx, ids)
	if _, err := db.db.ExecContext(ctx, `CREATE VIEW Their_Guids AS SELECT PayloadRowGuid FROM LayerTensorSegments`); err != nil {
		t.Fatal(err)
	}
	before := schemaObjects(t, db, ctx)
	_, err := db.Finalize(ctx, false)
	if err == nil || !strings.Contains(err.Error(), "Their_Guids") {
		t.Fatalf("finalize with a view on PayloadRowGuid: %v, want an error naming the view", err)
	}
	t.Logf("refused: %v", err)
	cols, _ := columns(ctx, db.db, "LayerTensorSegments")
	if !cols["payloadrowguid"] || !cols["rawpayload"] {
		t.Fatalf("failed finalize dropped columns: %v", cols)
	}
	after := schemaObjects(t, db, ctx)
	if len(after) != len(before) {
		t.Fatalf("failed finalize changed the schema: %v -> %v", before, after)
	}
	for _, id := range ids {
		if seg, err := db.GetSegment(ctx, id); err != nil || seg.State != catalog.StateReleased {
			t.Fatalf("segment %d after failed finalize: %+v %v", id, seg, err)
		}
	}
	if err := func() error {
		_, err := db.db.ExecContext(ctx, `INSERT INTO OffloadSegments (LayerTensorSegmentId) VALUES (999999)`)
		return err
	}(); err == nil {
		t.Error("foreign keys left off after a failed finalize")
	}
}
