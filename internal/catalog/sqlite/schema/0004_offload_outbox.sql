-- Offload's transactional outbox (REFERENCE §1.2, dbo.OffloadOutbox on SQL
-- Server): messages published inside the caller's transaction, until the
-- drain has sent them to their Storage Queue. Same columns as on SQL Server
-- (see internal/catalog/mssql/schema/0003_offload_outbox.sql for what each
-- one means and internal/catalog/outbox.go for the order and race rules).
--   SequenceSlot  random while the row has no sequence, '' after: the
--                 unique index then allows one row per sequence number
-- Times are UTC text "YYYY-MM-DDTHH:MM:SS.ffffffZ". AUTOINCREMENT: an id is
-- never reused after a purge.

CREATE TABLE IF NOT EXISTS OffloadOutbox (
    OutboxId        INTEGER PRIMARY KEY AUTOINCREMENT,
    QueueName       TEXT NOT NULL,
    ConversationId  TEXT NOT NULL DEFAULT '',
    MessageId       TEXT NOT NULL,
    Message         TEXT NOT NULL,
    CreatedAt       TEXT NOT NULL,
    OutboxState     TEXT NOT NULL DEFAULT 'pending' CHECK (OutboxState IN ('pending', 'sent', 'failed')),
    SequenceNumber  INTEGER NOT NULL DEFAULT 0,
    SequenceSlot    TEXT NOT NULL DEFAULT (lower(hex(randomblob(16)))),
    SequencedAt     TEXT NULL,
    ClaimToken      TEXT NULL,
    ClaimedUntil    TEXT NULL,
    Attempts        INTEGER NOT NULL DEFAULT 0,
    LastError       TEXT NULL,
    SentAt          TEXT NULL,
    QueueMessageId  TEXT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS UQ_OffloadOutbox_ConversationSequence ON OffloadOutbox (QueueName, ConversationId, SequenceNumber, SequenceSlot);
CREATE INDEX IF NOT EXISTS IX_OffloadOutbox_State ON OffloadOutbox (OutboxState, SequenceNumber, OutboxId);
