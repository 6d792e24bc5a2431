"""The end of a training run: the exported model (best checkpoint or final weights), its tokenizer, label map,
training args and metrics, written into output_dir, then the `done` event."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from . import __version__
from .modeling import describe_device

if TYPE_CHECKING:
    from .train import Trainer

log = logging.getLogger("lakeforge_trainer.train")


def export_run(t: Trainer) -> dict:
    cfg = t.cfg
    out = Path(cfg["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    model = t.model
    exported_step = t.step
    best_path = t.ck_dir / f"step-{t.best_step}" / "model.safetensors"
    if t.best_step is not None and t.best_step != t.step and not best_path.is_file():
        log.error("best checkpoint %s is gone; exporting the final weights instead", best_path.parent)
    elif t.best_step is not None and t.best_step != t.step:
        from safetensors.torch import load_model
        load_model(model, str(best_path))
        exported_step = t.best_step
        log.info("exporting the best checkpoint (step %d, %s=%s)", t.best_step, t.best_metric_name, t.best_value)
    if t.hp["lora"] is not None:
        model = model.merge_and_unload()
    model.save_pretrained(str(out), safe_serialization=True)
    t.tokenizer.save_pretrained(str(out))
    label_map = {"task": t.task, "labels": t.labels,
                 "label2id": {n: i for i, n in enumerate(t.labels)}}
    _write_json(out / "label_map.json", label_map)
    _write_json(out / "training_args.json", {
        "config": cfg, "config_hash": t.config_hash, "total_steps": t.total_steps,
        "steps": t.step, "exported_step": exported_step, "device": describe_device(t.device),
        "torch": torch.__version__, "lakeforge_trainer_version": __version__,
    })
    t._sync_loss()
    best_eval = next((e for e in t.eval_history if e["step"] == exported_step), None)
    headline = {}
    if best_eval is not None:
        headline.update({f"val_{k}": v for k, v in best_eval.items() if k != "step"})
    if t.last_train_loss is not None:
        headline["train_loss"] = t.last_train_loss
    trunc = t.train_ds.truncation
    headline["train_truncated_rows"] = trunc["truncated_rows"]
    headline["train_truncated_fraction"] = trunc["truncated_fraction"]
    headline["train_truncated_tokens_mean"] = trunc["dropped_tokens_mean"]  # per truncated row
    metrics = {
        "task": t.task, "steps": t.step, "exported_step": exported_step, "best_step": t.best_step,
        "best_metric": t.best_metric_name, "stopped_early": t.stopped_early,
        "val": best_eval, "eval_history": t.eval_history, "headline": headline,
        "throughput": t.throughput(),
        "truncation": {"train": trunc, "val": t.val_ds.truncation if t.val_ds is not None else None},
    }
    _write_json(out / "metrics.json", metrics)
    t.emit("done", output_dir=str(out), metrics=headline, steps=t.step, best_step=t.best_step,
              stopped_early=t.stopped_early)
    return metrics



def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False))
    os.replace(tmp, path)
