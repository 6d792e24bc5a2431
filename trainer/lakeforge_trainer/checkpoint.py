"""Checkpoints: `step-N.tmp` written and fsynced, then renamed to `step-N` (docs/design.md#the-trainer-protocol).

A `step-N` directory is complete by construction (the rename is the commit); `trainer_state.json` is written last
inside it as a second marker. Layout:
    model.safetensors  optimizer.pt  scheduler.pt  rng.pt  tokenizer/  trainer_state.json
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from .errors import BadInput
from .fsutil import fsync_dir as _fsync_dir, fsync_tree as _fsync_tree

log = logging.getLogger("lakeforge_trainer.checkpoint")

STATE_FILE = "trainer_state.json"
_STEP_RE = re.compile(r"^step-(\d+)$")
_TMP_RE = re.compile(r"^step-(\d+)\.tmp$")


def rng_state() -> dict:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def list_checkpoints(ck_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    if not ck_dir.is_dir():
        return []
    out = []
    for p in ck_dir.iterdir():
        m = _STEP_RE.match(p.name)
        if m and p.is_dir() and (p / STATE_FILE).is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def clean_tmp(ck_dir: Path) -> None:
    """Half-written checkpoints from a killed run: never read, always removed."""
    if not ck_dir.is_dir():
        return
    for p in ck_dir.iterdir():
        if _TMP_RE.match(p.name):
            log.warning("removing incomplete checkpoint %s", p)
            shutil.rmtree(p, ignore_errors=True)


def clear_checkpoints(ck_dir: Path) -> None:
    """A fresh (non-resuming) run must not later mistake an older run's checkpoints for its own."""
    for step, p in list_checkpoints(ck_dir):
        log.warning("resume_from is null: removing previous checkpoint %s", p)
        shutil.rmtree(p, ignore_errors=True)
    clean_tmp(ck_dir)


def resolve_resume(resume_from: str | None, ck_dir: Path) -> Path | None:
    clean_tmp(ck_dir)
    if resume_from is None:
        return None
    if resume_from == "latest":
        cks = list_checkpoints(ck_dir)
        return cks[-1][1] if cks else None
    p = Path(resume_from)
    if not p.is_absolute() and not p.exists():
        p = ck_dir / resume_from
    if not (p.is_dir() and (p / STATE_FILE).is_file()):
        raise BadInput(f"resume_from {resume_from}: no complete checkpoint there", reason="config", file=str(p))
    return p


def read_state(path: Path) -> dict:
    return json.loads((path / STATE_FILE).read_text())


def _fault(kind: str, step: int) -> bool:
    """Test hook (LAKEFORGE_TRAINER_FAULT=kind:step) to SIGKILL the process at an exact point."""
    spec = os.environ.get("LAKEFORGE_TRAINER_FAULT", "")
    for item in spec.split(","):
        k, _, s = item.partition(":")
        if k == kind and s.isdigit() and int(s) == step:
            return True
    return False


def save_checkpoint(ck_dir: Path, step: int, model, optimizer, scheduler, tokenizer, state: dict,
                    rank_rngs: list[dict] | None = None) -> tuple[Path, float]:
    """rank_rngs: every rank's RNG state (a data-parallel group); rank 0's goes to rng.pt, rank r's to rng-rank-r.pt."""
    t0 = time.perf_counter()
    ck_dir.mkdir(parents=True, exist_ok=True)
    final = ck_dir / f"step-{step}"
    tmp = ck_dir / f"step-{step}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))
    if _fault("kill_in_checkpoint", step):
        os.kill(os.getpid(), signal.SIGKILL)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    rngs = rank_rngs or [rng_state()]
    torch.save(rngs[0], tmp / "rng.pt")
    for r, st in enumerate(rngs[1:], start=1):
        torch.save(st, tmp / f"rng-rank-{r}.pt")
    tokenizer.save_pretrained(str(tmp / "tokenizer"))
    (tmp / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True))
    _fsync_tree(tmp)
    if final.exists():  # the same step written again (a fresh run, or a final checkpoint after an interval one)
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(ck_dir)
    return final, time.perf_counter() - t0


def load_checkpoint(path: Path, model, optimizer, scheduler, rank: int = 0, fallback_seed: int | None = None) -> dict:
    load_model(model, str(path / "model.safetensors"))
    # Our own files: full unpickling is needed for the python/numpy RNG states.
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", map_location="cpu", weights_only=False))
    rng_file = path / ("rng.pt" if rank == 0 else f"rng-rank-{rank}.pt")
    if rng_file.is_file():
        set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=False))
    elif fallback_seed is not None:
        # Written by a smaller group: this rank had no stream yet. Same rows, fresh dropout masks.
        log.warning("%s has no RNG state for rank %d; seeding it afresh", path, rank)
        torch.manual_seed(fallback_seed)
    else:
        raise FileNotFoundError(rng_file)
    return read_state(path)


def prune(ck_dir: Path, keep_last: int, best_step: int | None) -> None:
    cks = list_checkpoints(ck_dir)
    keep = {s for s, _ in cks[-keep_last:]}
    if best_step is not None:
        keep.add(best_step)
    for s, p in cks:
        if s not in keep:
            shutil.rmtree(p, ignore_errors=True)
