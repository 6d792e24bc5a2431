-- Text classification in the trainer's column contract: row_key, text, label, label_id (the label's position in
-- the sorted label set, the label map of the manifest), plus text_length (characters) and word_count.
examples AS (
  SELECT {{row_key}} AS row_key,
    CAST({{text}} AS VARCHAR) AS text,
    CAST({{label}} AS VARCHAR) AS label,
    CAST(list_position($labels, CAST({{label}} AS VARCHAR)) - 1 AS INTEGER) AS label_id,
    CAST(length({{text}}) AS INTEGER) AS text_length,
    CAST(CASE WHEN trim({{text}}) = '' THEN 0 ELSE len(string_split_regex(trim({{text}}), '\s+')) END AS INTEGER) AS word_count
  FROM clean_input
)
