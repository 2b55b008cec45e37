-- +offload baseline
-- The Hartonomous tables (EF Core migration InitialBaseline), reduced to the
-- columns Offload and its tests use, for the embedded catalog only. Each
-- table is created only where it is missing, and the indexes of this file
-- only together with their table, so a catalog that already holds
-- Hartonomous data is left as it is.

CREATE TABLE IF NOT EXISTS Models (
    ModelId   INTEGER PRIMARY KEY,
    ModelName TEXT NOT NULL,
    ModelType TEXT NOT NULL,
    CreatedAt TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS ModelLayers (
    LayerId          INTEGER PRIMARY KEY,
    ModelId          INTEGER NOT NULL REFERENCES Models (ModelId) ON DELETE CASCADE,
    LayerIdx         INTEGER NOT NULL,
    LayerName        TEXT NULL,
    QuantizationType TEXT NULL
);

CREATE INDEX IF NOT EXISTS IX_ModelLayers_ModelId ON ModelLayers (ModelId);

-- PayloadRowGuid: SQL Server's ROWGUIDCOL with DEFAULT NEWSEQUENTIALID();
-- here a random version-4 GUID in its usual text form.
-- RawPayload is the LAST column on purpose: SQLite keeps a trailing
-- zeroblob() lazy, so InsertSegment streams a payload of any size into it
-- without materialising it, and reading any other column never walks the
-- payload's overflow pages. The REFERENCE §1.2 columns (BlobUri, BlobETag,
-- BlobSizeBytes) are therefore declared here, before it; 0002 adds them
-- only to tables created elsewhere.
CREATE TABLE IF NOT EXISTS LayerTensorSegments (
    LayerTensorSegmentId INTEGER PRIMARY KEY,
    LayerId              INTEGER NOT NULL REFERENCES ModelLayers (LayerId) ON DELETE CASCADE,
    SegmentOrdinal       INTEGER NOT NULL,
    PointOffset          INTEGER NULL,
    PointCount           INTEGER NULL,
    QuantizationType     TEXT NOT NULL,
    PayloadRowGuid       TEXT NOT NULL DEFAULT (lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + abs(random() % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))),
    CreatedAt            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    BlobUri              TEXT NULL,
    BlobETag             TEXT NULL,
    BlobSizeBytes        INTEGER NOT NULL DEFAULT 0,
    RawPayload           BLOB NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS UX_LayerTensorSegments_LayerId_SegmentOrdinal ON LayerTensorSegments (LayerId, SegmentOrdinal);

CREATE UNIQUE INDEX IF NOT EXISTS UX_LayerTensorSegments_PayloadRowGuid ON LayerTensorSegments (PayloadRowGuid);

CREATE TABLE IF NOT EXISTS Atoms (
    AtomId         INTEGER PRIMARY KEY,
    ContentHash    BLOB NOT NULL,
    Modality       TEXT NOT NULL,
    SourceType     TEXT NULL,
    PayloadLocator TEXT NULL,
    Metadata       TEXT NULL,
    CreatedAt      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UpdatedAt      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE UNIQUE INDEX IF NOT EXISTS UX_Atoms_ContentHash ON Atoms (ContentHash);
