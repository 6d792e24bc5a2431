"""Data-parallel training: 1 process against N ranks under lakeforge_trainer.launch (torch.distributed.run).

Three launches of the same run.json (same global batch and seed), alternated `--repeats` times:
  plain    python -m lakeforge_trainer train                       (what a 1-GPU step runs)
  launch1  python -m lakeforge_trainer.launch --nproc-per-node 1   (the launcher's own cost)
  launchN  python -m lakeforge_trainer.launch --nproc-per-node N   (N ranks: gloo on CPU, NCCL on GPU)
It reports wall time, time to the `started` event, the training loop's samples/s (metrics.json, global over ranks),
and correctness: the largest step-loss and final-weight differences of launchN against plain (dropout off).

    .lakeforge/venv/bin/python bench/distributed.py --results bench/RESULTS.md          # CPU, 2 gloo ranks
    # on a machine with >= 2 GPUs (BERT-base-sized, bf16):
    .lakeforge/venv/bin/python bench/distributed.py --nproc 2 --rows 16384 --hidden 768 --layers 12 --heads 12 \
        --batch-size 64 --bf16 --threads 8 --results bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "trainer" / "tests"))
import datagen  # noqa: E402


def make_config(a, work: Path, splits: dict, name: str) -> Path:
    d = work / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    cfg = datagen.run_config(d, splits, hparams={
        "epochs": a.epochs, "batch_size": a.batch_size, "grad_accum_steps": 1, "learning_rate": 1e-3,
        "warmup_ratio": 0.1, "bf16": a.bf16}, checkpoint_every_steps=None, checkpoint_every_seconds=None,
        progress_every_seconds=1e-6, resume_from=None)
    cfg["model"] = {"config": {"model_type": "bert", "hidden_size": a.hidden, "num_hidden_layers": a.layers,
                               "num_attention_heads": a.heads, "intermediate_size": 4 * a.hidden,
                               "max_position_embeddings": 512, "hidden_dropout_prob": 0.0,
                               "attention_probs_dropout_prob": 0.0}}
    cfg["tokenizer"] = {"type": "train-wordpiece", "vocab_size": 2000, "lowercase": True}
    cfg["data"]["max_length"] = a.max_length
    cfg["data"]["val"] = None
    return datagen.write_config(d / "run.json", cfg)


def launch(kind: str, cfg: Path, a) -> dict:
    py = [sys.executable, "-m"]
    if kind == "plain":
        argv = [*py, "lakeforge_trainer", "train", "--config", str(cfg)]
    else:
        n = "1" if kind == "launch1" else str(a.nproc)
        argv = [*py, "lakeforge_trainer.launch", "--nproc-per-node", n, "--standalone", "--monitor-interval", "0.1",
                "-m", "lakeforge_trainer", "train", "--config", str(cfg)]
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "PYTHONPATH": str(ROOT / "trainer"),
           "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env=env, start_new_session=True)
    events, t_started = [], None
    for line in p.stdout:
        e = json.loads(line)
        if e["event"] == "started":
            t_started = time.monotonic() - t0
        events.append(e)
    rc = p.wait()
    wall = time.monotonic() - t0
    if rc != 0:
        raise SystemExit(f"{kind} exited {rc}")
    thr = json.loads((cfg.parent / "out" / "metrics.json").read_text())["throughput"]
    return {"kind": kind, "wall_s": wall, "started_s": t_started, "samples_per_s": thr["samples_per_s"],
            "tokens_per_s": thr["tokens_per_s"], "tokens_per_row": thr["tokens"] / max(thr["samples"], 1),
            "loop_s": thr["seconds"], "losses": {e["step"]: e["loss"] for e in events if e["event"] == "progress"},
            "steps": events[-1]["steps"], "device": events[0]["device"], "out": cfg.parent / "out"}


def weight_diff(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--rows", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32, help="the global batch (split over the ranks)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="OMP threads per process")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=989.0,
                   help="the accelerator's dense bf16 peak per GPU, for MFU (989: H100/H200 SXM)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--work", default=str(ROOT / "bench" / "out" / "distributed"))
    p.add_argument("--results", default=None)
    a = p.parse_args()
    work = Path(a.work)
    splits = datagen.seq_dataset(work / "features", n_train=a.rows, n_val=0, n_test=0)
    kinds = ["plain", "launch1", "launchN"]
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for r in range(a.repeats):
        for k in (kinds if r % 2 == 0 else kinds[::-1]):
            runs[k].append(launch(k, make_config(a, work, splits, f"{k}-{r}"), a))
            print(k, {x: round(v, 3) for x, v in runs[k][-1].items() if isinstance(v, float)}, file=sys.stderr)
    med = {k: {m: statistics.median(x[m] for x in runs[k])
               for m in ("wall_s", "started_s", "samples_per_s", "tokens_per_s", "loop_s")}
           for k in kinds}
    ref, dist = runs["plain"][0], runs["launchN"][0]
    loss_diff = max(abs(ref["losses"][s] - dist["losses"][s]) for s in ref["losses"])
    w_diff = weight_diff(ref["out"], dist["out"])
    assert ref["steps"] == dist["steps"], (ref["steps"], dist["steps"])
    section = render(a, med, ref, loss_diff, w_diff, runs)
    print(section)
    if a.results:
        path = Path(a.results)
        text = path.read_text()
        head = "## Distributed training"
        pat = re.compile(rf"{re.escape(head)}.*?(?=\n## |\Z)", re.S)
        text = pat.sub(section.rstrip() + "\n", text) if pat.search(text) else text.rstrip() + "\n\n" + section
        path.write_text(text)


def render(a, med, ref, loss_diff, w_diff, runs) -> str:
    import torch

    n = a.nproc
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = [("plain (1 process)", "plain"), ("launcher, 1 rank", "launch1"), (f"launcher, {n} ranks", "launchN")]
    table = "\n".join(f"| {label} | {med[k]['wall_s']:.1f} | {med[k]['started_s']:.1f} | {med[k]['loop_s']:.1f} | "
                      f"{med[k]['samples_per_s']:.1f} |" for label, k in rows)
    speed = med["launchN"]["samples_per_s"] / med["plain"]["samples_per_s"]
    mfu = ""
    if "cuda" in ref["device"]:
        # PaLM's accounting: 6 FLOPs per parameter per token, plus attention's 12·layers·hidden·sequence.
        from safetensors.torch import load_file

        n_params = sum(t.numel() for t in load_file(str(ref["out"] / "model.safetensors")).values())
        per_tok = 6 * n_params + 12 * a.layers * a.hidden * ref["tokens_per_row"]
        mfu = "\n".join(f"- MFU {label}: **{100 * med[k]['tokens_per_s'] * per_tok / (gpus * a.peak_tflops * 1e12):.1f}%**"
                        for label, k, gpus in (("1 GPU", "plain", 1), (f"{n} GPUs", "launchN", n))) + "\n"
    gpu_note = ("" if "cuda" in ref["device"] else
                "No GPU was available to this session: these are CPU/gloo figures. The GPU command is in the docstring "
                "of bench/distributed.py (it needs a machine with at least 2 GPUs).\n\n")
    return f"""## Distributed training

Command: `.lakeforge/venv/bin/python bench/distributed.py --nproc {n} --repeats {a.repeats} --results bench/RESULTS.md`
(run {time.strftime('%Y-%m-%d')}). Device: **{ref['device']}**, {a.threads} thread(s) per process, torch
{torch.__version__}, {platform.machine()}, {os.cpu_count()} cores; load average at the end {load} (1, 5, 15 min).

{gpu_note}Workload: from-config BERT (hidden {a.hidden}, {a.layers} layers, {a.heads} heads), {a.rows} rows × {a.epochs}
epoch(s), global batch {a.batch_size} ({a.batch_size // n} rows per rank per step with {n} ranks), {ref['steps']}
optimizer steps, dropout off; median of {a.repeats} alternating runs. Wall = spawn to exit; started = spawn to the
`started` event (imports, tokenizer, rendezvous, model); loop = the training loop alone (metrics.json).

| Launch | wall s | started s | loop s | samples/s (loop, all ranks) |
| --- | ---: | ---: | ---: | ---: |
{table}

- **Correctness**: {n} ranks against 1 process, the same {ref['steps']} steps: largest step-loss difference
  **{loss_diff:.2e}**, largest final-weight difference **{w_diff:.2e}** (reduction order only).
- **Launcher overhead**: the launcher with 1 rank costs {med['launch1']['wall_s'] - med['plain']['wall_s']:+.1f} s of
  wall time over the plain process (torch.distributed.run's agent and rendezvous, a second interpreter).
- **{n} ranks**: {speed:.2f}× the loop throughput of one process. On a shared 2-core machine two ranks fight other jobs
  for the cores and a tiny model is all-reduce-bound, so read this as a check that nothing serializes, not as scaling.

{mfu}
Runs (loop samples/s): {', '.join(f"{k} {[round(x['samples_per_s'], 1) for x in runs[k]]}" for k in runs)}.
Runs (wall s): {', '.join(f"{k} {[round(x['wall_s'], 1) for x in runs[k]]}" for k in runs)}. Under a high load average
the spread between runs of one launch is as large as the differences between launches.
"""


if __name__ == "__main__":
    main()
