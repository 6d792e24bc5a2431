"""Predictions and metrics on a split: validation during training, and the `evaluate` command."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from .config import SEQ
from .data import Encoded, collate
from .metrics import classification_report, sequence_headline, token_metrics, token_headline


def autocast_for(device: torch.device, bf16: bool):
    # bf16 only on CUDA: CPU autocast is slow on most CPUs and would change the CPU reference numerics.
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


# --------------------------------------------------------------------------------------------------

@torch.no_grad()
def predict(model, ds: Encoded, task: str, pad_id: int, batch_size: int, device, bf16: bool):
    """Returns (mean loss, per-row predictions, per-row max probability for sequence tasks)."""
    was_training = model.training
    model.eval()
    order = np.argsort(ds.lengths, kind="stable")  # similar lengths together: less padding
    preds: list = [None] * len(ds)
    probs = np.zeros(len(ds), dtype=np.float32)
    loss_sum, loss_n = 0.0, 0
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        batch = {k: v.to(device) for k, v in collate(ds, idx, pad_id, task).items()}
        labels = batch.pop("labels")
        with autocast_for(device, bf16):
            logits = model(**batch).logits
        logits = logits.float()
        flat_labels = labels.reshape(-1)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat_labels,
                                                 ignore_index=-100, reduction="sum")
        loss_sum += float(loss)
        loss_n += int((flat_labels != -100).sum())
        p = torch.softmax(logits, dim=-1)
        top = p.argmax(dim=-1).cpu().numpy()
        if task == SEQ:
            probs[idx] = p.max(dim=-1).values.cpu().numpy()
            for r, i in enumerate(idx):
                preds[i] = int(top[r])
        else:
            for r, i in enumerate(idx):
                preds[i] = top[r, : int(ds.lengths[i])]
    if was_training:
        model.train()
    return loss_sum / max(loss_n, 1), preds, probs


def word_predictions(ds: Encoded, preds: list, o_id: int) -> list[list[int]]:
    """Token tasks: each word takes its first sub-token's prediction; words lost to truncation are `O`."""
    out = []
    for st, pr in zip(ds.word_starts, preds):
        out.append([int(pr[p]) if p >= 0 else o_id for p in st])
    return out


def eval_metrics(task: str, labels: list[str], ds: Encoded, gold, loss: float, preds: list) -> dict:
    if task == SEQ:
        rep = classification_report(gold, preds, labels)
        h = sequence_headline(rep)
        return {"loss": loss, "accuracy": h["accuracy"], "macro_f1": h["macro_f1"], "weighted_f1": h["weighted_f1"]}
    words = word_predictions(ds, preds, labels.index("O"))
    m = token_metrics([[labels[t] for t in g] for g in gold], [[labels[t] for t in w] for w in words])
    return {"loss": loss, **token_headline(m)}
