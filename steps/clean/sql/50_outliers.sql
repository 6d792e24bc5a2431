-- Outliers: numeric range (outlier_range:<column>), Tukey fences from the IQR computed beforehand
-- (outlier_iqr:<column>), and text or list length bounds (length_out_of_bounds:<column>).
outlier_checked AS (
  SELECT * EXCLUDE (__reason),
    coalesce(__reason, {{outlier_rule}}) AS __reason
  FROM label_checked
)
