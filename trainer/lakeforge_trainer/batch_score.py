"""`predict`: a trained model over every row of a staged input → part-NNNNN.parquet files, a `done` event.

Rows are taken in sorted-file order and cut into parts of `predict.part_rows`; a part already in output_dir (restored
from the lake after a killed worker) is not scored again, so a resumed run continues where the last one stopped and
the parts are the same whatever attempt wrote them. Each part is written to a temporary name and renamed.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .config import SEQ
from .errors import BadInput, Preempted
from .events import Emitter
from .lifecycle import Lifecycle
from .modeling import describe_device, load_pretrained_tokenizer, load_trained, pick_device
from .scoring import score_sequences
from .splits import RawSplit

log = logging.getLogger("lakeforge_trainer.batch_score")


def input_files(input_dir: str) -> list[Path]:
    files = sorted(p for p in Path(input_dir).rglob("*.parquet") if p.is_file())
    if not files:
        raise BadInput(f"predict: {input_dir} has no Parquet part files", reason="empty", file=input_dir)
    return files


def read_input(files: list[Path], text_column: str, key_columns: list[str]) -> pa.Table:
    """The key and text columns of every file, checked before the model loads: a bad file fails in a second."""
    tables = []
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except (OSError, pa.ArrowException) as exc:
            raise BadInput(f"{f}: not a readable Parquet file: {exc}", reason="unreadable", file=str(f)) from None
        names = pf.schema_arrow.names
        for col in [*key_columns, text_column]:
            if col not in names:
                raise BadInput(f"{f}: no column {col!r} (columns: {', '.join(names)})", reason="missing_column",
                               file=str(f), column=col)
        t = pf.read(columns=[*key_columns, text_column])
        if t.column(text_column).null_count:
            row = t.column(text_column).to_pylist().index(None)
            raise BadInput(f"{f}: column {text_column!r} is null in row {row}", reason="wrong_type", file=str(f),
                           column=text_column)
        tables.append(t)
    return pa.concat_tables(tables, promote_options="default")


def run_predict(cfg: dict, emitter: Emitter, life: Lifecycle) -> dict:
    t0 = time.monotonic()
    if cfg["task"] != SEQ:
        raise BadInput("predict scores sequence-classification models only", reason="config")
    pcfg = cfg["predict"]
    if not pcfg:
        raise BadInput("predict needs the `predict` section in run.json", reason="config")
    dcfg = cfg["data"]
    text_column = dcfg["text_column"]
    keys = pcfg["key_columns"]
    table = read_input(input_files(pcfg["input_dir"]), text_column, keys)
    rows = table.num_rows
    part_rows = pcfg["part_rows"]
    parts = max(1, -(-rows // part_rows))
    out = Path(cfg["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    shard, shards = pcfg["shard_index"], pcfg["shard_count"]
    if shard >= shards:
        raise BadInput(f"predict: shard_index {shard} is not below shard_count {shards}", reason="config")
    mine = [i for i in range(parts) if i % shards == shard]
    todo = [i for i in mine if not (out / f"part-{i:05d}.parquet").exists()]
    resumed = len(mine) - len(todo)

    model_dir = cfg["model"]["name_or_path"]
    device = pick_device()
    model = load_trained(model_dir, SEQ)
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    labels = [id2label[i] for i in range(len(id2label))]
    tspec = cfg["tokenizer"]
    tokenizer = load_pretrained_tokenizer(tspec["name_or_path"] if tspec["type"] == "pretrained" else model_dir)
    model.to(device)
    emitter.emit("started", device=describe_device(device), world_size=1, resumed_from_step=resumed or None,
                 mode="predict", pid=os.getpid())
    hp = cfg["hparams"]
    bs = hp["eval_batch_size"] or hp["batch_size"]
    k = min(pcfg["top_k"], len(labels))
    texts = table.column(text_column).to_pylist()
    part_sleep = float(os.environ.get("LAKEFORGE_TRAINER_STEP_SLEEP", "0") or 0)  # tests only: a slow scorer
    for i in todo:
        if life.stop_requested:
            raise Preempted()
        lo, hi = i * part_rows, min(rows, (i + 1) * part_rows)
        raw = RawSplit(name="predict", files=[], row_keys=[str(r) for r in range(lo, hi)], texts=texts[lo:hi],
                       labels=[0] * (hi - lo))
        probs, _ = score_sequences(model, tokenizer, raw, dcfg, bs, device, hp["bf16"])
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        cols = {c: table.column(c).slice(lo, hi - lo) for c in keys}
        cols.update({
            "prediction": pa.array([labels[int(t[0])] for t in top], pa.string()),
            "score": pa.array([float(probs[r, t[0]]) for r, t in enumerate(top)], pa.float32()),
            "top_labels": pa.array([[labels[int(j)] for j in t] for t in top], pa.list_(pa.string())),
            "top_scores": pa.array([[float(probs[r, j]) for j in t] for r, t in enumerate(top)], pa.list_(pa.float32())),
            "text_length": pa.array([len(x) for x in texts[lo:hi]], pa.int32()),
        })
        tmp = out / f".part-{i:05d}.parquet.tmp"
        pq.write_table(pa.table(cols), tmp)
        os.replace(tmp, out / f"part-{i:05d}.parquet")
        log.info("scored part %d/%d (rows %d-%d)", i + 1, parts, lo, hi)
        if part_sleep:
            time.sleep(part_sleep)
    headline = {"rows": float(rows), "parts": float(len(mine)), "resumed_parts": float(resumed),
                "seconds": round(time.monotonic() - t0, 3)}
    emitter.emit("done", output_dir=str(out), metrics=headline, steps=0)
    return headline
