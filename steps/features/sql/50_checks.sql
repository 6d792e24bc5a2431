-- Per split: rows, rows whose label (or any tag) is not in the label map, rows without a key.
SELECT split, count(*) AS n,
  count(*) FILTER (WHERE {{unmapped}}) AS unmapped,
  count(*) FILTER (WHERE row_key IS NULL) AS null_keys
FROM featurized
GROUP BY split
ORDER BY split
