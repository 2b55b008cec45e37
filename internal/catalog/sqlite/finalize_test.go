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
			db.ClaimSegment(ctx, catalog.ClaimSegmentParams{ID: id, Token: "t", Now: now, Until: now.Add(time.Minute)}),
			db.RecordMigrated(ctx, catalog.RecordMigratedParams{ID: id, Token: "t", Sha256: sha, BlobURI: "http://x/" + etag, ETag: etag, Size: 4, Now: now}),
			db.RecordVerified(ctx, catalog.RecordVerifiedParams{ID: id, ExpectSha256: sha, ExpectETag: etag, State: catalog.StateVerified, Result: "ok", Now: now}),
		}
		if i < n-1 {
			steps = append(steps, db.ReleasePayload(ctx, catalog.ReleasePayloadParams{ID: id, ExpectSha256: sha, ExpectETag: etag, Now: now}))
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
	if err := db.ReleasePayload(ctx, catalog.ReleasePayloadParams{ID: ids[i], ExpectSha256: sha, ExpectETag: etag, Now: catalogtest.Base}); err != nil {
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

// TestFinalizeRefusesColumnLevelUnique: a catalog whose PayloadRowGuid is
// declared UNIQUE in the table definition (which ALTER TABLE DROP COLUMN
// cannot drop) is refused with the way out, and nothing changes: not the
// columns, not the schema objects, not a row.
func TestFinalizeRefusesColumnLevelUnique(t *testing.T) {
	db, ctx, ids := releasedCopy(t, 3)

	// One segment not released: refused as usual, nothing changed.
	if n, err := db.Finalize(ctx, catalog.FinalizeParams{}); !errors.Is(err, catalog.ErrConflict) || n != 1 {
		t.Fatalf("finalize with one unreleased: %d, %v", n, err)
	}
	releaseLast(t, db, ctx, ids)
	before := schemaObjects(t, db, ctx)

	_, err := db.Finalize(ctx, catalog.FinalizeParams{})
	if !errors.Is(err, errColumnUnique) || !strings.Contains(err.Error(), "PayloadRowGuid") ||
		!strings.Contains(err.Error(), "lang_altertable") {
		t.Fatalf("finalize on a column-level UNIQUE: %v, want errColumnUnique naming the column and the way out", err)
	}
	cols, err := columns(ctx, db.db, "LayerTensorSegments")
	if err != nil || !cols["payloadrowguid"] || !cols["rawpayload"] {
		t.Fatalf("refused finalize dropped columns: %v, %v", cols, err)
	}
	after := schemaObjects(t, db, ctx)
	if len(after) != len(before) {
		t.Fatalf("refused finalize changed the schema: %v -> %v", before, after)
	}
	for _, id := range ids {
		if seg, err := db.GetSegment(ctx, id); err != nil || seg.State != catalog.StateReleased {
			t.Fatalf("segment %d after refused finalize: %+v %v", id, seg, err)
		}
	}

}
