-- Paired list columns (tokens and their tags) must have the same length: length_mismatch:<a>,<b>.
shape_checked AS (
  SELECT * EXCLUDE (__reason),
    coalesce(__reason, {{shape_rule}}) AS __reason
  FROM outlier_checked
)
