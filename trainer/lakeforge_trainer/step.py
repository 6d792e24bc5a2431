"""The helper a user's Python step imports: its config, its events, its checkpoints, its stops (docs/projects.md).

A Python step runs like the trainer (docs/design.md#the-trainer-protocol): `<venv python> <script> --config step.json`, JSON-lines events on
stdout, exit 0 (done), 2 (bad input), 75 (checkpointed on SIGTERM/SIGINT/parent death), anything else a crash.

    from lakeforge_trainer import step

    def main(ctx: step.Context) -> dict:
        rows = read(ctx.inputs["input"].files)
        if not rows:
            raise step.BadInput("the input is empty")
        ...
        step.events.progress(step=i, total_steps=n, loss=loss)
        return {"rows": len(rows)}          # the done event's metrics

    step.run(main)

Stops: a script that never asks is stopped at once (exit 75, no checkpoint). One that calls `step.should_stop()`
checkpoints itself and raises `step.Preempted`; one that registers `step.on_stop(save)` has `save()` called at its
next `events.progress()` or `step.stop_point()`, after which the helper exits 75.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import EXIT_BAD_INPUT, EXIT_CRASH, EXIT_DONE, EXIT_PREEMPTED, BadInput, Preempted
from .events import Emitter, event_validator, validation_requested
from .lifecycle import Lifecycle
from .step_checkpoint import STATE_FILE, CheckpointWriter, checkpoint_step, mark_complete

__all__ = ["BadInput", "Preempted", "Context", "Input", "events", "init", "run", "should_stop", "on_stop",
           "stop_point", "checkpoint"]

_RESERVED = {"event", "ts"}


@dataclass(frozen=True)
class Input:
    """One upstream role: its staged directory, its Parquet files (local paths) and its manifest."""
    dir: Path
    files: list[Path]
    manifest: dict
    uri: str
    version: str


@dataclass(frozen=True)
class Context:
    step: str
    kind: str
    run_id: str
    dataset: str
    attempt: int
    params: dict
    inputs: dict[str, Input]
    work_dir: Path
    checkpoint_dir: Path | None
    resume_from: Path | None
    resumed_step: int | None
    keep_last: int
    queue: str
    slot: str | None
    device: str  # "cuda" when a GPU slot is held, else "cpu"
    config_path: Path


class Events:
    """The step's stdout protocol. Every method writes one JSON line (step-event.schema.json)."""

    def __init__(self) -> None:
        self._emitter: Emitter | None = None
        self.done_sent = False

    def _bind(self, emitter: Emitter) -> None:
        self._emitter = emitter

    def _emit(self, event: str, **fields: Any) -> dict:
        if self._emitter is None:  # used before init(): bind to stdout as it is
            self._emitter = Emitter(sys.stdout)
        return self._emitter.emit(event, **fields)

    def progress(self, **fields: Any) -> None:
        """Scalars only; `step` and `total_steps` (integers) are what the run's progress shows. A safe stop point."""
        bad = _RESERVED.intersection(fields)
        if bad:
            raise TypeError(f"events.progress: {sorted(bad)} are reserved field names")
        for k, v in fields.items():
            if not (v is None or isinstance(v, (bool, int, float, str))):
                raise TypeError(f"events.progress: field {k!r} must be a number, string, bool or None, not {type(v).__name__}")
        for k in ("step", "total_steps"):
            if k in fields and (isinstance(fields[k], bool) or not isinstance(fields[k], int) or fields[k] < 0):
                raise TypeError(f"events.progress: {k} must be a non-negative integer, got {fields[k]!r}")
        self._emit("progress", **fields)
        stop_point()

    def checkpoint(self, step: int, path: str | os.PathLike, reason: str = "interval") -> None:
        """Announces a complete checkpoint directory (the runner uploads it to the lake). Prefer `step.checkpoint(n)`."""
        p = Path(path)
        if not p.is_dir():
            raise ValueError(f"events.checkpoint: {p} is not a directory")
        mark_complete(p, int(step))
        self._emit("checkpoint", step=int(step), path=str(p.resolve()), reason=reason)

    def done(self, metrics: dict | None = None) -> None:
        metrics = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self._emit("done", metrics=metrics)
        self.done_sent = True

    def error(self, kind: str, message: str, **fields: Any) -> None:
        if kind not in ("bad_input", "crash"):
            raise ValueError(f"events.error: kind must be 'bad_input' or 'crash', not {kind!r}")
        self._emit("error", kind=kind, message=message, **{k: v for k, v in fields.items() if v is not None})


events = Events()
_life: Lifecycle | None = None
_ctx: Context | None = None
_cooperative = False  # the script asks about stops itself (should_stop / on_stop)
_on_stop: list[Callable[[], None]] = []


def _on_signal(signum, _frame) -> None:
    assert _life is not None
    _life.request_stop(signal.Signals(signum).name)
    if not _cooperative:
        raise Preempted(f"stopped by {signal.Signals(signum).name}")


def _install_lifecycle(life: Lifecycle) -> None:
    life.install()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    request = life.request_stop

    def request_stop(reason: str) -> None:
        first = not life._stop.is_set()
        request(reason)
        # The stdin watcher runs in a thread: a script that never polls is stopped in its main thread, as on SIGTERM.
        if first and not _cooperative and threading.current_thread() is not threading.main_thread():
            import _thread

            _thread.interrupt_main(signal.SIGTERM)

    life.request_stop = request_stop  # type: ignore[method-assign]


def _protocol_stream() -> io.TextIOBase:
    """Keeps the real stdout for events and points fd 1 (print, C libraries) at stderr, so nothing else reaches it."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
    return io.TextIOWrapper(io.FileIO(fd, "w"), line_buffering=True)


def load_context(path: str | os.PathLike) -> Context:
    """Reads and validates step.json (step-config.schema.json, generated from contracts/trainer-protocol.ts)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"step config {path} does not exist", file=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"step config {path} is not readable JSON: {exc}", file=str(path)) from None
    try:
        import jsonschema
    except ImportError:  # a project venv without jsonschema: the runner validated it with zod already
        jsonschema = None
    from .schemas import apply_defaults, load_schema

    if jsonschema is not None:
        schema = load_schema("step-config")
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(raw))
        if errors:
            err = jsonschema.exceptions.best_match(errors)
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            raise BadInput(f"{path}: invalid at {where}: {err.message}", file=str(path))
        raw = apply_defaults(schema, raw, jsonschema.Draft202012Validator)
    resume = Path(raw["resume_from"]) if raw.get("resume_from") else None
    dev = raw["device"]
    return Context(
        step=raw["step"], kind=raw["kind"], run_id=raw["run_id"], dataset=raw["dataset"], attempt=raw["attempt"],
        params=raw["params"],
        inputs={r: Input(Path(i["dir"]), [Path(f) for f in i["files"]], i["manifest"], i["uri"], i["version"])
                for r, i in raw["inputs"].items()},
        work_dir=Path(raw["work_dir"]),
        checkpoint_dir=Path(raw["checkpoint_dir"]) if raw.get("checkpoint_dir") else None,
        resume_from=resume, resumed_step=checkpoint_step(resume) if resume else None,
        keep_last=raw.get("keep_last", 2), queue=dev["queue"], slot=dev["slot"],
        device="cuda" if dev["kind"] == "gpu" else "cpu", config_path=path,
    )


def init(argv: list[str] | None = None, stream: io.TextIOBase | None = None) -> Context:
    """Parses `--config`, takes over stdout for events, installs the stop handling; emits `started`."""
    global _life, _ctx
    parser = argparse.ArgumentParser(description="a lakeforge Python step")
    parser.add_argument("--config", required=True, help="path of the step.json the runner wrote")
    args, _ = parser.parse_known_args(argv)
    out = stream if stream is not None else _protocol_stream()
    _life = Lifecycle()
    emitter = Emitter(out, validator=event_validator_for_steps() if validation_requested() else None,
                      on_broken_pipe=lambda: _life.request_stop("stdout closed (parent gone)"))
    events._bind(emitter)
    if stream is None:
        _install_lifecycle(_life)
    _ctx = load_context(args.config)
    events._emit("started", device=_ctx.device, pid=os.getpid(), resumed_from_step=_ctx.resumed_step)
    return _ctx


def event_validator_for_steps() -> Callable[[dict], None]:
    return event_validator("step-event")


def should_stop() -> bool:
    """True once a stop was asked for (SIGTERM, SIGINT, the runner gone): checkpoint, then raise Preempted."""
    global _cooperative
    _cooperative = True
    return _life is not None and _life.stop_requested


def on_stop(fn: Callable[[], None]) -> None:
    """Registers `fn()` (write a checkpoint) to run at the next safe point after a stop request; then exit 75."""
    global _cooperative
    _cooperative = True
    _on_stop.append(fn)


def stop_point() -> None:
    """Runs the on_stop callbacks and raises Preempted when a stop was requested and callbacks are registered."""
    if _on_stop and _life is not None and _life.stop_requested:
        for fn in list(_on_stop):
            fn()
        _on_stop.clear()
        raise Preempted(_life.reason or "stop requested")


def checkpoint(step: int) -> CheckpointWriter:
    """`with step.checkpoint(n) as d:` write into `d`; on exit it becomes `<checkpoint_dir>/step-n`, announced."""
    if _ctx is None or _ctx.checkpoint_dir is None:
        raise RuntimeError("step.checkpoint: this step has no checkpoint_dir (only steps on the gpu queue have one)")
    stopping = _life is not None and _life.stop_requested
    return CheckpointWriter(_ctx.checkpoint_dir, int(step), _ctx.keep_last, "preempt" if stopping else "interval",
                            lambda n, p, reason: events.checkpoint(n, p, reason))


def run(main: Callable[[Context], dict | None], argv: list[str] | None = None) -> None:
    """Runs `main(ctx)` and exits with the protocol's code; its return value is the done event's metrics."""
    code = EXIT_CRASH
    metrics: dict | None = None
    try:
        ctx = init(argv)
        metrics = main(ctx)
        code = EXIT_DONE
    except BadInput as exc:
        events.error("bad_input", exc.message, reason=exc.reason, file=exc.file, column=exc.column)
        print(f"bad input: {exc.message}", file=sys.stderr)
        code = EXIT_BAD_INPUT
    except (Preempted, KeyboardInterrupt) as exc:
        print(f"preempted: {exc}", file=sys.stderr)
        code = EXIT_PREEMPTED
    except SystemExit as exc:  # sys.exit() inside main: its code, 0 meaning done
        code = exc.code if isinstance(exc.code, int) else (EXIT_DONE if exc.code is None else EXIT_CRASH)
    except BaseException as exc:  # noqa: BLE001 - the protocol's last word on any failure
        traceback.print_exc()
        events.error("crash", f"{type(exc).__name__}: {exc}")
        code = EXIT_CRASH
    if code == EXIT_DONE and not events.done_sent:
        events.done(metrics or {})
    sys.stderr.flush()
    sys.exit(code)


__all__ += ["STATE_FILE", "load_context"]
