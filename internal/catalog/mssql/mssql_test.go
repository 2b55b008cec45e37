package mssql

import (
	"context"
	"database/sql"
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
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
)

// The SQL Server tests need a server: set MSSQL_TEST_DSN (see mssqltest).
const dsnEnv = mssqltest.DSNEnv

func setupServer(t testing.TB) (dsn, schema string, raw *sql.DB) { return mssqltest.Server(t) }

func openServer(t testing.TB) (*DB, *sql.DB, string) {
	dsn, schema, raw := setupServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, raw, schema
}

func TestConformance(t *testing.T) {
	if os.Getenv(dsnEnv) == "" {
		t.Skipf("%s is not set: SQL Server conformance suite skipped", dsnEnv)
	}
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
		db, _, _ := openServer(t)
		return db
	})
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

func TestApplyTwiceChangesNothingOnServer(t *testing.T) {
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

func TestApplyRefusesMissingTables(t *testing.T) {
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
	guard := regexp.MustCompile(`^(COL_LENGTH\('dbo\.\w+', '\w+'\) IS NULL|OBJECT_ID\('dbo\.\w+', '\w+'\) IS NULL|NOT EXISTS \(SELECT 1 FROM sys\.indexes WHERE .+\))$`)
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
		err := redact(errors.New("login failed near "+tc.secret+" in "+tc.dsn), tc.dsn)
		if strings.Contains(err.Error(), tc.secret) || strings.Contains(err.Error(), tc.dsn) {
			t.Errorf("not redacted: %v", err)
		}
	}
	plain := errors.New("connection refused")
	if redact(plain, "server=h;password=zzz") != plain {
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
