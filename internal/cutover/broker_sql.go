package cutover

import (
	"fmt"
	"sort"
	"strings"
)

// The Service Broker move. Every message still waiting is taken and
// published into dbo.OffloadOutbox, through dbo.usp_PublishMessage, in the
// transaction that takes it: RECEIVE (sql-docs
// docs/t-sql/statements/receive-transact-sql.md) removes it from its queue
// only when that transaction commits, so a failure at any statement leaves
// it in the queue and a re-run takes it again; a commit leaves it in the
// outbox exactly once. Rows of sys.transmission_queue cannot be received:
// they are read and their conversation ended WITH CLEANUP (sql-docs
// docs/t-sql/statements/end-conversation-transact-sql.md), which deletes
// them, in the same transaction.
//
// Order: RECEIVE returns a conversation's messages in ascending
// message_sequence_number; they are published in that order, and the
// outbox numbers a conversation's rows in commit order, then OutboxId
// order. The conversation is sys.conversation_endpoints.conversation_id
// (the same on both ends of a dialog), kept as the row's ConversationId.
//
// A JSON body (sent as nvarchar or varchar: it starts with "{" or "[",
// and its second byte is 0x00 when it is UTF-16) is published as it is;
// any other body (XML, binary) travels base64 in a CloudEvent whose type is
// the message_type_name and whose id is conversation_id:sequence, so a
// re-send carries the same id. EndDialog, Error and DialogTimer messages
// are system messages and are not moved.

// systemMessageTypes are taken but not moved.
var systemMessageTypes = []string{
	"http://schemas.microsoft.com/SQL/ServiceBroker/EndDialog",
	"http://schemas.microsoft.com/SQL/ServiceBroker/Error",
	"http://schemas.microsoft.com/SQL/ServiceBroker/DialogTimer",
}

// moveBatch is how many messages one transaction takes from a queue.
const moveBatch = 100

// brokerDeclare declares the service map and the message tables. @recv
// has RECEIVE's columns in RECEIVE's order; @m is what the publish loop
// reads, numbered in publish order.
func brokerDeclare(queues map[string]string) string {
	var b strings.Builder
	b.WriteString("SET XACT_ABORT ON;\nSET NOCOUNT ON;\n")
	b.WriteString("DECLARE @map TABLE (ServiceName nvarchar(512) NOT NULL, QueueName nvarchar(63) NOT NULL);\n")
	names := make([]string, 0, len(queues))
	for s := range queues {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		fmt.Fprintf(&b, "INSERT INTO @map (ServiceName, QueueName) VALUES (%s, %s);\n", nlit(s), nlit(queues[s]))
	}
	b.WriteString(`DECLARE @recv TABLE (queuing_order bigint, conversation_handle uniqueidentifier, message_sequence_number bigint,
    service_name nvarchar(512), message_type_name nvarchar(256), validation nchar(2), message_body varbinary(max));
DECLARE @m TABLE (rn bigint NOT NULL PRIMARY KEY, conversation_id nvarchar(36) NOT NULL, message_sequence_number bigint NOT NULL,
    service_name nvarchar(512) NULL, message_type_name nvarchar(256) NULL, validation nchar(2) NULL, message_body varbinary(max) NULL);
DECLARE @h uniqueidentifier, @i bigint, @queue nvarchar(63), @type nvarchar(256), @svc nvarchar(512), @validation nchar(2),
    @body varbinary(max), @conv nvarchar(36), @seq bigint, @text nvarchar(max), @msg nvarchar(max);
`)
	return b.String()
}

// fromRecv fills @m from @recv (after a RECEIVE), in conversation order,
// with each conversation's conversation_id.
const fromRecv = `INSERT INTO @m (rn, conversation_id, message_sequence_number, service_name, message_type_name, validation, message_body)
SELECT ROW_NUMBER() OVER (ORDER BY r.conversation_handle, r.message_sequence_number),
       LOWER(CONVERT(nvarchar(36), COALESCE(e.conversation_id, r.conversation_handle))),
       r.message_sequence_number, r.service_name, r.message_type_name, r.validation, r.message_body
FROM @recv AS r LEFT JOIN sys.conversation_endpoints AS e ON e.conversation_handle = r.conversation_handle;
`

// publishLoop publishes @m's rows in rn order through dbo.usp_PublishMessage.
// A message for a service the map lacks fails the whole transaction
// (THROW under XACT_ABORT): nothing of it is taken.
func publishLoop() string {
	sys := make([]string, len(systemMessageTypes))
	for i, s := range systemMessageTypes {
		sys[i] = nlit(s)
	}
	notSystem := "COALESCE(m.message_type_name, N'') NOT IN (" + strings.Join(sys, ", ") + ")"
	return `IF EXISTS (SELECT 1 FROM @m AS m WHERE ` + notSystem + `
           AND NOT EXISTS (SELECT 1 FROM @map AS s WHERE s.ServiceName = m.service_name))
    THROW 50103, N'Offload: cutover: a Service Broker message is for a service that BROKER_SERVICE_QUEUES does not map to a Storage Queue; nothing was moved', 1;
SET @i = 0;
WHILE 1 = 1
BEGIN
    SELECT TOP (1) @i = m.rn, @queue = s.QueueName, @type = m.message_type_name, @svc = m.service_name,
           @validation = m.validation, @body = m.message_body, @conv = m.conversation_id, @seq = m.message_sequence_number
    FROM @m AS m JOIN @map AS s ON s.ServiceName = m.service_name
    WHERE m.rn > @i AND ` + notSystem + `
    ORDER BY m.rn;
    IF @@ROWCOUNT = 0 BREAK;
    SET @msg = NULL;
    IF COALESCE(@validation, N'N') <> N'X' AND SUBSTRING(@body, 1, 1) IN (0x7B, 0x5B)
    BEGIN
        IF SUBSTRING(@body, 2, 1) = 0x00
            SET @text = CONVERT(nvarchar(max), @body);
        ELSE
            SET @text = CONVERT(nvarchar(max), CONVERT(varchar(max), @body));
        IF ISJSON(@text) = 1 SET @msg = @text;
    END;
    IF @msg IS NULL
        SET @msg = (SELECT N'1.0' AS specversion,
                           CONCAT(@conv, N':', @seq) AS id,
                           CONCAT(N'servicebroker:', @svc) AS source,
                           @type AS type,
                           CASE WHEN @validation = N'X' THEN N'application/xml' ELSE N'application/octet-stream' END AS datacontenttype,
                           dbo.ufn_OffloadCutoverBase64(@body) AS data_base64
                    FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    EXEC dbo.usp_PublishMessage @Queue = @queue, @Message = @msg, @ConversationId = @conv;
END;
`
}

// receiveTake is the production take of one batch from a queue.
func receiveTake(queue string) string {
	return fmt.Sprintf(`RECEIVE TOP (%d) queuing_order, conversation_handle, message_sequence_number, service_name,
        message_type_name, validation, message_body
    FROM %s INTO @recv;
`, moveBatch, queue)
}

// QueueMoveBody is the loop that moves every message waiting in a queue:
// one transaction per batch that take (a statement filling @m, deleting
// what it takes) returns. Production takes with RECEIVE; the engine test
// takes from a table-backed stand-in queue with the same loop.
func QueueMoveBody(queues map[string]string, take string) string {
	return brokerDeclare(queues) + `WHILE 1 = 1
BEGIN
    DELETE FROM @recv;
    DELETE FROM @m;
    BEGIN TRANSACTION;
` + indent(take) + `    IF NOT EXISTS (SELECT 1 FROM @m)
    BEGIN
        COMMIT;
        BREAK;
    END;
` + indent(publishLoop()) + `    COMMIT;
END;
`
}

// ReceiveTake is take for QueueMoveBody on a real queue.
func ReceiveTake(queue string) string { return receiveTake(queue) + fromRecv }

// TransmissionMoveBody moves sys.transmission_queue, one conversation per
// transaction: its rows are copied in message_sequence_number order, and
// END CONVERSATION … WITH CLEANUP deletes them in the same transaction.
func TransmissionMoveBody(queues map[string]string) string {
	return brokerDeclare(queues) + `WHILE 1 = 1
BEGIN
    SET @h = NULL;
    SELECT TOP (1) @h = t.conversation_handle FROM sys.transmission_queue AS t ORDER BY t.enqueue_time, t.message_sequence_number;
    IF @h IS NULL BREAK;
    DELETE FROM @m;
    BEGIN TRANSACTION;
    INSERT INTO @m (rn, conversation_id, message_sequence_number, service_name, message_type_name, validation, message_body)
    SELECT ROW_NUMBER() OVER (ORDER BY t.message_sequence_number),
           LOWER(CONVERT(nvarchar(36), COALESCE(e.conversation_id, t.conversation_handle))),
           t.message_sequence_number, t.to_service_name, t.message_type_name, NULL, t.message_body
    FROM sys.transmission_queue AS t LEFT JOIN sys.conversation_endpoints AS e ON e.conversation_handle = t.conversation_handle
    WHERE t.conversation_handle = @h;
` + indent(publishLoop()) + `    END CONVERSATION @h WITH CLEANUP;
    COMMIT;
END;
`
}

// EndConversationsBody ends, one transaction each, the conversations of
// the services on queue, taking what is left of each conversation's
// messages first (RECEIVE … WHERE conversation_handle = @h).
func EndConversationsBody(queues map[string]string, schema, name string) string {
	q := qn2(schema, name)
	return brokerDeclare(queues) + `WHILE 1 = 1
BEGIN
    SET @h = NULL;
    SELECT TOP (1) @h = e.conversation_handle
    FROM sys.conversation_endpoints AS e JOIN sys.services AS s ON s.service_id = e.service_id
    WHERE s.service_queue_id = OBJECT_ID(` + nlit(q) + `) AND e.state <> 'CD';
    IF @h IS NULL BREAK;
    DELETE FROM @recv;
    DELETE FROM @m;
    BEGIN TRANSACTION;
    RECEIVE queuing_order, conversation_handle, message_sequence_number, service_name, message_type_name, validation, message_body
        FROM ` + q + ` INTO @recv WHERE conversation_handle = @h;
` + indent(fromRecv) + indent(publishLoop()) + `    END CONVERSATION @h WITH CLEANUP;
    COMMIT;
END;
`
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			b.WriteString("    ")
		}
		b.WriteString(l)
	}
	return b.String()
}

// Base64EncodeFunction is dbo.ufn_OffloadCutoverBase64: bytes to base64
// text in plain T-SQL (SQL Server has no BASE64_ENCODE before 2025, and
// the XML idiom does not run everywhere), three bytes per step. Broker
// message bodies are small; it is used for nothing else.
const Base64EncodeFunction = `CREATE FUNCTION dbo.ufn_OffloadCutoverBase64 (@b varbinary(max))
RETURNS varchar(max)
AS
BEGIN
    DECLARE @abc char(64) = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    DECLARE @out varchar(max) = '', @i int = 1, @n int = DATALENGTH(@b), @k int, @v int;
    IF @b IS NULL RETURN NULL;
    WHILE @i <= @n
    BEGIN
        SET @k = CASE WHEN @n - @i >= 2 THEN 3 ELSE @n - @i + 1 END;
        SET @v = CAST(SUBSTRING(@b, @i, 1) AS int) * 65536
               + CASE WHEN @k > 1 THEN CAST(SUBSTRING(@b, @i + 1, 1) AS int) * 256 ELSE 0 END
               + CASE WHEN @k > 2 THEN CAST(SUBSTRING(@b, @i + 2, 1) AS int) ELSE 0 END;
        SET @out = @out + SUBSTRING(@abc, @v / 262144 + 1, 1) + SUBSTRING(@abc, (@v / 4096) % 64 + 1, 1)
                 + CASE WHEN @k > 1 THEN SUBSTRING(@abc, (@v / 64) % 64 + 1, 1) ELSE '=' END
                 + CASE WHEN @k > 2 THEN SUBSTRING(@abc, @v % 64 + 1, 1) ELSE '=' END;
        SET @i = @i + 3;
    END;
    RETURN @out;
END;`
