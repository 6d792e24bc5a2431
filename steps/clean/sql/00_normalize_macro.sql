-- Text normalisation used by every normalised text column (and every element of a text list):
-- Unicode NFC, control and invisible format characters (zero-width space, BOM, …) removed, any run of
-- whitespace (tabs, newlines, no-break and other Unicode spaces) collapsed to one space, ends trimmed.
-- The collapse only matches what must change (runs of two or more, or a single whitespace other than U+0020),
-- not every ordinary space: that keeps it at half the cost on ordinary text.
CREATE OR REPLACE TEMP MACRO lf_normalize_text(x) AS
  trim(regexp_replace(
    regexp_replace(nfc_normalize(x), '[\x00-\x08\x0e-\x1f\x7f-\x9f\p{Cf}]', '', 'g'),
    '[\s\p{Z}]{2,}|[^\S ]|[\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]', ' ', 'g'));
