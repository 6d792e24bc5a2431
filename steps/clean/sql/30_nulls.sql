-- Null policy per column: `fill` replaces NULL with the configured value; `drop` rejects the row: null:<column>.
null_checked AS (
  SELECT * EXCLUDE (__reason) {{fill_replace}},
    coalesce(__reason, {{null_drop}}) AS __reason
  FROM typed
)
