-- Every input row exactly once, typed and normalised, with the first row-level rule it fails (NULL: none so far)
-- and a hash of its declared columns (__h) that narrows the search for exact duplicates. Materialised (spilling
-- to temp_directory when over memory_limit) since deduplication, both outputs and the counts all read it.
CREATE OR REPLACE TEMP TABLE checked AS
WITH {{ctes}}
SELECT *, hash({{all_columns}}) AS __h FROM shape_checked
