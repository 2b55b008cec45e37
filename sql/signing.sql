-- Offload: least privilege for the callers of the usp_* procedures, by
-- module signing (sql-docs relational-databases/
-- tutorial-signing-stored-procedures-with-a-certificate.md,
-- t-sql/statements/add-signature-transact-sql.md).
--
-- Callers get EXECUTE on the procedures and nothing else: put them in the
-- role offload_file_caller. They never hold EXECUTE ANY EXTERNAL ENDPOINT
-- (which would let them call any endpoint the database allows) nor
-- REFERENCES on the credential. Those two rights belong to a user made from
-- a certificate, and travel with the one procedure that calls
-- sp_invoke_external_rest_endpoint, dbo.usp_OffloadInvoke, because that
-- certificate signs it: while the signed procedure runs, the certificate
-- user's permissions are added to the caller's. The public procedures reach
-- dbo.usp_OffloadInvoke and dbo.OffloadSettings by ownership chaining (all
-- owned by dbo), so callers need no right on those either.
--
-- Run it after credential-template.sql and after EVERY `offload schema
-- apply --with-file-procs`: ALTER PROCEDURE drops a module's signature, and
-- an unsigned dbo.usp_OffloadInvoke fails for a least-privileged caller
-- with a permission error (loudly; nothing is written). It holds no secret:
--   sqlcmd -v FunctionCredential="https://APP.azurewebsites.net" -i signing.sql
-- (FunctionCredential: the credential's name, as in dbo.OffloadSettings.)
--
-- Each run makes a new certificate, signs, then removes the private key:
-- nothing else can ever be signed with it, and no password is kept. The
-- public key stays (it checks the signature). It needs the database master
-- key of credential-template.sql while it runs.

-- 1. The callers' role: EXECUTE on the public procedures, nothing else.
IF DATABASE_PRINCIPAL_ID(N'offload_file_caller') IS NULL
    CREATE ROLE offload_file_caller;
GO
GRANT EXECUTE ON OBJECT::dbo.usp_ReadFileBytes TO offload_file_caller;
GRANT EXECUTE ON OBJECT::dbo.usp_ReadFileText TO offload_file_caller;
GRANT EXECUTE ON OBJECT::dbo.usp_WriteFileBytes TO offload_file_caller;
GRANT EXECUTE ON OBJECT::dbo.usp_WriteFileText TO offload_file_caller;
GRANT EXECUTE ON OBJECT::dbo.usp_FileExists TO offload_file_caller;
GRANT EXECUTE ON OBJECT::dbo.usp_DirectoryExists TO offload_file_caller;
GRANT EXECUTE ON OBJECT::dbo.usp_DeleteFile TO offload_file_caller;
GRANT EXECUTE ON OBJECT::dbo.usp_ListDirectory TO offload_file_caller;
GRANT EXECUTE ON OBJECT::dbo.usp_PublishMessageNow TO offload_file_caller;
GO

-- 2. The previous signature, certificate user and certificate, if any.
IF EXISTS (SELECT 1 FROM sys.crypt_properties AS cp
           JOIN sys.certificates AS c ON c.thumbprint = cp.thumbprint
           WHERE cp.major_id = OBJECT_ID(N'dbo.usp_OffloadInvoke') AND c.name = N'OffloadInvokeSigner')
    DROP SIGNATURE FROM OBJECT::dbo.usp_OffloadInvoke BY CERTIFICATE OffloadInvokeSigner;
GO
IF DATABASE_PRINCIPAL_ID(N'OffloadInvokeSigner') IS NOT NULL
    DROP USER OffloadInvokeSigner;
GO
IF CERT_ID(N'OffloadInvokeSigner') IS NOT NULL
    DROP CERTIFICATE OffloadInvokeSigner;
GO

-- 3. A new certificate (private key protected by the database master key),
--    the signature, and the private key removed.
CREATE CERTIFICATE OffloadInvokeSigner
    WITH SUBJECT = N'Offload: signs dbo.usp_OffloadInvoke, the caller of sp_invoke_external_rest_endpoint';
GO
ADD SIGNATURE TO OBJECT::dbo.usp_OffloadInvoke BY CERTIFICATE OffloadInvokeSigner;
GO
ALTER CERTIFICATE OffloadInvokeSigner REMOVE PRIVATE KEY;
GO

-- 4. The certificate's user holds the two rights; it cannot log in.
CREATE USER OffloadInvokeSigner FROM CERTIFICATE OffloadInvokeSigner;
GO
GRANT EXECUTE ANY EXTERNAL ENDPOINT TO OffloadInvokeSigner;
GO
GRANT REFERENCES ON DATABASE SCOPED CREDENTIAL::[$(FunctionCredential)] TO OffloadInvokeSigner;
GO
