"""Data-parallel training: 2 gloo ranks on CPU under lakeforge_trainer.launch (torch.distributed.run) against 1 process.

Tolerance: the two runs optimize the same objective on the same rows (the gradient is the same mean); only the order of
the floating-point reductions differs (per-rank sums, then gloo's all-reduce). Step losses agree to LOSS_ATOL and final
weights to WEIGHT_ATOL. Dropout is off: two ranks cannot draw one process's dropout masks.
"""

import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

import datagen
from conftest import load_weights, run_inproc
from lakeforge_trainer.distributed import plan_batches
from lakeforge_trainer.errors import BadInput

LOSS_ATOL = 1e-5
WEIGHT_ATOL = 1e-4
# 232 rows, global batch 16 × 2 = 32: 8 steps an epoch, the last of 8 rows only (one micro-batch: rank 1 sits it
# out with a zero-weight pass). 2 epochs = 16 steps.
HP = {"epochs": 2, "batch_size": 16, "grad_accum_steps": 2, "learning_rate": 5e-3, "eval_every_steps": 6}
TOTAL = 16
TWO = ["--nproc-per-node", "2", "--standalone", "--monitor-interval", "0.1"]


def make_cfg(root: Path, splits, name: str, **hp):
    d = root / name
    d.mkdir()
    cfg = datagen.run_config(d, splits, hparams={**HP, **hp}, checkpoint_every_steps=4, keep_last=3,
                             progress_every_seconds=1e-6)
    cfg["model"]["config"].update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return d, datagen.write_config(d / "run.json", cfg)


def losses(events):
    return {e["step"]: e["loss"] for e in events if e["event"] == "progress"}


def pids_alive(pids) -> list[int]:
    alive = []
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(p)
        except FileNotFoundError:
            pass
    return alive


def ranks_of(launcher_pid: int) -> dict[int, int]:
    """{rank: pid} of the launcher's worker processes, read from /proc."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != launcher_pid:
                continue
            env = dict(x.split("=", 1) for x in (d / "environ").read_bytes().decode().split("\0") if "=" in x)
        except (OSError, ValueError):
            continue
        if "RANK" in env:
            out[int(env["RANK"])] = int(d.name)
    return out


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    return root, datagen.seq_dataset(root / "features", n_train=232, n_val=48, n_test=16)


@pytest.fixture(scope="module")
def two_ranks(features):
    """The uninterrupted 2-rank run every other run is held to."""
    from conftest import Child

    root, splits = features
    d, cfg = make_cfg(root, splits, "two")
    c = Child(cfg, launcher=TWO)
    rc = c.wait(timeout=300)
    assert rc == 0, c.stderr[-3000:]
    return d, c.events


def test_two_gloo_ranks_match_one_process(features, two_ranks):
    root, splits = features
    d1, cfg1 = make_cfg(root, splits, "one")
    rc, ev1 = run_inproc(cfg1)
    assert rc == 0, ev1
    d2, ev2 = two_ranks
    # Rank 0 alone speaks: one started, one done, and every line was a schema-valid event (Child parses them all).
    assert [e["event"] for e in ev2].count("started") == 1 and [e["event"] for e in ev2].count("done") == 1
    assert ev2[0]["world_size"] == 2 and ev1[0]["world_size"] == 1
    assert ev1[-1]["steps"] == ev2[-1]["steps"] == TOTAL
    l1, l2 = losses(ev1), losses(ev2)
    assert sorted(l1) == sorted(l2) == list(range(1, TOTAL + 1))
    worst = max(abs(l1[s] - l2[s]) for s in l1)
    assert worst < LOSS_ATOL, f"largest step loss difference {worst}"
    w1, w2 = load_weights(d1 / "out" / "model.safetensors"), load_weights(d2 / "out" / "model.safetensors")
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=WEIGHT_ATOL), k
    # The checkpoint carries rank 1's RNG stream and the sampler's position.
    ck = d2 / "ckpt" / f"step-{TOTAL}"
    assert (ck / "rng.pt").is_file() and (ck / "rng-rank-1.pt").is_file()
    import json
    st = json.loads((ck / "trainer_state.json").read_text())
    assert st["sampler"]["world_size"] == 2 and st["sampler"]["epoch"] == 2 and st["sampler"]["batch_in_epoch"] == 0


def assert_same_as(d: Path, ref: Path):
    wa, wb = load_weights(d / "out" / "model.safetensors"), load_weights(ref / "out" / "model.safetensors")
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"tensor {k} differs from the uninterrupted 2-rank run"


def test_sigkill_of_one_rank_ends_the_group_and_the_retry_resumes(features, two_ranks, child_factory):
    root, splits = features
    d, cfg = make_cfg(root, splits, "killed")
    c = child_factory(cfg, launcher=TWO, env={"LAKEFORGE_TRAINER_STEP_SLEEP": "0.3"})
    c.wait_for(lambda e: e["event"] == "checkpoint" and e["step"] >= 8, timeout=240)
    ranks = ranks_of(c.proc.pid)
    assert sorted(ranks) == [0, 1], ranks
    t0 = time.monotonic()
    os.kill(ranks[1], signal.SIGKILL)
    rc = c.wait(timeout=60)
    gone = time.monotonic() - t0
    assert rc not in (0, 2, 75), rc  # a crash: retryable
    assert not pids_alive([c.proc.pid, *ranks.values()])
    assert gone < 15, f"the group took {gone:.1f}s to go"
    print(f"[measure] group gone {gone:.2f}s after the kill", file=sys.stderr)
    assert not any(e["event"] == "done" for e in c.events)

    retry = child_factory(cfg, launcher=TWO)
    assert retry.wait(timeout=300) == 0, retry.stderr[-3000:]
    assert retry.events[0]["resumed_from_step"] >= 8
    assert retry.events[-1]["event"] == "done" and retry.events[-1]["steps"] == TOTAL
    assert_same_as(d, two_ranks[0])


def test_sigterm_to_the_launcher_checkpoints_on_rank_0_and_exits_75(features, two_ranks, child_factory):
    root, splits = features
    d, cfg = make_cfg(root, splits, "sigterm")
    c = child_factory(cfg, launcher=TWO, env={"LAKEFORGE_TRAINER_STEP_SLEEP": "0.3"})
    c.wait_for(lambda e: e["event"] == "checkpoint" and e["step"] >= 4, timeout=240)
    ranks = ranks_of(c.proc.pid)
    c.proc.send_signal(signal.SIGTERM)  # the launcher only: it forwards the stop to its ranks
    assert c.wait(timeout=90) == 75, c.stderr[-3000:]
    assert not pids_alive(ranks.values())
    last = c.events[-1]
    assert last["event"] == "checkpoint" and last["reason"] == "preempt"
    ck = d / "ckpt" / f"step-{last['step']}"
    assert (ck / "trainer_state.json").is_file() and (ck / "rng-rank-1.pt").is_file()

    # The checkpoint's position is world-size independent: one process can take it over too (same rows; weights
    # equal up to reduction order, as one process and two ranks are).
    import shutil
    d1 = root / "sigterm-then-one-process"
    shutil.copytree(d, d1)
    cfg1 = d1 / "run.json"
    cfg1.write_text(cfg.read_text().replace(str(d), str(d1)))
    resumed = child_factory(cfg, launcher=TWO)
    assert resumed.wait(timeout=300) == 0, resumed.stderr[-3000:]
    assert resumed.events[0]["resumed_from_step"] == last["step"]
    assert resumed.events[-1]["steps"] == TOTAL
    assert_same_as(d, two_ranks[0])

    rc, ev = run_inproc(cfg1)
    assert rc == 0 and ev[0]["world_size"] == 1 and ev[0]["resumed_from_step"] == last["step"], ev[-1]
    assert ev[-1]["steps"] == TOTAL
    w1, w2 = load_weights(d1 / "out" / "model.safetensors"), load_weights(two_ranks[0] / "out" / "model.safetensors")
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=WEIGHT_ATOL), k


def test_token_task_two_ranks_match_one_process(tmp_path, child_factory):
    # Token tasks weight each labeled token by its one-process micro-batch's token count: rows of unequal length.
    splits = datagen.ner_dataset(tmp_path / "features", n_train=120, n_val=0, n_test=0)
    runs = {}
    for name in ("one", "two"):
        d = tmp_path / name
        d.mkdir()
        c = datagen.run_config(d, {"train": splits["train"]}, task="token-classification", checkpoint_every_steps=None,
                               progress_every_seconds=1e-6,
                               hparams={"epochs": 1, "batch_size": 12, "grad_accum_steps": 2, "learning_rate": 5e-3})
        c["model"]["config"].update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        runs[name] = (d, datagen.write_config(d / "run.json", c))
    rc, ev1 = run_inproc(runs["one"][1])
    assert rc == 0, ev1
    two = child_factory(runs["two"][1], launcher=TWO)
    assert two.wait(timeout=300) == 0, two.stderr[-3000:]
    l1, l2 = losses(ev1), losses(two.events)
    assert sorted(l1) == sorted(l2) and len(l1) == 5  # 120 rows / 24 a step
    worst = max(abs(l1[s] - l2[s]) for s in l1)
    assert worst < LOSS_ATOL, f"largest step loss difference {worst}"


@pytest.mark.parametrize("hp, field", [
    ({"batch_size": 15}, "hparams.batch_size"),
    ({"batch_size": 16, "grad_accum_steps": 1, "micro_batch_size": 5}, "hparams.micro_batch_size"),
])
def test_a_batch_that_does_not_divide_is_bad_input(features, child_factory, hp, field):
    root, splits = features
    d, cfg = make_cfg(root, splits, f"bad-{field}-{hp['batch_size']}", **hp)
    c = child_factory(cfg, launcher=TWO)
    assert c.wait(timeout=120) == 2, c.stderr[-3000:]
    errs = [e for e in c.events if e["event"] == "error"]
    assert len(errs) == 1 and errs[0]["kind"] == "bad_input" and errs[0]["reason"] == "config"
    assert field in errs[0]["message"] and "world_size 2" in errs[0]["message"]


def test_batch_plan():
    hp = {"batch_size": 16, "grad_accum_steps": 2, "micro_batch_size": None}
    p = plan_batches(hp, 2)
    assert (p.micro_batch_size, p.rank_accum_steps, p.global_batch) == (8, 2, 32)
    assert plan_batches(hp, 1).legacy
    p = plan_batches({**hp, "micro_batch_size": 4}, 4)
    assert (p.micro_batch_size, p.rank_accum_steps) == (4, 2)
    with pytest.raises(BadInput, match="hparams.batch_size 16 is not divisible by world_size 3"):
        plan_batches(hp, 3)
    with pytest.raises(BadInput, match="not divisible by world_size 2 × hparams.micro_batch_size 3"):
        plan_batches({**hp, "micro_batch_size": 3}, 2)
