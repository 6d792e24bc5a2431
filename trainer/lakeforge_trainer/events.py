"""JSON-lines events on stdout (docs/design.md#the-trainer-protocol): one object per line, flushed per line, nothing else on stdout."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from typing import IO, Any, Callable

log = logging.getLogger("lakeforge_trainer")


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity; a NaN loss must not produce an unparseable line.
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class Emitter:
    """Writes events to a stream. `validator` (tests) checks each against event.schema.json before writing."""

    def __init__(self, stream: IO[str], validator: Callable[[dict], None] | None = None,
                 on_broken_pipe: Callable[[], None] | None = None):
        self._stream = stream
        self._validator = validator
        self._on_broken_pipe = on_broken_pipe
        self._lock = threading.Lock()
        self._broken = False
        self.history: list[dict] = []

    def emit(self, event: str, **fields: Any) -> dict:
        obj = _clean({"event": event, "ts": round(time.time(), 3), **fields})
        if "metrics" in obj:  # a NaN metric (now None) is dropped: metrics are numbers only
            obj["metrics"] = {k: v for k, v in obj["metrics"].items() if v is not None}
        if self._validator is not None:
            self._validator(obj)
        self.history.append(obj)
        line = json.dumps(obj, separators=(",", ":"))
        with self._lock:
            if self._broken:
                return obj
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, OSError) as exc:
                # The reader is gone: the parent died. Treat it like stdin EOF (checkpoint, exit 75).
                self._broken = True
                log.warning("stdout is closed (%s); treating the parent as gone", exc)
                if self._on_broken_pipe is not None:
                    self._on_broken_pipe()
        return obj


def event_validator(schema: str = "event") -> Callable[[dict], None]:
    """A validator against the generated event.schema.json (used by tests and LAKEFORGE_TRAINER_VALIDATE_EVENTS=1).

    `step-event`: the events of a user's Python step (lakeforge_trainer.step)."""
    import jsonschema

    from .schemas import load_schema

    validator = jsonschema.Draft202012Validator(load_schema(schema))

    def check(obj: dict) -> None:
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        if errors:
            raise AssertionError(f"event does not match {schema}.schema.json: {errors[0].message}: {obj}")

    return check


def validation_requested() -> bool:
    return os.environ.get("LAKEFORGE_TRAINER_VALIDATE_EVENTS", "") not in ("", "0", "false")
