-- The labels present, when neither the parameters nor the clean step declare a label set.
SELECT DISTINCT CAST(l AS VARCHAR) AS label
FROM (SELECT {{labels_expr}} AS l FROM read_parquet($files))
WHERE l IS NOT NULL
