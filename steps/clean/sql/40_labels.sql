-- Labels outside the declared label set (for a list column, any element outside it): label_not_in_set:<column>.
label_checked AS (
  SELECT * EXCLUDE (__reason),
    coalesce(__reason, {{label_rule}}) AS __reason
  FROM null_checked
)
