package mssql

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	mssqldb "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/offload/internal/catalog"
)

// openOutbox is a server catalog with the schema and the procedures.
func openOutbox(t testing.TB) (*DB, *sql.DB, string) {
	t.Helper()
	db, raw, schema := openServer(t)
	ctx := context.Background()
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyProcs(ctx, catalog.ApplyParams{}); err != nil {
		t.Fatal(err)
	}
	return db, raw, schema
}

func countOutbox(t *testing.T, raw *sql.DB, schema string) int {
	t.Helper()
	var n int
	if err := raw.QueryRow("SELECT COUNT(*) FROM " + schema + ".OffloadOutbox").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPublishProcInTransactionOnTSQL runs dbo.usp_PublishMessage the way
// Hartonomous' T-SQL will: inside its own BEGIN TRAN, rolled back or
// committed, in one batch.
func TestPublishProcInTransactionOnTSQL(t *testing.T) {
	_, raw, schema := openOutbox(t)
	ctx := context.Background()
	batch := func(end string) (id string, inside int) {
		t.Helper()
		err := raw.QueryRowContext(ctx, `
SET NOCOUNT ON;
BEGIN TRAN;
DECLARE @id nvarchar(100);
DECLARE @event nvarchar(max) = N'{"specversion":"1.0","id":"ev-42","source":"/hartonomous/dbo/Atoms","type":"hartonomous.atom.updated","data":{"atomId":42}}';
EXEC `+schema+`.usp_PublishMessage @Queue = N'neo4j-sync', @Message = @event, @MessageId = @id OUTPUT, @ConversationId = N'atom:42';
DECLARE @n int = (SELECT COUNT(*) FROM `+schema+`.OffloadOutbox);
`+end+`;
SELECT @id, @n;`).Scan(&id, &inside)
		if err != nil {
			t.Fatal(err)
		}
		return id, inside
	}
	id, inside := batch("ROLLBACK")
	if id != "ev-42" || inside != 1 {
		t.Fatalf("inside the transaction: id %q, %d row(s)", id, inside)
	}
	if n := countOutbox(t, raw, schema); n != 0 {
		t.Fatalf("a rolled-back publish left %d row(s)", n)
	}
	batch("COMMIT")
	var queue, conv, msgID, state string
	var seq int64
	if err := raw.QueryRow("SELECT QueueName, ConversationId, MessageId, OutboxState, SequenceNumber FROM "+schema+".OffloadOutbox").
		Scan(&queue, &conv, &msgID, &state, &seq); err != nil {
		t.Fatal(err)
	}
	if queue != "neo4j-sync" || conv != "atom:42" || msgID != "ev-42" || state != "pending" || seq != 0 {
		t.Fatalf("committed row: %s %s %s %s %d", queue, conv, msgID, state, seq)
	}

	// Without a conversation and without a CloudEvent id.
	var newID string
	if err := raw.QueryRowContext(ctx, `DECLARE @id nvarchar(100);
EXEC `+schema+`.usp_PublishMessage @Queue = N'neo4j-sync', @Message = N'{"atomId":1}', @MessageId = @id OUTPUT;
SELECT @id;`).Scan(&newID); err != nil {
		t.Fatal(err)
	}
	if len(newID) != 36 || strings.ToLower(newID) != newID {
		t.Fatalf("generated id %q, want a lowercase UUID", newID)
	}

	// Bad arguments: THROW 50102, nothing written.
	for _, args := range []string{
		`@Queue = N'Neo4j-Sync', @Message = N'{}'`,
		`@Queue = N'neo4j_sync', @Message = N'{}'`,
		`@Queue = N'ab', @Message = N'{}'`,
		`@Queue = N'neo4j-sync', @Message = N'not json'`,
		`@Queue = N'neo4j-sync', @Message = NULL`,
	} {
		_, err := raw.ExecContext(ctx, "EXEC "+schema+".usp_PublishMessage "+args)
		var me mssqldb.Error
		if !errors.As(err, &me) || me.Number != 50102 {
			t.Errorf("EXEC usp_PublishMessage %s: %v, want THROW 50102", args, err)
		}
	}
	if n := countOutbox(t, raw, schema); n != 2 {
		t.Fatalf("%d rows after the refusals, want 2", n)
	}
}

// TestDuplicateSequenceIsConflictOnTSQL: the unique key refuses a second row at
// one sequence number, and the dialect reads that refusal as ErrConflict's
// cause on this engine.
func TestDuplicateSequenceIsConflictOnTSQL(t *testing.T) {
	db, raw, schema := openOutbox(t)
	ctx := context.Background()
	tx, err := db.BeginPublish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{`{"n":1}`, `{"n":2}`} {
		if _, err := tx.Publish(ctx, catalog.OutboxMessage{Queue: "neo4j-sync", ConversationID: "c", Message: m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Unsequenced(ctx, catalog.UnsequencedParams{Limit: 10})
	if err != nil || len(rows) != 2 {
		t.Fatalf("unsequenced: %d, %v", len(rows), err)
	}
	now := time.Now()
	if n, err := db.SequenceOutbox(ctx, catalog.SequenceOutboxParams{IDs: []int64{rows[0].ID}, Token: "a", Now: now, Until: now.Add(time.Minute)}); err != nil || n != 1 {
		t.Fatalf("sequence: %d, %v", n, err)
	}
	_, err = raw.ExecContext(ctx, "UPDATE "+schema+".OffloadOutbox SET SequenceNumber = 1, SequenceSlot = CONVERT(uniqueidentifier, '00000000-0000-0000-0000-000000000000') WHERE OutboxId = @p1", rows[1].ID)
	if err == nil {
		t.Fatal("a second row got sequence 1")
	}
	if !isDuplicateKey(err) {
		t.Fatalf("the refusal is not read as a duplicate key: %v", err)
	}
}

// TestApplyProcsReplacesTheHTTPProcOnTSQL: a database that has today's
// usp_PublishMessage (the HTTP one) gets the outbox one, with its grants
// kept (ALTER), and a second apply is harmless.
func TestApplyProcsReplacesTheHTTPProcOnTSQL(t *testing.T) {
	db, raw, schema := openServer(t)
	ctx := context.Background()
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, "CREATE PROCEDURE "+schema+`.usp_PublishMessage
    @Queue nvarchar(63), @Message nvarchar(max), @MessageId nvarchar(100) = NULL OUTPUT
AS BEGIN SET NOCOUNT ON; THROW 50101, N'old HTTP body', 1; END;`); err != nil {
		t.Fatal(err)
	}
	dry, err := db.ApplyProcs(ctx, catalog.ApplyParams{DryRun: true})
	if err != nil || len(dry) != 2 || !strings.Contains(dry[1], "ALTER PROCEDURE "+schema+".usp_PublishMessage") {
		t.Fatalf("dry run: %q, %v", dry, err)
	}
	for range 2 {
		if _, err := db.ApplyProcs(ctx, catalog.ApplyParams{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.ExecContext(ctx, "EXEC "+schema+".usp_PublishMessage @Queue = N'neo4j-sync', @Message = N'{}', @ConversationId = N'c'"); err != nil {
		t.Fatalf("the outbox procedure did not replace the old one: %v", err)
	}
	if n := countOutbox(t, raw, schema); n != 1 {
		t.Fatalf("%d rows", n)
	}
}

// BenchmarkPublishProc: the caller's side on the T-SQL engine, BEGIN TRAN,
// EXEC dbo.usp_PublishMessage, COMMIT, p50/p99 over 200 transactions. No
// Function App and no storage exist for it to wait on.
func BenchmarkPublishProc(b *testing.B) {
	db, _, _ := openOutbox(b)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		var lat []time.Duration
		for range 200 {
			start := time.Now()
			tx, err := db.BeginPublish(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Publish(ctx, catalog.OutboxMessage{Queue: "neo4j-sync", ConversationID: "c", Message: `{"specversion":"1.0","source":"/x","type":"t","data":{}}`}); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// TestOutboxStatusQueryInREADME: the README gives DBAs the query Offload
// runs (queries/outbox-status.sql), word for word.
func TestOutboxStatusQueryInREADME(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(outboxStatusSQL, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--") {
			lines = append(lines, l)
		}
	}
	q := strings.Join(lines, "\n")
	var got []string
	for _, l := range strings.Split(string(readme), "\n") {
		got = append(got, strings.TrimSpace(l))
	}
	if !strings.Contains(strings.Join(got, "\n"), q) {
		t.Fatalf("README.md does not hold queries/outbox-status.sql:\n%s", q)
	}
}
