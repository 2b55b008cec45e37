-- Offload progress by model and state: the query behind SegmentStatus
-- (GET api/segments/status) and "offload segments status", for a DBA to run
-- as it is in SSMS / sqlcmd / the Azure portal query editor.
--   Segments      rows in this state
--   PayloadBytes  bytes still in RawPayload (0 once released)
--   BlobBytes     bytes recorded in Blob Storage
SELECT m.ModelId, m.ModelName, s.OffloadState,
       COUNT_BIG(*) AS Segments,
       ISNULL(SUM(CAST(DATALENGTH(s.RawPayload) AS bigint)), 0) AS PayloadBytes,
       ISNULL(SUM(s.BlobSizeBytes), 0) AS BlobBytes,
       MAX(s.VerifiedAt) AS LastVerifiedAt,
       MAX(s.MigratedAt) AS LastMigratedAt
FROM dbo.LayerTensorSegments AS s
JOIN dbo.ModelLayers AS l ON l.LayerId = s.LayerId
JOIN dbo.Models AS m ON m.ModelId = l.ModelId
GROUP BY m.ModelId, m.ModelName, s.OffloadState
ORDER BY m.ModelId,
         CASE s.OffloadState WHEN N'pending' THEN 0 WHEN N'queued' THEN 1 WHEN N'migrated' THEN 2
              WHEN N'verified' THEN 3 WHEN N'mismatch' THEN 4 WHEN N'lost' THEN 5 ELSE 6 END;

-- Also useful, not run by Offload:
--
-- Segments that failed, newest error first:
--   SELECT TOP (50) LayerTensorSegmentId, OffloadState, OffloadAttempts, OffloadError, QueuedAt
--   FROM dbo.LayerTensorSegments WHERE OffloadAttempts > 0 ORDER BY QueuedAt DESC;
--
-- Segments whose blob went missing after release (only a restore fixes these):
--   SELECT LayerTensorSegmentId, BlobUri, VerifyResult, VerifiedAt
--   FROM dbo.LayerTensorSegments WHERE OffloadState = N'lost';
--
-- Everything released? (Finalize refuses until this returns 0.)
--   SELECT COUNT_BIG(*) AS Unreleased FROM dbo.LayerTensorSegments WHERE OffloadState <> N'released';
