-- Token classification in the trainer's column contract: row_key, tokens, tags, tag_ids (each tag's position in the
-- sorted tag set, the label map of the manifest), plus token_count.
examples AS (
  SELECT {{row_key}} AS row_key,
    CAST({{tokens}} AS VARCHAR[]) AS tokens,
    CAST({{tags}} AS VARCHAR[]) AS tags,
    list_transform(CAST({{tags}} AS VARCHAR[]), __t -> CAST(list_position($labels, __t) - 1 AS INTEGER)) AS tag_ids,
    CAST(len({{tokens}}) AS INTEGER) AS token_count
  FROM clean_input
)
