package tsqlviews_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/cutover"
)

// The engine has no Service Broker. The move's loop, its body conversion
// and its path through dbo.usp_PublishMessage run here on a table-backed
// stand-in queue: take deletes from it what RECEIVE would return (the
// first waiting conversation's messages, up to 100, in sequence order) in
// the move's transaction, exactly where the production text RECEIVEs.

const standIn = `CREATE TABLE dbo.StandInQueue (
    queuing_order bigint IDENTITY(1,1) PRIMARY KEY,
    conversation_handle uniqueidentifier NOT NULL,
    message_sequence_number bigint NOT NULL,
    service_name nvarchar(512) NULL,
    message_type_name nvarchar(256) NULL,
    validation nchar(2) NULL,
    message_body varbinary(max) NULL)`

// standInTake fills @recv and @m as ReceiveTake does, from the stand-in.
const standInTake = `DECLARE @c uniqueidentifier;
SET @c = (SELECT TOP (1) conversation_handle FROM dbo.StandInQueue ORDER BY queuing_order);
DELETE FROM dbo.StandInQueue
OUTPUT deleted.queuing_order, deleted.conversation_handle, deleted.message_sequence_number, deleted.service_name,
       deleted.message_type_name, deleted.validation, deleted.message_body INTO @recv
WHERE conversation_handle = @c AND message_sequence_number IN
    (SELECT TOP (100) message_sequence_number FROM dbo.StandInQueue WHERE conversation_handle = @c ORDER BY message_sequence_number);
INSERT INTO @m (rn, conversation_id, message_sequence_number, service_name, message_type_name, validation, message_body)
SELECT ROW_NUMBER() OVER (ORDER BY r.conversation_handle, r.message_sequence_number),
       LOWER(CONVERT(nvarchar(36), r.conversation_handle)),
       r.message_sequence_number, r.service_name, r.message_type_name, r.validation, r.message_body
FROM @recv AS r;
`

type sent struct {
	conv string
	seq  int64
	kind string // json, xml, bin, end
	body []byte
	svc  string
}

// enqueue writes the messages into the stand-in: JSON bodies as nvarchar
// bytes, XML, binary, and EndDialog messages, three conversations
// interleaved, 240 messages in all (several batches of 100).
func enqueue(t *testing.T, db *sql.DB, svcFor func(conv int) string) []sent {
	t.Helper()
	var out []sent
	for seq := int64(1); seq <= 80; seq++ {
		for c := 0; c < 3; c++ {
			conv := fmt.Sprintf("00000000-0000-0000-0000-00000000000%d", c+1)
			m := sent{conv: conv, seq: seq, svc: svcFor(c)}
			typ, val := "//Hartonomous/AtomChanged", "N"
			switch {
			case seq == 80:
				m.kind, typ, val = "end", "http://schemas.microsoft.com/SQL/ServiceBroker/EndDialog", "E"
			case seq%10 == 3:
				m.kind, val, m.body = "xml", "X", []byte(fmt.Sprintf("<atom id=\"%d\"/>", seq))
			case seq%10 == 7:
				m.kind, m.body = "bin", []byte{0, 1, 2, 0xfe, 0xff, byte(seq), byte(c)}
			default:
				m.kind, m.body = "json", []byte(fmt.Sprintf(`{"atomId":%d,"conv":%d}`, seq, c))
			}
			var err error
			if m.kind == "json" {
				_, err = db.Exec(`INSERT INTO dbo.StandInQueue (conversation_handle, message_sequence_number, service_name, message_type_name, validation, message_body)
VALUES (@p1, @p2, @p3, @p4, @p5, CAST(CAST(@p6 AS nvarchar(max)) AS varbinary(max)))`, conv, seq, m.svc, typ, val, string(m.body))
			} else {
				_, err = db.Exec(`INSERT INTO dbo.StandInQueue (conversation_handle, message_sequence_number, service_name, message_type_name, validation, message_body)
VALUES (@p1, @p2, @p3, @p4, @p5, @p6)`, conv, seq, m.svc, typ, val, m.body)
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

type outboxRow struct {
	id        int64
	queue     string
	conv      string
	messageID string
	message   string
}

func outbox(t *testing.T, db *sql.DB) []outboxRow {
	t.Helper()
	rows, err := db.Query("SELECT OutboxId, QueueName, ConversationId, MessageId, Message FROM dbo.OffloadOutbox ORDER BY OutboxId")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.id, &r.queue, &r.conv, &r.messageID, &r.message); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func waiting(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM dbo.StandInQueue").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBrokerMoveOnTSQL: a batch that meets a message for an unmapped
// service fails whole (nothing of it leaves the queue) while the batches
// before it stay moved; once the service is mapped a re-run moves the
// rest. In the end every message but EndDialog is in the outbox exactly
// once, in sequence order within its conversation, with its conversation
// as ConversationId; JSON as it was sent, XML and binary base64 in a
// CloudEvent whose id is conversation:sequence.
func TestBrokerMoveOnTSQL(t *testing.T) {
	db := setup(t)
	exec(t, db, standIn, "DROP FUNCTION IF EXISTS dbo.ufn_OffloadCutoverBase64", cutover.Base64EncodeFunction)
	const svc, other = "//Hartonomous/Neo4jSyncService", "//Hartonomous/Audit"
	msgs := enqueue(t, db, func(c int) string {
		if c == 2 {
			return other
		}
		return svc
	})
	ctx := context.Background()
	mapped := map[string]string{svc: "neo4j-sync"}
	_, err := db.ExecContext(ctx, cutover.QueueMoveBody(mapped, standInTake))
	if err == nil || !strings.Contains(err.Error(), "BROKER_SERVICE_QUEUES") {
		t.Fatalf("move with an unmapped service: %v", err)
	}
	moved := outbox(t, db)
	// Conversations 1 and 2 (80 messages each) came first in queue order and
	// moved; the batch of conversation 3 rolled back: nothing lost.
	if len(moved) == 0 || len(moved)+waiting(t, db) != 80*2-2+80 {
		t.Fatalf("after the failed batch: %d moved, %d waiting", len(moved), waiting(t, db))
	}
	mapped[other] = "neo4j-sync"
	if _, err := db.ExecContext(ctx, cutover.QueueMoveBody(mapped, standInTake)); err != nil {
		t.Fatal(err)
	}
	// A second run finds nothing more to move.
	if _, err := db.ExecContext(ctx, cutover.QueueMoveBody(mapped, standInTake)); err != nil {
		t.Fatal(err)
	}
	if n := waiting(t, db); n != 0 {
		t.Fatalf("%d message(s) left in the stand-in queue", n)
	}
	checkMoved(t, msgs, outbox(t, db))
}

func checkMoved(t *testing.T, msgs []sent, rows []outboxRow) {
	t.Helper()
	want := map[string][]sent{}
	for _, m := range msgs {
		if m.kind != "end" {
			want[m.conv] = append(want[m.conv], m)
		}
	}
	got := map[string][]outboxRow{}
	for _, r := range rows {
		got[r.conv] = append(got[r.conv], r)
	}
	ids := map[string]bool{}
	for conv, ws := range want {
		gs := got[conv]
		if len(gs) != len(ws) {
			t.Fatalf("conversation %s: %d rows in the outbox, want %d (lost or duplicated)", conv, len(gs), len(ws))
		}
		for i, w := range ws {
			g := gs[i]
			if ids[g.messageID] {
				t.Fatalf("message id %s twice", g.messageID)
			}
			ids[g.messageID] = true
			if g.queue != "neo4j-sync" {
				t.Fatalf("queue %q", g.queue)
			}
			if w.kind == "json" {
				if g.message != string(w.body) {
					t.Fatalf("conversation %s #%d: %q, want %q (out of order or changed)", conv, w.seq, g.message, w.body)
				}
				continue
			}
			var ev struct {
				ID, Type, Source, Datacontenttype string
				DataBase64                        string `json:"data_base64"`
			}
			if err := json.Unmarshal([]byte(g.message), &ev); err != nil {
				t.Fatalf("conversation %s #%d: %v: %s", conv, w.seq, err, g.message)
			}
			body, err := base64.StdEncoding.DecodeString(ev.DataBase64)
			if err != nil || string(body) != string(w.body) || ev.ID != fmt.Sprintf("%s:%d", conv, w.seq) ||
				ev.Type != "//Hartonomous/AtomChanged" || g.messageID != ev.ID || ev.Source != "servicebroker:"+w.svc {
				t.Fatalf("conversation %s #%d: event %+v (body %q, %v), want body %q", conv, w.seq, ev, body, err, w.body)
			}
		}
	}
}
