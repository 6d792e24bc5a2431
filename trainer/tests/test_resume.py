"""Exact resume, preemption (SIGTERM, stdin EOF) and torn checkpoints: the guarantees of docs/design.md#the-trainer-protocol."""

import signal

import pytest
import torch

import datagen
from conftest import load_weights, run_inproc

# 240 rows / batch 16 = 15 micro-batches an epoch; grad_accum 2 -> 8 optimizer steps an epoch (the last one a
# single micro-batch), 24 steps in all. Dropout is on, so the torch RNG state matters as much as the weights.
HP = {"epochs": 3, "batch_size": 16, "grad_accum_steps": 2, "learning_rate": 5e-3, "eval_every_steps": 6,
      "early_stopping": {"metric": "accuracy", "mode": "max", "patience": 10}}
TOTAL = 24


def make_cfg(root, features, name):
    d = root / name
    d.mkdir()
    cfg = datagen.run_config(d, features, hparams=HP, checkpoint_every_steps=4, keep_last=2)
    return d, datagen.write_config(d / "run.json", cfg)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    return root, datagen.seq_dataset(root / "features", n_train=240, n_val=64, n_test=16)


@pytest.fixture(scope="module")
def reference(features):
    root, splits = features
    d, cfg_path = make_cfg(root, splits, "reference")
    rc, events = run_inproc(cfg_path)
    assert rc == 0, events
    assert events[-1]["steps"] == TOTAL
    return d, events


def assert_same_weights(a, b):
    wa, wb = load_weights(a), load_weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"tensor {k} differs"


def assert_matches_reference(d, events, reference):
    ref_dir, ref_events = reference
    assert events[-1]["event"] == "done" and events[-1]["steps"] == TOTAL
    assert events[-1]["best_step"] == ref_events[-1]["best_step"]
    assert events[-1]["metrics"] == ref_events[-1]["metrics"]
    assert_same_weights(d / "out" / "model.safetensors", ref_dir / "out" / "model.safetensors")
    assert_same_weights(d / "ckpt" / f"step-{TOTAL}" / "model.safetensors",
                        ref_dir / "ckpt" / f"step-{TOTAL}" / "model.safetensors")


def test_sigkilled_run_resumes_bit_identically(features, reference, child_factory):
    root, splits = features
    d, cfg_path = make_cfg(root, splits, "killed")
    ck = d / "ckpt"

    # 1. SIGKILL in the middle of writing step-12 (after the weights, before the rest): a torn step-12.tmp is
    #    left behind, and the last complete checkpoint is step 8.
    c = child_factory(cfg_path, env={"LAKEFORGE_TRAINER_FAULT": "kill_in_checkpoint:12"})
    assert c.wait() == -signal.SIGKILL
    assert c.events[0]["resumed_from_step"] is None
    assert not any(e["event"] == "done" for e in c.events)
    assert (ck / "step-12.tmp" / "model.safetensors").is_file() and not (ck / "step-12").exists()

    # 3. SIGKILL from outside at whatever moment it lands (slowed down so it lands mid-run).
    c = child_factory(cfg_path, env={"LAKEFORGE_TRAINER_STEP_SLEEP": "0.15"})
    c.wait_for(lambda e: e["event"] == "checkpoint" and e["step"] >= 16)
    c.kill()
    assert c.wait() == -signal.SIGKILL
    assert c.events[0]["resumed_from_step"] == 8  # the torn step-12 was ignored
    assert not (ck / "step-12.tmp").exists()  # ... and cleaned

    # 4. Resume to the end.
    rc, events = run_inproc(cfg_path)
    assert rc == 0, events
    assert events[0]["resumed_from_step"] >= 16
    assert_matches_reference(d, events, reference)
    # keep_last 2, plus the best.
    steps = sorted(int(p.name.split("-")[1]) for p in ck.iterdir())
    assert steps[-2:] == [20, TOTAL] and len(steps) <= 3


def test_sigterm_or_stdin_eof_checkpoints_and_exits_75(features, reference, child_factory):
    root, splits = features
    # Both children start at once so their (slow) imports overlap.
    d_term, cfg_term = make_cfg(root, splits, "sigterm")
    d_eof, cfg_eof = make_cfg(root, splits, "orphan")
    slow = {"LAKEFORGE_TRAINER_STEP_SLEEP": "0.15"}
    term, orphan = child_factory(cfg_term, env=slow), child_factory(cfg_eof, env=slow)

    term.wait_for(lambda e: e["event"] == "checkpoint" and e["step"] >= 4)
    term.proc.send_signal(signal.SIGTERM)
    orphan.wait_for(lambda e: e["event"] == "progress")
    orphan.proc.stdin.close()  # what the parent's death looks like from here

    for c, d, why in ((term, d_term, "SIGTERM"), (orphan, d_eof, "stdin closed")):
        assert c.wait() == 75, c.stderr[-2000:]
        last = c.events[-1]
        assert last["event"] == "checkpoint" and last["reason"] == "preempt"
        assert (d / "ckpt" / f"step-{last['step']}" / "trainer_state.json").is_file()
        assert not any(e["event"] in ("done", "error") for e in c.events)
        assert why in c.stderr

    # The preempted run resumes to exactly the uninterrupted result.
    rc, events = run_inproc(cfg_term)
    assert rc == 0 and events[0]["resumed_from_step"] == term.events[-1]["step"]
    assert_matches_reference(d_term, events, reference)


def test_preempted_before_an_eval_runs_it_on_resume(features, reference, monkeypatch):
    root, splits = features
    d, cfg_path = make_cfg(root, splits, "pending-eval")
    monkeypatch.setenv("LAKEFORGE_TRAINER_FAULT", "stop_after_step:6")  # step 6 is an eval step
    rc, events = run_inproc(cfg_path)
    assert rc == 75
    assert events[-1] == {**events[-1], "event": "checkpoint", "step": 6, "reason": "preempt"}
    assert not any(e["event"] == "eval" for e in events)
    monkeypatch.delenv("LAKEFORGE_TRAINER_FAULT")
    rc, events = run_inproc(cfg_path)
    assert rc == 0
    assert [e["step"] for e in events if e["event"] == "eval"][0] == 6
    assert_matches_reference(d, events, reference)


def test_torn_tmp_is_ignored_by_latest(features, reference):
    root, splits = features
    d, cfg_path = make_cfg(root, splits, "torn")
    ref_dir, ref_events = reference
    import shutil
    shutil.copytree(ref_dir / "ckpt", d / "ckpt")
    # Leave only a complete step-20 (and the best one, which the export needs) and a half-written step-24.tmp.
    for p in (d / "ckpt").iterdir():
        if p.name not in ("step-20", f"step-{ref_events[-1]['best_step']}"):
            shutil.rmtree(p)
    torn = d / "ckpt" / "step-24.tmp"
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"\0" * 100)
    rc, events = run_inproc(cfg_path)
    assert rc == 0 and events[0]["resumed_from_step"] == 20
    assert not torn.exists()
    assert_matches_reference(d, events, reference)
