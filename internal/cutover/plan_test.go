package cutover_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/cutover"
	"github.com/hartonomous/offload/internal/cutover/cutovertest"
)

func plan(t *testing.T, f *cutovertest.Fixture, queues map[string]string) cutover.Plan {
	t.Helper()
	in, err := cutover.Load(context.Background(), f, cutover.Options{ServiceQueues: queues})
	if err != nil {
		t.Fatal(err)
	}
	return in.PlanApply()
}

func titles(p cutover.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Part+": "+s.Title)
	}
	return out
}

// withoutCallers drops the fixture's modules: the application has moved
// every caller to the usp_* procedures and the outbox.
func withoutCallers(f *cutovertest.Fixture) *cutovertest.Fixture {
	f.Mods = nil
	return f
}

func TestPlanAfterCallersMoved(t *testing.T) {
	p := plan(t, withoutCallers(cutovertest.Hartonomous()), cutovertest.ServiceQueues())
	if p.Refused() {
		t.Fatalf("refused: %v", p.Refusals)
	}
	want := []string{
		"FILESTREAM: remove the FILESTREAM_ON reference of dbo.LayerTensorSegments",
		"FILESTREAM: checkpoint and FILESTREAM garbage collection",
		"FILESTREAM: remove FILESTREAM file HartonomousFS_Data",
		"FILESTREAM: remove FILESTREAM filegroup HartonomousFS",
		"Service Broker: disable activation on dbo.Neo4jSyncQueue",
		"Service Broker: create dbo.ufn_OffloadCutoverBase64",
		"Service Broker: move the messages waiting in dbo.Neo4jSyncQueue into dbo.OffloadOutbox",
		"Service Broker: move the messages waiting in dbo.Neo4jSyncInitiatorQueue into dbo.OffloadOutbox",
		"Service Broker: move sys.transmission_queue into dbo.OffloadOutbox",
		"Service Broker: end the conversations of dbo.Neo4jSyncQueue",
		"Service Broker: end the conversations of dbo.Neo4jSyncInitiatorQueue",
		"Service Broker: drop service //Hartonomous/Neo4jSyncService",
		"Service Broker: drop service //Hartonomous/Neo4jSyncInitiator",
		"Service Broker: drop queue dbo.Neo4jSyncQueue",
		"Service Broker: drop queue dbo.Neo4jSyncInitiatorQueue",
		"Service Broker: drop contract //Hartonomous/SyncContract",
		"Service Broker: drop message type //Hartonomous/AtomChanged",
		"Service Broker: drop dbo.ufn_OffloadCutoverBase64",
	}
	for _, fn := range cutover.FileFuncs {
		want = append(want, "CLR: drop CLR function dbo."+fn.CLR)
	}
	want = append(want, "CLR: drop CLR assembly Hartonomous.FileIO")
	got := titles(p)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range p.Steps {
		if len(s.Checks) == 0 && !strings.Contains(s.Title, "ufn_OffloadCutoverBase64") {
			t.Errorf("step %q has no statement for the grammar check", s.Title)
		}
	}
	if len(p.Kept) != 1 || !strings.Contains(p.Kept[0], "Hartonomous.Clr") {
		t.Fatalf("kept: %v (want only the assembly with objects Offload does not replace)", p.Kept)
	}
}

func TestPlanKeepsWhatModulesStillUse(t *testing.T) {
	p := plan(t, cutovertest.Hartonomous(), cutovertest.ServiceQueues())
	got := strings.Join(titles(p), "\n")
	for _, called := range []string{"clr_WriteFileText", "clr_FileExists", "clr_ReadFileText", "clr_ListDirectory"} {
		if strings.Contains(got, "drop CLR function dbo."+called) {
			t.Errorf("plan drops %s, which modules still call", called)
		}
	}
	for _, free := range []string{"clr_ReadFileBytes", "clr_WriteFileBytes", "clr_DirectoryExists", "clr_DeleteFile"} {
		if !strings.Contains(got, "drop CLR function dbo."+free) {
			t.Errorf("plan does not drop %s, which no module calls", free)
		}
	}
	if strings.Contains(got, "drop CLR assembly") || strings.Contains(got, "drop service") || strings.Contains(got, "drop queue") {
		t.Errorf("plan drops an object still referenced:\n%s", got)
	}
	kept := strings.Join(p.Kept, "\n")
	for _, m := range []string{"dbo.usp_SaveReport", "dbo.usp_ExportAtoms", "dbo.ufn_AtomText", "dbo.usp_Neo4jSyncActivation", "dbo.trg_Atoms_Sync"} {
		if !strings.Contains(kept, m) {
			t.Errorf("kept does not name %s:\n%s", m, kept)
		}
	}
	// The messages move even while modules keep the objects.
	if !strings.Contains(got, "move the messages waiting in dbo.Neo4jSyncQueue") {
		t.Errorf("messages not moved:\n%s", got)
	}
}

func TestPlanRefusals(t *testing.T) {
	f := cutovertest.Hartonomous()
	f.Ready.Unverified, f.Ready.Unreleased, f.Ready.RawPayload = 2, 3, true
	f.Ready.HasOutbox = false
	p := plan(t, f, nil)
	all := strings.Join(p.Refusals, "\n")
	for _, want := range []string{"2 segment(s) are not verified", "3 segment(s) are not released", "RawPayload still exists",
		"dbo.OffloadOutbox", "service //Hartonomous/Neo4jSyncService has messages waiting and no Storage Queue"} {
		if !strings.Contains(all, want) {
			t.Errorf("refusals lack %q:\n%s", want, all)
		}
	}
	err := p.Run(context.Background(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Run on a refused plan: %v", err)
	}
}

func TestPlanKeepsFilestreamColumnWithData(t *testing.T) {
	f := withoutCallers(cutovertest.Hartonomous())
	f.FS.Tables = append(f.FS.Tables, cutover.FilestreamTable{SchemaName: "dbo", Name: "Atoms", DataSpace: "HartonomousFS"})
	f.FS.Columns = []cutover.FilestreamColumn{{SchemaName: "dbo", TableName: "Atoms", ColumnName: "Payload", Rows: 12, Bytes: 4096}}
	p := plan(t, f, cutovertest.ServiceQueues())
	got := strings.Join(titles(p), "\n")
	if strings.Contains(got, "REMOVE") || strings.Contains(got, "remove FILESTREAM file") || strings.Contains(got, "FILESTREAM_ON reference of dbo.Atoms") {
		t.Fatalf("plan removes FILESTREAM while dbo.Atoms.Payload holds data:\n%s", got)
	}
	if !strings.Contains(got, "FILESTREAM_ON reference of dbo.LayerTensorSegments") {
		t.Fatalf("the finalized table's reference is not removed:\n%s", got)
	}
	if !strings.Contains(strings.Join(p.Kept, "\n"), "dbo.Atoms: FILESTREAM column(s) Payload remain") {
		t.Fatalf("kept: %v", p.Kept)
	}
	r := setup(t, f, cutovertest.ServiceQueues())
	c := one(t, r, "FileStream", "dbo.Atoms.Payload", "12 row(s), 4096 byte(s)")
	if c.Offload != cutover.Change || !strings.Contains(c.Detail, "never drops") {
		t.Fatalf("finding: %+v", c)
	}
}

func TestScriptHasEveryStepWithWhy(t *testing.T) {
	p := plan(t, withoutCallers(cutovertest.Hartonomous()), cutovertest.ServiceQueues())
	var b strings.Builder
	if err := p.Script(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for i, st := range p.Steps {
		if !strings.Contains(s, st.Title) || !strings.Contains(s, "-- Why: "+st.Why) {
			t.Errorf("step %d (%s) missing from the script", i+1, st.Title)
		}
	}
	for _, want := range []string{`ALTER TABLE [dbo].[LayerTensorSegments] SET (FILESTREAM_ON = "NULL");`,
		"EXEC sys.sp_filestream_force_garbage_collection @dbname = N'Hartonomous';",
		"ALTER DATABASE [Hartonomous] REMOVE FILE [HartonomousFS_Data];",
		"ALTER DATABASE [Hartonomous] REMOVE FILEGROUP [HartonomousFS];",
		"ALTER QUEUE [dbo].[Neo4jSyncQueue] WITH ACTIVATION (STATUS = OFF);",
		"DROP SERVICE [//Hartonomous/Neo4jSyncService];",
		"DROP MESSAGE TYPE [//Hartonomous/AtomChanged];",
		"DROP ASSEMBLY [Hartonomous.FileIO];",
		"log backup"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	// The file procedures' own helpers are never touched.
	for _, theirs := range []string{"ufn_OffloadBase64Encode", "ufn_OffloadBase64Decode", "usp_OffloadInvoke"} {
		if strings.Contains(s, theirs) {
			t.Errorf("the script touches %s, which the file procedures own", theirs)
		}
	}
	if n := strings.Count(s, "\nGO\n"); n < len(p.Steps) {
		t.Errorf("%d GO separators for %d steps", n, len(p.Steps))
	}
}
