"""Seeding, the optimizer and the learning-rate schedule of the training loop."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

log = logging.getLogger("lakeforge_trainer.train")


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def make_optimizer(model, hp: dict) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # Standard BERT recipe: no weight decay on biases and LayerNorm weights.
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": hp["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        # The fused kernel (CUDA, and CPU in recent torch) is what HF Trainer uses too: one kernel, no per-tensor loop.
        return torch.optim.AdamW(groups, lr=hp["learning_rate"], fused=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        log.info("fused AdamW unavailable (%s); using the foreach implementation", exc)
        return torch.optim.AdamW(groups, lr=hp["learning_rate"], foreach=True)


def make_scheduler(optimizer, total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
