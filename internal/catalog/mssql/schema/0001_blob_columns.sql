-- Offload schema step 1 (REFERENCE §1.2): where each payload lives in Blob
-- Storage. Idempotent: every batch checks before it changes anything, so the
-- file can be run again, by Offload ("offload schema apply") or by hand in
-- SSMS / sqlcmd. Offload never creates the Hartonomous tables themselves.
-- PayloadLocator stays until the link step has filled BlobUri.

IF COL_LENGTH('dbo.Atoms', 'BlobUri') IS NULL
    ALTER TABLE dbo.Atoms ADD BlobUri nvarchar(2048) NULL;
GO
IF COL_LENGTH('dbo.Atoms', 'BlobContainer') IS NULL
    ALTER TABLE dbo.Atoms ADD BlobContainer nvarchar(256) NULL;
GO
IF COL_LENGTH('dbo.Atoms', 'BlobName') IS NULL
    ALTER TABLE dbo.Atoms ADD BlobName nvarchar(1024) NULL;
GO
IF COL_LENGTH('dbo.Atoms', 'BlobSizeBytes') IS NULL
    ALTER TABLE dbo.Atoms ADD BlobSizeBytes bigint NULL;
GO
IF COL_LENGTH('dbo.Atoms', 'BlobETag') IS NULL
    ALTER TABLE dbo.Atoms ADD BlobETag nvarchar(128) NULL;
GO
IF COL_LENGTH('dbo.Atoms', 'BlobLastModified') IS NULL
    ALTER TABLE dbo.Atoms ADD BlobLastModified datetime2 NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'BlobUri') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD BlobUri nvarchar(2048) NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'BlobETag') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD BlobETag nvarchar(128) NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'BlobSizeBytes') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD BlobSizeBytes bigint NOT NULL
        CONSTRAINT DF_LayerTensorSegments_BlobSizeBytes DEFAULT (0);
GO
