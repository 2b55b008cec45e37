-- The outbox at a glance (what `offload messages status` and the outbox part
-- of GET api/segments/status show): rows by queue and state, and how long
-- the oldest one has waited. Pending rows that stay old mean the drain is
-- not running (or a queue is failing: see LastError). Times are UTC.
-- READPAST: rows of transactions still open are not counted (and do not
-- make the query wait for them).
SELECT QueueName, OutboxState, COUNT_BIG(*) AS Rows, MIN(CreatedAt) AS Oldest,
       DATEDIFF(second, MIN(CreatedAt), SYSUTCDATETIME()) AS OldestAgeSeconds
FROM dbo.OffloadOutbox WITH (READPAST)
GROUP BY QueueName, OutboxState
ORDER BY QueueName, OutboxState;
