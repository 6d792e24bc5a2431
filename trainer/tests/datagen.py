"""Generated feature splits (the layout of docs/design.md#layout) and run.json files for the tests and the benchmark."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

FILLER = [f"w{i}" for i in range(120)] + ["the", "a", "movie", "plot", "was", "and", "very", "it", "this", "film"]
CUES = {
    "neg": ["awful", "boring", "terrible", "bad", "dull"],
    "neu": ["okay", "average", "fine", "plain", "mediocre"],
    "pos": ["great", "superb", "lovely", "excellent", "brilliant"],
}
SEQ_LABELS = ["neg", "neu", "pos"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
FIRST = ["alice", "bob", "carol", "dave", "erin", "frank"]
LAST = ["smith", "jones", "brown", "taylor"]
PLACES = [["paris"], ["berlin"], ["new", "york"], ["rio", "de", "janeiro"], ["oslo"]]

TINY_BERT = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "max_position_embeddings": 128}


def seq_rows(n: int, seed: int, weights=(0.5, 0.3, 0.2)) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choices(SEQ_LABELS, weights=weights)[0]
        words = [rng.choice(FILLER) for _ in range(rng.randint(6, 20))]
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(CUES[label]))
        rows.append({"row_key": f"r{seed}-{i}", "text": " ".join(words), "label": label,
                     "label_id": SEQ_LABELS.index(label)})
    return rows


def ner_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(4, 12)):
            r = rng.random()
            if r < 0.15:
                tokens += [rng.choice(FIRST), rng.choice(LAST)]
                tags += ["B-PER", "I-PER"]
            elif r < 0.25:
                place = rng.choice(PLACES)
                tokens += place
                tags += ["B-LOC"] + ["I-LOC"] * (len(place) - 1)
            else:
                tokens.append(rng.choice(FILLER))
                tags.append("O")
        rows.append({"row_key": f"n{seed}-{i}", "tokens": tokens, "tags": tags})
    return rows


def write_split(root: Path, split: str, rows: list[dict], parts: int = 2, schema: pa.Schema | None = None) -> Path:
    d = Path(root) / f"split={split}"
    d.mkdir(parents=True, exist_ok=True)
    per = max(1, -(-len(rows) // parts)) if rows else 1
    chunks = [rows[i:i + per] for i in range(0, len(rows), per)] or [[]]
    for j, chunk in enumerate(chunks):
        if chunk:
            table = pa.Table.from_pylist(chunk, schema=schema)
        else:
            table = schema.empty_table() if schema is not None else pa.table({"row_key": pa.array([], pa.string()),
                                                                                "text": pa.array([], pa.string()),
                                                                                "label": pa.array([], pa.string())})
        pq.write_table(table, d / f"part-{j:05d}.parquet")
    return d


def seq_dataset(root: Path, n_train=320, n_val=96, n_test=96, seed=0) -> dict[str, Path]:
    return {
        "train": write_split(root, "train", seq_rows(n_train, seed)),
        "val": write_split(root, "val", seq_rows(n_val, seed + 1)),
        "test": write_split(root, "test", seq_rows(n_test, seed + 2)),
    }


def ner_dataset(root: Path, n_train=300, n_val=80, n_test=80, seed=0) -> dict[str, Path]:
    return {
        "train": write_split(root, "train", ner_rows(n_train, seed)),
        "val": write_split(root, "val", ner_rows(n_val, seed + 1)),
        "test": write_split(root, "test", ner_rows(n_test, seed + 2)),
    }


def run_config(tmp: Path, splits: dict, task="sequence-classification", **over) -> dict:
    cfg = {
        "task": task,
        "model": {"config": dict(TINY_BERT)},
        "tokenizer": {"type": "train-wordpiece", "vocab_size": 300, "lowercase": True},
        "data": {"train": str(splits.get("train")) if splits.get("train") else None,
                 "val": str(splits["val"]) if splits.get("val") else None,
                 "test": str(splits["test"]) if splits.get("test") else None,
                 "max_length": 64},
        "labels": SEQ_LABELS if task == "sequence-classification" else NER_LABELS,
        "hparams": {"epochs": 3, "batch_size": 16, "learning_rate": 3e-3, "warmup_ratio": 0.1,
                    "weight_decay": 0.01, "grad_accum_steps": 1},
        "checkpoint_dir": str(tmp / "ckpt"),
        "checkpoint_every_steps": 10,
        "keep_last": 2,
        "resume_from": "latest",
        "output_dir": str(tmp / "out"),
        "seed": 1234,
        "deterministic": True,
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path = Path(path)
    path.write_text(json.dumps(cfg, indent=1))
    return path
