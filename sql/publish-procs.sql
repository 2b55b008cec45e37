-- Offload: dbo.usp_PublishMessage replaces Service Broker SEND. It posts a
-- JSON document to the PublishMessage function (POST /api/messages/{queue}),
-- which puts it on the Azure Storage queue {queue} (one of PUBLISH_QUEUES).
-- Rendered after file-procs.sql, whose dbo.usp_OffloadInvoke it uses.
--
-- Example (a CloudEvents 1.0 event, see docs/MESSAGING.md):
--   DECLARE @id nvarchar(100);
--   DECLARE @event nvarchar(max) = JSON_OBJECT(
--       'specversion': '1.0', 'id': CONVERT(nvarchar(36), NEWID()),
--       'source': '/hartonomous/dbo/Atoms', 'type': 'hartonomous.atom.created',
--       'time': CONCAT(CONVERT(nvarchar(27), SYSUTCDATETIME(), 126), 'Z'),
--       'subject': '42', 'datacontenttype': 'application/json',
--       'data': JSON_OBJECT('atomId': 42));
--   EXEC dbo.usp_PublishMessage @Queue = N'neo4j-sync', @Message = @event, @MessageId = @id OUTPUT;

IF OBJECT_ID(N'dbo.usp_PublishMessage', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_PublishMessage AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_PublishMessage
    @Queue     nvarchar(63),
    @Message   nvarchar(max),
    @MessageId nvarchar(100) = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @route nvarchar(200), @response nvarchar(max);
    SET @MessageId = NULL;

    -- The queue name becomes part of the URL: only Azure's queue alphabet,
    -- so no value can reach another route.
    IF @Queue IS NULL OR LEN(@Queue) < 3
       OR @Queue COLLATE Latin1_General_BIN2 LIKE N'%[^a-z0-9-]%'
    BEGIN
        THROW 50102, N'Offload: usp_PublishMessage: @Queue must be a storage queue name (3-63 lowercase letters, digits and dashes)', 1;
    END;
    IF @Message IS NULL OR ISJSON(@Message) = 0
    BEGIN
        THROW 50102, N'Offload: usp_PublishMessage: @Message must be a JSON document', 1;
    END;

    SET @route = CONCAT(N'messages/', @Queue);
    EXEC dbo.usp_OffloadInvoke @Route = @route, @Payload = @Message, @Response = @response OUTPUT;

    SET @MessageId = JSON_VALUE(@response, '$.result.messageId');
END;
GO
