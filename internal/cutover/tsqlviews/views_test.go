package tsqlviews_test

import (
	"strings"
	"testing"
)

// A database without FILESTREAM, Service Broker, CLR or Offload's tables
// assesses clean: every catalog query runs on the engine.
func TestEmptyDatabaseAssessesCleanOnTSQL(t *testing.T) {
	r := assess(t, emptyDatabase(t), nil)
	if r.Blockers != 0 || len(r.Findings) != 0 {
		t.Fatalf("empty database: %+v", r.Findings)
	}
	if r.Database == "" {
		t.Fatal("no database name")
	}
}

// A module calling a dbo.clr_* function that does not exist (the engine
// has no CLR) is found through its text, with its line and replacement;
// the comment and the literal that name one are not; dynamic SQL is
// flagged. Offload's readiness: RawPayload is still there.
func TestModuleTextOnTSQL(t *testing.T) {
	db := setup(t)
	exec(t, db, `CREATE PROCEDURE dbo.usp_SaveReport @p nvarchar(4000), @t nvarchar(max)
AS
BEGIN
    -- dbo.clr_DeleteFile(@p): only a comment
    DECLARE @n bigint, @note nvarchar(100) = N'dbo.clr_ReadFileText(@p)';
    SET @n = dbo.clr_WriteFileText(@p, @t);
    EXEC (N'SELECT 1');
END`)
	r := assess(t, db, nil)
	var calls, dynamic, ready int
	for _, f := range r.Findings {
		t.Logf("%s %s %s:%d %s | %s", f.Severity, f.Rule, f.Object, f.Line, f.Detail, f.Suggestion)
		switch {
		case f.Rule == "ClrAssemblies":
			calls++
			// Babelfish lists object names lower-cased (docs/TSQL.md).
			if !strings.EqualFold(f.Object, "dbo.usp_SaveReport") || f.Line != 6 || f.Suggestion != "EXEC dbo.usp_WriteFileText @p, @t, @n OUTPUT;" {
				t.Errorf("call site: %+v", f)
			}
		case f.Rule == "DynamicSql":
			dynamic++
		case f.Rule == "OffloadReadiness":
			ready++
			if !strings.Contains(f.Object, "RawPayload") {
				t.Errorf("readiness: %+v", f)
			}
		default:
			t.Errorf("unexpected finding %+v", f)
		}
	}
	if calls != 1 || dynamic != 1 || ready != 1 || r.Blockers != 2 {
		t.Fatalf("calls %d, dynamic %d, readiness %d, blockers %d", calls, dynamic, ready, r.Blockers)
	}
}
