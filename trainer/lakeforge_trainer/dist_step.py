"""One optimizer step's forward/backward passes on one rank (the non-legacy path of train.py's loop)."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from .config import SEQ
from .data import IGNORE_INDEX, collate
from .distributed import StepRows


def rank_backward(step: StepRows, weights: dict[int, float], *, ds, pad_id: int, task: str, forward, ddp,
                  world_size: int, device, autocast, pin: bool) -> tuple[torch.Tensor, int, int]:
    """Backward passes for this rank's micro-batches; returns (this rank's share of the step's loss, rows, tokens).

    Each row (token) loss is weighted by its weight in the one-process objective and multiplied by world_size, since
    DDP averages gradients over the ranks: the synchronized gradient is then the one-process gradient. Only the last
    pass synchronizes (`no_sync` before it). A rank with no rows in a short last step still makes one pass, at zero
    weight, because every rank must take part in the gradient all-reduce.
    """
    chunks = step.mine if step.mine else [step.rows[:1]]
    idle = not step.mine
    share = torch.zeros((), device=device, dtype=torch.float32)
    rows = tokens = 0
    for j, idx in enumerate(chunks):
        last = j == len(chunks) - 1
        sync = nullcontext() if last or ddp is None else ddp.no_sync()
        with sync:
            cpu = collate(ds, idx, pad_id, task)
            labels = cpu.pop("labels")
            w = torch.tensor([0.0 if idle else weights[int(i)] for i in idx], dtype=torch.float32)
            if task == SEQ:
                wt = w
            else:
                wt = w[:, None] * (labels != IGNORE_INDEX).to(torch.float32)
            if not idle:
                rows += len(idx)
                tokens += int(cpu["attention_mask"].sum())
            if pin:
                cpu = {k: v.pin_memory() for k, v in cpu.items()}
            batch = {k: v.to(device, non_blocking=True) for k, v in cpu.items()}
            labels = labels.to(device, non_blocking=True)
            wt = wt.to(device, non_blocking=True)
            with autocast:
                logits = forward(batch).logits
            logits = logits.float()
            per = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                    ignore_index=IGNORE_INDEX, reduction="none")
            loss = (per * wt.reshape(-1)).sum()
            (loss * world_size).backward()
            share += loss.detach()
    return share, rows, tokens
