-- All examples with their split, materialised once (spilling when over memory_limit) for the per-split writes.
CREATE OR REPLACE TEMP TABLE featurized AS
WITH {{ctes}}
SELECT * FROM split_assigned
