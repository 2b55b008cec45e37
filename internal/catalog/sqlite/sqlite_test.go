package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

func setup(t *testing.T) (*DB, context.Context) {
	t.Helper()
	// No deadline of its own: under the race detector a 64 MiB payload
	// through SQLite takes minutes; go test's -timeout catches a hang.
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "catalog.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, ctx
}

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalogtest.Catalog {
		db, _ := setup(t)
		return db
	})
}

// TestDriverLayout fails when a modernc.org/sqlite upgrade changes the
// connection fields blobio.go reads: the handle must be this connection's.
func TestDriverLayout(t *testing.T) {
	db, ctx := setup(t)
	c, err := db.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var file string
	err = c.Raw(func(dc any) error {
		h, err := rawHandle(dc)
		if err != nil {
			return err
		}
		file = h.filename()
		return nil
	})
	if err != nil {
		t.Fatalf("modernc.org/sqlite layout: %v", err)
	}
	if file != db.path {
		t.Fatalf("handle from the driver points at %q, want %q: the driver's conn layout changed", file, db.path)
	}
	if _, err := rawHandle(struct{ db uintptr }{}); err == nil {
		t.Fatal("rawHandle accepted a foreign type")
	}
}

// schemaOf is the schema SQLite records: what Apply must leave unchanged
// when run again.
func schemaOf(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	db, ctx := setup(t)
	dry, err := db.Apply(ctx, catalog.ApplyParams{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(schemaOf(t, db.db)) != 0 {
		t.Fatal("dry run changed the schema")
	}
	first, err := db.Apply(ctx, catalog.ApplyParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry, first) || len(first) < 10 {
		t.Fatalf("dry run said %d statements, apply ran %d", len(dry), len(first))
	}
	before := schemaOf(t, db.db)
	second, err := db.Apply(ctx, catalog.ApplyParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 0 {
		t.Fatalf("second apply ran %q", second)
	}
	if after := schemaOf(t, db.db); !slices.Equal(before, after) {
		t.Fatalf("second apply changed the schema:\n%s\n---\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	for table, want := range map[string][]string{
		"LayerTensorSegments": {"BlobUri", "BlobETag", "BlobSizeBytes", "RawPayload", "PayloadRowGuid"},
		"OffloadSegments":     {"PayloadSha256", "OffloadState", "OffloadAttempts", "ClaimedUntil", "VerifyResult"},
		"Atoms":               {"BlobUri", "BlobContainer", "BlobName", "BlobSizeBytes", "BlobETag", "BlobLastModified", "VerifiedAt"},
	} {
		cols, err := columns(ctx, db.db, table)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range want {
			if !cols[strings.ToLower(c)] {
				t.Fatalf("%s has no %s", table, c)
			}
		}
	}
}

// TestApplyOnHartonomousData: a catalog whose Hartonomous tables exist
// (without Offload's columns, with rows and an index of their own) gains the
// columns and keeps its rows, and no baseline index is added to it.
func TestApplyOnHartonomousData(t *testing.T) {
	db, ctx := setup(t)
	for _, s := range []string{
		`CREATE TABLE Models (ModelId INTEGER PRIMARY KEY, ModelName TEXT NOT NULL, ModelType TEXT NOT NULL, Extra TEXT)`,
		`CREATE TABLE ModelLayers (LayerId INTEGER PRIMARY KEY, ModelId INTEGER NOT NULL REFERENCES Models(ModelId), LayerIdx INTEGER NOT NULL, LayerName TEXT, QuantizationType TEXT)`,
		`CREATE TABLE LayerTensorSegments (LayerTensorSegmentId INTEGER PRIMARY KEY, LayerId INTEGER NOT NULL REFERENCES ModelLayers(LayerId),
		  SegmentOrdinal INTEGER NOT NULL, PointOffset INTEGER, PointCount INTEGER, QuantizationType TEXT NOT NULL,
		  RawPayload BLOB NOT NULL, PayloadRowGuid TEXT NOT NULL, CreatedAt TEXT, UNIQUE (LayerId, SegmentOrdinal))`,
		`CREATE TABLE Atoms (AtomId INTEGER PRIMARY KEY, ContentHash BLOB NOT NULL UNIQUE, Modality TEXT NOT NULL, SourceType TEXT,
		  PayloadLocator TEXT, Metadata TEXT, CreatedAt TEXT, UpdatedAt TEXT)`,
		`CREATE INDEX Their_ModelLayers ON ModelLayers (ModelId, LayerIdx)`,
		`INSERT INTO Models VALUES (7, 'llama', 'llama', 'x')`,
		`INSERT INTO ModelLayers VALUES (70, 7, 0, 'blk.0', 'Q8_0')`,
		`INSERT INTO LayerTensorSegments VALUES (700, 70, 0, 0, 10, 'Q8_0', x'00010203', 'guid-1', '2024-01-01')`,
		`INSERT INTO Atoms VALUES (9, x'AA', 'model', 'ollama-blob', 'D:\Models\blobs\sha256-aa', '{}', '2024-01-01', '2024-01-01')`,
	} {
		if _, err := db.db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	stmts, err := db.Apply(ctx, catalog.ApplyParams{})
	if err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, s := range stmts {
		ours := strings.Contains(s, "OffloadSegments") || strings.Contains(s, "OffloadOutbox") || strings.Contains(s, "OffloadVerifyRuns")
		if (strings.HasPrefix(s, "CREATE TABLE") && !ours) ||
			strings.Contains(s, "UX_") || strings.Contains(s, "IX_ModelLayers") {
			t.Fatalf("apply on existing tables ran %q", s)
		}
		if strings.HasPrefix(s, "ALTER TABLE") {
			added = append(added, s)
		}
	}
	if len(added) != 12 { // 6 on Atoms, 3 on LayerTensorSegments, 2 atom bookkeeping, OffloadErrorAt
		t.Fatalf("apply added %d columns, want 12: %q", len(added), added)
	}
	seg, err := db.GetSegment(ctx, 700)
	if err != nil {
		t.Fatal(err)
	}
	if seg.State != catalog.StatePending || seg.PayloadBytes != 4 || seg.ModelID != 7 || seg.QuantizationType != "Q8_0" {
		t.Fatalf("existing segment after apply: %+v", seg)
	}
	atoms, err := db.ListAtoms(ctx, catalog.AtomFilter{Modality: catalog.ModalityModel, Limit: 10})
	if err != nil || len(atoms) != 1 || atoms[0].PayloadLocator != `D:\Models\blobs\sha256-aa` {
		t.Fatalf("existing atoms after apply: %+v, %v", atoms, err)
	}
	var extra string
	if err := db.db.QueryRowContext(ctx, "SELECT Extra FROM Models WHERE ModelId = 7").Scan(&extra); err != nil || extra != "x" {
		t.Fatalf("their column: %q, %v", extra, err)
	}
	if again, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil || len(again) != 0 {
		t.Fatalf("second apply: %q, %v", again, err)
	}
	r, err := db.OpenPayload(ctx, catalog.OpenPayloadParams{ID: 700, Chunk: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 10)
	n, _ := r.Read(buf)
	m, _ := r.Read(buf[n:])
	if n != 3 || m != 1 || string(buf[:4]) != "\x00\x01\x02\x03" {
		t.Fatalf("existing payload read %q in reads of %d and %d", buf[:n+m], n, m)
	}
	r.Close()

	// The whole life of the existing segment, down to Finalize.
	now := catalogtest.Base
	sha := strings.Repeat("ab", 32)
	steps := []error{
		db.ClaimSegment(ctx, catalog.ClaimSegmentParams{ID: 700, Token: "t", Now: now, Until: now.Add(time.Minute)}),
		db.RecordMigrated(ctx, catalog.RecordMigratedParams{ID: 700, Token: "t", Sha256: sha, BlobURI: "http://x/tensors/7/70/0.bin", ETag: "e", Size: 4, Now: now}),
		db.RecordVerified(ctx, catalog.RecordVerifiedParams{ID: 700, ExpectSha256: sha, ExpectETag: "e", State: catalog.StateVerified, Result: "ok", Now: now}),
		db.ReleasePayload(ctx, catalog.ReleasePayloadParams{ID: 700, ExpectSha256: sha, ExpectETag: "e", Now: now}),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	var uri, etag string
	var size int64
	if err := db.db.QueryRowContext(ctx, "SELECT BlobUri, BlobETag, BlobSizeBytes FROM LayerTensorSegments WHERE LayerTensorSegmentId = 700").
		Scan(&uri, &etag, &size); err != nil || uri != "http://x/tensors/7/70/0.bin" || etag != "e" || size != 4 {
		t.Fatalf("released row's blob columns: %q %q %d, %v", uri, etag, size, err)
	}
	if n, err := db.Finalize(ctx, catalog.FinalizeParams{}); err != nil || n != 0 {
		t.Fatalf("finalize: %d, %v", n, err)
	}
	cols, err := columns(ctx, db.db, "LayerTensorSegments")
	if err != nil || cols["rawpayload"] || cols["payloadrowguid"] || !cols["bloburi"] {
		t.Fatalf("columns after finalize: %v, %v", cols, err)
	}
}

func TestOpenRejectsQueryInPath(t *testing.T) {
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "a?b.db"), Options{}); err == nil {
		t.Fatal("a path with '?' was accepted")
	}
}

// filename is sqlite3_db_filename(db, "main"): TestDriverLayout uses it to
// prove the handle is the connection's.
func (h handle) filename() string {
	z, err := libc.CString("main")
	if err != nil {
		return ""
	}
	defer h.free(z)
	return libc.GoString(sqlite3.Xsqlite3_db_filename(h.tls, h.db, z))
}
