-- What the live migration page needs that the bookkeeping did not keep
-- (REFERENCE §1.2): when a segment's last failure happened, and one row per
-- verification run (how much it read back, what it found, and how many
-- segments were still waiting to be read back when it ended).

ALTER TABLE OffloadSegments ADD COLUMN OffloadErrorAt TEXT NULL;

CREATE TABLE IF NOT EXISTS OffloadVerifyRuns (
    RunId          INTEGER PRIMARY KEY AUTOINCREMENT,
    StartedAt      TEXT    NOT NULL,
    EndedAt        TEXT    NOT NULL,
    FullChecked    INTEGER NOT NULL DEFAULT 0,
    CheapChecked   INTEGER NOT NULL DEFAULT 0,
    Verified       INTEGER NOT NULL DEFAULT 0,
    Mismatched     INTEGER NOT NULL DEFAULT 0,
    Lost           INTEGER NOT NULL DEFAULT 0,
    Requeued       INTEGER NOT NULL DEFAULT 0,
    BytesHashed    INTEGER NOT NULL DEFAULT 0,
    AtomsChecked   INTEGER NOT NULL DEFAULT 0,
    AtomsFailed    INTEGER NOT NULL DEFAULT 0,
    Errors         INTEGER NOT NULL DEFAULT 0,
    LeftUnverified INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS IX_OffloadVerifyRuns_EndedAt ON OffloadVerifyRuns (EndedAt);
