"""`python -m lakeforge_trainer.launch <torch.distributed.run arguments>`: PyTorch's elastic launcher, with our exit codes.

torch.distributed.run itself exits 1 for any failed worker (and raises on SIGTERM), which would turn a bad input
(exit 2, not retryable) and a preemption checkpoint (exit 75) into crashes. This runs the same launcher
(`torch.distributed.run.parse_args` and `run`, every argument passed through untouched) and then takes the exit code
from what the ranks on this node said they exited with (each writes it to a status file before exiting):

    any rank 2 -> 2;  every rank 75 -> 75;  the launcher succeeded -> 0;  anything else -> 1 (a crash).

Ranks run in sessions of their own (torch's choice); each sets PR_SET_PDEATHSIG to SIGKILL when it runs under this
launcher (lifecycle.py), so killing this process's group kills every rank: none can outlive it holding a GPU.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .errors import EXIT_BAD_INPUT, EXIT_CRASH, EXIT_DONE, EXIT_PREEMPTED

log = logging.getLogger("lakeforge_trainer.launch")

STATUS_DIR_ENV = "LAKEFORGE_TRAINER_STATUS_DIR"


def write_rank_status(code: int) -> None:
    """Called by each rank just before it exits."""
    d = os.environ.get(STATUS_DIR_ENV)
    if not d:
        return
    try:
        path = Path(d) / f"rank-{os.environ.get('RANK', '0')}"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(str(code))
        os.replace(tmp, path)
    except OSError:
        pass  # the launcher then reads this rank as crashed: retryable, never a false success


def read_statuses(d: Path) -> dict[int, int]:
    out = {}
    for p in d.glob("rank-*"):
        if p.suffix == ".tmp":
            continue
        try:
            out[int(p.name.split("-", 1)[1])] = int(p.read_text().strip())
        except ValueError:
            pass
    return out


def exit_code(statuses: dict[int, int], local_ranks: int, launcher_ok: bool) -> int:
    codes = list(statuses.values())
    if EXIT_BAD_INPUT in codes:
        return EXIT_BAD_INPUT
    if len(codes) == local_ranks and codes and all(c == EXIT_PREEMPTED for c in codes):
        return EXIT_PREEMPTED
    if launcher_ok:
        return EXIT_DONE
    return EXIT_CRASH


def main(argv: list[str] | None = None) -> int:
    from torch.distributed import run as torchrun

    args = torchrun.parse_args(sys.argv[1:] if argv is None else argv)
    status_dir = Path(tempfile.mkdtemp(prefix="lakeforge-ranks-"))
    os.environ[STATUS_DIR_ENV] = str(status_dir)  # the ranks inherit the launcher's environment
    ok = False
    try:
        torchrun.run(args)
        ok = True
    except BaseException as exc:  # noqa: BLE001 - ChildFailedError, SignalException: the ranks' codes decide
        log.warning("the group ended with %s: %s", type(exc).__name__, str(exc).strip().splitlines()[0:1])
    statuses = read_statuses(status_dir)
    shutil.rmtree(status_dir, ignore_errors=True)
    try:
        local = int(str(args.nproc_per_node))
    except ValueError:
        local = len(statuses)  # "gpu"/"auto": as many as reported
    code = exit_code(statuses, local, ok)
    log.info("rank exit codes %s -> launcher exit %d", dict(sorted(statuses.items())), code)
    return code


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("LAKEFORGE_TRAINER_LOG", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.stdout.flush()
    os._exit(main())
