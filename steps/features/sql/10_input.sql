-- The clean step's files, exactly those its manifest lists.
clean_input AS (
  SELECT * FROM read_parquet($files)
)
