"""Tokenizers and models: pretrained (hub name or local path) or built here (WordPiece trained on train, inline config)."""

from __future__ import annotations

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


def load_pretrained_tokenizer(name: str):
    from transformers import AutoTokenizer

    return _from_pretrained("tokenizer", name, lambda: AutoTokenizer.from_pretrained(name))


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
    if "name_or_path" in spec:
        name = spec["name_or_path"]
        model = _from_pretrained("model", name, lambda: cls.from_pretrained(
            name, num_labels=len(labels), id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True))
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
