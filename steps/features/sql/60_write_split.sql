-- One split into split=<name>/part-0.parquet (hive layout), sorted by row_key so equal inputs give equal bytes.
COPY (
  SELECT * EXCLUDE (split)
  FROM featurized
  WHERE split = $split
  ORDER BY row_key
) TO {{path}} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {{row_group_size}})
