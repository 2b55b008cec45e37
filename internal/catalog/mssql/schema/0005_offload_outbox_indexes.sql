-- Offload schema step 5: the drain's lookups at any backlog (docs/PERFORMANCE.md,
-- "Outbox drain at any backlog"). Without them each pass of the drain scans
-- what the outbox has already sent, and sent rows stay for OUTBOX_RETENTION:
--   IX_OffloadOutbox_Pending     a conversation's pending rows by sequence:
--                                its head (the lowest pending number) and the
--                                claim's "no earlier row held" check, without
--                                reading the conversation's sent rows
--   IX_OffloadOutbox_ClaimToken  the rows one drainer holds (extend, list)
-- Plain indexes, not filtered ones: an INSERT into a table with a filtered
-- index fails unless QUOTED_IDENTIFIER and ANSI_NULLS are ON, and a caller's
-- procedure that publishes may have been created with them OFF (sqlcmd's
-- default). The guards match names by prefix: the test engine stores index
-- names lower-cased with a hash appended (docs/TSQL.md).

IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID('dbo.OffloadOutbox') AND name LIKE 'IX_OffloadOutbox_Pending%')
    CREATE INDEX IX_OffloadOutbox_Pending ON dbo.OffloadOutbox (OutboxState, QueueName, ConversationId, SequenceNumber);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE object_id = OBJECT_ID('dbo.OffloadOutbox') AND name LIKE 'IX_OffloadOutbox_ClaimToken%')
    CREATE INDEX IX_OffloadOutbox_ClaimToken ON dbo.OffloadOutbox (ClaimToken);
GO
