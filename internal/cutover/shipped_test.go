package cutover_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/cutover"
	"github.com/hartonomous/offload/internal/cutover/cutovertest"
	sqlscripts "github.com/hartonomous/offload/sql"
)

// Offload's own procedures (sql/*.sql) are what replaces CLR and Service
// Broker on Azure SQL Database: the assessment must find nothing in them.
func TestShippedProceduresAssessClean(t *testing.T) {
	f := cutovertest.Clean()
	batch := regexp.MustCompile(`(?m)^GO\s*$`)
	for _, name := range []string{sqlscripts.FileProcs, sqlscripts.PublishProcs, sqlscripts.PublishNowProcs} {
		text, err := sqlscripts.Scripts.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range batch.Split(string(text), -1) {
			if strings.Contains(b, "PROCEDURE") || strings.Contains(b, "FUNCTION") {
				f.Mods = append(f.Mods, cutovertest.Module(int64(i), "dbo", name+"#"+string(rune('a'+i%26)), "P", b))
			}
		}
	}
	if len(f.Mods) < 10 {
		t.Fatalf("read only %d batches", len(f.Mods))
	}
	r := setup(t, f, nil)
	for _, x := range r.Findings {
		if x.Severity == cutover.Issue {
			t.Errorf("%+v", x)
		}
	}
}

// The broker move's transactions: in each, the take, the publish through
// dbo.usp_PublishMessage and (for the transmission queue and the end of a
// conversation) END CONVERSATION … WITH CLEANUP come between BEGIN
// TRANSACTION and COMMIT, in that order, and the unmapped-service check
// comes before any publish.
func TestBrokerMoveTransactions(t *testing.T) {
	m := cutovertest.ServiceQueues()
	for name, body := range map[string]string{
		"queue":        cutover.QueueMoveBody(m, cutover.ReceiveTake("[dbo].[Q]")),
		"transmission": cutover.TransmissionMoveBody(m),
		"end":          cutover.EndConversationsBody(m, "dbo", "Q"),
	} {
		order := []string{"BEGIN TRANSACTION;", "INSERT INTO @m", "THROW 50103", "EXEC dbo.usp_PublishMessage", "COMMIT;"}
		if name != "queue" {
			order = []string{"BEGIN TRANSACTION;", "INSERT INTO @m", "THROW 50103", "EXEC dbo.usp_PublishMessage", "END CONVERSATION @h WITH CLEANUP;", "COMMIT;"}
		}
		at := 0
		for _, s := range order {
			i := strings.Index(body[at:], s)
			if i < 0 {
				t.Fatalf("%s: %q missing or out of order:\n%s", name, s, body)
			}
			at += i
		}
		for _, want := range []string{"SET XACT_ABORT ON;", "message_sequence_number", "ORDER BY m.rn", "N'//Hartonomous/Neo4jSyncService', N'neo4j-sync'"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: lacks %q", name, want)
			}
		}
		if strings.Contains(body, "EndDialog") && !strings.Contains(body, "NOT IN (N'http://schemas.microsoft.com/SQL/ServiceBroker/EndDialog'") {
			t.Errorf("%s: system messages are not left out", name)
		}
	}
}
