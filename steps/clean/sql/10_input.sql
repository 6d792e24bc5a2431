-- Raw rows as delivered, with a stable identity __rid = (position of the file in the input list, row number within
-- it). The identity orders the output, breaks ties when deduplicating, and joins rejected rows back to their raw values.
-- The row number is the reader's file_row_number, or a streaming row_number() where a raw column has that name.
raw_input AS (
  SELECT * EXCLUDE ({{exclude}}),
    (CAST(list_position($files, __file) AS BIGINT) << 40) + {{row_number}} AS __rid
  FROM read_parquet($files, union_by_name = true, filename = '__file'{{options}})
)
