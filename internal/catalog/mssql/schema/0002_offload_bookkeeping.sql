-- Offload schema step 2 (REFERENCE §1.2): integrity and progress bookkeeping
-- on the segment rows, queryable from T-SQL (see queries/status.sql).
-- Times are UTC.
--   PayloadSha256    lowercase hex SHA-256 of the source payload
--   OffloadState     pending | queued | migrated | verified | mismatch | lost | released
--   OffloadAttempts  failed migration attempts; OffloadError the last one
--   ClaimToken/ClaimedUntil  the migrating worker's expiring claim
-- On SQL Server varbinary(max) lives off-row, so updating these columns
-- never rewrites the payload.

IF COL_LENGTH('dbo.LayerTensorSegments', 'PayloadSha256') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD PayloadSha256 char(64) NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'OffloadState') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD OffloadState nvarchar(16) NOT NULL
        CONSTRAINT DF_LayerTensorSegments_OffloadState DEFAULT (N'pending');
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'OffloadAttempts') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD OffloadAttempts int NOT NULL
        CONSTRAINT DF_LayerTensorSegments_OffloadAttempts DEFAULT (0);
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'OffloadError') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD OffloadError nvarchar(2000) NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'QueuedAt') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD QueuedAt datetime2 NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'MigratedAt') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD MigratedAt datetime2 NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'VerifiedAt') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD VerifiedAt datetime2 NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'VerifyResult') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD VerifyResult nvarchar(200) NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'ReleasedAt') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD ReleasedAt datetime2 NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'ClaimToken') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD ClaimToken nvarchar(64) NULL;
GO
IF COL_LENGTH('dbo.LayerTensorSegments', 'ClaimedUntil') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD ClaimedUntil datetime2 NULL;
GO
IF OBJECT_ID('dbo.CK_LayerTensorSegments_OffloadState', 'C') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD CONSTRAINT CK_LayerTensorSegments_OffloadState
        CHECK (OffloadState IN (N'pending', N'queued', N'migrated', N'verified', N'mismatch', N'lost', N'released'));
GO
-- The index is recognised by what it indexes, not by its name: some engines
-- keep a different name in sys.indexes than the one created (Babelfish), and
-- an equivalent index a DBA already made needs no twin.
IF NOT EXISTS (SELECT 1 FROM sys.index_columns AS ic JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id WHERE ic.object_id = OBJECT_ID('dbo.LayerTensorSegments') AND ic.key_ordinal = 1 AND c.name = N'OffloadState')
    CREATE INDEX IX_LayerTensorSegments_OffloadState ON dbo.LayerTensorSegments (OffloadState);
GO
IF COL_LENGTH('dbo.Atoms', 'VerifiedAt') IS NULL
    ALTER TABLE dbo.Atoms ADD VerifiedAt datetime2 NULL;
GO
IF COL_LENGTH('dbo.Atoms', 'VerifyResult') IS NULL
    ALTER TABLE dbo.Atoms ADD VerifyResult nvarchar(200) NULL;
GO
