-- Declared columns cast to their declared types with TRY_CAST (text normalised, empty text as NULL).
-- A value present in the input that does not survive its cast rejects the row: cast_failed:<column>.
typed AS (
  SELECT __rid,
    {{typed_columns}},
    {{cast_failure}} AS __reason
  FROM raw_input
)
