-- Offload's integrity and progress bookkeeping (REFERENCE §1.2: "on the rows
-- or in a table of the project's own"). On SQLite it is a table of its own,
-- one row per segment, with the same column names SQL Server has on
-- dbo.LayerTensorSegments. Why not on the segment row: SQLite rewrites a
-- whole row, payload included, on any UPDATE, so recording a claim on a
-- 1 GB segment would read and write 1 GB. Here every state change touches
-- only this small row; LayerTensorSegments is written once, when the
-- payload is released (emptied), and BlobUri/BlobETag/BlobSizeBytes are
-- copied to it then.
--   OffloadState     pending | queued | migrated | verified | mismatch | lost | released
--                    (a segment without a row here is pending)
--   PayloadSha256    lowercase hex SHA-256 of the source payload
--   OffloadAttempts  failed migration attempts; OffloadError the last one
--   ClaimToken/ClaimedUntil  the migrating worker's expiring claim
-- Times are UTC text "YYYY-MM-DDTHH:MM:SS.ffffffZ".

CREATE TABLE IF NOT EXISTS OffloadSegments (
    LayerTensorSegmentId INTEGER PRIMARY KEY REFERENCES LayerTensorSegments (LayerTensorSegmentId) ON DELETE CASCADE,
    OffloadState         TEXT NOT NULL DEFAULT 'pending' CHECK (OffloadState IN ('pending', 'queued', 'migrated', 'verified', 'mismatch', 'lost', 'released')),
    PayloadSha256        TEXT NULL,
    BlobUri              TEXT NULL,
    BlobETag             TEXT NULL,
    BlobSizeBytes        INTEGER NOT NULL DEFAULT 0,
    OffloadAttempts      INTEGER NOT NULL DEFAULT 0,
    OffloadError         TEXT NULL,
    QueuedAt             TEXT NULL,
    MigratedAt           TEXT NULL,
    VerifiedAt           TEXT NULL,
    VerifyResult         TEXT NULL,
    ReleasedAt           TEXT NULL,
    ClaimToken           TEXT NULL,
    ClaimedUntil         TEXT NULL
);

CREATE INDEX IF NOT EXISTS IX_OffloadSegments_OffloadState ON OffloadSegments (OffloadState);

ALTER TABLE Atoms ADD COLUMN VerifiedAt TEXT NULL;
ALTER TABLE Atoms ADD COLUMN VerifyResult TEXT NULL;
