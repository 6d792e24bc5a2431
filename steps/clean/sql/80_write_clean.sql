-- Clean rows, declared columns only, in input order (`checked` keeps the scan's insertion order), so the same
-- input always gives the same bytes.
COPY (
  SELECT {{columns}}
  FROM checked
  WHERE __reason IS NULL
) TO {{path}} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {{row_group_size}})
