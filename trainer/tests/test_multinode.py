"""Two "nodes" on loopback: two launcher processes, one CPU rank each, forming one 2-rank gloo group through torch's
c10d rendezvous on an address the first one hosts (docs/distributed-training.md). Killing one node's process group
takes the other down within seconds; relaunching both resumes from the checkpoint to the exact step count."""

import os
import signal
import sys
import socket
import time
import uuid

from test_distributed import TOTAL, make_cfg, pids_alive, ranks_of, features  # noqa: F401 - the module fixture


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_args(endpoint: str, run_id: str, host: bool) -> list[str]:
    # is_host: the first worker hosts the rendezvous store at the address it published; the other only connects.
    return ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
            "--rdzv-id", run_id, "--rdzv-conf", f"is_host={'1' if host else '0'}", "--max-restarts", "0",
            "--monitor-interval", "0.1"]


def start_group(cfg, child_factory, env=None):
    endpoint, run_id = f"127.0.0.1:{free_port()}", f"lf-{uuid.uuid4().hex[:8]}"
    return [child_factory(cfg, launcher=node_args(endpoint, run_id, host=i == 0), env=env) for i in range(2)]


def test_two_loopback_nodes_form_one_group_and_die_together(features, child_factory):  # noqa: F811
    root, splits = features
    d, cfg = make_cfg(root, splits, "two-nodes")
    nodes = start_group(cfg, child_factory, env={"LAKEFORGE_TRAINER_STEP_SLEEP": "0.3"})
    # Whichever node's rank became global rank 0 speaks; the other stays silent.
    deadline = time.monotonic() + 240
    speaker = None
    while speaker is None and time.monotonic() < deadline:
        for n in nodes:
            if any(e["event"] == "checkpoint" and e["step"] >= 4 for e in n.events):
                speaker = n
        time.sleep(0.1)
    assert speaker is not None, [n.stderr[-2000:] for n in nodes]
    assert speaker.events[0]["world_size"] == 2
    other = nodes[1] if speaker is nodes[0] else nodes[0]
    assert other.events == []
    ranks = {**ranks_of(nodes[0].proc.pid), **ranks_of(nodes[1].proc.pid)}
    assert sorted(ranks) == [0, 1], ranks

    t0 = time.monotonic()
    os.killpg(other.proc.pid, signal.SIGKILL)  # a node dies: its launcher's group, and with it (PDEATHSIG) its rank
    rc = speaker.wait(timeout=60)
    gone = time.monotonic() - t0
    assert rc not in (0, 2, 75), rc
    assert not pids_alive([n.proc.pid for n in nodes] + list(ranks.values()))
    assert gone < 20, f"the surviving node took {gone:.1f}s to go"
    print(f"[measure] group gone {gone:.2f}s after the kill", file=sys.stderr)
    last_ck = max(e["step"] for e in speaker.events if e["event"] == "checkpoint")

    again = start_group(cfg, child_factory)
    for n in again:
        assert n.wait(timeout=300) == 0, n.stderr[-3000:]
    events = [e for n in again for e in n.events]
    started = [e for e in events if e["event"] == "started"]
    assert len(started) == 1 and started[0]["world_size"] == 2 and started[0]["resumed_from_step"] >= last_ck
    done = [e for e in events if e["event"] == "done"]
    assert len(done) == 1 and done[0]["steps"] == TOTAL
