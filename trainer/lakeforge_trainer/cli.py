"""`python -m lakeforge_trainer train|evaluate|predict --config run.json` (docs/design.md#the-trainer-protocol)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import IO, Callable

from .errors import EXIT_BAD_INPUT, EXIT_CRASH, EXIT_DONE, EXIT_PREEMPTED, BadInput, Preempted
from .events import Emitter, event_validator, validation_requested
from .lifecycle import Lifecycle

log = logging.getLogger("lakeforge_trainer")


def main(argv: list[str] | None = None, stream: IO[str] | None = None, lifecycle: Lifecycle | None = None,
         validator: Callable[[dict], None] | None = None) -> int:
    """Runs one command and returns its exit code. In-process callers (tests) pass their own stream."""
    parser = argparse.ArgumentParser(prog="python -m lakeforge_trainer")
    parser.add_argument("command", choices=["train", "evaluate", "predict"])
    parser.add_argument("--config", required=True, help="path of run.json")
    args = parser.parse_args(argv)
    life = lifecycle or Lifecycle()
    if validator is None and validation_requested():
        validator = event_validator()
    out = stream or sys.stdout
    if os.environ.get("RANK", "0").strip() not in ("", "0"):
        # Under torch.distributed.run every rank shares the launcher's stdout: rank 0 alone speaks the protocol.
        out = open(os.devnull, "w")
    emitter = Emitter(out, validator=validator,
                      on_broken_pipe=lambda: life.request_stop("stdout closed (parent gone)"))
    try:
        from .config import load_config
        from .distributed import plan_batches, world_from_env

        cfg = load_config(args.config)
        if args.command == "train":
            plan_batches(cfg["hparams"], world_from_env()[0], args.config)  # exits 2 before torch loads
        # Inputs are checked with pyarrow alone, before torch and transformers load: bad input fails in a second.
        from .splits import read_train_inputs, split_files

        if args.command == "train":
            if not cfg["checkpoint_dir"]:
                raise BadInput(f"{args.config}: train needs checkpoint_dir", file=args.config)
            inputs = read_train_inputs(cfg)
            from .train import run_train

            run_train(cfg, emitter, life, inputs)
        elif args.command == "predict":
            # run_predict reads and checks its input with pyarrow before it loads the model.
            from .batch_score import run_predict

            run_predict(cfg, emitter, life)
        else:
            split_files(cfg["data"]["test"], "test")
            from .evaluate import run_evaluate

            run_evaluate(cfg, emitter)
        return EXIT_DONE
    except BadInput as exc:
        log.error("bad input: %s", exc.message)
        fields = {"reason": exc.reason}
        if exc.file:
            fields["file"] = exc.file
        if exc.column:
            fields["column"] = exc.column
        emitter.emit("error", kind="bad_input", message=exc.message, **fields)
        return EXIT_BAD_INPUT
    except Preempted:
        log.warning("preempted (%s): exiting %d", life.reason, EXIT_PREEMPTED)
        return EXIT_PREEMPTED
    except Exception as exc:  # noqa: BLE001 - every other failure is a retryable crash
        traceback.print_exc(file=sys.stderr)
        emitter.emit("error", kind="crash", message=f"{type(exc).__name__}: {exc}"[:2000])
        return EXIT_CRASH


def cli() -> None:
    # The real stdout carries events only: keep a private copy of fd 1 for them and point fd 1 at stderr, so a
    # stray print() or a C library's output can never corrupt the event stream.
    events_fd = os.dup(1)
    os.dup2(2, 1)
    stream = os.fdopen(events_fd, "w", buffering=1, encoding="utf-8")
    sys.stdout = sys.stderr
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("LAKEFORGE_TRAINER_LOG", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # no fork warnings; we never fork
    life = Lifecycle()
    life.install()
    code = main(sys.argv[1:], stream=stream, lifecycle=life)
    try:
        stream.flush()
    except OSError:
        pass
    sys.stderr.flush()
    from .launch import write_rank_status

    write_rank_status(code)  # for lakeforge_trainer.launch: torch.distributed.run alone reports every failure as 1
    # Skip interpreter teardown: the stdin watcher thread and torch's pools have nothing left to do.
    os._exit(code)
