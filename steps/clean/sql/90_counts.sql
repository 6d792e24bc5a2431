-- Rows by outcome (empty reason: clean), for conservation and the per-reason metrics.
SELECT coalesce(__reason, '') AS reason, count(*) AS n
FROM checked
GROUP BY ALL
ORDER BY reason
