-- Partitioned cleaning, map side: raw rows as delivered (nothing cast or normalised yet: rejects keep raw values),
-- each tagged with the bucket of its deduplication identity — the declared key after coercion, normalisation and
-- null fills, or every declared column when there is no key — so rows that may duplicate each other meet in one
-- bucket. __rid keeps the input order, which the reduce side's tie-breaks depend on.
CREATE OR REPLACE TEMP TABLE shuffled AS
WITH {{ctes}}
SELECT r.*, (hash({{bucket_columns}}) % {{buckets}})::INTEGER AS __bucket
FROM raw_input r JOIN null_checked n USING (__rid)
