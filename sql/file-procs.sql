-- Offload: drop-in T-SQL replacements for Hartonomous' SQL CLR file functions
-- (dbo.clr_ReadFileBytes, clr_ReadFileText, clr_WriteFileBytes,
-- clr_WriteFileText, clr_FileExists, clr_DirectoryExists, clr_DeleteFile,
-- clr_ListDirectory) on Azure SQL Database. Each procedure takes the CLR
-- function's parameters plus an OUTPUT result, and calls the Offload Function
-- App (POST /api/files/{op}) through sp_invoke_external_rest_endpoint.
--
-- Apply with:  offload schema apply --with-file-procs --function-url https://APP.azurewebsites.net
-- or with:     sqlcmd -v FunctionUrl="https://APP.azurewebsites.net" FunctionCredential="https://APP.azurewebsites.net"
--                     -i base64-builtin.sql -i file-procs.sql -i publish-now-procs.sql
--              (base64-xml.sql instead of base64-builtin.sql where the
--              database has no BASE64_ENCODE / BASE64_DECODE)
-- First create the DATABASE SCOPED CREDENTIAL (credential-template.sql);
-- then give callers EXECUTE on the procedures only (signing.sql).
--
-- The parameters are the CLR functions' own (@FilePath nvarchar(max),
-- @Content varbinary(max) / nvarchar(max)), in the same order, so a call
-- site changes in one line: SET @n = dbo.clr_WriteFileText(@p, @t) becomes
-- EXEC dbo.usp_WriteFileText @p, @t, @n OUTPUT.
--
-- Each procedure is created as a stub where missing, then ALTERed: the script
-- can be run again (a new URL, a new version) and keeps the grants on the
-- procedures; it needs no CREATE OR ALTER (SQL Server 2016 SP1+, and not every
-- engine that speaks T-SQL has it).
--
-- Payloads are built with FOR JSON, bytes base64-encoded by
-- dbo.ufn_OffloadBase64Encode; responses are read with JSON_VALUE for
-- scalars and OPENJSON(@response, '$.result') (no WITH clause) for values
-- that may exceed JSON_VALUE's 4000 characters. Every failure THROWs an
-- error in the 50100 range:
--   50100  dbo.OffloadSettings lacks FunctionUrl or FunctionCredential
--   50101  the call failed (HTTP status, the function's code and message)
--   50102  bad arguments (usp_PublishMessage, usp_PublishMessageNow)

-- The one place that says where the Function App is. The procedures read it
-- at each call, so moving the app is an UPDATE (and a new credential).
-- Optional row TimeoutSeconds (1-230, default 230): how long one call may
-- take (sp_invoke_external_rest_endpoint's @timeout).
IF OBJECT_ID(N'dbo.OffloadSettings', N'U') IS NULL
    CREATE TABLE dbo.OffloadSettings (
        Name  nvarchar(128)  NOT NULL CONSTRAINT PK_OffloadSettings PRIMARY KEY,
        Value nvarchar(4000) NOT NULL
    );
GO

-- UPDATE-then-INSERT (never MERGE): idempotent, and a rerun with a new URL
-- moves the app.
UPDATE dbo.OffloadSettings SET Value = N'$(FunctionUrl)' WHERE Name = N'FunctionUrl';
IF @@ROWCOUNT = 0
    INSERT dbo.OffloadSettings (Name, Value) VALUES (N'FunctionUrl', N'$(FunctionUrl)');
UPDATE dbo.OffloadSettings SET Value = N'$(FunctionCredential)' WHERE Name = N'FunctionCredential';
IF @@ROWCOUNT = 0
    INSERT dbo.OffloadSettings (Name, Value) VALUES (N'FunctionCredential', N'$(FunctionCredential)');
GO

-- dbo.usp_OffloadInvoke posts @Payload to {FunctionUrl}/api/{@Route} and
-- returns sp_invoke_external_rest_endpoint's @response; any non-2xx answer
-- is THROWn with the function's {"error","code"}.
IF OBJECT_ID(N'dbo.usp_OffloadInvoke', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_OffloadInvoke AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_OffloadInvoke
    @Route    nvarchar(200),
    @Payload  nvarchar(max),
    @Response nvarchar(max) OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @base nvarchar(4000), @credential sysname, @url nvarchar(4000);
    DECLARE @rc int, @status int, @timeout smallint, @msg nvarchar(2048);

    SELECT @base = Value FROM dbo.OffloadSettings WHERE Name = N'FunctionUrl';
    SELECT @credential = Value FROM dbo.OffloadSettings WHERE Name = N'FunctionCredential';
    SELECT @timeout = TRY_CAST(Value AS smallint) FROM dbo.OffloadSettings WHERE Name = N'TimeoutSeconds';
    IF @timeout IS NULL OR @timeout NOT BETWEEN 1 AND 230
        SET @timeout = 230;
    IF @base IS NULL OR @credential IS NULL
    BEGIN
        THROW 50100, N'Offload: dbo.OffloadSettings has no FunctionUrl or FunctionCredential: run offload schema apply --with-file-procs --function-url URL', 1;
    END;

    -- The call returns 0 on a 2xx answer and the HTTP status otherwise,
    -- raising no error; it raises one only when no answer came (no
    -- connection, TLS, @timeout), and that error ends this procedure.
    -- (sql-docs sp-invoke-external-rest-endpoint-transact-sql.md, Return
    -- values.)
    SET @url = CONCAT(@base, N'/api/', @Route);
    EXEC @rc = sys.sp_invoke_external_rest_endpoint
        @url = @url,
        @method = N'POST',
        @headers = N'{"Content-Type":"application/json"}',
        @payload = @Payload,
        @credential = @credential,
        @timeout = @timeout,
        @response = @Response OUTPUT;

    SET @status = TRY_CAST(JSON_VALUE(@Response, '$.response.status.http.code') AS int);
    IF @rc <> 0 OR @status IS NULL OR @status NOT BETWEEN 200 AND 299
    BEGIN
        SET @msg = LEFT(CONCAT(N'Offload: POST ', @url, N' failed: HTTP ', COALESCE(@status, @rc), N' ',
            COALESCE(JSON_VALUE(@Response, '$.result.code'), N'(no code)'), N': ',
            COALESCE(JSON_VALUE(@Response, '$.result.error'), LEFT(@Response, 1000))), 2048);
        THROW 50101, @msg, 1;
    END;
END;
GO

-- clr_ReadFileBytes(@filePath) → varbinary(max); NULL when the file is missing.
IF OBJECT_ID(N'dbo.usp_ReadFileBytes', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_ReadFileBytes AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_ReadFileBytes
    @FilePath nvarchar(max),
    @Content  varbinary(max) OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @payload nvarchar(max), @response nvarchar(max), @b64 varchar(max);
    SET @Content = NULL;
    IF @FilePath IS NULL RETURN;

    SET @payload = (SELECT @FilePath AS [path] FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    EXEC dbo.usp_OffloadInvoke @Route = N'files/read', @Payload = @payload, @Response = @response OUTPUT;

    IF JSON_VALUE(@response, '$.result.exists') = N'true'
    BEGIN
        -- OPENJSON without WITH: its value column is nvarchar(max) on
        -- every engine (a WITH column, and JSON_VALUE, may stop at 4000).
        SELECT @b64 = CAST(r.[value] AS varchar(max))
        FROM OPENJSON(@response, '$.result') AS r WHERE r.[key] = N'contentBase64';
        SET @Content = dbo.ufn_OffloadBase64Decode(@b64);
    END;
END;
GO

-- clr_ReadFileText(@filePath) → nvarchar(max) (UTF-8 file); NULL when missing.
IF OBJECT_ID(N'dbo.usp_ReadFileText', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_ReadFileText AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_ReadFileText
    @FilePath nvarchar(max),
    @Content  nvarchar(max) OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @payload nvarchar(max), @response nvarchar(max);
    SET @Content = NULL;
    IF @FilePath IS NULL RETURN;

    SET @payload = (SELECT @FilePath AS [path], N'utf8' AS [encoding] FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    EXEC dbo.usp_OffloadInvoke @Route = N'files/read', @Payload = @payload, @Response = @response OUTPUT;

    IF JSON_VALUE(@response, '$.result.exists') = N'true'
    BEGIN
        SELECT @Content = r.[value]
        FROM OPENJSON(@response, '$.result') AS r WHERE r.[key] = N'text';
    END;
END;
GO

-- clr_WriteFileBytes(@filePath, @content) → bytes written. NULL in, NULL out.
IF OBJECT_ID(N'dbo.usp_WriteFileBytes', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_WriteFileBytes AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_WriteFileBytes
    @FilePath     nvarchar(max),
    @Content      varbinary(max),
    @BytesWritten bigint = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @payload nvarchar(max), @response nvarchar(max);
    SET @BytesWritten = NULL;
    IF @FilePath IS NULL OR @Content IS NULL RETURN;

    -- path first: the function streams the content straight into the blob
    -- once it knows where it goes.
    SET @payload = (SELECT @FilePath AS [path], dbo.ufn_OffloadBase64Encode(@Content) AS [contentBase64] FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    EXEC dbo.usp_OffloadInvoke @Route = N'files/write', @Payload = @payload, @Response = @response OUTPUT;

    SET @BytesWritten = TRY_CAST(JSON_VALUE(@response, '$.result.bytesWritten') AS bigint);
END;
GO

-- clr_WriteFileText(@filePath, @content) → bytes written (UTF-8, no BOM).
IF OBJECT_ID(N'dbo.usp_WriteFileText', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_WriteFileText AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_WriteFileText
    @FilePath     nvarchar(max),
    @Content      nvarchar(max),
    @BytesWritten bigint = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @payload nvarchar(max), @response nvarchar(max);
    SET @BytesWritten = NULL;
    IF @FilePath IS NULL OR @Content IS NULL RETURN;

    SET @payload = (SELECT @FilePath AS [path], @Content AS [text] FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    EXEC dbo.usp_OffloadInvoke @Route = N'files/write', @Payload = @payload, @Response = @response OUTPUT;

    SET @BytesWritten = TRY_CAST(JSON_VALUE(@response, '$.result.bytesWritten') AS bigint);
END;
GO

-- clr_FileExists(@filePath) → bit.
IF OBJECT_ID(N'dbo.usp_FileExists', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_FileExists AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_FileExists
    @FilePath nvarchar(max),
    @Exists   bit OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @payload nvarchar(max), @response nvarchar(max);
    SET @Exists = NULL;
    IF @FilePath IS NULL RETURN;

    SET @payload = (SELECT @FilePath AS [path] FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    EXEC dbo.usp_OffloadInvoke @Route = N'files/exists', @Payload = @payload, @Response = @response OUTPUT;

    SET @Exists = CASE WHEN JSON_VALUE(@response, '$.result.exists') = N'true'
                        AND JSON_VALUE(@response, '$.result.isDirectory') = N'false' THEN 1 ELSE 0 END;
END;
GO

-- clr_DirectoryExists(@directoryPath) → bit. A directory exists while it
-- holds a file (Blob Storage has no empty directories); a root exists while
-- its container does.
IF OBJECT_ID(N'dbo.usp_DirectoryExists', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_DirectoryExists AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_DirectoryExists
    @DirectoryPath nvarchar(max),
    @Exists        bit OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @payload nvarchar(max), @response nvarchar(max);
    SET @Exists = NULL;
    IF @DirectoryPath IS NULL RETURN;

    SET @payload = (SELECT @DirectoryPath AS [path] FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    EXEC dbo.usp_OffloadInvoke @Route = N'files/exists', @Payload = @payload, @Response = @response OUTPUT;

    SET @Exists = CASE WHEN JSON_VALUE(@response, '$.result.exists') = N'true'
                        AND JSON_VALUE(@response, '$.result.isDirectory') = N'true' THEN 1 ELSE 0 END;
END;
GO

-- clr_DeleteFile(@filePath) → bit: 1 deleted, 0 there was no such file.
IF OBJECT_ID(N'dbo.usp_DeleteFile', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_DeleteFile AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_DeleteFile
    @FilePath nvarchar(max),
    @Deleted  bit OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @payload nvarchar(max), @response nvarchar(max);
    SET @Deleted = NULL;
    IF @FilePath IS NULL RETURN;

    SET @payload = (SELECT @FilePath AS [path] FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    EXEC dbo.usp_OffloadInvoke @Route = N'files/delete', @Payload = @payload, @Response = @response OUTPUT;

    SET @Deleted = CASE WHEN JSON_VALUE(@response, '$.result.deleted') = N'true' THEN 1 ELSE 0 END;
END;
GO

-- clr_ListDirectory(@directoryPath): one level, as the CLR table function's
-- rows (path, name, isDirectory, sizeBytes, lastModified) and as the JSON
-- array @Entries. A directory that does not exist lists no rows.
IF OBJECT_ID(N'dbo.usp_ListDirectory', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.usp_ListDirectory AS RETURN 0;');
GO
ALTER PROCEDURE dbo.usp_ListDirectory
    @DirectoryPath nvarchar(max),
    @Entries       nvarchar(max) = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @payload nvarchar(max), @response nvarchar(max), @sep nvarchar(1);
    SET @Entries = NULL;
    IF @DirectoryPath IS NULL RETURN;

    SET @payload = (SELECT @DirectoryPath AS [path] FOR JSON PATH, WITHOUT_ARRAY_WRAPPER);
    EXEC dbo.usp_OffloadInvoke @Route = N'files/list', @Payload = @payload, @Response = @response OUTPUT;

    SET @Entries = JSON_QUERY(@response, '$.result.entries');
    SET @sep = CASE WHEN RIGHT(@DirectoryPath, 1) IN (N'\', N'/') THEN N''
                    WHEN CHARINDEX(N'\', @DirectoryPath) > 0 THEN N'\' ELSE N'/' END;

    SELECT CONCAT(@DirectoryPath, @sep, e.[name]) AS [path],
           e.[name] AS [name],
           e.isDirectory AS isDirectory,
           e.sizeBytes AS sizeBytes,
           CONVERT(datetime2(7), SWITCHOFFSET(TRY_CAST(e.lastModified AS datetimeoffset(7)), '+00:00')) AS lastModified
    FROM OPENJSON(@response, '$.result.entries')
         WITH ([name]       nvarchar(1024) '$.name',
               sizeBytes    bigint         '$.sizeBytes',
               lastModified nvarchar(40)   '$.lastModified',
               isDirectory  bit            '$.isDirectory') AS e;
END;
GO
