-- Offload: dbo.usp_PublishMessageNow, the immediate, NON-transactional
-- publish. It posts a JSON document to the PublishMessage function (POST
-- /api/messages/{queue}) on the spot (sp_invoke_external_rest_endpoint,
-- through dbo.usp_OffloadInvoke), on Azure SQL Database and SQL Server 2025
-- only. The message has left once the call returns, even if the caller's
-- transaction later rolls back, and
-- the caller waits for the Function App (up to 230 s) while holding its
-- locks. Use dbo.usp_PublishMessage (publish-procs.sql, the transactional
-- outbox) unless the message must leave before the transaction ends.
-- Rendered after file-procs.sql, whose dbo.usp_OffloadInvoke it uses:
--   offload schema apply --with-file-procs --function-url URL
--
-- Example:
--   DECLARE @id nvarchar(100);
--   EXEC dbo.usp_PublishMessageNow @Queue = N'neo4j-sync', @Message = @event, @MessageId = @id OUTPUT;

IF OBJECT_ID(N'dbo.usp_PublishMessageNow', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_PublishMessageNow AS RETURN 0;');
GO

ALTER PROCEDURE dbo.usp_PublishMessageNow
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
    -- The hyphen goes first in the set: Babelfish misreads a trailing one.
    IF @Queue IS NULL OR LEN(@Queue) < 3
       OR @Queue COLLATE Latin1_General_BIN2 LIKE N'%[^-a-z0-9]%'
    BEGIN
        THROW 50102, N'Offload: usp_PublishMessageNow: @Queue must be a storage queue name (3-63 lowercase letters, digits and dashes)', 1;
    END;
    IF @Message IS NULL OR ISJSON(@Message) = 0
    BEGIN
        THROW 50102, N'Offload: usp_PublishMessageNow: @Message must be a JSON document', 1;
    END;
    -- POST api/messages/drain is DrainOutbox (a literal route wins over
    -- {queue}): a queue named drain is reachable through the outbox only.
    IF @Queue = N'drain'
    BEGIN
        THROW 50102, N'Offload: usp_PublishMessageNow: the queue drain can only be published to with dbo.usp_PublishMessage (api/messages/drain is the drain)', 1;
    END;

    SET @route = CONCAT(N'messages/', @Queue);
    EXEC dbo.usp_OffloadInvoke @Route = @route, @Payload = @Message, @Response = @response OUTPUT;

    SET @MessageId = JSON_VALUE(@response, '$.result.messageId');
END;
GO
