"""Checkpoints of a user's Python step: `step-N.tmp` written, fsynced, renamed to `step-N` (docs/design.md#the-trainer-protocol).

Imports nothing heavy (no torch): a project's venv may have none of the trainer's dependencies.
The runner counts a `step-N` directory as complete when its STATE_FILE is there (written last, inside the rename).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Callable
from .fsutil import fsync_dir as _fsync_dir, fsync_tree as _fsync_tree

# The same marker the trainer writes, so the runner's checkpoint sync and resume treat both alike.
STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def mark_complete(path: Path, step: int) -> None:
    """Writes the state file into a checkpoint directory the script filled itself (when it has none yet)."""
    state = path / STATE_FILE
    if not state.exists():
        tmp = path / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps({"global_step": step, "step": step}))
        os.replace(tmp, state)


def checkpoint_step(path: Path) -> int | None:
    """The step of a checkpoint directory: from its state file, else from its `step-N` name."""
    try:
        return int(json.loads((path / STATE_FILE).read_text())["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        m = _STEP_DIR.match(path.name)
        return int(m.group(1)) if m else None


def list_checkpoints(ck_dir: Path) -> list[tuple[int, Path]]:
    """Complete `step-N` directories, oldest first."""
    out = []
    if ck_dir.is_dir():
        for p in ck_dir.iterdir():
            m = _STEP_DIR.match(p.name)
            if m and p.is_dir() and (p / STATE_FILE).exists():
                out.append((int(m.group(1)), p))
    return sorted(out)


class CheckpointWriter:
    """`with step.checkpoint(n) as d:` — the body writes into `d` (`step-n.tmp`); a clean exit commits it."""

    def __init__(self, ck_dir: Path, step: int, keep_last: int, reason: str,
                 announce: Callable[[int, Path, str], None]):
        self.final = ck_dir / f"step-{step}"
        self.tmp = ck_dir / f"step-{step}.tmp"
        self.step, self.keep_last, self.reason, self._announce = step, keep_last, reason, announce

    def __enter__(self) -> Path:
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        mark_complete(self.tmp, self.step)
        _fsync_tree(self.tmp)
        shutil.rmtree(self.final, ignore_errors=True)
        os.replace(self.tmp, self.final)
        _fsync_dir(self.final.parent)
        self._announce(self.step, self.final, self.reason)
        for _n, old in list_checkpoints(self.final.parent)[: -self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        return False
