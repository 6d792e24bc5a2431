"""Throughput of lakeforge's training loop against a plain Hugging Face `Trainer`, and the cost of a checkpoint.

Both train the same from-config BERT on the same generated sequence-classification data with the same tokenizer,
hyper-parameters (AdamW, linear warmup/decay, clipping at 1.0), batch size and dynamic padding, on the same device,
in this one process, alternating (and alternating which goes first), `--repeats` times each; the median is
reported.

    .lakeforge/venv/bin/python bench/trainer.py                       # CPU defaults (a few minutes on 2 cores)
    .lakeforge/venv/bin/python bench/trainer.py --results bench/RESULTS.md

Needs the `bench` extra of trainer/pyproject.toml (accelerate, for the HF Trainer).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "trainer" / "tests"))  # datagen: the test data generator

import datagen  # noqa: E402


def gen_rows(n: int, seed: int, min_words: int, max_words: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(datagen.SEQ_LABELS)
        words = [rng.choice(datagen.FILLER) for _ in range(rng.randint(min_words, max_words))]
        words.insert(rng.randrange(len(words) + 1), rng.choice(datagen.CUES[label]))
        rows.append({"row_key": f"b{i}", "text": " ".join(words), "label": label})
    return rows


def model_config(a) -> dict:
    return {"model_type": "bert", "hidden_size": a.hidden, "num_hidden_layers": a.layers,
            "num_attention_heads": a.heads, "intermediate_size": 4 * a.hidden,
            "max_position_embeddings": max(512, a.max_length)}


def run_ours(a, work: Path, split_dir: Path, tok_dir: Path, tag: str, ckpt_every: int | None) -> dict:
    from lakeforge_trainer.cli import main

    d = work / f"ours-{tag}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    cfg = {
        "task": "sequence-classification",
        "model": {"config": model_config(a)},
        "tokenizer": {"type": "pretrained", "name_or_path": str(tok_dir)},
        "data": {"train": str(split_dir), "max_length": a.max_length},
        "labels": datagen.SEQ_LABELS,
        "hparams": {"epochs": a.epochs, "batch_size": a.batch_size, "learning_rate": 1e-3, "weight_decay": 0.01,
                    "warmup_ratio": 0.1, "max_grad_norm": 1.0},
        "checkpoint_dir": str(d / "ckpt"), "checkpoint_every_steps": ckpt_every, "keep_last": 2,
        "output_dir": str(d / "out"), "seed": 0, "deterministic": False, "progress_every_seconds": 30,
    }
    (d / "run.json").write_text(json.dumps(cfg))
    buf = io.StringIO()
    rc = main(["train", "--config", str(d / "run.json")], stream=buf)
    assert rc == 0, buf.getvalue()
    events = [json.loads(x) for x in buf.getvalue().splitlines()]
    tp = json.loads((d / "out" / "metrics.json").read_text())["throughput"]
    ckpts = [e for e in events if e["event"] == "checkpoint"]
    shutil.rmtree(d, ignore_errors=True)
    # The loop's own speed: the final checkpoint (HF saves nothing here) is measured separately below.
    loop_s = tp["seconds"] - tp["checkpoint_seconds"]
    return {**tp, "loop_seconds": loop_s, "samples_per_s": tp["samples"] / loop_s, "tokens_per_s": tp["tokens"] / loop_s,
            "checkpoints": len(ckpts), "checkpoint_each_s": [e["seconds"] for e in ckpts]}


def run_hf(a, work: Path, rows: list[dict], tokenizer, device: str) -> dict:
    import torch
    from transformers import (AutoConfig, AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    kwargs = model_config(a)
    conf = AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
    conf.vocab_size, conf.pad_token_id, conf.num_labels = len(tokenizer), tokenizer.pad_token_id, 3
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(conf)
    enc = tokenizer([r["text"] for r in rows], truncation=True, max_length=a.max_length)
    label2id = {n: i for i, n in enumerate(datagen.SEQ_LABELS)}
    ds = [{"input_ids": ids, "attention_mask": m, "labels": label2id[r["label"]]}
          for ids, m, r in zip(enc["input_ids"], enc["attention_mask"], rows)]
    tokens = a.epochs * sum(len(x["input_ids"]) for x in ds)
    steps = a.epochs * math.ceil(len(ds) / a.batch_size)  # the same warmup as ours: ceil(warmup_ratio * steps)
    args = TrainingArguments(
        output_dir=str(work / "hf"), per_device_train_batch_size=a.batch_size, num_train_epochs=a.epochs,
        learning_rate=1e-3, weight_decay=0.01, warmup_steps=math.ceil(0.1 * steps), max_grad_norm=1.0, lr_scheduler_type="linear",
        save_strategy="no", eval_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, dataloader_pin_memory=False, seed=0, use_cpu=(device == "cpu"),
    )
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=DataCollatorWithPadding(tokenizer))
    out = trainer.train()
    secs = out.metrics["train_runtime"]
    shutil.rmtree(work / "hf", ignore_errors=True)
    return {"seconds": secs, "samples_per_s": len(ds) * a.epochs / secs, "tokens_per_s": tokens / secs,
            "steps": out.global_step}


def update_results(path: Path, section: str) -> None:
    """Replaces only the `## Trainer` section (other people own the other sections)."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^## Trainer\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--min-words", type=int, default=20)
    p.add_argument("--max-words", type=int, default=90)
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (0: torch's default); 1 is fastest for small models on a shared 2-core box")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ckpt-every", type=int, default=8, help="checkpoint interval (steps) for the checkpoint-cost run")
    p.add_argument("--work", default=str(ROOT / "bench" / "out" / "trainer"))
    p.add_argument("--results", default=None, help="update the '## Trainer' section of this markdown file")
    a = p.parse_args()

    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    from lakeforge_trainer.modeling import describe_device, pick_device, train_wordpiece

    device = describe_device(pick_device())
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = gen_rows(a.rows, 0, a.min_words, a.max_words)
    split_dir = datagen.write_split(work / "features", "train", rows, parts=2)
    tokenizer = train_wordpiece([r["text"] for r in rows], 500, True)
    tok_dir = work / "tokenizer"
    tokenizer.save_pretrained(str(tok_dir))
    lengths = [len(x) for x in tokenizer([r["text"] for r in rows], truncation=True, max_length=a.max_length)["input_ids"]]

    ours, hf = [], []
    hf_device = "cuda" if device.startswith("cuda") else "cpu"
    for i in range(a.repeats):
        # Alternate which loop goes first, so drift in the machine's load does not favour either.
        if i % 2 == 0:
            ours.append(run_ours(a, work, split_dir, tok_dir, f"r{i}", None))
            hf.append(run_hf(a, work, rows, tokenizer, hf_device))
        else:
            hf.append(run_hf(a, work, rows, tokenizer, hf_device))
            ours.append(run_ours(a, work, split_dir, tok_dir, f"r{i}", None))
        print(f"repeat {i}: ours {ours[-1]['samples_per_s']:.1f} samples/s, HF Trainer {hf[-1]['samples_per_s']:.1f}",
              file=sys.stderr)
    ck = run_ours(a, work, split_dir, tok_dir, "ckpt", a.ckpt_every)

    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    step_s = (ck["seconds"] - ck["checkpoint_seconds"]) / ck["steps"]
    ck_each = statistics.median(ck["checkpoint_each_s"]) if ck["checkpoint_each_s"] else float("nan")
    result = {
        "device": device, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": platform.python_version(), "rows": a.rows, "epochs": a.epochs, "batch_size": a.batch_size,
        "model": model_config(a), "mean_tokens_per_row": sum(lengths) / len(lengths),
        "ours_samples_per_s": med(ours, "samples_per_s"), "ours_tokens_per_s": med(ours, "tokens_per_s"),
        "hf_samples_per_s": med(hf, "samples_per_s"), "hf_tokens_per_s": med(hf, "tokens_per_s"),
        "ratio_samples": med(ours, "samples_per_s") / med(hf, "samples_per_s"),
        "ours_runs": [round(x["samples_per_s"], 2) for x in ours], "hf_runs": [round(x["samples_per_s"], 2) for x in hf],
        "step_s": step_s, "checkpoint_s": ck_each, "checkpoint_over_step": ck_each / step_s,
        "ckpt_every": a.ckpt_every, "checkpoint_overhead_at_interval": ck["checkpoint_seconds"] / (ck["seconds"] - ck["checkpoint_seconds"]),
        "checkpoints": ck["checkpoints"],
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores (1, 5, 15 min)",
    }
    print(json.dumps(result, indent=2))
    if a.results:
        cmd = "python bench/trainer.py " + " ".join(sys.argv[1:])
        section = render(result, cmd)
        update_results(Path(a.results), section)
    shutil.rmtree(work, ignore_errors=True)


def render(r: dict, cmd: str) -> str:
    m = r["model"]
    return f"""## Trainer

Command: `.lakeforge/venv/bin/{cmd}` (run {time.strftime('%Y-%m-%d')}).

Device: **{r['device']}** ({r['torch_threads']} torch threads), torch {r['torch']}. No GPU was available to this
session, so there are no GPU or MFU figures yet; on a GPU the same command runs there unchanged (bf16 is off in
both loops here, as it only applies on CUDA).

Workload: from-config BERT (hidden {m['hidden_size']}, {m['num_hidden_layers']} layers, {m['num_attention_heads']} heads),
{r['rows']} generated rows x {r['epochs']} epoch(s), batch {r['batch_size']}, dynamic padding, mean {r['mean_tokens_per_row']:.1f}
tokens a row (max 128). Both loops: AdamW, linear warmup/decay, clipping at 1.0, the same tokenizer and data;
median of {len(r['ours_runs'])} alternating runs each. Load average while it ran: {r['load']}.

Our figures exclude the time spent writing the final checkpoint, which the HF run does not write; the cost of
checkpoints is given separately below.

| Loop | samples/s | tokens/s (non-pad) |
| --- | ---: | ---: |
| lakeforge_trainer | {r['ours_samples_per_s']:.1f} | {r['ours_tokens_per_s']:.0f} |
| HF `Trainer` | {r['hf_samples_per_s']:.1f} | {r['hf_tokens_per_s']:.0f} |
| **ratio (ours / HF)** | **{r['ratio_samples']:.2f}** | |

Runs (samples/s): ours {r['ours_runs']}, HF {r['hf_runs']}.

Checkpoint cost (weights + optimizer + scheduler + RNG + tokenizer, fsynced, renamed):
one checkpoint takes {r['checkpoint_s'] * 1000:.0f} ms against {r['step_s'] * 1000:.0f} ms a step
(**{r['checkpoint_over_step'] * 100:.0f}% of one step**); checkpointing every {r['ckpt_every']} steps costs
**{r['checkpoint_overhead_at_interval'] * 100:.1f}%** of training time ({r['checkpoints']} checkpoints).

"""


if __name__ == "__main__":
    main()
