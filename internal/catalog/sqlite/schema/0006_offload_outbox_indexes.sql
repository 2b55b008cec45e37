-- Offload schema step 6: the drain's lookups at any backlog, as on SQL
-- Server (docs/PERFORMANCE.md): a conversation's pending rows by sequence
-- (its head, and the claim's "no earlier row held" check) and the rows one
-- drainer holds, without reading the rows already sent.

CREATE INDEX IF NOT EXISTS IX_OffloadOutbox_Pending ON OffloadOutbox (OutboxState, QueueName, ConversationId, SequenceNumber);
CREATE INDEX IF NOT EXISTS IX_OffloadOutbox_ClaimToken ON OffloadOutbox (ClaimToken);
