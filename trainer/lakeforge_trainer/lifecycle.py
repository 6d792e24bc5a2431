"""Preemption: SIGTERM/SIGINT, the parent's death (stdin EOF, PR_SET_PDEATHSIG) all ask the loop to checkpoint and exit 75."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import stat
import threading

log = logging.getLogger("lakeforge_trainer.lifecycle")

PR_SET_PDEATHSIG = 1


class Lifecycle:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self.reason: str | None = None
        self._ppid = os.getppid()

    @property
    def stop_requested(self) -> bool:
        # A parent that died before prctl took effect leaves us re-parented; count that as death too.
        if not self._stop.is_set() and self._ppid > 1 and os.getppid() != self._ppid:
            self.request_stop("parent process exited")
        return self._stop.is_set()

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self.reason = reason
            log.warning("stop requested: %s; will checkpoint after the current optimizer step", reason)
        self._stop.set()

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self._set_pdeathsig()
        if os.environ.get("LAKEFORGE_TRAINER_WATCH_STDIN", "1") not in ("0", "false"):
            self._watch_stdin()

    def _on_signal(self, signum, _frame) -> None:
        self.request_stop(signal.Signals(signum).name)

    def _set_pdeathsig(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            # Under torch.distributed.run our parent is its agent, which SIGTERMs us itself for a graceful stop: its
            # own death (killed with its process group) must take us at once, or a rank would outlive the group.
            sig = signal.SIGKILL if os.environ.get("TORCHELASTIC_RUN_ID") else signal.SIGTERM
            if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
                log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError):
            pass  # not Linux

    def _watch_stdin(self) -> None:
        """The parent holds a pipe on our stdin and never writes; EOF means it is gone.

        Only a pipe or socket is watched: a terminal, /dev/null or a file on stdin (a person running the trainer by
        hand) says nothing about a parent.
        """
        try:
            mode = os.fstat(0).st_mode
        except OSError:
            return
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return

        def watch() -> None:
            try:
                while os.read(0, 65536):  # os.read, not sys.stdin: no buffered-reader lock at shutdown
                    pass
            except OSError:
                pass
            self.request_stop("stdin closed (parent gone)")

        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
