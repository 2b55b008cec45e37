-- Offload: dbo.usp_PublishMessage, Service Broker's SEND on Azure SQL. It
-- writes the message to dbo.OffloadOutbox inside the caller's transaction
-- and returns at once: no HTTP call, no wait, no Function App needed. The
-- drain (the DrainOutbox function, or `offload messages drain`) sends it to
-- the Storage Queue @Queue once the transaction has committed, in order
-- within its conversation, and never if it rolls back.
--
-- `offload schema apply` runs this script after the table step, every time
-- (it needs only dbo.OffloadOutbox). It runs as it is in SSMS or sqlcmd too.
-- The procedure is created empty once, then ALTERed, so a rerun keeps the
-- grants on it (and CREATE OR ALTER is not needed).
--
--   @Queue           a storage queue name; it must be in PUBLISH_QUEUES when
--                    drained, or the row ends failed with the reason
--   @Message         a JSON document (a CloudEvent, see docs/MESSAGING.md)
--   @MessageId       OUTPUT: the event id (the CloudEvent's id, else NEWID())
--   @ConversationId  messages of one conversation reach the queue in the
--                    order their transactions committed; NULL: the queue's
--                    default conversation
--
-- Example:
--   BEGIN TRAN;
--   UPDATE dbo.Atoms SET ... WHERE AtomId = 42;
--   DECLARE @id nvarchar(100);
--   DECLARE @event nvarchar(max) = JSON_OBJECT(
--       'specversion': '1.0', 'id': CONVERT(nvarchar(36), NEWID()),
--       'source': '/hartonomous/dbo/Atoms', 'type': 'hartonomous.atom.updated',
--       'subject': '42', 'data': JSON_OBJECT('atomId': 42));
--   EXEC dbo.usp_PublishMessage @Queue = N'neo4j-sync', @Message = @event,
--        @MessageId = @id OUTPUT, @ConversationId = N'atom:42';
--   COMMIT;
--
-- THROWs 50102 for bad arguments (nothing is written).

IF OBJECT_ID(N'dbo.usp_PublishMessage', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_PublishMessage AS RETURN 0;');
GO

ALTER PROCEDURE dbo.usp_PublishMessage
    @Queue          nvarchar(63),
    @Message        nvarchar(max),
    @MessageId      nvarchar(100) = NULL OUTPUT,
    @ConversationId nvarchar(200) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @eventId nvarchar(4000);
    SET @MessageId = NULL;

    -- The hyphen goes first in the set: Babelfish misreads a trailing one.
    IF @Queue IS NULL OR LEN(@Queue) < 3
       OR @Queue COLLATE Latin1_General_BIN2 LIKE N'%[^-a-z0-9]%'
    BEGIN
        THROW 50102, N'Offload: usp_PublishMessage: @Queue must be a storage queue name (3-63 lowercase letters, digits and dashes)', 1;
    END;
    IF @Message IS NULL OR ISJSON(@Message) = 0
    BEGIN
        THROW 50102, N'Offload: usp_PublishMessage: @Message must be a JSON document', 1;
    END;
    IF JSON_VALUE(@Message, '$.specversion') IS NOT NULL
        SET @eventId = JSON_VALUE(@Message, '$.id');
    IF LEN(@eventId) > 100
    BEGIN
        THROW 50102, N'Offload: usp_PublishMessage: the CloudEvent id is longer than 100 characters', 1;
    END;

    SET @MessageId = COALESCE(@eventId, LOWER(CONVERT(nvarchar(36), NEWID())));
    INSERT INTO dbo.OffloadOutbox (QueueName, ConversationId, MessageId, Message)
    VALUES (@Queue, COALESCE(@ConversationId, N''), @MessageId, @Message);
END;
GO
