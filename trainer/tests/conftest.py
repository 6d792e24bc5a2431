from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

# Tiny models on a shared 2-core box: one thread is several times faster than two fighting over cores, and every
# run in a test (in-process or child) must use the same thread count for bit-identical results.
torch.set_num_threads(1)
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LAKEFORGE_TRAINER_VALIDATE_EVENTS": "1",
             "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
def validator():
    from lakeforge_trainer.events import event_validator

    return event_validator()


def run_inproc(config_path: Path, command: str = "train", validator=None) -> tuple[int, list[dict]]:
    """The trainer in this process (no signal handlers): fast, and every event is schema-checked."""
    from lakeforge_trainer.cli import main
    from lakeforge_trainer.events import event_validator

    buf = io.StringIO()
    rc = main([command, "--config", str(config_path)], stream=buf, validator=validator or event_validator())
    return rc, [json.loads(line) for line in buf.getvalue().splitlines()]


class Child:
    """The trainer as the activity runs it: its own process, a pipe on stdin, events read line by line."""

    def __init__(self, config_path: Path, command: str = "train", env: dict | None = None,
                 launcher: list[str] | None = None):
        # launcher: arguments of lakeforge_trainer.launch (torch.distributed.run's) to run the trainer under it.
        prefix = [sys.executable, "-m", "lakeforge_trainer.launch", *launcher, "-m"] if launcher else [sys.executable, "-m"]
        self.proc = subprocess.Popen(
            [*prefix, "lakeforge_trainer", command, "--config", str(config_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**CHILD_ENV, **(env or {})}, start_new_session=True,
        )
        self.events: list[dict] = []
        self.raw_lines: list[str] = []
        self.stderr = ""
        self._cond = threading.Condition()
        self._eof = False
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.raw_lines.append(line)
                self.events.append(json.loads(line))  # anything but JSON on stdout fails the test
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_err(self) -> None:
        self.stderr = self.proc.stderr.read()

    def wait_for(self, pred, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = 0
            while True:
                for e in self.events[seen:]:
                    if pred(e):
                        return e
                seen = len(self.events)
                if self._eof:
                    raise AssertionError(f"trainer ended before the awaited event; events={self.events}\n{self.stderr[-3000:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for an event; events={self.events}")
                self._cond.wait(left)

    def wait(self, timeout: float = 180) -> int:
        rc = self.proc.wait(timeout=timeout)
        with self._cond:
            self._cond.wait_for(lambda: self._eof, timeout=10)
        time.sleep(0.05)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()


@pytest.fixture
def child_factory():
    children: list[Child] = []

    def make(*args, **kwargs) -> Child:
        c = Child(*args, **kwargs)
        children.append(c)
        return c

    yield make
    for c in children:
        c.kill()


def load_weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))
