-- Duplicates among rows still valid, as a narrow (__rid, reason) table, computed so that only narrow data is
-- ever held whole: exact duplicates (equal in every declared column after normalisation; the first occurrence
-- stays) are searched only among rows whose hash occurs more than once, and compared column by column there;
-- then rows sharing the declared key keep the latest by the declared timestamp, ties going to the later row in
-- the input, ranking only keys that occur more than once.
CREATE OR REPLACE TEMP TABLE duplicates AS
WITH exact_dups AS (
  {{exact_dups}}
),
key_dups AS (
  {{key_dups}}
)
SELECT __rid, 'duplicate_exact' AS __reason FROM exact_dups
UNION ALL
SELECT __rid, 'duplicate_key' AS __reason FROM key_dups
