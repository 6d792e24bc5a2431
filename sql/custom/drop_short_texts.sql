-- A custom step (`uses: sql`): keeps the rows whose text has at least $min_words words.
-- `input` is the output of the step this one needs (here: clean); `$min_words` comes from the step's
-- `with.params` and is bound as a parameter, never pasted into the text. One SELECT, any columns: a features
-- step downstream needs the text and label columns (and the clean step's key, when it had one).
SELECT *
FROM input
WHERE len(string_split_regex(trim(text), '\s+')) >= $min_words
