"""Sequence classification scoring at evaluation: class probabilities per text, truncated or pooled over windows."""

from __future__ import annotations

import numpy as np
import torch

from .config import SEQ
from .data import Encoded, collate, encode
from .splits import RawSplit
from .predict import autocast_for
from .truncation import chunk_texts, pool


@torch.no_grad()
def predict_proba(model, input_ids: list[np.ndarray], pad_id: int, batch_size: int, device, bf16: bool) -> np.ndarray:
    """Softmax over the classes for each row, shape [rows, classes], in float64."""
    model.eval()
    lengths = np.fromiter((len(x) for x in input_ids), dtype=np.int64, count=len(input_ids))
    ds = Encoded(input_ids, [0] * len(input_ids), lengths)
    order = np.argsort(lengths, kind="stable")  # similar lengths together: less padding
    out = None
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        batch = {k: v.to(device) for k, v in collate(ds, idx, pad_id, SEQ).items()}
        batch.pop("labels")
        with autocast_for(device, bf16):
            logits = model(**batch).logits
        p = torch.softmax(logits.float(), dim=-1).cpu().numpy().astype(np.float64)
        if out is None:
            out = np.zeros((len(ds), p.shape[1]), dtype=np.float64)
        out[idx] = p
    return out if out is not None else np.zeros((0, model.config.num_labels))


def log_loss(probs: np.ndarray, y) -> float:
    y = np.asarray(y, dtype=np.int64)
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)).mean()) if len(y) else 0.0


def score_sequences(model, tokenizer, raw: RawSplit, dcfg: dict, batch_size: int, device, bf16: bool):
    """(probabilities [rows, classes], info) where info records the truncation or the windows used."""
    L = dcfg["max_length"]
    ch = dcfg["chunks"]
    pad = tokenizer.pad_token_id
    if ch is None:
        ds = encode(raw, tokenizer, SEQ, L, truncation=dcfg["truncation"], head_tokens=dcfg["head_tokens"])
        return predict_proba(model, ds.input_ids, pad, batch_size, device, bf16), {"truncation": ds.truncation}
    c = chunk_texts(tokenizer, raw.texts, L, ch["size"], ch["stride"])
    windows = predict_proba(model, c.input_ids, pad, batch_size, device, bf16)
    probs = pool(windows, c.doc, len(raw), ch["pool"])
    multi = c.windows_per_doc > 1
    info = {
        # Every token is scored: nothing is truncated, long texts are spread over several windows instead.
        "truncation": {"strategy": "chunks", "max_length": L, "rows": len(raw), "truncated_rows": 0,
                       "truncated_fraction": 0.0, "dropped_tokens_total": 0, "dropped_tokens_mean": 0.0,
                       "dropped_tokens_max": 0},
        "chunks": {**ch, "windows": int(len(c.doc)), "rows_with_several_windows": int(multi.sum()),
                   "max_windows_per_row": int(c.windows_per_doc.max()) if len(raw) else 0},
    }
    return probs, info
