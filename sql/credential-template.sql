-- Offload: the DATABASE SCOPED CREDENTIAL that lets the file procedures
-- (file-procs.sql) and dbo.usp_PublishMessageNow call the Function App
-- (dbo.usp_PublishMessage, the transactional outbox, calls nothing).
--
-- This script is a template that Offload never runs: it holds a secret.
-- Replace the <...> placeholders and $(FunctionUrl) (or run it with
-- sqlcmd -v FunctionUrl="https://APP.azurewebsites.net"), then run ONE of
-- the two CREATE DATABASE SCOPED CREDENTIAL statements.
--
-- sp_invoke_external_rest_endpoint picks a credential by its NAME, which
-- must be a URL: same scheme and host as the called URL, and a path that is
-- a whole-segment prefix of it, without a query string. The Function App's
-- base URL (no trailing slash) covers /api/files/* and /api/messages/*; it
-- is also the name `offload schema apply --with-file-procs` records in
-- dbo.OffloadSettings unless --credential says otherwise.

-- 1. A database master key protects the credential's secret (once per
--    database). Azure SQL Database also accepts CREATE MASTER KEY; alone.
IF NOT EXISTS (SELECT 1 FROM sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##')
    CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'<a strong password>';
GO

-- 2a. Function key: the functions use authLevel "function"; the key (a
--     function key of Files/PublishMessage/DrainOutboxHttp, or a host key) travels in the
--     x-functions-key header. Rotate with ALTER DATABASE SCOPED CREDENTIAL.
CREATE DATABASE SCOPED CREDENTIAL [$(FunctionUrl)]
WITH IDENTITY = 'HTTPEndpointHeaders',
     SECRET = '{"x-functions-key":"<function key>"}';
GO

-- 2b. Or managed identity: the logical server's system-assigned identity
--     gets a token for the Function App's Microsoft Entra app registration
--     (App Service Authentication enabled on the Function App, which then
--     checks the token; the functions' authLevel can be anonymous). The
--     resourceid is that registration's Application ID URI or client id.
-- CREATE DATABASE SCOPED CREDENTIAL [$(FunctionUrl)]
-- WITH IDENTITY = 'Managed Identity',
--      SECRET = '{"resourceid":"<application id URI or client id>"}';
-- GO

-- 3. Who may call: the caller of the procedures needs to reference the
--    credential and to call external endpoints.
GRANT REFERENCES ON DATABASE SCOPED CREDENTIAL::[$(FunctionUrl)] TO [<database user or role>];
GRANT EXECUTE ANY EXTERNAL ENDPOINT TO [<database user or role>];
GO
