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
-- default). The guards recognise an index by its key columns, as step 4's
-- do (docs/TSQL.md: the test engine renames indexes).

IF NOT EXISTS (SELECT 1 FROM sys.index_columns AS ic JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id WHERE ic.object_id = OBJECT_ID('dbo.OffloadOutbox') AND ic.key_ordinal = 2 AND c.name = N'QueueName' AND EXISTS (SELECT 1 FROM sys.index_columns AS i1 JOIN sys.columns AS c1 ON c1.object_id = i1.object_id AND c1.column_id = i1.column_id WHERE i1.object_id = ic.object_id AND i1.index_id = ic.index_id AND i1.key_ordinal = 1 AND c1.name = N'OutboxState'))
    CREATE INDEX IX_OffloadOutbox_Pending ON dbo.OffloadOutbox (OutboxState, QueueName, ConversationId, SequenceNumber);
GO
IF NOT EXISTS (SELECT 1 FROM sys.index_columns AS ic JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id WHERE ic.object_id = OBJECT_ID('dbo.OffloadOutbox') AND ic.key_ordinal = 1 AND c.name = N'ClaimToken')
    CREATE INDEX IX_OffloadOutbox_ClaimToken ON dbo.OffloadOutbox (ClaimToken);
GO
