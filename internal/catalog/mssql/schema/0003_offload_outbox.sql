-- Offload schema step 3 (REFERENCE §1.2): dbo.OffloadOutbox, the
-- transactional outbox. dbo.usp_PublishMessage (sql/publish-procs.sql)
-- inserts one row inside the caller's transaction; the drain (DrainOutbox)
-- moves committed rows to their Storage Queue, in order within each
-- conversation, and marks them sent. Times are UTC.
--   QueueName       the Storage Queue (must be in PUBLISH_QUEUES when drained)
--   ConversationId  orders the message among its conversation's; N'' is the
--                   queue's default conversation
--   MessageId       the event id: the CloudEvent's id, else NEWID()
--   Message         the JSON document as published
--   OutboxState     pending | sent | failed (failed: never sendable, LastError says why)
--   SequenceNumber  0 until the drain sees the row committed, then 1, 2, 3...
--                   within (QueueName, ConversationId), in commit order
--   SequenceSlot    NEWID() while SequenceNumber is 0, the zero GUID after:
--                   with the unique key below, one row per sequence number,
--                   whatever two drainers do at once
--   ClaimToken/ClaimedUntil  a drainer's expiring claim; ClaimedUntil alone
--                   (no token) holds a row in back-off after a failed send
--   Attempts/LastError       failed sends and the last reason
--   SentAt/QueueMessageId    when the queue accepted it, and its queue id
-- The unique keys double as the drain's indexes: every constraint is part of
-- the one CREATE TABLE, so the step is a single guarded batch.

IF OBJECT_ID('dbo.OffloadOutbox', 'U') IS NULL
    CREATE TABLE dbo.OffloadOutbox (
        OutboxId        bigint IDENTITY(1,1) NOT NULL CONSTRAINT PK_OffloadOutbox PRIMARY KEY,
        QueueName       nvarchar(63)     NOT NULL,
        ConversationId  nvarchar(200)    NOT NULL CONSTRAINT DF_OffloadOutbox_ConversationId DEFAULT (N''),
        MessageId       nvarchar(100)    NOT NULL,
        Message         nvarchar(max)    NOT NULL,
        CreatedAt       datetime2        NOT NULL CONSTRAINT DF_OffloadOutbox_CreatedAt DEFAULT (SYSUTCDATETIME()),
        OutboxState     nvarchar(16)     NOT NULL CONSTRAINT DF_OffloadOutbox_OutboxState DEFAULT (N'pending')
            CONSTRAINT CK_OffloadOutbox_OutboxState CHECK (OutboxState IN (N'pending', N'sent', N'failed')),
        SequenceNumber  bigint           NOT NULL CONSTRAINT DF_OffloadOutbox_SequenceNumber DEFAULT (0),
        SequenceSlot    uniqueidentifier NOT NULL CONSTRAINT DF_OffloadOutbox_SequenceSlot DEFAULT (NEWID()),
        SequencedAt     datetime2        NULL,
        ClaimToken      nvarchar(64)     NULL,
        ClaimedUntil    datetime2        NULL,
        Attempts        int              NOT NULL CONSTRAINT DF_OffloadOutbox_Attempts DEFAULT (0),
        LastError       nvarchar(2000)   NULL,
        SentAt          datetime2        NULL,
        QueueMessageId  nvarchar(100)    NULL,
        CONSTRAINT UQ_OffloadOutbox_ConversationSequence UNIQUE (QueueName, ConversationId, SequenceNumber, SequenceSlot),
        CONSTRAINT UQ_OffloadOutbox_State UNIQUE (OutboxState, SequenceNumber, OutboxId)
    );
GO
