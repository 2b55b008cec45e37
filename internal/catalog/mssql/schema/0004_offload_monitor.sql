-- Offload schema step 4 (REFERENCE §1.2): what the live migration page needs
-- that the bookkeeping did not keep: when a segment's last failure happened,
-- and one row per verification run (how much it read back, what it found,
-- and how many segments were still waiting to be read back when it ended).

IF COL_LENGTH('dbo.LayerTensorSegments', 'OffloadErrorAt') IS NULL
    ALTER TABLE dbo.LayerTensorSegments ADD OffloadErrorAt datetime2 NULL;
GO
IF OBJECT_ID('dbo.OffloadVerifyRuns', 'U') IS NULL
    CREATE TABLE dbo.OffloadVerifyRuns (
        RunId          bigint IDENTITY(1,1) NOT NULL CONSTRAINT PK_OffloadVerifyRuns PRIMARY KEY,
        StartedAt      datetime2 NOT NULL,
        EndedAt        datetime2 NOT NULL,
        FullChecked    bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_FullChecked DEFAULT (0),
        CheapChecked   bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_CheapChecked DEFAULT (0),
        Verified       bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_Verified DEFAULT (0),
        Mismatched     bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_Mismatched DEFAULT (0),
        Lost           bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_Lost DEFAULT (0),
        Requeued       bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_Requeued DEFAULT (0),
        BytesHashed    bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_BytesHashed DEFAULT (0),
        AtomsChecked   bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_AtomsChecked DEFAULT (0),
        AtomsFailed    bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_AtomsFailed DEFAULT (0),
        Errors         bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_Errors DEFAULT (0),
        LeftUnverified bigint NOT NULL CONSTRAINT DF_OffloadVerifyRuns_LeftUnverified DEFAULT (0)
    );
GO
IF NOT EXISTS (SELECT 1 FROM sys.index_columns AS ic JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id WHERE ic.object_id = OBJECT_ID('dbo.OffloadVerifyRuns') AND ic.key_ordinal = 1 AND c.name = N'EndedAt')
    CREATE INDEX IX_OffloadVerifyRuns_EndedAt ON dbo.OffloadVerifyRuns (EndedAt);
GO
