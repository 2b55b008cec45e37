package tests

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
)

// The road to Azure SQL Database on the T-SQL engine (docs/CUTOVER.md): the
// demo database plus modules that still call dbo.clr_* functions assesses
// with each call site and its replacement and exits non-zero, and apply
// refuses while no segment is proven; once the callers move and the
// segments are released and finalized, assess exits 0 and apply has
// nothing left to do.
func TestCutoverOnTSQL(t *testing.T) {
	dsn := mssqltest.Database(t)
	w := newWorld(t)
	w.env["SQL_CONNECTION_STRING"] = dsn
	w.mustRun("demo", "seed", "--small", "--files-dir", w.dir+"/models")
	w.mustRun("schema", "apply")
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(mssql.Redact(err, dsn))
	}
	defer db.Close()
	mustExec(t, db, `CREATE PROCEDURE dbo.usp_SaveReport @p nvarchar(4000), @t nvarchar(max)
AS
BEGIN
    DECLARE @n bigint;
    SET @n = dbo.clr_WriteFileText(@p, @t);
END`, `CREATE PROCEDURE dbo.usp_ExportAtoms
AS
SELECT AtomId, dbo.clr_ReadFileText(PayloadLocator) AS Body FROM dbo.Atoms;`)

	out, errs, code := w.run("cutover", "assess")
	if code != 1 {
		t.Fatalf("assess with callers and unproven segments: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"dbo.usp_SaveReport:5", "EXEC dbo.usp_WriteFileText @p, @t, @n OUTPUT;",
		"dbo.usp_ExportAtoms:3", "set-based", "OffloadReadiness", "blocker(s) left: ClrAssemblies, OffloadReadiness"} {
		// Babelfish lists object names lower-cased (docs/TSQL.md).
		if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
			t.Errorf("assess output lacks %q:\n%s%s", want, out, errs)
		}
	}
	out, _, _ = w.run("cutover", "assess", "--json")
	var rep struct {
		Blockers int
		Findings []struct{ Rule, Object, Suggestion string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Blockers == 0 {
		t.Fatalf("assess --json: %v\n%s", err, out)
	}
	if out, errs, code := w.run("cutover", "apply", "--confirm"); code != 1 || !strings.Contains(out+errs, "not verified") {
		t.Fatalf("apply before the segments are proven: exit %d\n%s%s", code, out, errs)
	}

	// The callers move to the procedures; the segments are released and
	// RawPayload dropped.
	mustExec(t, db, `ALTER PROCEDURE dbo.usp_SaveReport @p nvarchar(4000), @t nvarchar(max)
AS
BEGIN
    DECLARE @n bigint;
    EXEC dbo.usp_WriteFileText @p, @t, @n OUTPUT;
END`, "DROP PROCEDURE dbo.usp_ExportAtoms")
	w.mustRun("run", "--no-demo", "--finalize")

	out, errs, code = w.run("cutover", "assess")
	if code != 0 || !strings.Contains(out, "nothing blocks Azure SQL Database") {
		t.Fatalf("assess after the cutover steps: exit %d\n%s%s", code, out, errs)
	}
	if out := w.mustRun("cutover", "apply"); !strings.Contains(out, "0 step(s)") {
		t.Fatalf("apply on a database with nothing left:\n%s", out)
	}
	script := filepath.Join(w.dir, "cutover.sql")
	w.mustRun("cutover", "apply", "--script", script)
	if b, err := os.ReadFile(script); err != nil || !strings.Contains(string(b), "0 step(s)") {
		t.Fatalf("script: %v\n%s", err, b)
	}
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
