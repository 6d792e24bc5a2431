"""Everything a training run starts from: data, tokenizer, model, optimizer and, on a resume, the checkpoint's state.

A fresh start and a resume build the same objects; the resume then overwrites the loop's position and RNGs from the
checkpoint rank 0 chose, so the next step is exactly the one the interrupted run would have taken.
"""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .checkpoint import clear_checkpoints, load_checkpoint, read_state, resolve_resume
from .config import SEQ, config_hash
from .data import IGNORE_INDEX, encode
from .distributed import DistContext, DistributedStepSampler, plan_batches, rank_seed, world_from_env
from .errors import BadInput
from .modeling import build_model, load_pretrained_tokenizer, model_source, train_wordpiece, wrap_lora
from .optim import make_optimizer, make_scheduler, seed_everything
from .splits import read_train_inputs

if TYPE_CHECKING:
    from .train import Trainer

log = logging.getLogger("lakeforge_trainer.train")


def build_run(t: Trainer) -> None:
    cfg, hp = t.cfg, t.hp
    seed_everything(cfg["seed"], cfg["deterministic"])
    world, rank, local_rank = world_from_env()
    t.plan = plan_batches(hp, world)
    t.dist = DistContext(world, rank, local_rank)
    t.device = t.dist.device
    dcfg = cfg["data"]
    t.train_raw, t.val_raw = t.inputs or read_train_inputs(cfg)
    fingerprint = {"train": t.train_raw.fingerprint(), "val": t.val_raw.fingerprint() if t.val_raw else None}
    t.config_hash = config_hash(cfg, fingerprint)

    # Rank 0 alone reads and cleans the checkpoint directory; the others resume from the checkpoint it chose.
    t.resume_path = None
    if t.dist.is_main:
        t.resume_path = resolve_resume(cfg["resume_from"], t.ck_dir)
        if t.resume_path is None and cfg["resume_from"] is None:
            clear_checkpoints(t.ck_dir)
    chosen = t.dist.broadcast(str(t.resume_path) if t.resume_path else None)
    if chosen is not None and not t.dist.is_main:
        t.resume_path = Path(chosen) if Path(chosen).is_dir() else t.ck_dir / Path(chosen).name
        if not (t.resume_path / "trainer_state.json").is_file():
            raise RuntimeError(f"rank {t.dist.rank}: checkpoint {t.resume_path} (chosen by rank 0) is not here")
    t.state = None
    if t.resume_path is not None:
        t.state = read_state(t.resume_path)
        if t.state.get("config_hash") != t.config_hash:
            raise BadInput(
                f"checkpoint {t.resume_path} was written by a run with a different config "
                f"(hash {t.state.get('config_hash')} != {t.config_hash}); refusing to mix them",
                reason="config_mismatch", file=str(t.resume_path))

    tspec = cfg["tokenizer"]
    if t.resume_path is not None:
        t.tokenizer = load_pretrained_tokenizer(str(t.resume_path / "tokenizer"))  # the same vocab
    elif tspec["type"] == "pretrained":
        t.tokenizer = load_pretrained_tokenizer(tspec["name_or_path"])
    elif tspec["type"] == "model":
        t.tokenizer = load_pretrained_tokenizer(model_source(cfg["model"]), local_only="pretrained" in cfg["model"])
    else:
        corpus = t.train_raw.texts if t.task == SEQ else [" ".join(t) for t in t.train_raw.tokens]
        t.tokenizer = train_wordpiece(corpus, tspec["vocab_size"], tspec["lowercase"])
    if t.tokenizer.pad_token_id is None:
        raise BadInput("the tokenizer has no pad token", reason="config")
    t.pad_id = t.tokenizer.pad_token_id
    L = dcfg["max_length"]
    cut = {"truncation": dcfg["truncation"], "head_tokens": dcfg["head_tokens"]}
    t.train_ds = encode(t.train_raw, t.tokenizer, t.task, L, **cut)
    t.val_ds = encode(t.val_raw, t.tokenizer, t.task, L, **cut) if t.val_raw else None

    # Model init draws from the torch RNG: seeded above, so a fresh start is reproducible.
    t.model = build_model(cfg, t.tokenizer, t.labels)
    if hp["lora"] is not None:
        t.model = wrap_lora(t.model, hp["lora"], t.task)
    t.model.to(t.device)
    t.label_counts = None if t.task == SEQ else [int((x != IGNORE_INDEX).sum()) for x in t.train_ds.labels]
    # Every rank must train the same model on the same rows: a node with other data or code fails here, not later.
    views = t.dist.all_gather((t.config_hash, len(t.tokenizer), len(t.train_ds)))
    if any(v != views[0] for v in views):
        raise RuntimeError(f"the ranks disagree on (config hash, vocabulary, train rows): {views}")

    t.sampler = DistributedStepSampler(len(t.train_ds), t.plan, t.dist.rank)
    t.batches_per_epoch = t.sampler.batches_per_epoch
    t.steps_per_epoch = t.sampler.steps_per_epoch
    t.total_steps = hp["max_steps"] or hp["epochs"] * t.steps_per_epoch
    warmup = math.ceil(hp["warmup_ratio"] * t.total_steps)
    t.optimizer = make_optimizer(t.model, hp)
    t.params = [p for p in t.model.parameters() if p.requires_grad]
    t.scheduler = make_scheduler(t.optimizer, t.total_steps, warmup)

    t.step, t.epoch, t.batch_in_epoch = 0, 0, 0
    t.best_value, t.best_step, t.bad_evals = None, None, 0
    t.stopped_early, t.pending_eval = False, False
    t.eval_history: list[dict] = []
    t.last_train_loss = None
    t._last_loss = None
    if t.resume_path is not None:
        st = load_checkpoint(t.resume_path, t.model, t.optimizer, t.scheduler, rank=t.dist.rank,
                             fallback_seed=rank_seed(cfg["seed"], t.dist.rank))
        t.step, t.epoch, t.batch_in_epoch = st["global_step"], st["epoch"], st["batch_in_epoch"]
        t.sampler.load_state_dict(st.get("sampler") or st)
        t.best_value, t.best_step, t.bad_evals = st["best_value"], st["best_step"], st["bad_evals"]
        t.stopped_early, t.pending_eval = st["stopped_early"], st["pending_eval"]
        t.eval_history = st["eval_history"]
        t.last_train_loss = st.get("last_train_loss")
        log.info("resumed from %s at step %d (epoch %d, batch %d)", t.resume_path, t.step, t.epoch,
                 t.batch_in_epoch)
    t.ddp = None
    t.eval_model = t.model
    if t.dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        # Buffers (position ids) never change; and a per-forward buffer broadcast would be a collective in every
        # forward pass, which ranks with unequal micro-batch counts (a short last step) do not all make.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # newer torch renames the flag; the old one still works
            t.ddp = DistributedDataParallel(t.model, broadcast_buffers=False, device_ids=[t.device.index]
                                               if t.device.type == "cuda" else None)
        if t.resume_path is None:
            torch.manual_seed(rank_seed(cfg["seed"], t.dist.rank))  # distinct dropout masks per rank
    t.forward_model = t.ddp if t.ddp is not None else t.model
    if hp["compile"]:
        t.forward_model = torch.compile(t.forward_model, dynamic=True)
    if not t.dist.enabled:
        t.eval_model = t.forward_model
