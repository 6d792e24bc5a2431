-- Partitioned cleaning, map side: the values the IQR fences are computed from (rows still valid after coercion,
-- null policy and labels, as 51_iqr_bounds.sql reads them), one narrow file per batch of raw files. A small
-- activity then runs 51_iqr_bounds.sql over every batch's file, so the fences are the whole dataset's.
COPY (
  WITH {{ctes}}
  SELECT {{columns}}
  FROM label_checked
  WHERE __reason IS NULL
) TO {{path}} (FORMAT parquet, COMPRESSION zstd)
