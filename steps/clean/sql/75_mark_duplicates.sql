-- Duplicates take their reason in place: the clean rows are then a plain filtered scan of `checked`, in input
-- order, with no join or sort held in memory.
UPDATE checked SET __reason = d.__reason
FROM duplicates d
WHERE checked.__rid = d.__rid
