-- Rejected rows with their raw values as delivered (before any cast or normalisation) and reject_reason, in two
-- statements so that the raw scan (probing a hash table of the few, narrow rejected ids) and the Parquet writer
-- never need memory at the same time. Row groups are smaller than the clean output's: reject rows are wide and few.
CREATE OR REPLACE TEMP TABLE rejected AS
WITH {{raw_input}}
SELECT r.*, j.__reason AS reject_reason
FROM raw_input r
JOIN (SELECT __rid, __reason FROM checked WHERE __reason IS NOT NULL) j USING (__rid);

COPY (
  SELECT * EXCLUDE (__rid) FROM rejected ORDER BY __rid
) TO {{path}} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {{reject_row_group_size}})
