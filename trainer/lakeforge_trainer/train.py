"""The training loop: plain PyTorch, so every piece of state that decides the next step is ours to checkpoint."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .checkpoint import clear_checkpoints, load_checkpoint, prune, read_state, resolve_resume, rng_state, save_checkpoint, _fault
from .config import SEQ, config_hash
from .data import IGNORE_INDEX, collate, encode, epoch_order
from .dist_step import rank_backward
from .distributed import DistContext, DistributedStepSampler, plan_batches, rank_seed, row_weights, world_from_env
from .splits import read_train_inputs
from .errors import BadInput, Preempted
from .events import Emitter
from .lifecycle import Lifecycle
from .predict import autocast_for, eval_metrics, predict
from .modeling import build_model, describe_device, load_pretrained_tokenizer, train_wordpiece, wrap_lora

log = logging.getLogger("lakeforge_trainer.train")


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def make_optimizer(model, hp: dict) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # Standard BERT recipe: no weight decay on biases and LayerNorm weights.
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": hp["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        # The fused kernel (CUDA, and CPU in recent torch) is what HF Trainer uses too: one kernel, no per-tensor loop.
        return torch.optim.AdamW(groups, lr=hp["learning_rate"], fused=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        log.info("fused AdamW unavailable (%s); using the foreach implementation", exc)
        return torch.optim.AdamW(groups, lr=hp["learning_rate"], foreach=True)


def make_scheduler(optimizer, total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# --------------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------------

class Trainer:
    def __init__(self, cfg: dict, emitter: Emitter, lifecycle: Lifecycle, inputs=None):
        self.cfg = cfg
        self.inputs = inputs
        self.hp = cfg["hparams"]
        self.task = cfg["task"]
        self.labels = cfg["labels"]
        self.emit = emitter.emit
        self.life = lifecycle
        if not cfg["checkpoint_dir"]:
            raise BadInput("train needs checkpoint_dir", reason="config")
        self.ck_dir = Path(cfg["checkpoint_dir"])
        es = self.hp["early_stopping"]
        self.best_metric_name = es["metric"] if es else "loss"
        self.best_mode = es["mode"] if es else "min"
        self.step_sleep = float(os.environ.get("LAKEFORGE_TRAINER_STEP_SLEEP", "0") or 0)  # tests only

    # -- setup ---------------------------------------------------------------------------------
    def setup(self) -> None:
        cfg, hp = self.cfg, self.hp
        seed_everything(cfg["seed"], cfg["deterministic"])
        world, rank, local_rank = world_from_env()
        self.plan = plan_batches(hp, world)
        self.dist = DistContext(world, rank, local_rank)
        self.device = self.dist.device
        dcfg = cfg["data"]
        self.train_raw, self.val_raw = self.inputs or read_train_inputs(cfg)
        fingerprint = {"train": self.train_raw.fingerprint(), "val": self.val_raw.fingerprint() if self.val_raw else None}
        self.config_hash = config_hash(cfg, fingerprint)

        # Rank 0 alone reads and cleans the checkpoint directory; the others resume from the checkpoint it chose.
        self.resume_path = None
        if self.dist.is_main:
            self.resume_path = resolve_resume(cfg["resume_from"], self.ck_dir)
            if self.resume_path is None and cfg["resume_from"] is None:
                clear_checkpoints(self.ck_dir)
        chosen = self.dist.broadcast(str(self.resume_path) if self.resume_path else None)
        if chosen is not None and not self.dist.is_main:
            self.resume_path = Path(chosen) if Path(chosen).is_dir() else self.ck_dir / Path(chosen).name
            if not (self.resume_path / "trainer_state.json").is_file():
                raise RuntimeError(f"rank {self.dist.rank}: checkpoint {self.resume_path} (chosen by rank 0) is not here")
        self.state = None
        if self.resume_path is not None:
            self.state = read_state(self.resume_path)
            if self.state.get("config_hash") != self.config_hash:
                raise BadInput(
                    f"checkpoint {self.resume_path} was written by a run with a different config "
                    f"(hash {self.state.get('config_hash')} != {self.config_hash}); refusing to mix them",
                    reason="config_mismatch", file=str(self.resume_path))

        tspec = cfg["tokenizer"]
        if self.resume_path is not None:
            self.tokenizer = load_pretrained_tokenizer(str(self.resume_path / "tokenizer"))  # the same vocab
        elif tspec["type"] == "pretrained":
            self.tokenizer = load_pretrained_tokenizer(tspec["name_or_path"])
        else:
            corpus = self.train_raw.texts if self.task == SEQ else [" ".join(t) for t in self.train_raw.tokens]
            self.tokenizer = train_wordpiece(corpus, tspec["vocab_size"], tspec["lowercase"])
        if self.tokenizer.pad_token_id is None:
            raise BadInput("the tokenizer has no pad token", reason="config")
        self.pad_id = self.tokenizer.pad_token_id
        L = dcfg["max_length"]
        cut = {"truncation": dcfg["truncation"], "head_tokens": dcfg["head_tokens"]}
        self.train_ds = encode(self.train_raw, self.tokenizer, self.task, L, **cut)
        self.val_ds = encode(self.val_raw, self.tokenizer, self.task, L, **cut) if self.val_raw else None

        # Model init draws from the torch RNG: seeded above, so a fresh start is reproducible.
        self.model = build_model(cfg, self.tokenizer, self.labels)
        if hp["lora"] is not None:
            self.model = wrap_lora(self.model, hp["lora"], self.task)
        self.model.to(self.device)
        self.label_counts = None if self.task == SEQ else [int((x != IGNORE_INDEX).sum()) for x in self.train_ds.labels]
        # Every rank must train the same model on the same rows: a node with other data or code fails here, not later.
        views = self.dist.all_gather((self.config_hash, len(self.tokenizer), len(self.train_ds)))
        if any(v != views[0] for v in views):
            raise RuntimeError(f"the ranks disagree on (config hash, vocabulary, train rows): {views}")

        self.sampler = DistributedStepSampler(len(self.train_ds), self.plan, self.dist.rank)
        self.batches_per_epoch = self.sampler.batches_per_epoch
        self.steps_per_epoch = self.sampler.steps_per_epoch
        self.total_steps = hp["max_steps"] or hp["epochs"] * self.steps_per_epoch
        warmup = math.ceil(hp["warmup_ratio"] * self.total_steps)
        self.optimizer = make_optimizer(self.model, hp)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.scheduler = make_scheduler(self.optimizer, self.total_steps, warmup)

        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.best_value, self.best_step, self.bad_evals = None, None, 0
        self.stopped_early, self.pending_eval = False, False
        self.eval_history: list[dict] = []
        self.last_train_loss = None
        self._last_loss = None
        if self.resume_path is not None:
            st = load_checkpoint(self.resume_path, self.model, self.optimizer, self.scheduler, rank=self.dist.rank,
                                 fallback_seed=rank_seed(cfg["seed"], self.dist.rank))
            self.step, self.epoch, self.batch_in_epoch = st["global_step"], st["epoch"], st["batch_in_epoch"]
            self.sampler.load_state_dict(st.get("sampler") or st)
            self.best_value, self.best_step, self.bad_evals = st["best_value"], st["best_step"], st["bad_evals"]
            self.stopped_early, self.pending_eval = st["stopped_early"], st["pending_eval"]
            self.eval_history = st["eval_history"]
            self.last_train_loss = st.get("last_train_loss")
            log.info("resumed from %s at step %d (epoch %d, batch %d)", self.resume_path, self.step, self.epoch,
                     self.batch_in_epoch)
        self.ddp = None
        self.eval_model = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            # Buffers (position ids) never change; and a per-forward buffer broadcast would be a collective in every
            # forward pass, which ranks with unequal micro-batch counts (a short last step) do not all make.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # newer torch renames the flag; the old one still works
                self.ddp = DistributedDataParallel(self.model, broadcast_buffers=False, device_ids=[self.device.index]
                                                   if self.device.type == "cuda" else None)
            if self.resume_path is None:
                torch.manual_seed(rank_seed(cfg["seed"], self.dist.rank))  # distinct dropout masks per rank
        self.forward_model = self.ddp if self.ddp is not None else self.model
        if hp["compile"]:
            self.forward_model = torch.compile(self.forward_model, dynamic=True)
        if not self.dist.enabled:
            self.eval_model = self.forward_model

    # -- state ---------------------------------------------------------------------------------
    def trainer_state(self, pending_eval: bool = False) -> dict:
        self._sync_loss()
        return {
            "global_step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "total_steps": self.total_steps, "config_hash": self.config_hash,
            "best_metric": self.best_metric_name, "best_mode": self.best_mode,
            "best_value": self.best_value, "best_step": self.best_step, "bad_evals": self.bad_evals,
            "stopped_early": self.stopped_early, "pending_eval": pending_eval,
            "eval_history": self.eval_history, "last_train_loss": self.last_train_loss,
            "sampler": {**self.sampler.state_dict(), "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch},
            "lakeforge_trainer_version": __version__, "written_at": time.time(),
        }

    def _forward(self, batch):
        eager = self.ddp if self.ddp is not None else self.model
        if self.forward_model is eager:
            return eager(**batch)
        try:
            return self.forward_model(**batch)
        except Exception as exc:  # noqa: BLE001 - a compiler/toolchain failure must not kill a run that eager can do
            log.warning("torch.compile failed (%s: %s); continuing in eager mode", type(exc).__name__, str(exc)[:500])
            self.forward_model = eager
            return eager(**batch)

    def _sync_loss(self) -> None:
        if self._last_loss is not None:
            self.last_train_loss = float(self._last_loss)

    def checkpoint(self, reason: str, pending_eval: bool = False) -> Path:
        """A collective: every rank hands rank 0 its RNG state; rank 0 alone writes; all leave together."""
        rngs = self.dist.gather(rng_state())
        path, secs = self.ck_dir / f"step-{self.step}", 0.0
        if self.dist.is_main:
            path, secs = save_checkpoint(self.ck_dir, self.step, self.model, self.optimizer, self.scheduler,
                                         self.tokenizer, self.trainer_state(pending_eval), rank_rngs=rngs)
            prune(self.ck_dir, self.cfg["keep_last"], self.best_step)
        # No rank exits (preempted) or runs on while rank 0 is still writing: the agent would tear the group down.
        self.dist.barrier()
        self.last_ckpt_time = time.monotonic()
        self.last_ckpt_step = self.step
        self.ckpt_seconds_total += secs
        if self.dist.is_main:
            self.emit("checkpoint", step=self.step, path=str(path), reason=reason, seconds=round(secs, 4))
        return path

    def _stop_now(self) -> bool:
        """Whether any rank was asked to stop: the ranks must stop at the same step."""
        return self.dist.sum([1.0 if self.life.stop_requested else 0.0])[0] > 0

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate_val(self) -> bool:
        """Evaluates on val; returns True when this step is the new best."""
        bs = self.hp["eval_batch_size"] or self.hp["batch_size"]
        loss, preds, _ = predict(self.eval_model, self.val_ds, self.task, self.pad_id, bs, self.device, self.hp["bf16"])
        # Every rank evaluates (no collective inside), and all take rank 0's figures: best/early-stop stay in step.
        metrics = self.dist.broadcast(eval_metrics(self.task, self.labels, self.val_ds, self._val_gold(), loss, preds))
        value = metrics[self.best_metric_name]
        better = self.best_value is None or (value > self.best_value if self.best_mode == "max" else value < self.best_value)
        if better:
            self.best_value, self.best_step, self.bad_evals = value, self.step, 0
        else:
            self.bad_evals += 1
            es = self.hp["early_stopping"]
            if es is not None and self.bad_evals > es["patience"]:
                self.stopped_early = True
                log.info("early stopping at step %d: %s did not improve on %s for %d evaluations",
                         self.step, self.best_metric_name, self.best_value, self.bad_evals)
        self.eval_history.append({"step": self.step, **metrics})
        self.emit("eval", step=self.step, metrics=metrics, split="val", is_best=better)
        return better

    def _val_gold(self):
        return self.val_raw.labels if self.task == SEQ else self.val_raw.tags

    # -- loop ----------------------------------------------------------------------------------
    def run(self) -> dict:
        self.setup()
        hp, cfg = self.hp, self.cfg
        self.emit("started", device=describe_device(self.device), world_size=self.dist.world_size,
                  resumed_from_step=self.step if self.resume_path is not None else None, mode="train",
                  total_steps=self.total_steps, checkpoint=str(self.resume_path) if self.resume_path else None,
                  pid=os.getpid())
        self.last_ckpt_time = time.monotonic()
        self.last_ckpt_step = self.step if self.resume_path is not None else -1
        self.ckpt_seconds_total = 0.0
        if self.pending_eval and self.val_ds is not None:
            # Preempted during this step's evaluation last time: do it now, as the uninterrupted run did.
            self.pending_eval = False
            best = self.evaluate_val()
            self._after_eval_checkpoint(best)
        if self._stop_now():
            raise Preempted()

        nb = self.batches_per_epoch
        every_s, every_n = cfg["checkpoint_every_seconds"], cfg["checkpoint_every_steps"]
        self.model.train()
        order, order_epoch = None, None
        t_start = time.monotonic()
        steps_here = 0
        self.samples_here, self.tokens_here = 0, 0
        win = {"t": time.monotonic(), "samples": 0, "tokens": 0, "loss": 0.0, "steps": 0}
        last_progress = None

        while self.step < self.total_steps and not self.stopped_early:
            if order_epoch != self.epoch:
                order, order_epoch = epoch_order(cfg["seed"], self.epoch, len(self.train_ds)), self.epoch
            self.optimizer.zero_grad(set_to_none=True)
            group_loss, n_rows, n_tok, epoch_ended = self._train_step(order)
            torch.nn.utils.clip_grad_norm_(self.params, hp["max_grad_norm"])
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            steps_here += 1
            self.epoch, self.batch_in_epoch = self.sampler.epoch, self.sampler.batch_in_epoch
            if self.step_sleep:
                time.sleep(self.step_sleep)
            if _fault("kill_after_step", self.step):
                os.kill(os.getpid(), signal.SIGKILL)
            if _fault("stop_after_step", self.step):
                self.life.request_stop("LAKEFORGE_TRAINER_FAULT")

            now = time.monotonic()
            time_due = every_s is not None and now - self.last_ckpt_time >= every_s
            if self.dist.enabled:
                # One small all-reduce a step: the global loss and counts, and the decisions every rank must share
                # (a stop any rank was asked for; rank 0's clock for time-based checkpoints).
                group_loss, n_rows, n_tok, stops, due = self.dist.sum(
                    [float(group_loss), n_rows, n_tok, 1.0 if self.life.stop_requested else 0.0,
                     1.0 if time_due and self.dist.is_main else 0.0])
                stop, time_due = stops > 0, due > 0
            else:
                stop = self.life.stop_requested
            win["samples"] += n_rows
            win["tokens"] += n_tok
            self.samples_here += n_rows
            self.tokens_here += n_tok
            win["loss"] = win["loss"] + group_loss
            win["steps"] += 1
            self._last_loss = group_loss

            final = self.step >= self.total_steps
            if last_progress is None or final or now - last_progress >= cfg["progress_every_seconds"]:
                dt = max(now - win["t"], 1e-9)
                rate = (now - t_start) / steps_here
                self.emit("progress", step=self.step, epoch=round(self.epoch + self.batch_in_epoch / nb, 4),
                          loss=float(win["loss"]) / win["steps"], lr=self.scheduler.get_last_lr()[0],
                          samples_per_s=win["samples"] / dt, tokens_per_s=win["tokens"] / dt,
                          eta_s=max(0.0, (self.total_steps - self.step) * rate), total_steps=self.total_steps)
                last_progress = now
                win = {"t": now, "samples": 0, "tokens": 0, "loss": 0.0, "steps": 0}

            is_best = False
            if self.val_ds is not None:
                due = (self.step % hp["eval_every_steps"] == 0) if hp["eval_every_steps"] else epoch_ended
                if due or final:
                    if stop:
                        # Keep the evaluation for the resumed run, so best tracking matches an uninterrupted run.
                        self.checkpoint("preempt", pending_eval=True)
                        raise Preempted()
                    is_best = self.evaluate_val()
                    stop = self._stop_now()  # the evaluation took a while: ask again
            done = final or self.stopped_early
            if stop:
                self.checkpoint("preempt")
                raise Preempted()
            interval = (every_n is not None and self.step % every_n == 0) or time_due
            if done:
                self.checkpoint("final")
            elif is_best:
                self.checkpoint("best")
            elif interval:
                self.checkpoint("interval")

        if self.last_ckpt_step != self.step:  # resumed from a final checkpoint, or nothing to do
            self.checkpoint("final")
        self.train_seconds = time.monotonic() - t_start
        self.steps_here = steps_here
        if not self.dist.is_main:
            return {}  # rank 0 exports the model and reports
        return self.finish()

    def _train_step(self, order):
        """Forward/backward passes of one optimizer step: (loss, rows, tokens, epoch ended)."""
        hp = self.hp
        autocast = autocast_for(self.device, hp["bf16"])
        pin = self.device.type == "cuda"
        if not self.plan.legacy:
            st = self.sampler.next_step(order)
            weights = row_weights(st, hp["batch_size"], self.label_counts)
            loss, rows, tok = rank_backward(st, weights, ds=self.train_ds, pad_id=self.pad_id, task=self.task,
                                            forward=self._forward, ddp=self.ddp, world_size=self.dist.world_size,
                                            device=self.device, autocast=autocast, pin=pin)
            return loss, rows, tok, st.epoch_ended
        # One process: the original loop, so its results stay bit-identical to earlier releases.
        bs, accum, nb = hp["batch_size"], hp["grad_accum_steps"], self.batches_per_epoch
        g0 = self.sampler.batch_in_epoch
        g1 = min(g0 + accum, nb)
        # Losses stay on the device until a progress event needs them: no host sync on every step.
        group_loss = torch.zeros((), device=self.device)
        rows = tok = 0
        for b in range(g0, g1):
            idx = order[b * bs:(b + 1) * bs]
            cpu_batch = collate(self.train_ds, idx, self.pad_id, self.task)
            tok += int(cpu_batch["attention_mask"].sum())
            rows += len(idx)
            if pin:
                cpu_batch = {k: v.pin_memory() for k, v in cpu_batch.items()}
            batch = {k: v.to(self.device, non_blocking=True) for k, v in cpu_batch.items()}
            with autocast:
                out = self._forward(batch)
            loss = out.loss / (g1 - g0)  # the last group of an epoch may be short
            loss.backward()
            group_loss += loss.detach()
        self.sampler.batch_in_epoch = g1
        if g1 >= nb:
            self.sampler.epoch, self.sampler.batch_in_epoch = self.sampler.epoch + 1, 0
        return group_loss, rows, tok, g1 >= nb

    def throughput(self) -> dict:
        """This process's loop: wall time includes evals and checkpoints, which are also given on their own."""
        secs = max(self.train_seconds, 1e-9)
        return {"steps": self.steps_here, "samples": self.samples_here, "tokens": self.tokens_here,
                "seconds": self.train_seconds, "checkpoint_seconds": self.ckpt_seconds_total,
                "samples_per_s": self.samples_here / secs, "tokens_per_s": self.tokens_here / secs}

    def _after_eval_checkpoint(self, is_best: bool) -> None:
        if self.step >= self.total_steps or self.stopped_early:
            self.checkpoint("final")
        elif is_best:
            self.checkpoint("best")

    # -- output ----------------------------------------------------------------------------------
    def finish(self) -> dict:
        cfg = self.cfg
        out = Path(cfg["output_dir"])
        out.mkdir(parents=True, exist_ok=True)
        model = self.model
        exported_step = self.step
        best_path = self.ck_dir / f"step-{self.best_step}" / "model.safetensors"
        if self.best_step is not None and self.best_step != self.step and not best_path.is_file():
            log.error("best checkpoint %s is gone; exporting the final weights instead", best_path.parent)
        elif self.best_step is not None and self.best_step != self.step:
            from safetensors.torch import load_model
            load_model(model, str(best_path))
            exported_step = self.best_step
            log.info("exporting the best checkpoint (step %d, %s=%s)", self.best_step, self.best_metric_name, self.best_value)
        if self.hp["lora"] is not None:
            model = model.merge_and_unload()
        model.save_pretrained(str(out), safe_serialization=True)
        self.tokenizer.save_pretrained(str(out))
        label_map = {"task": self.task, "labels": self.labels,
                     "label2id": {n: i for i, n in enumerate(self.labels)}}
        _write_json(out / "label_map.json", label_map)
        _write_json(out / "training_args.json", {
            "config": cfg, "config_hash": self.config_hash, "total_steps": self.total_steps,
            "steps": self.step, "exported_step": exported_step, "device": describe_device(self.device),
            "torch": torch.__version__, "lakeforge_trainer_version": __version__,
        })
        self._sync_loss()
        best_eval = next((e for e in self.eval_history if e["step"] == exported_step), None)
        headline = {}
        if best_eval is not None:
            headline.update({f"val_{k}": v for k, v in best_eval.items() if k != "step"})
        if self.last_train_loss is not None:
            headline["train_loss"] = self.last_train_loss
        trunc = self.train_ds.truncation
        headline["train_truncated_rows"] = trunc["truncated_rows"]
        headline["train_truncated_fraction"] = trunc["truncated_fraction"]
        headline["train_truncated_tokens_mean"] = trunc["dropped_tokens_mean"]  # per truncated row
        metrics = {
            "task": self.task, "steps": self.step, "exported_step": exported_step, "best_step": self.best_step,
            "best_metric": self.best_metric_name, "stopped_early": self.stopped_early,
            "val": best_eval, "eval_history": self.eval_history, "headline": headline,
            "throughput": self.throughput(),
            "truncation": {"train": trunc, "val": self.val_ds.truncation if self.val_ds is not None else None},
        }
        _write_json(out / "metrics.json", metrics)
        self.emit("done", output_dir=str(out), metrics=headline, steps=self.step, best_step=self.best_step,
                  stopped_early=self.stopped_early)
        return metrics


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False))
    os.replace(tmp, path)


def run_train(cfg: dict, emitter: Emitter, lifecycle: Lifecycle, inputs=None) -> dict:
    return Trainer(cfg, emitter, lifecycle, inputs).run()
