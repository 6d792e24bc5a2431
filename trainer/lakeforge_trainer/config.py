"""run.json: validated against run.schema.json, defaults applied, and hashed for resume checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .errors import BadInput
from .schemas import apply_defaults, load_schema

SEQ = "sequence-classification"
TOK = "token-classification"

# Fields that change what is trained. Checkpoint cadence, paths and resume policy may differ between attempts.
_HASHED_KEYS = ("task", "model", "tokenizer", "labels", "hparams", "seed", "deterministic")
_HASHED_DATA_KEYS = ("text_column", "label_column", "tokens_column", "tags_column", "max_length", "truncation",
                     "head_tokens")


# Metric names of the `eval` event, by task: what early stopping may watch.
METRICS_BY_TASK = {
    SEQ: {"loss", "accuracy", "macro_f1", "weighted_f1"},
    TOK: {"loss", "precision", "recall", "f1", "token_accuracy", "macro_f1"},
}


def load_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"config file {path} does not exist", file=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"config file {path} is not readable JSON: {exc}", file=str(path)) from None
    return validate_config(raw, source=str(path))


def validate_config(raw: Any, source: str = "run.json") -> dict:
    import jsonschema

    schema = load_schema("run")
    cls = jsonschema.Draft202012Validator
    errors = list(cls(schema).iter_errors(raw))
    if errors:
        # best_match picks the most specific error inside unions, which reads better than "not valid under any".
        err = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        raise BadInput(f"{source}: invalid at {where}: {err.message}", file=source)
    cfg = apply_defaults(schema, json.loads(json.dumps(raw)), cls)
    hp = cfg["hparams"]
    if len(set(cfg["labels"])) != len(cfg["labels"]):
        raise BadInput(f"{source}: labels contains duplicates: {cfg['labels']}", file=source)
    if cfg["task"] == TOK and "O" not in cfg["labels"]:
        raise BadInput(f"{source}: token-classification labels must include 'O'", file=source)
    es = hp["early_stopping"]
    if es is not None and cfg["data"]["val"] is None:
        raise BadInput(f"{source}: hparams.early_stopping needs a data.val split", file=source)
    if es is not None and es["metric"] not in METRICS_BY_TASK[cfg["task"]]:
        raise BadInput(f"{source}: hparams.early_stopping.metric {es['metric']!r} is not one of "
                       f"{sorted(METRICS_BY_TASK[cfg['task']])} for {cfg['task']}", file=source)
    return cfg


def config_hash(cfg: dict, data_fingerprint: dict) -> str:
    """Identity of a training run, stored in each checkpoint; a resume must match it.

    Split directories enter by content (part file names and sizes), not by absolute path, so a retry that
    stages the same features under another directory may still resume.
    """
    relevant = {k: cfg[k] for k in _HASHED_KEYS}
    relevant["data"] = {k: cfg["data"][k] for k in _HASHED_DATA_KEYS}
    relevant["data_files"] = data_fingerprint
    blob = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
