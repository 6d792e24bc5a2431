-- Deterministic split by a hash of the row key: md5 of (seed, row_key) gives each row a place in [0, 1), the same
-- on every machine and DuckDB version. Stratified, rows are ranked by that place within their label, so every
-- split gets its fraction of each label. train: [0, train), val: [train, train + val), test: the rest.
hashed AS (
  SELECT *, (md5_number_lower(CAST($seed AS VARCHAR) || ':' || row_key) % 1000000000) / 1e9 AS __u
  FROM examples
),
placed AS (
  SELECT * EXCLUDE (__u), {{position}} AS __pos
  FROM hashed
),
split_assigned AS (
  SELECT * EXCLUDE (__pos),
    CASE WHEN __pos < $train THEN 'train' WHEN __pos < $train_val THEN 'val' ELSE 'test' END AS split
  FROM placed
)
