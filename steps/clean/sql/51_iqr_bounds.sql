-- First quartile and third quartile of each IQR-checked column, over the rows still valid after coercion,
-- null policy and labels; the activity turns them into Tukey fences bound into 50_outliers.sql.
SELECT {{quartiles}}
FROM label_checked
WHERE __reason IS NULL
