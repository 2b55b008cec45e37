-- Offload: base64 for the file procedures (file-procs.sql), with the
-- database's own BASE64_ENCODE / BASE64_DECODE (Azure SQL Database, SQL
-- Server 2025; sql-docs t-sql/functions/base64-encode-transact-sql.md).
-- `offload schema apply --with-file-procs` runs this script where the
-- database answers SELECT BASE64_DECODE(BASE64_ENCODE(0x01)), and
-- base64-xml.sql where it does not. By hand (sqlcmd):
--   sqlcmd -i base64-builtin.sql -i file-procs.sql ...
--
-- Two functions, so that the procedures read the same on every database.
-- Dropped and created again (not every T-SQL engine has ALTER FUNCTION;
-- nothing is granted on them: the procedures call them as their owner).

DROP FUNCTION IF EXISTS dbo.ufn_OffloadBase64Decode;
GO
CREATE FUNCTION dbo.ufn_OffloadBase64Decode (@b64 varchar(max))
RETURNS varbinary(max)
AS
BEGIN
    RETURN BASE64_DECODE(@b64);
END;
GO

DROP FUNCTION IF EXISTS dbo.ufn_OffloadBase64Encode;
GO
CREATE FUNCTION dbo.ufn_OffloadBase64Encode (@bytes varbinary(max))
RETURNS varchar(max)
AS
BEGIN
    RETURN BASE64_ENCODE(@bytes);
END;
GO
