"""`evaluate`: a trained model directory on the test split → metrics.json, predictions.parquet, a `done` event."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .config import SEQ
from .data import encode
from .splits import read_split, split_files
from .errors import BadInput
from .events import Emitter
from .metrics import sequence_headline, sequence_metrics, token_headline, token_metrics
from .modeling import describe_device, load_pretrained_tokenizer, load_trained, pick_device
from .baselines import run_baselines, strip
from .scoring import log_loss, score_sequences
from .predict import predict, word_predictions
from .optim import seed_everything

log = logging.getLogger("lakeforge_trainer.evaluate")


def _model_labels(model, cfg_labels: list[str]) -> list[str]:
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    labels = [id2label[i] for i in range(len(id2label))]
    if labels != cfg_labels:
        # The model's own head decides what ids mean; the config's list is only a cross-check.
        log.warning("run.json labels %s differ from the model's %s; using the model's", cfg_labels, labels)
    return labels


def run_evaluate(cfg: dict, emitter: Emitter) -> dict:
    t0 = time.monotonic()
    task = cfg["task"]
    seed_everything(cfg["seed"], cfg["deterministic"])
    spec = cfg["model"]
    if "name_or_path" not in spec:
        raise BadInput("evaluate needs model.name_or_path (a trained model directory)", reason="config")
    model_dir = spec["name_or_path"]
    dcfg = cfg["data"]
    split_files(dcfg["test"], "test")  # fail on a missing split before paying for the model load
    device = pick_device()
    model = load_trained(model_dir, task)
    labels = _model_labels(model, cfg["labels"])
    tspec = cfg["tokenizer"]
    tok_src = tspec["name_or_path"] if tspec["type"] == "pretrained" else model_dir
    tokenizer = load_pretrained_tokenizer(tok_src)
    raw = read_split(dcfg["test"], "test", task, dcfg, labels)
    # The baselines learn from the same train split the model did (when the caller staged it).
    train_raw = read_split(dcfg["train"], "train", task, dcfg, labels) \
        if cfg["baselines"]["enabled"] and dcfg["train"] else None
    model.to(device)
    emitter.emit("started", device=describe_device(device), world_size=1, resumed_from_step=None, mode="evaluate",
                 pid=os.getpid())
    hp = cfg["hparams"]
    bs = hp["eval_batch_size"] or hp["batch_size"]

    out = Path(cfg["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    if task == SEQ:
        probs, info = score_sequences(model, tokenizer, raw, dcfg, bs, device, hp["bf16"])
        preds = probs.argmax(axis=1).astype(int).tolist()
        loss = log_loss(probs, raw.labels)
        body = sequence_metrics(raw.labels, preds, labels)
        headline = sequence_headline(body["classification_report"])
        columns = {
            "row_key": pa.array(raw.row_keys, pa.string()),
            "text": pa.array(raw.texts, pa.string()),
            "label": pa.array([labels[i] for i in raw.labels], pa.string()),
            "prediction": pa.array([labels[i] for i in preds], pa.string()),
            "prediction_id": pa.array(preds, pa.int32()),
            "score": pa.array(probs.max(axis=1) if len(preds) else [], pa.float32()),
            "probabilities": pa.array(probs.astype(np.float32).tolist(), pa.list_(pa.float32())),
            "correct": pa.array([a == b for a, b in zip(raw.labels, preds)], pa.bool_()),
        }
    else:
        ds = encode(raw, tokenizer, task, dcfg["max_length"], truncation=dcfg["truncation"],
                    head_tokens=dcfg["head_tokens"])
        loss, preds, _ = predict(model, ds, task, tokenizer.pad_token_id, bs, device, hp["bf16"])
        info = {"truncation": ds.truncation}
        words = word_predictions(ds, preds, labels.index("O"))
        gold = [[labels[t] for t in g] for g in raw.tags]
        pred_tags = [[labels[t] for t in w] for w in words]
        body = token_metrics(gold, pred_tags)
        headline = token_headline(body)
        truncated = int(sum(int((st < 0).sum()) for st in ds.word_starts))
        body["truncated_words"] = truncated
        columns = {
            "row_key": pa.array(raw.row_keys, pa.string()),
            "tokens": pa.array(raw.tokens, pa.list_(pa.string())),
            "tags": pa.array(gold, pa.list_(pa.string())),
            "predicted_tags": pa.array(pred_tags, pa.list_(pa.string())),
            "correct": pa.array([g == p for g, p in zip(gold, pred_tags)], pa.bool_()),
        }
    model_seconds = time.monotonic() - t0
    body.update(info)
    headline["truncated_rows"] = info["truncation"]["truncated_rows"]
    headline["truncated_fraction"] = info["truncation"]["truncated_fraction"]
    headline["truncated_tokens_mean"] = info["truncation"]["dropped_tokens_mean"]  # per truncated row
    baselines = None
    if train_raw is not None:
        baselines = run_baselines(task, train_raw, raw, labels, cfg["baselines"])
        for name, sec in baselines.items():
            if task == SEQ:
                columns[f"baseline_{name}"] = pa.array([labels[i] for i in sec["predictions"]], pa.string())
            else:
                columns[f"baseline_{name}"] = pa.array(sec["predicted_tags"], pa.list_(pa.string()))
    table = pa.table(columns)
    headline["loss"] = loss
    headline["rows"] = len(raw)
    metrics = {"task": task, "split": "test", "rows": len(raw), "model": model_dir, "loss": loss, **body,
               "headline": headline, "seconds": round(time.monotonic() - t0, 3), "model_seconds": round(model_seconds, 3)}
    if baselines is not None:
        metrics["baselines"] = {name: strip(sec) for name, sec in baselines.items()}
    else:
        metrics["baselines"] = None
        metrics["baselines_skipped"] = "disabled" if not cfg["baselines"]["enabled"] else "no data.train split given"
    pq.write_table(table, out / "predictions.parquet")
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=2))
    os.replace(tmp, out / "metrics.json")
    emitter.emit("done", output_dir=str(out), metrics=headline, steps=0)
    return metrics
