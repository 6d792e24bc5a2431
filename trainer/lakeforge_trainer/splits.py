"""Features splits (docs/design.md#layout: `split=<name>/part-*.parquet`) read with pyarrow and checked.

No torch here: bad input is found and reported before the slow imports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .config import SEQ
from .errors import BadInput

log = logging.getLogger("lakeforge_trainer.data")

READ_BATCH_ROWS = 8192


@dataclass
class RawSplit:
    name: str
    files: list[Path]
    row_keys: list[str]
    texts: list[str] = field(default_factory=list)  # sequence-classification
    labels: list[int] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)  # token-classification
    tags: list[list[int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.row_keys)

    def fingerprint(self) -> list[list]:
        return [[f.name, f.stat().st_size] for f in self.files]


def split_files(split_dir: str | None, split: str) -> list[Path]:
    if split_dir is None:
        raise BadInput(f"data.{split} is required but null", reason="missing_split")
    p = Path(split_dir)
    if not p.is_dir():
        raise BadInput(f"{split} split directory {p} does not exist", reason="missing_split", file=str(p))
    files = sorted(p.glob("part-*.parquet"))
    if not files:
        raise BadInput(f"{split} split directory {p} holds no part-*.parquet files", reason="missing_split", file=str(p))
    return files


def _is_string(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t)


def _is_string_list(t: pa.DataType) -> bool:
    is_list = pa.types.is_list(t) or pa.types.is_large_list(t) or getattr(pa.types, "is_list_view", lambda _: False)(t)
    return is_list and _is_string(t.value_type)


def _check_column(schema: pa.Schema, f: Path, col: str, want_list: bool) -> None:
    if col not in schema.names:
        raise BadInput(f"{f}: missing column '{col}' (columns: {', '.join(schema.names)})",
                       reason="missing_column", file=str(f), column=col)
    t = schema.field(col).type
    ok = _is_string_list(t) if want_list else _is_string(t)
    if not ok:
        want = "list<string>" if want_list else "string"
        raise BadInput(f"{f}: column '{col}' has type {t}, expected {want}", reason="wrong_type", file=str(f), column=col)


def read_split(split_dir: str | None, split: str, task: str, data_cfg: dict, labels: list[str]) -> RawSplit:
    """Reads every part file in sorted order, batch by batch, checking types, nulls and labels as it goes."""
    files = split_files(split_dir, split)
    label2id = {name: i for i, name in enumerate(labels)}
    out = RawSplit(name=split, files=files, row_keys=[])
    if task == SEQ:
        cols = [(data_cfg["text_column"], False), (data_cfg["label_column"], False)]
    else:
        cols = [(data_cfg["tokens_column"], True), (data_cfg["tags_column"], True)]
    for f in files:
        try:
            pf = pq.ParquetFile(f)
            schema = pf.schema_arrow
        except (OSError, pa.ArrowException) as exc:
            raise BadInput(f"{f}: not a readable Parquet file: {exc}", reason="unreadable", file=str(f)) from None
        for col, want_list in cols:
            _check_column(schema, f, col, want_list)
        has_key = "row_key" in schema.names
        read_cols = [c for c, _ in cols] + (["row_key"] if has_key else [])
        row0 = 0
        try:
            batches = list(pf.iter_batches(batch_size=READ_BATCH_ROWS, columns=read_cols))
        except (OSError, pa.ArrowException) as exc:
            raise BadInput(f"{f}: not a readable Parquet file: {exc}", reason="unreadable", file=str(f)) from None
        for batch in batches:
            a = batch.column(0).to_pylist()
            b = batch.column(1).to_pylist()
            keys = batch.column(2).to_pylist() if has_key else [None] * len(a)
            for i, (x, y, k) in enumerate(zip(a, b, keys)):
                row = row0 + i
                out.row_keys.append(str(k) if k is not None else f"{f.name}:{row}")
                if task == SEQ:
                    _add_seq(out, f, row, x, y, cols, label2id)
                else:
                    _add_tok(out, f, row, x, y, cols, label2id)
            row0 += len(a)
    if len(out) == 0:
        raise BadInput(f"{split} split {split_dir} has no rows", reason="empty", file=str(split_dir))
    log.info("read %s split: %d rows from %d file(s)", split, len(out), len(files))
    return out


def _null(f: Path, row: int, col: str) -> BadInput:
    return BadInput(f"{f}: null value in column '{col}' at row {row}", reason="wrong_type", file=str(f), column=col)


def _unknown(f: Path, row: int, col: str, value: str, label2id: dict) -> BadInput:
    known = ", ".join(label2id)
    return BadInput(f"{f}: unknown label {value!r} in column '{col}' at row {row} (labels: {known})",
                    reason="unknown_label", file=str(f), column=col)


def _add_seq(out: RawSplit, f: Path, row: int, text, label, cols, label2id) -> None:
    (tcol, _), (lcol, _) = cols
    if text is None:
        raise _null(f, row, tcol)
    if label is None:
        raise _null(f, row, lcol)
    if label not in label2id:
        raise _unknown(f, row, lcol, label, label2id)
    out.texts.append(text)
    out.labels.append(label2id[label])


def _add_tok(out: RawSplit, f: Path, row: int, tokens, tags, cols, label2id) -> None:
    (tcol, _), (gcol, _) = cols
    if tokens is None or any(t is None for t in tokens):
        raise _null(f, row, tcol)
    if tags is None or any(t is None for t in tags):
        raise _null(f, row, gcol)
    if len(tokens) != len(tags):
        raise BadInput(f"{f}: row {row} has {len(tokens)} tokens but {len(tags)} tags ('{tcol}' vs '{gcol}')",
                       reason="wrong_type", file=str(f), column=gcol)
    for t in tags:
        if t not in label2id:
            raise _unknown(f, row, gcol, t, label2id)
    out.tokens.append(tokens)
    out.tags.append([label2id[t] for t in tags])




def read_train_inputs(cfg: dict) -> tuple[RawSplit, RawSplit | None]:
    d = cfg["data"]
    train = read_split(d["train"], "train", cfg["task"], d, cfg["labels"])
    val = read_split(d["val"], "val", cfg["task"], d, cfg["labels"]) if d["val"] else None
    return train, val
