-- Offload: the DATABASE SCOPED CREDENTIAL that lets the file procedures
-- (file-procs.sql) and dbo.usp_PublishMessageNow call the Function App
-- (dbo.usp_PublishMessage, the transactional outbox, calls nothing).
--
-- This script is a template that Offload never runs: it holds a secret.
-- Replace the <...> placeholders and $(FunctionUrl) (or run it with
-- sqlcmd -v FunctionUrl="https://APP.azurewebsites.net").
--
-- One way to authenticate, the one Offload ships and tests: a function key.
-- Every HTTP function is authLevel "function" (functions/*/function.json),
-- so the Functions host answers 401 to a call without a key, whatever else
-- it carries (a managed-identity token alone is refused); see docs/FILES.md,
-- "Authentication".
--
-- sp_invoke_external_rest_endpoint picks a credential by its NAME, which
-- must be a URL: same scheme and host as the called URL, and a path that is
-- a whole-segment prefix of it, without a query string (sql-docs
-- sp-invoke-external-rest-endpoint-transact-sql.md, "Credential name
-- rules"). The Function App's base URL (no trailing slash) covers
-- /api/files/* and /api/messages/*; it is also the name `offload schema
-- apply --with-file-procs` records in dbo.OffloadSettings unless
-- --credential says otherwise.

-- 1. A database master key protects the credential's secret (once per
--    database; it also protects the signing certificate of signing.sql).
--    Azure SQL Database also accepts CREATE MASTER KEY; alone.
IF NOT EXISTS (SELECT 1 FROM sys.symmetric_keys WHERE name = N'##MS_DatabaseMasterKey##')
    CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'<a strong password>';
GO

-- 2. The function key travels in the x-functions-key header. Use a key of
--    the Files function (and one of PublishMessage if usp_PublishMessageNow
--    is used), or the app's "default" host key, which opens every function
--    of authLevel "function". Rotate with ALTER DATABASE SCOPED CREDENTIAL
--    ... WITH IDENTITY = 'HTTPEndpointHeaders', SECRET = '{...new key...}'.
CREATE DATABASE SCOPED CREDENTIAL [$(FunctionUrl)]
WITH IDENTITY = 'HTTPEndpointHeaders',
     SECRET = '{"x-functions-key":"<function key>"}';
GO

-- 3. Who may use it: nobody directly. signing.sql grants REFERENCES on this
--    credential and EXECUTE ANY EXTERNAL ENDPOINT to a user made from a
--    certificate that signs dbo.usp_OffloadInvoke, and callers get EXECUTE
--    on the usp_* procedures only (the role offload_file_caller). Run it
--    after this script and after every `offload schema apply
--    --with-file-procs` (ALTER PROCEDURE drops a signature).
