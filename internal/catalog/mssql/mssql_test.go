package mssql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
)

// The SQL Server tests need a server: set MSSQL_TEST_DSN to a login that may
// CREATE SCHEMA and CREATE TABLE in a scratch database. Each test creates the
// Hartonomous tables (as EF Core's InitialBaseline declares them, without
// FILESTREAM) in a throwaway schema and drops it afterwards.
const dsnEnv = "MSSQL_TEST_DSN"

// setupServer returns a connection to MSSQL_TEST_DSN and a fresh schema
// holding the Hartonomous tables; both go away with the test.
func setupServer(t testing.TB) (dsn, schema string, raw *sql.DB) {
	t.Helper()
	dsn = os.Getenv(dsnEnv)
	if dsn == "" {
		t.Skipf("%s is not set: SQL Server catalog tests skipped (set it to a login that may CREATE SCHEMA and CREATE TABLE in a scratch database)", dsnEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, err := sql.Open(driverFor(dsn), dsn)
	if err != nil {
		t.Fatal(Redact(err, dsn))
	}
	t.Cleanup(func() { raw.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = "offload_t_" + hex.EncodeToString(b[:])
	if _, err := raw.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(Redact(err, dsn))
	}
	t.Cleanup(func() { dropSchema(t, raw, schema) })
	// The Hartonomous tables as the demo creates them (the InitialBaseline
	// shapes, with ROWGUIDCOL and the unique PayloadRowGuid Finalize meets).
	for _, b := range splitBatches(withSchema(baselineSQL, schema)) {
		if _, err := raw.ExecContext(ctx, b); err != nil {
			t.Fatal(Redact(err, dsn))
		}
	}
	return dsn, schema, raw
}

func dropSchema(t testing.TB, raw *sql.DB, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := raw.ExecContext(ctx, "DROP PROCEDURE IF EXISTS "+schema+".usp_PublishMessage"); err != nil {
		t.Errorf("cleanup: drop %s.usp_PublishMessage: %v", schema, err)
	}
	for _, tbl := range []string{"OffloadVerifyRuns", "OffloadOutbox", "Atoms", "LayerTensorSegments", "ModelLayers", "Models"} {
		if _, err := raw.ExecContext(ctx, "DROP TABLE IF EXISTS "+schema+"."+tbl); err != nil {
			t.Errorf("cleanup: drop %s.%s: %v", schema, tbl, err)
		}
	}
	if _, err := raw.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+schema); err != nil {
		t.Errorf("cleanup: drop schema %s: %v", schema, err)
	}
}

func openServer(t testing.TB, opts ...Options) (*DB, *sql.DB, string) {
	dsn, schema, raw := setupServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opt := Options{}
	if len(opts) > 0 {
		opt = opts[0]
	}
	opt.Schema = schema
	db, err := Open(ctx, dsn, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, raw, schema
}

func TestConformanceOnTSQL(t *testing.T) {
	if os.Getenv(dsnEnv) == "" {
		t.Skipf("%s is not set: SQL Server conformance suite skipped", dsnEnv)
	}
	catalogtest.Run(t, func(t *testing.T) catalogtest.Catalog {
		db, _, _ := openServer(t)
		return db
	})
}

// The READ COMMITTED fallback (a database without ALLOW_SNAPSHOT_ISOLATION)
// passes the payload cases too: it never blocks the claim, and a rewrite
// during the read is reported, not torn.
func TestPayloadReadCommittedOnTSQL(t *testing.T) {
	if os.Getenv(dsnEnv) == "" {
		t.Skipf("%s is not set: skipped", dsnEnv)
	}
	catalogtest.RunPayload(t, func(t *testing.T) catalogtest.Catalog {
		db, _, _ := openServer(t, Options{PayloadIsolation: IsolationReadCommitted})
		return db
	})
}

// On a database without the Hartonomous tables, PrepareSeed creates them
// (the demo's path), Apply then succeeds, and once a row exists PrepareSeed
// refuses.
func TestPrepareSeedCreatesTablesOnTSQL(t *testing.T) {
	dsn, schema, raw := setupServer(t)
	ctx := context.Background()
	for _, tbl := range []string{"Atoms", "LayerTensorSegments", "ModelLayers", "Models"} {
		if _, err := raw.ExecContext(ctx, "DROP TABLE "+schema+"."+tbl); err != nil {
			t.Fatal(Redact(err, dsn))
		}
	}
	db, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PrepareSeed(ctx); err != nil {
		t.Fatalf("PrepareSeed on an empty schema: %v", err)
	}
	if err := db.PrepareSeed(ctx); err != nil {
		t.Fatalf("PrepareSeed again (tables exist, no rows): %v", err)
	}
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		t.Fatalf("Apply after PrepareSeed: %v", err)
	}
	if _, err := db.InsertModel(ctx, catalog.NewModel{Name: "m", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PrepareSeed(ctx); !errors.Is(err, catalog.ErrNotEmpty) {
		t.Fatalf("PrepareSeed with a row: %v, want ErrNotEmpty", err)
	}
}

// schemaSnapshot is every column, index and constraint of the test schema.
func schemaSnapshot(t *testing.T, raw *sql.DB, schema string) []string {
	t.Helper()
	rows, err := raw.Query(`
SELECT CONCAT(o.name, '.', c.name, ' ', TYPE_NAME(c.user_type_id), ' ', c.max_length, ' ', c.is_nullable)
FROM sys.columns AS c JOIN sys.objects AS o ON o.object_id = c.object_id
WHERE o.schema_id = SCHEMA_ID(@p1)
UNION ALL
SELECT CONCAT(o.name, ' index ', i.name, ' ', i.type_desc) FROM sys.indexes AS i JOIN sys.objects AS o ON o.object_id = i.object_id
WHERE o.schema_id = SCHEMA_ID(@p1) AND i.name IS NOT NULL
UNION ALL
SELECT CONCAT(name, ' ', type_desc) FROM sys.objects WHERE schema_id = SCHEMA_ID(@p1)`, schema)
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
	slices.Sort(out)
	return out
}

func TestApplyTwiceChangesNothingOnTSQL(t *testing.T) {
	db, raw, schema := openServer(t)
	ctx := context.Background()
	dry, err := db.Apply(ctx, catalog.ApplyParams{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.Apply(ctx, catalog.ApplyParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry, first) || len(first) < 20 {
		t.Fatalf("dry run said %d statements, apply ran %d", len(dry), len(first))
	}
	before := schemaSnapshot(t, raw, schema)
	second, err := db.Apply(ctx, catalog.ApplyParams{})
	if err != nil || len(second) != 0 {
		t.Fatalf("second apply: %q, %v", second, err)
	}
	if after := schemaSnapshot(t, raw, schema); !slices.Equal(before, after) {
		t.Fatalf("second apply changed the schema:\n%s\n---\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

func TestApplyRefusesMissingTablesOnTSQL(t *testing.T) {
	db, raw, schema := openServer(t)
	if _, err := raw.Exec("DROP TABLE " + schema + ".Atoms"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Apply(context.Background(), catalog.ApplyParams{})
	if err == nil || !strings.Contains(err.Error(), "never creates") {
		t.Fatalf("apply without dbo.Atoms: %v", err)
	}
}

// --- tests that need no server ---

func TestSchemaBatches(t *testing.T) {
	batches, err := loadBatches("dbo")
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) < 20 {
		t.Fatalf("%d batches", len(batches))
	}
	guard := regexp.MustCompile(`^(COL_LENGTH\('dbo\.\w+', '\w+'\) IS NULL|OBJECT_ID\('dbo\.\w+', '\w+'\) IS NULL|NOT EXISTS \(SELECT 1 FROM sys\.(indexes|index_columns) .+\))$`)
	for _, b := range batches {
		if !guard.MatchString(b.cond) {
			t.Errorf("%s: unguarded or unusual condition %q", b.file, b.cond)
		}
		if !strings.HasPrefix(b.stmt, "ALTER TABLE dbo.") && !strings.HasPrefix(b.stmt, "CREATE INDEX ") &&
			!strings.HasPrefix(b.stmt, "CREATE TABLE dbo.Offload") {
			t.Errorf("%s: statement %q", b.file, b.stmt)
		}
	}
	other, err := loadBatches("offload_t_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range other {
		if strings.Contains(b.text, "dbo.") || !strings.Contains(b.text, "offload_t_1.") {
			t.Fatalf("schema not substituted: %s", b.text)
		}
	}
	if _, err := parseBatch("x.sql", "ALTER TABLE dbo.Atoms ADD X int"); err == nil {
		t.Fatal("an unguarded batch was accepted")
	}
}

func TestStatusQuery(t *testing.T) {
	q := statusQuery(true)
	if !strings.Contains(q, payloadBytesExpr) || !strings.Contains(q, "GROUP BY m.ModelId, m.ModelName, s.OffloadState") {
		t.Fatalf("status query:\n%s", q)
	}
	if strings.Contains(statusQuery(false), "RawPayload") {
		t.Fatal("status query after finalize still names RawPayload")
	}
}

// TestPlainTSQL keeps the dialect to what every engine runs and a DBA can
// read: no MERGE, no SELECT *, no value spliced into SQL text.
func TestPlainTSQL(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("*/*.sql")
	files = append(files, more...)
	bad := regexp.MustCompile(`(?i)\bMERGE\s+(INTO\s+)?(dbo|\[|\w+\.)|SELECT\s+\*|Sprintf\([^)]*(UPDATE|INSERT|SELECT|DELETE)`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := bad.Find(b); m != nil {
			t.Errorf("%s: %q", f, m)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ dsn, secret string }{
		{"sqlserver://sa:p%40ss@host?database=x", "p@ss"},
		{"server=host;user id=sa;password=hunter22;database=x", "hunter22"},
		{"server=host;User ID=sa;Pwd={br;aced};", "{br"},
		{"Server=tcp:x.database.windows.net;Authentication=ActiveDirectoryServicePrincipal;User Id=app;Client Secret=cs-123456;", "cs-123456"},
	} {
		err := Redact(errors.New("login failed near "+tc.secret+" in "+tc.dsn), tc.dsn)
		if strings.Contains(err.Error(), tc.secret) || strings.Contains(err.Error(), tc.dsn) {
			t.Errorf("not redacted: %v", err)
		}
	}
	plain := errors.New("connection refused")
	if Redact(plain, "server=h;password=zzz") != plain {
		t.Fatal("an error without secrets was rewrapped")
	}
}

func TestDriverFor(t *testing.T) {
	if driverFor("sqlserver://h?database=x") != "sqlserver" ||
		driverFor("Server=tcp:h.database.windows.net;Database=d;FedAuth=ActiveDirectoryManagedIdentity") != "azuresql" {
		t.Fatal("wrong driver")
	}
	if _, err := Open(context.Background(), "sqlserver://h", Options{Schema: "x; DROP TABLE y"}); err == nil {
		t.Fatal("a schema that is not an identifier was accepted")
	}
}
