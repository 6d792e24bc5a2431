"""Long texts: which tokens a model sees (`head`, `tail`, `head+tail`) and evaluation over windows (`chunks`).

A text is tokenized once, without truncation; the special tokens the tokenizer adds (e.g. BERT's [CLS] ... [SEP]) are
found from its special-tokens mask and kept, and only the content between them is cut. So any fast tokenizer with a
post-processor works, and a truncated row is exactly `prefix + kept content + suffix`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STRATEGIES = ("head", "tail", "head+tail")


def content_budget(tokenizer, max_length: int) -> int:
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if budget < 1:
        from .errors import BadInput

        raise BadInput(f"data.max_length {max_length} leaves no room for content next to the special tokens",
                       reason="config")
    return budget


def default_head(budget: int) -> int:
    # Sun et al. (2019) keep 128 head + 382 tail tokens of BERT's 510: a quarter of the budget at the start.
    return max(1, budget // 4)


def keep_positions(n: int, budget: int, strategy: str, head_tokens: int | None = None) -> np.ndarray:
    """Indices (into n content tokens) that survive truncation to `budget` tokens."""
    if n <= budget:
        return np.arange(n)
    if strategy == "head":
        return np.arange(budget)
    if strategy == "tail":
        return np.arange(n - budget, n)
    if strategy == "head+tail":
        k = min(budget, head_tokens if head_tokens is not None else default_head(budget))
        m = budget - k
        return np.concatenate([np.arange(k), np.arange(n - m, n)]).astype(np.int64)
    raise ValueError(f"unknown truncation strategy {strategy!r} (one of {', '.join(STRATEGIES)})")


def split_specials(mask) -> tuple[int, int]:
    """(leading, trailing) counts of special tokens in one encoding's special-tokens mask."""
    n = len(mask)
    lead = 0
    while lead < n and mask[lead]:
        lead += 1
    trail = 0
    while trail < n - lead and mask[n - 1 - trail]:
        trail += 1
    return lead, trail


@dataclass
class TruncationStats:
    strategy: str
    max_length: int
    rows: int = 0
    truncated_rows: int = 0
    dropped: list[int] = field(default_factory=list)  # content tokens dropped, per truncated row
    content_max: int = 0

    def add(self, n_content: int, n_kept: int) -> None:
        self.rows += 1
        self.content_max = max(self.content_max, n_content)
        if n_kept < n_content:
            self.truncated_rows += 1
            self.dropped.append(n_content - n_kept)

    def as_dict(self) -> dict:
        d = np.asarray(self.dropped, dtype=np.float64)
        return {
            "strategy": self.strategy, "max_length": self.max_length, "rows": self.rows,
            "truncated_rows": self.truncated_rows,
            "truncated_fraction": self.truncated_rows / self.rows if self.rows else 0.0,
            "dropped_tokens_total": int(d.sum()), "dropped_tokens_mean": float(d.mean()) if len(d) else 0.0,
            "dropped_tokens_max": int(d.max()) if len(d) else 0, "longest_content_tokens": self.content_max,
        }


def full_encodings(tokenizer, texts, is_split_into_words: bool = False):
    """The tokenizer's own output without truncation, with the special-tokens mask and word ids."""
    return tokenizer(texts, is_split_into_words=is_split_into_words, truncation=False,
                     return_special_tokens_mask=True, verbose=False)


def cut(enc, j: int, budget: int, strategy: str, head_tokens: int | None, stats: TruncationStats):
    """Row j of a batch encoding, truncated: (input ids, word ids) as lists of the kept positions."""
    ids = enc["input_ids"][j]
    lead, trail = split_specials(enc["special_tokens_mask"][j])
    n = len(ids) - lead - trail
    keep = keep_positions(n, budget, strategy, head_tokens) + lead
    pos = list(range(lead)) + keep.tolist() + list(range(len(ids) - trail, len(ids)))
    stats.add(n, len(keep))
    try:
        word_ids = enc.word_ids(j)
    except ValueError:  # a slow tokenizer has no word ids; sequence tasks do not need them
        word_ids = [None] * len(ids)
    return [ids[p] for p in pos], [word_ids[p] for p in pos]


@dataclass
class Chunked:
    """Windows of every text: `doc[i]` is the text window i belongs to."""
    input_ids: list[np.ndarray]
    doc: np.ndarray
    windows_per_doc: np.ndarray


def chunk_texts(tokenizer, texts, max_length: int, size: int, stride: int, batch: int = 2048) -> Chunked:
    from .errors import BadInput

    budget = content_budget(tokenizer, max_length)
    if size > budget:
        raise BadInput(f"data.chunks.size {size} exceeds max_length {max_length} minus the special tokens ({budget})",
                       reason="config")
    if stride > size:
        raise BadInput(f"data.chunks.stride {stride} exceeds data.chunks.size {size}: tokens would be skipped",
                       reason="config")
    out, doc, per = [], [], []
    for s in range(0, len(texts), batch):
        enc = full_encodings(tokenizer, texts[s:s + batch])
        for j, ids in enumerate(enc["input_ids"]):
            lead, trail = split_specials(enc["special_tokens_mask"][j])
            pre, body, post = ids[:lead], ids[lead:len(ids) - trail], ids[len(ids) - trail:]
            starts = window_starts(len(body), size, stride)
            for st in starts:
                out.append(np.asarray(pre + body[st:st + size] + post, dtype=np.int64))
                doc.append(s + j)
            per.append(len(starts))
    return Chunked(out, np.asarray(doc, dtype=np.int64), np.asarray(per, dtype=np.int64))


def window_starts(n: int, size: int, stride: int) -> list[int]:
    """Start offsets of windows covering n tokens; the last window ends at the last token."""
    if n <= size:
        return [0]
    starts = list(range(0, n - size, stride))
    starts.append(n - size)
    return starts


def pool(probs: np.ndarray, doc: np.ndarray, n_docs: int, how: str) -> np.ndarray:
    """Per-document class probabilities from per-window ones; `max` is renormalised to sum to 1."""
    k = probs.shape[1]
    if how == "mean":
        acc = np.zeros((n_docs, k), dtype=np.float64)
        np.add.at(acc, doc, probs)
        cnt = np.bincount(doc, minlength=n_docs).astype(np.float64)
        return acc / cnt[:, None]
    if how == "max":
        acc = np.full((n_docs, k), -np.inf, dtype=np.float64)
        np.maximum.at(acc, doc, probs)
        return acc / acc.sum(axis=1, keepdims=True)
    raise ValueError(f"unknown pool {how!r}")
