"""The training loop: plain PyTorch, so every piece of state that decides the next step is ours to checkpoint."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import torch

from . import __version__
from .build import build_run
from .checkpoint import prune, rng_state, save_checkpoint, _fault
from .config import SEQ
from .data import collate, epoch_order
from .dist_step import rank_backward
from .distributed import row_weights
from .errors import BadInput, Preempted
from .events import Emitter
from .export import export_run
from .lifecycle import Lifecycle
from .modeling import describe_device
from .predict import autocast_for, eval_metrics, predict

log = logging.getLogger("lakeforge_trainer.train")


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

    # -- setup (build.py) and output (export.py) -------------------------------------------------
    def setup(self) -> None:
        build_run(self)

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

    def finish(self) -> dict:
        return export_run(self)


def run_train(cfg: dict, emitter: Emitter, lifecycle: Lifecycle, inputs=None) -> dict:
    return Trainer(cfg, emitter, lifecycle, inputs).run()
