"""Data-parallel training under `python -m torch.distributed.run` (docs/distributed-training.md).

torch.distributed.run sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for each rank. Every rank runs
the same loop on the same data order; per optimizer step the global batch (batch_size × grad_accum_steps rows, as in
one process) is cut into micro-batches dealt round-robin to the ranks, and each row's loss is weighted so that the
summed, DDP-averaged gradient is exactly the one-process objective. Only the reduction order differs.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from datetime import timedelta

from .errors import BadInput

log = logging.getLogger("lakeforge_trainer.distributed")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadInput(f"environment variable {name}={raw!r} is not an integer", reason="config") from None


def world_from_env() -> tuple[int, int, int]:
    """(world_size, rank, local_rank) as torch.distributed.run sets them; (1, 0, 0) for a plain process."""
    world, rank, local = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if world < 1 or not 0 <= rank < world or local < 0:
        raise BadInput(f"WORLD_SIZE={world}, RANK={rank}, LOCAL_RANK={local} do not describe a rank of a group",
                       reason="config")
    return world, rank, local


# --------------------------------------------------------------------------------------------------
# The batch plan: what run.json's batch fields mean for a given world size (pure, checked before torch loads)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchPlan:
    batch_size: int        # hparams.batch_size: rows of one one-process micro-batch (the unit of batch_in_epoch)
    grad_accum_steps: int  # hparams.grad_accum_steps
    world_size: int
    micro_batch_size: int  # rows per forward pass on one rank
    rank_accum_steps: int  # forward/backward passes per rank per optimizer step

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.grad_accum_steps

    @property
    def legacy(self) -> bool:
        """One process, micro-batch = batch_size: the original loop, bit for bit."""
        return self.world_size == 1 and self.micro_batch_size == self.batch_size


def plan_batches(hp: dict, world_size: int, source: str = "run.json") -> BatchPlan:
    bs, accum, micro = hp["batch_size"], hp["grad_accum_steps"], hp.get("micro_batch_size")
    glob = bs * accum
    if micro is None:
        if bs % world_size:
            raise BadInput(f"{source}: hparams.batch_size {bs} is not divisible by world_size {world_size}; set "
                           f"hparams.micro_batch_size, or a batch_size that is a multiple of {world_size}",
                           reason="config", file=source)
        micro = bs // world_size
    if glob % (world_size * micro):
        raise BadInput(f"{source}: the global batch (hparams.batch_size {bs} × hparams.grad_accum_steps {accum} = "
                       f"{glob}) is not divisible by world_size {world_size} × hparams.micro_batch_size {micro}",
                       reason="config", file=source)
    return BatchPlan(bs, accum, world_size, micro, glob // (world_size * micro))


# --------------------------------------------------------------------------------------------------
# The sampler: which rows a rank trains on at each step; its position is saved in every checkpoint
# --------------------------------------------------------------------------------------------------

class DistributedStepSampler:
    """Positions are counted in one-process micro-batches (`batch_in_epoch`), so a checkpoint written by any world
    size resumes at the same row with any other; `epoch_order(seed, epoch)` fixes the rows' order."""

    def __init__(self, n_rows: int, plan: BatchPlan, rank: int):
        self.n, self.plan, self.rank = n_rows, plan, rank
        self.batches_per_epoch = math.ceil(n_rows / plan.batch_size)
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / plan.grad_accum_steps)
        self.epoch, self.batch_in_epoch = 0, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "world_size": self.plan.world_size,
                "micro_batch_size": self.plan.micro_batch_size, "rows_in_epoch": self.rows_done()}

    def load_state_dict(self, st: dict) -> None:
        self.epoch, self.batch_in_epoch = int(st["epoch"]), int(st["batch_in_epoch"])
        saved_world = st.get("world_size", 1)
        if saved_world != self.plan.world_size:
            log.warning("resuming a world_size %s checkpoint with world_size %d: same rows, new dropout streams",
                        saved_world, self.plan.world_size)

    def rows_done(self) -> int:
        return min(self.batch_in_epoch * self.plan.batch_size, self.n)

    def next_step(self, order) -> "StepRows":
        """The rows of the next optimizer step, and this rank's share; advances the position."""
        p = self.plan
        g0 = self.batch_in_epoch
        g1 = min(g0 + p.grad_accum_steps, self.batches_per_epoch)
        rows = order[g0 * p.batch_size:min(g1 * p.batch_size, self.n)]
        chunks = [rows[s:s + p.micro_batch_size] for s in range(0, len(rows), p.micro_batch_size)]
        mine = chunks[self.rank::p.world_size]
        epoch_ended = g1 >= self.batches_per_epoch
        self.batch_in_epoch = g1
        if epoch_ended:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        return StepRows(rows, mine, g1 - g0, epoch_ended)


@dataclass
class StepRows:
    rows: object         # every row of the step (np.ndarray), in one-process order
    mine: list           # this rank's micro-batches
    n_batches: int       # one-process micro-batches in the step (the last step of an epoch may be short)
    epoch_ended: bool


def row_weights(step: StepRows, batch_size: int, label_counts) -> dict[int, float]:
    """Each row's weight in the one-process objective: the mean over the step's micro-batches of each micro-batch's
    mean loss (over rows, or over labeled tokens for token tasks). label_counts: labeled tokens per row, or None."""
    out = {}
    for s in range(0, len(step.rows), batch_size):
        b = step.rows[s:s + batch_size]
        denom = len(b) if label_counts is None else int(sum(label_counts[i] for i in b))
        for i in b:
            out[int(i)] = 1.0 / (step.n_batches * max(denom, 1))
    return out


# --------------------------------------------------------------------------------------------------
# The process group
# --------------------------------------------------------------------------------------------------

class DistContext:
    """The rank's view of the group; every method is a no-op (or the identity) when world_size is 1."""

    def __init__(self, world_size: int, rank: int, local_rank: int):
        import torch

        self.world_size, self.rank, self.local_rank = world_size, rank, local_rank
        self.enabled = world_size > 1
        cuda = torch.cuda.is_available()
        # CUDA_VISIBLE_DEVICES holds the slots the worker gave this step; local rank i drives the i-th of them.
        self.device = torch.device(f"cuda:{local_rank if self.enabled else 0}") if cuda else torch.device("cpu")
        self.backend = ("nccl" if cuda else "gloo") if self.enabled else None
        if self.enabled:
            import torch.distributed as dist

            if cuda:
                torch.cuda.set_device(self.device)
            # A rank that stops answering (not one that dies: that closes its sockets at once) fails the group after this.
            timeout = timedelta(seconds=float(os.environ.get("LAKEFORGE_TRAINER_DIST_TIMEOUT", "900")))
            dist.init_process_group(self.backend, timeout=timeout)
            log.info("rank %d/%d (local %d) joined the %s group on %s", rank, world_size, local_rank, self.backend,
                     self.device)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, obj):
        """Rank 0's value, on every rank."""
        if not self.enabled:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list | None:
        """Every rank's value, in rank order, on rank 0 (None elsewhere)."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def all_gather(self, obj) -> list:
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over the ranks: one small all-reduce per optimizer step."""
        if not self.enabled:
            return values
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """Each rank's dropout stream: distinct, and a function of (seed, rank) only."""
    return (seed * 1_000_003 + rank * 7_919 + 17) % (2 ** 63)
