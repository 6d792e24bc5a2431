-- A SQL step (`uses: sql`, `file: sql/keep_long_texts.sql`): one SELECT over the view `input` (the output of the
-- step it needs). `$min_words` comes from the step's `with.params` and is bound as a parameter, never pasted in.
-- The file is read when the run starts and travels with it: editing it gives the step (and what depends on it) a
-- new version, and workers need no copy of it.
SELECT *
FROM input
WHERE len(string_split_regex(trim(text), '\s+')) >= $min_words
