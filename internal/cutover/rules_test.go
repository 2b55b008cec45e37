package cutover_test

import (
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/cutover"
	"github.com/hartonomous/offload/internal/cutover/cutovertest"
)

// TestEveryRule: each rule of docs/CUTOVER.md's table finds what it names
// in a module (or a catalog row) and nothing in a comment or a literal.
func TestEveryRule(t *testing.T) {
	cases := []struct {
		rule, text, detail string
		sev                cutover.Severity
		line               int
	}{
		{"BulkInsert", "CREATE PROCEDURE p AS\nBULK INSERT dbo.T FROM 'D:\\in\\x.csv' WITH (FIELDTERMINATOR = ',');", `"D:\\in\\x.csv"`, cutover.Issue, 2},
		{"OpenRowsetWithNonBlobDataSourceBulk", "CREATE VIEW v AS SELECT * FROM OPENROWSET(BULK N'\\\\share\\f.bin', SINGLE_BLOB) AS b", "OPENROWSET(BULK", cutover.Issue, 1},
		{"OpenRowsetWithSQLAndNonSQLProvider", "CREATE PROCEDURE p AS\n\nSELECT * FROM OPENROWSET('SQLNCLI', 'Server=x;', 'SELECT 1')", `"SQLNCLI"`, cutover.Issue, 3},
		{"CrossDatabaseReferences", "CREATE VIEW v AS SELECT a FROM Archive.dbo.Atoms", "Archive", cutover.Issue, 1},
		{"CrossDatabaseReferences", "CREATE VIEW v AS SELECT a FROM [Archive]..[Atoms]", "Archive", cutover.Issue, 1},
		{"LinkedServer", "CREATE VIEW v AS SELECT a FROM REMOTE1.Hr.dbo.People", "REMOTE1", cutover.Issue, 1},
		{"LinkedServer", "CREATE VIEW v AS SELECT * FROM OPENQUERY(REMOTE1, 'SELECT 1')", "OPENQUERY", cutover.Issue, 1},
		{"MSDTCTransactSQL", "CREATE PROCEDURE p AS\nBEGIN DISTRIBUTED TRANSACTION;", "distributed", cutover.Issue, 2},
		{"XpCmdshell", "CREATE PROCEDURE p AS EXEC master..xp_cmdshell 'dir'", "xp_cmdshell", cutover.Issue, 1},
		{"CryptographicProvider", "CREATE PROCEDURE p AS CREATE CRYPTOGRAPHIC PROVIDER k FROM FILE = 'x.dll'", "cryptographic", cutover.Issue, 1},
		{"DisableDefCNSTCHK", "CREATE PROCEDURE p AS SET DISABLE_DEF_CNST_CHK ON", "DISABLE_DEF_CNST_CHK", cutover.Issue, 1},
		{"DatabasePrincipalAlias", "CREATE PROCEDURE p AS SELECT * FROM sys.database_principal_aliases", "database_principal_aliases", cutover.Issue, 1},
		{"RAISERROR", "CREATE PROCEDURE p AS RAISERROR 50001 'legacy'", "legacy", cutover.Warning, 1},
		{"FastFirstRowHint", "CREATE VIEW v AS SELECT a FROM t WITH (FASTFIRSTROW)", "FASTFIRSTROW", cutover.Warning, 1},
		{"NonANSILeftOuterJoinSyntax", "CREATE VIEW v AS SELECT a.x FROM a, b\nWHERE a.id *= b.id", "*=", cutover.Warning, 2},
		{"NonANSIRightOuterJoinSyntax", "CREATE VIEW v AS SELECT a.x FROM a, b WHERE a.k = 1 AND a.id =* b.id", "=*", cutover.Warning, 1},
		{"ComputeClause", "CREATE PROCEDURE p AS SELECT a FROM t COMPUTE SUM(a)", "COMPUTE", cutover.Warning, 1},
		{"SystemProcedures110", "CREATE PROCEDURE p AS EXEC sp_dboption 'db', 'read only', 'true'", "sp_dboption", cutover.Warning, 1},
		{"SqlMail", "CREATE PROCEDURE p AS EXEC master.dbo.xp_sendmail @recipients = 'a'", "xp_sendmail", cutover.Warning, 1},
		{"FileStream", "CREATE PROCEDURE p AS SELECT RawPayload.PathName() FROM t", "PathName", cutover.Issue, 1},
		{"FileStream", "CREATE PROCEDURE p AS\nSELECT GET_FILESTREAM_TRANSACTION_CONTEXT()", "GET_FILESTREAM_TRANSACTION_CONTEXT", cutover.Issue, 2},
		{"ServiceBroker", "CREATE PROCEDURE p AS\nSEND ON CONVERSATION @h MESSAGE TYPE [x] (@b);", "SEND", cutover.Issue, 2},
		{"ClrAssemblies", "CREATE PROCEDURE p AS\n  SET @n = dbo.clr_WriteFileText(@p, @t);", "clr_WriteFileText", cutover.Issue, 2},
		{"DynamicSql", "CREATE PROCEDURE p AS\nEXEC (@sql)", "dynamic SQL", cutover.Warning, 2},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			f := cutovertest.Clean()
			f.Mods = []cutover.Module{cutovertest.Module(1, "dbo", "m", "P", c.text)}
			r := setup(t, f, nil)
			got := one(t, r, c.rule, "dbo.m", "")
			if got.Severity != c.sev || got.Line != c.line || !strings.Contains(strings.ToLower(got.Detail), strings.ToLower(c.detail)) {
				t.Fatalf("finding %+v, want %s at line %d with %q", got, c.sev, c.line, c.detail)
			}
			if (r.Blockers > 0) != (c.sev == cutover.Issue) {
				t.Fatalf("blockers %d for a %s", r.Blockers, c.sev)
			}
			// The same text in a comment and in a literal is no finding.
			f.Mods = []cutover.Module{cutovertest.Module(1, "dbo", "m", "P", "CREATE PROCEDURE p AS\n/* "+strings.ReplaceAll(c.text, "*/", "")+" */ SELECT N'"+strings.ReplaceAll(c.text, "'", "''")+"' -- "+strings.ReplaceAll(c.text, "\n", " "))}
			if r := setup(t, f, nil); len(r.Findings) != 0 {
				t.Fatalf("found in a comment or literal: %+v", r.Findings)
			}
		})
	}
}

func TestCatalogRules(t *testing.T) {
	f := cutovertest.Clean()
	f.DB.NextNamed = []string{"dbo.Queue.NEXT"}
	f.DB.LinkedServers = []string{"REMOTE1"}
	f.DB.SizeBytes = 101 << 40
	f.DB.CompatibilityLevel = 90
	r := setup(t, f, nil)
	one(t, r, "NextColumn", "dbo.Queue.NEXT", "")
	one(t, r, "LinkedServer", "REMOTE1", "sys.servers")
	one(t, r, "SQLDBDatabaseSize", "Hartonomous", "over 100 TB")
	one(t, r, "DbCompatLevelLowerThan100", "Hartonomous", "90")
	if r.Blockers != 3 || !strings.HasPrefix(r.Verdict, "3 blocker(s) left: ") {
		t.Fatalf("verdict %q", r.Verdict)
	}
}

func TestCompoundAssignmentIsNoJoin(t *testing.T) {
	f := cutovertest.Clean()
	f.Mods = []cutover.Module{cutovertest.Module(1, "dbo", "p", "P", "CREATE PROCEDURE dbo.p AS\nDECLARE @x int = 2; SET @x *= 3; UPDATE t SET c *= 2, d *= 4 WHERE k = 1;")}
	if r := setup(t, f, nil); len(r.Findings) != 0 {
		t.Fatalf("%+v", r.Findings)
	}
}

func TestSchemaTableColumnIsNotCrossDatabase(t *testing.T) {
	f := cutovertest.Clean()
	f.Mods = []cutover.Module{cutovertest.Module(1, "dbo", "v", "V", "CREATE VIEW dbo.v AS SELECT dbo.Atoms.AtomId, Hartonomous.dbo.Atoms.AtomId, tempdb..#t.x FROM dbo.Atoms, Hartonomous.dbo.Atoms")}
	if r := setup(t, f, nil); len(r.Findings) != 0 {
		t.Fatalf("%+v", r.Findings)
	}
}

// TestCallSites: every call of a CLR file function is named with its line
// and the replacement that fits where it stands.
func TestCallSites(t *testing.T) {
	r := setup(t, cutovertest.Hartonomous(), cutovertest.ServiceQueues())
	cases := []struct{ object, detail, suggestion string }{
		{"dbo.usp_SaveReport", "clr_WriteFileText (in place)", "EXEC dbo.usp_WriteFileText @p, @t, @n OUTPUT;"},
		{"dbo.usp_SaveReport", "clr_FileExists (in an expression)", "EXEC dbo.usp_FileExists @p, @r OUTPUT"},
		{"dbo.usp_ExportAtoms", "clr_ReadFileText (set-based)", "once per row of a query"},
		{"dbo.ufn_AtomText", "clr_ReadFileText (inside a function or view)", "a function or view cannot EXEC a procedure"},
		{"dbo.usp_ListModels", "clr_ListDirectory (as a table)", "EXEC dbo.usp_ListDirectory @dir"},
		{"dbo.usp_Maintenance", "clr_ExecuteShellCommand", "deliberately does not replace"},
		{"dbo.usp_Maintenance", "clr_CosineSimilarity", "VECTOR_DISTANCE('cosine'"},
	}
	for _, c := range cases {
		f := one(t, r, "ClrAssemblies", c.object, c.detail)
		if !strings.Contains(f.Suggestion, c.suggestion) || f.Line == 0 {
			t.Errorf("%s %s: suggestion %q line %d, want %q", c.object, c.detail, f.Suggestion, f.Line, c.suggestion)
		}
	}
	// The comment and the string literal of usp_SaveReport name
	// clr_DeleteFile and clr_ReadFileText: neither is a call.
	if fs := find(r, "ClrAssemblies", "dbo.usp_SaveReport", ""); len(fs) != 2 {
		t.Errorf("usp_SaveReport: %d call findings, want 2: %+v", len(fs), fs)
	}
}

func TestClrTypeInModule(t *testing.T) {
	f := cutovertest.Hartonomous()
	f.Mods = []cutover.Module{cutovertest.Module(1, "dbo", "p", "P", "CREATE PROCEDURE dbo.p AS\nDECLARE @v [dbo].[Vector3] = dbo.Vector3::Parse(N'1,2,3');")}
	r := setup(t, f, nil)
	if fs := find(r, "ClrAssemblies", "dbo.p", "uses CLR type dbo.Vector3"); len(fs) != 2 || fs[0].Line != 2 {
		t.Fatalf("%+v", fs)
	}
}

func TestMissingClrFunctionFoundThroughText(t *testing.T) {
	f := cutovertest.Clean()
	f.Mods = []cutover.Module{cutovertest.Module(1, "dbo", "usp_Save", "P", "CREATE PROCEDURE dbo.usp_Save @p nvarchar(4000), @t nvarchar(max) AS\nBEGIN\n  DECLARE @n bigint;\n  SELECT @n = [dbo].[clr_WriteFileText](@p, @t);\nEND")}
	r := setup(t, f, nil)
	c := one(t, r, "ClrAssemblies", "dbo.usp_Save", "clr_WriteFileText")
	if c.Line != 4 || c.Suggestion != "EXEC dbo.usp_WriteFileText @p, @t, @n OUTPUT;" {
		t.Fatalf("%+v", c)
	}
}

func TestBrokerFindings(t *testing.T) {
	r := setup(t, cutovertest.Hartonomous(), nil)
	w := one(t, r, "ServiceBroker", "dbo.Neo4jSyncQueue", "3 message(s)")
	if w.Offload != cutover.Change || !strings.Contains(w.Suggestion, "BROKER_SERVICE_QUEUES") {
		t.Fatalf("unmapped service: %+v", w)
	}
	r = setup(t, cutovertest.Hartonomous(), cutovertest.ServiceQueues())
	w = one(t, r, "ServiceBroker", "dbo.Neo4jSyncQueue", "3 message(s)")
	if w.Offload != cutover.Removed || !strings.Contains(w.Suggestion, "neo4j-sync") {
		t.Fatalf("mapped service: %+v", w)
	}
	one(t, r, "ServiceBroker", "sys.transmission_queue", "1 message(s)")
	for _, stmt := range []string{"SEND", "RECEIVE", "BEGIN DIALOG", "END CONVERSATION"} {
		if len(find(r, "ServiceBroker", "dbo.", stmt)) == 0 {
			t.Errorf("no finding for %s", stmt)
		}
	}
	q := one(t, r, "ServiceBroker", "dbo.Neo4jSyncQueue", "activation")
	if !strings.Contains(q.Suggestion, "dbo.usp_Neo4jSyncActivation") {
		t.Errorf("queue finding does not name the module that reads it: %+v", q)
	}
}

func TestReadinessFindings(t *testing.T) {
	f := cutovertest.Clean()
	f.Ready = cutover.Readiness{HasSegmentsTable: true, Unverified: 1, Unreleased: 2, RawPayload: true, AtomsUnlinked: 3}
	r := setup(t, f, nil)
	if len(find(r, "OffloadReadiness", "", "")) != 5 || r.Blockers != 5 {
		t.Fatalf("%+v", r.Findings)
	}
}
