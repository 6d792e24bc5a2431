"""The lakeforge clean + features steps for the generated text-classification dataset, written in pandas:
the baseline (c) of bench/etl.ts. Same rules as sql/clean and sql/features with TEXT_CLEAN_PARAMS /
TEXT_FEATURES_PARAMS: TRY_CAST-like coercion, NFC + control/format-character stripping + whitespace collapse,
null policy, label set, range and length outliers, exact and key duplicates (latest by timestamp), rejects with
reasons, label ids, text features, md5 split. Prints one JSON line with timings and counts.

Usage: python bench/etl_pandas.py --out DIR FILE.parquet...
"""
import argparse
import hashlib
import json
import os
import re
import time
import unicodedata

import pandas as pd

LABELS = ["business", "sci_tech", "sports", "world"]
# Control characters (except whitespace) and the invisible format characters DuckDB's \p{Cf} covers in this data.
CTRL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
WS = re.compile(r"\s+")


def norm(s):
    if not isinstance(s, str):
        return None
    s = WS.sub(" ", CTRL.sub("", unicodedata.normalize("NFC", s))).strip()
    return s or None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    raw = pd.concat([pd.read_parquet(f) for f in a.files], ignore_index=True)
    n_in = len(raw)
    reason = pd.Series([None] * n_in, dtype="object")

    def reject(mask, r):
        m = mask & reason.isna()
        reason[m] = r

    # Coercion (TRY_CAST): a present value that does not parse is a reject.
    rating = pd.to_numeric(raw["rating"], errors="coerce")
    reject(raw["rating"].notna() & rating.isna(), "cast_failed:rating")
    updated_at = pd.to_datetime(raw["updated_at"], errors="coerce")
    # Text normalisation.
    ids = raw["id"].map(norm)
    text = raw["text"].map(norm)
    label = raw["label"].map(norm)
    source = raw["source"].map(norm)
    # Null policy.
    reject(ids.isna(), "null:id")
    reject(text.isna(), "null:text")
    reject(label.isna(), "null:label")
    rating = rating.fillna(3.0)
    source = source.fillna("unknown")
    # Label set, range and length outliers.
    reject(label.notna() & ~label.isin(LABELS), "label_not_in_set:label")
    reject((rating < 1) | (rating > 5), "outlier_range:rating")
    tl = text.str.len()
    reject(text.notna() & ((tl < 5) | (tl > 2000)), "length_out_of_bounds:text")
    clean = pd.DataFrame({"id": ids, "text": text, "label": label, "rating": rating, "updated_at": updated_at, "source": source})
    # Exact duplicates among valid rows: the first stays.
    valid = clean[reason.isna()]
    dup = valid.duplicated(keep="first")
    reason[valid.index[dup.to_numpy()]] = "duplicate_exact"
    # Duplicates by key: the latest by timestamp stays, ties to the later row.
    valid = clean[reason.isna()].assign(_rid=lambda d: d.index)
    ordered = valid.sort_values(["id", "updated_at", "_rid"], ascending=[True, False, False], na_position="last")
    kd = ordered.duplicated("id", keep="first")
    reason[ordered.index[kd.to_numpy()]] = "duplicate_key"
    keep = reason.isna()
    out_clean = clean[keep]
    rejects = raw[~keep].assign(reject_reason=reason[~keep])
    out_clean.to_parquet(os.path.join(a.out, "clean.parquet"), compression="zstd", index=False)
    rejects.to_parquet(os.path.join(a.out, "rejects.parquet"), compression="zstd", index=False)
    assert len(out_clean) + len(rejects) == n_in
    t_clean = time.time() - t0

    # Features.
    t1 = time.time()
    f = pd.DataFrame({"row_key": out_clean["id"].astype(str), "text": out_clean["text"], "label": out_clean["label"]})
    f["label_id"] = f["label"].map({l: i for i, l in enumerate(sorted(LABELS))}).astype("int32")
    f["text_length"] = f["text"].str.len().astype("int32")
    f["word_count"] = f["text"].str.split().str.len().astype("int32")
    u = f["row_key"].map(lambda k: (int.from_bytes(hashlib.md5(f"lakeforge:{k}".encode()).digest()[:8], "little") % 1_000_000_000) / 1e9)
    split = pd.Series("test", index=f.index)
    split[u < 0.9] = "val"
    split[u < 0.8] = "train"
    counts = {}
    for s in ("train", "val", "test"):
        part = f[split == s].sort_values("row_key")
        os.makedirs(os.path.join(a.out, f"split={s}"), exist_ok=True)
        part.to_parquet(os.path.join(a.out, f"split={s}", "part-0.parquet"), compression="zstd", index=False, row_group_size=122_880)
        counts[s] = len(part)
    t_features = time.time() - t1
    print(json.dumps({"engine": "pandas", "pandas": pd.__version__, "rows_in": n_in, "rows_clean": int(keep.sum()),
                      "rows_rejected": int((~keep).sum()), "splits": counts, "clean_s": t_clean, "features_s": t_features,
                      "total_s": t_clean + t_features}))


if __name__ == "__main__":
    main()
