package mssql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
)

// TestFinalizeUnnamedUniqueOnTSQL: a Hartonomous database whose unique
// PayloadRowGuid constraint carries a system-made name (UQ__…, as a
// column-level UNIQUE without CONSTRAINT gets) finalizes like the named
// one: the constraint, the default, ROWGUIDCOL and both columns go; the
// rows stay.
func TestFinalizeUnnamedUniqueOnTSQL(t *testing.T) {
	db, raw, schema := openServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	table := schema + ".LayerTensorSegments"
	for _, s := range []string{
		"ALTER TABLE " + table + " DROP CONSTRAINT UQ_LayerTensorSegments_PayloadRowGuid",
		"ALTER TABLE " + table + " ADD UNIQUE (PayloadRowGuid)",
	} {
		if _, err := raw.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		t.Fatal(err)
	}
	model, err := db.InsertModel(ctx, catalog.NewModel{Name: "m", Type: "llama"})
	if err != nil {
		t.Fatal(err)
	}
	layer, err := db.InsertLayer(ctx, catalog.NewLayer{ModelID: model, LayerIdx: 0, QuantizationType: "Q8_0"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.InsertSegment(ctx, catalog.NewSegment{LayerID: layer, SegmentOrdinal: 0, QuantizationType: "Q8_0",
		Payload: strings.NewReader("abcd"), Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	now, sha := catalogtest.Base, strings.Repeat("ab", 32)
	for i, err := range []error{
		db.ClaimSegment(ctx, catalog.ClaimSegmentParams{ID: id, Token: "t", Now: now, Until: now.Add(time.Minute)}),
		db.RecordMigrated(ctx, catalog.RecordMigratedParams{ID: id, Token: "t", Sha256: sha, BlobURI: "http://x/0.bin", ETag: "e", Size: 4, Now: now}),
		db.RecordVerified(ctx, catalog.RecordVerifiedParams{ID: id, ExpectSha256: sha, ExpectETag: "e", State: catalog.StateVerified, Result: "ok", Now: now}),
		db.ReleasePayload(ctx, catalog.ReleasePayloadParams{ID: id, ExpectSha256: sha, ExpectETag: "e", Now: now}),
	} {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if n, err := db.Finalize(ctx, catalog.FinalizeParams{}); err != nil || n != 0 {
		t.Fatalf("finalize: %d, %v", n, err)
	}
	for _, col := range []string{"RawPayload", "PayloadRowGuid"} {
		var present *int64
		if err := raw.QueryRowContext(ctx, "SELECT COL_LENGTH(@p1, @p2)", table, col).Scan(&present); err != nil || present != nil {
			t.Fatalf("%s after finalize: %v, %v", col, present, err)
		}
	}
	if seg, err := db.GetSegment(ctx, id); err != nil || seg.State != catalog.StateReleased || seg.BlobETag != "e" {
		t.Fatalf("segment after finalize: %+v, %v", seg, err)
	}
	if n, err := db.Finalize(ctx, catalog.FinalizeParams{}); err != nil || n != 0 {
		t.Fatalf("second finalize: %d, %v", n, err)
	}
}
