-- Raw rows as delivered, with a stable identity __rid = (position of the file in the input list, row number within
-- it). The identity orders the output, breaks ties when deduplicating, and joins rejected rows back to their raw values.
raw_input AS (
  SELECT * EXCLUDE (file_row_number, __file),
    (CAST(list_position($files, __file) AS BIGINT) << 40) + file_row_number AS __rid
  FROM read_parquet($files, union_by_name = true, filename = '__file', file_row_number = true)
)
