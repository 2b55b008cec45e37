-- Offload: base64 for the file procedures (file-procs.sql) where the
-- database has no BASE64_ENCODE / BASE64_DECODE (SQL Server 2019 and 2022,
-- Managed Instance today): XML's xs:base64Binary, T-SQL's way to convert
-- base64 before SQL Server 2025. `offload schema apply --with-file-procs`
-- picks this script or base64-builtin.sql by asking the database. By hand:
--   sqlcmd -i base64-xml.sql -i file-procs.sql ...
--
-- Dropped and created again (not every T-SQL engine has ALTER FUNCTION;
-- nothing is granted on them: the procedures call them as their owner).

DROP FUNCTION IF EXISTS dbo.ufn_OffloadBase64Decode;
GO
CREATE FUNCTION dbo.ufn_OffloadBase64Decode (@b64 varchar(max))
RETURNS varbinary(max)
AS
BEGIN
    RETURN CAST(N'' AS xml).value('xs:base64Binary(sql:variable("@b64"))', 'varbinary(max)');
END;
GO

DROP FUNCTION IF EXISTS dbo.ufn_OffloadBase64Encode;
GO
CREATE FUNCTION dbo.ufn_OffloadBase64Encode (@bytes varbinary(max))
RETURNS varchar(max)
AS
BEGIN
    -- A varbinary sql:variable is typed xs:base64Binary: read back as
    -- text, it is its base64 form (no line breaks).
    RETURN CAST(N'' AS xml).value('xs:base64Binary(sql:variable("@bytes"))', 'varchar(max)');
END;
GO
