"""Evaluation metrics, written out with numpy so the trainer does not need scikit-learn or seqeval.

`classification_report` has the shape of sklearn's `classification_report(..., output_dict=True)` (zero_division=0),
plus a `micro avg` row; `entity_report` follows seqeval's default (IOB2, lenient chunking) semantics.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _prf(tp: np.ndarray, n_pred: np.ndarray, n_true: np.ndarray):
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 0.0)
        r = np.where(n_true > 0, tp / np.maximum(n_true, 1), 0.0)
        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    return p, r, f


def _row(p, r, f, s) -> dict:
    return {"precision": float(p), "recall": float(r), "f1-score": float(f), "support": int(s)}


def _report(names: Sequence[str], tp: np.ndarray, n_pred: np.ndarray, n_true: np.ndarray) -> dict:
    p, r, f = _prf(tp, n_pred, n_true)
    out = {name: _row(p[i], r[i], f[i], n_true[i]) for i, name in enumerate(names)}
    total = int(n_true.sum())
    mp, mr, mf = _prf(np.array([tp.sum()]), np.array([n_pred.sum()]), np.array([n_true.sum()]))
    out["micro avg"] = _row(mp[0], mr[0], mf[0], total)
    k = max(len(names), 1)
    out["macro avg"] = _row(p.sum() / k, r.sum() / k, f.sum() / k, total)
    w = n_true / total if total else np.zeros_like(n_true, dtype=float)
    out["weighted avg"] = _row((p * w).sum(), (r * w).sum(), (f * w).sum(), total)
    return out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Rows are true labels, columns predicted (sklearn's convention)."""
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return m


def classification_report(y_true, y_pred, labels: Sequence[str]) -> dict:
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    out = _report(labels, tp, cm.sum(axis=0).astype(float), cm.sum(axis=1))
    out["accuracy"] = float(tp.sum() / max(len(y_true), 1))
    return out


def sequence_metrics(y_true, y_pred, labels: Sequence[str]) -> dict:
    """The full metrics.json body for sequence classification."""
    rep = classification_report(y_true, y_pred, labels)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    return {
        "accuracy": rep["accuracy"],
        "classification_report": rep,
        "confusion_matrix": {"labels": list(labels), "matrix": cm.tolist()},
    }


def sequence_headline(rep: dict) -> dict:
    return {
        "accuracy": rep["accuracy"],
        "macro_precision": rep["macro avg"]["precision"],
        "macro_recall": rep["macro avg"]["recall"],
        "macro_f1": rep["macro avg"]["f1-score"],
        "micro_f1": rep["micro avg"]["f1-score"],
        "weighted_f1": rep["weighted avg"]["f1-score"],
    }


# --------------------------------------------------------------------------------------------------
# Entity level (seqeval's default mode)
# --------------------------------------------------------------------------------------------------

def _split_tag(chunk: str) -> tuple[str, str]:
    tag = chunk[0]
    type_ = chunk[1:].split("-", maxsplit=1)[-1] or "_"
    return tag, type_


def _end_of_chunk(prev_tag, tag, prev_type, type_) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _start_of_chunk(prev_tag, tag, prev_type, type_) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def get_entities(seq: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) chunks; an I- after O or after another type starts a new entity, as in seqeval."""
    prev_tag, prev_type, begin = "O", "", 0
    chunks = []
    for i, chunk in enumerate(list(seq) + ["O"]):
        tag, type_ = _split_tag(chunk)
        if _end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def entity_report(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict:
    """Per entity type and averaged precision/recall/F1, seqeval's classification_report(output_dict=True) shape."""
    true_set, pred_set = set(), set()
    for s, (t, p) in enumerate(zip(y_true, y_pred)):
        true_set.update((s,) + e for e in get_entities(t))
        pred_set.update((s,) + e for e in get_entities(p))
    types = sorted({e[1] for e in true_set | pred_set})
    tp = np.array([sum(1 for e in true_set & pred_set if e[1] == ty) for ty in types], dtype=float)
    n_pred = np.array([sum(1 for e in pred_set if e[1] == ty) for ty in types], dtype=float)
    n_true = np.array([sum(1 for e in true_set if e[1] == ty) for ty in types], dtype=np.int64)
    return _report(types, tp, n_pred, n_true)


def token_metrics(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict:
    rep = entity_report(y_true, y_pred)
    flat_t = [t for s in y_true for t in s]
    flat_p = [p for s in y_pred for p in s]
    acc = float(np.mean([a == b for a, b in zip(flat_t, flat_p)])) if flat_t else 0.0
    micro = rep["micro avg"]
    return {
        "precision": micro["precision"],
        "recall": micro["recall"],
        "f1": micro["f1-score"],
        "token_accuracy": acc,
        "entity_report": rep,
    }


def token_headline(m: dict) -> dict:
    return {"precision": m["precision"], "recall": m["recall"], "f1": m["f1"], "token_accuracy": m["token_accuracy"],
            "macro_f1": m["entity_report"]["macro avg"]["f1-score"]}
