"""lakeforge_trainer.step, the helper of a user's Python step, run as the runner runs it: its own process, a pipe on
stdin, JSON-lines events checked against step-event.schema.json, the protocol's exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TRAINER_DIR = Path(__file__).resolve().parents[1]
SCRIPTS = TRAINER_DIR.parent / "test" / "fixtures" / "python-steps"
ENV = {**os.environ, "PYTHONPATH": str(TRAINER_DIR), "LAKEFORGE_TRAINER_VALIDATE_EVENTS": "1", "PYTHONUNBUFFERED": "1"}


def make_config(tmp: Path, script: str, params: dict, *, gpu: bool = False, resume_from: str | None = None,
                attempt: int = 1) -> Path:
    data = tmp / "inputs" / "input"
    data.mkdir(parents=True, exist_ok=True)
    part = data / "part-0.parquet"
    if not part.exists():
        pq.write_table(pa.table({"id": [1, 2, 3, 4], "text": ["a b c", "one", "x y", "four words in here"]}), part)
    work = tmp / f"work-{attempt}"
    work.mkdir(exist_ok=True)
    cfg = {
        "step": "py", "kind": "test", "run_id": "r1", "dataset": "d", "attempt": attempt,
        "script": str(SCRIPTS / script), "params": params,
        "inputs": {"input": {"dir": str(data), "files": [str(part)], "manifest": {"version": "v0", "rows": 4},
                             "uri": "file:///lake/clean/d/v0", "version": "v0"}},
        "work_dir": str(work),
        "checkpoint_dir": str(tmp / "ck") if gpu else None,
        "resume_from": resume_from,
        "keep_last": 2,
        "device": {"queue": "gpu" if gpu else "etl", "slot": "cpu" if gpu else None, "kind": "cpu", "cuda_visible_devices": ""},
    }
    path = tmp / f"step-{attempt}.json"
    path.write_text(json.dumps(cfg))
    return path


class Step:
    def __init__(self, script: str, config: Path):
        self.proc = subprocess.Popen([sys.executable, str(SCRIPTS / script), "--config", str(config)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=ENV, start_new_session=True)
        self.events: list[dict] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.events.append(json.loads(line))  # anything but a JSON line on stdout fails here
                self._cond.notify_all()

    def wait_for(self, pred, timeout: float = 30) -> dict:
        deadline = time.time() + timeout
        with self._cond:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = deadline - time.time()
                assert left > 0 and self.proc.poll() is None, f"no such event; got {self.events}"
                self._cond.wait(min(left, 0.2))

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        rc = self.proc.wait(timeout)
        err = self.proc.stderr.read()
        time.sleep(0.05)
        return rc, err


def run_to_end(script: str, config: Path) -> tuple[int, list[dict], str]:
    s = Step(script, config)
    rc, err = s.finish()
    return rc, s.events, err


def test_events_outputs_and_prints_kept_off_stdout(tmp_path):
    rc, events, err = run_to_end("word_counts.py", make_config(tmp_path, "word_counts.py", {"column": "text", "min_words": 2}))
    assert rc == 0, err
    assert [e["event"] for e in events] == ["started", "progress", "done"]
    assert events[0]["resumed_from_step"] is None and events[0]["device"] == "cpu"
    assert events[1]["rows"] == 3 and events[1]["step"] == 1
    assert events[2]["metrics"] == {"rows_in": 4.0, "rows_out": 3.0}
    assert "kept 3 rows" in err  # print() went to stderr
    assert pq.read_table(tmp_path / "work-1" / "part-0.parquet").column("words").to_pylist() == [3, 2, 4]


def test_bad_input_exits_2_with_a_named_error(tmp_path):
    rc, events, err = run_to_end("word_counts.py", make_config(tmp_path, "word_counts.py", {"column": "body", "min_words": 1}))
    assert rc == 2, err
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "bad_input"
    assert events[-1]["reason"] == "missing_column" and events[-1]["column"] == "body"
    assert "'body'" in events[-1]["message"]


def test_an_exception_is_a_crash_exit_1(tmp_path):
    rc, events, err = run_to_end("misbehaving.py", make_config(tmp_path, "misbehaving.py", {"mode": "crash"}))
    assert rc == 1
    assert events[-1] == {**events[-1], "event": "error", "kind": "crash", "message": "RuntimeError: boom"}
    assert "Traceback" in err


def test_a_config_that_is_not_the_schema_is_bad_input(tmp_path):
    cfg = make_config(tmp_path, "word_counts.py", {"column": "text", "min_words": 1})
    raw = json.loads(cfg.read_text())
    del raw["work_dir"]
    cfg.write_text(json.dumps(raw))
    rc, events, _ = run_to_end("word_counts.py", cfg)
    assert rc == 2 and "work_dir" in events[-1]["message"]


@pytest.mark.parametrize("how", ["sigterm", "stdin"])
def test_stop_checkpoints_exits_75_and_resumes(tmp_path, how):
    params = {"steps": 12, "checkpoint_every": 4, "sleep_s": 0.1}
    s = Step("counting_trainer.py", make_config(tmp_path, "counting_trainer.py", params, gpu=True))
    s.wait_for(lambda e: e["event"] == "progress" and e["step"] >= 5)
    if how == "sigterm":
        os.killpg(s.proc.pid, signal.SIGTERM)
    else:
        s.proc.stdin.close()  # the runner's death, as the step sees it
    rc, err = s.finish()
    assert rc == 75, err
    cks = [e for e in s.events if e["event"] == "checkpoint"]
    assert cks[0]["step"] == 4 and cks[0]["reason"] == "interval"
    last = cks[-1]
    assert last["reason"] == "preempt" and last["step"] >= 5
    assert Path(last["path"]).name == f"step-{last['step']}" and (Path(last["path"]) / "trainer_state.json").exists()
    assert not any(e["event"] == "done" for e in s.events)

    rc, events, err = run_to_end("counting_trainer.py", make_config(tmp_path, "counting_trainer.py", params, gpu=True,
                                                                    resume_from=last["path"], attempt=2))
    assert rc == 0, err
    assert events[0]["resumed_from_step"] == last["step"]
    assert [e["step"] for e in events if e["event"] == "progress"][0] == last["step"] + 1
    # The running sum of an uninterrupted run: sum(k * 4 rows for k in 1..12).
    assert events[-1]["metrics"]["total"] == 4 * sum(range(1, 13)) and events[-1]["metrics"]["steps"] == 12
    kept = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert kept == ["step-12", "step-8"]  # keep_last 2


def test_a_script_that_never_asks_is_stopped_at_once(tmp_path):
    s = Step("plain_loop.py", make_config(tmp_path, "plain_loop.py", {"steps": 1000}))
    s.wait_for(lambda e: e["event"] == "progress")
    t0 = time.time()
    os.killpg(s.proc.pid, signal.SIGTERM)
    rc, err = s.finish(timeout=10)
    assert rc == 75 and time.time() - t0 < 5, err
    assert not any(e["event"] in ("done", "error") for e in s.events)
