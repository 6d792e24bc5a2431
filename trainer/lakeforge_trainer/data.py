"""Tokenized datasets, dynamic padding and the per-epoch order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import SEQ, TOK
from .splits import RawSplit
from .truncation import TruncationStats, content_budget, cut, full_encodings

IGNORE_INDEX = -100  # positions that carry no label (special tokens, non-first sub-tokens, padding)


# --------------------------------------------------------------------------------------------------
# Tokenized datasets
# --------------------------------------------------------------------------------------------------

@dataclass
class Encoded:
    input_ids: list[np.ndarray]
    labels: list  # int per row (sequence) or an int32 array per row aligned to input_ids (tokens)
    lengths: np.ndarray
    word_starts: list[np.ndarray] | None = None  # tokens: position of each word's first sub-token, -1 if truncated
    truncation: dict | None = None  # TruncationStats.as_dict(): how many rows were cut, by how much

    def __len__(self) -> int:
        return len(self.input_ids)


def encode(raw: RawSplit, tokenizer, task: str, max_length: int, chunk: int = 2048, truncation: str = "head",
           head_tokens: int | None = None) -> Encoded:
    """Tokenizes a split; a row longer than max_length is cut by `truncation` (see truncation.py)."""
    ids: list[np.ndarray] = []
    labels: list = []
    starts: list[np.ndarray] | None = [] if task == TOK else None
    stats = TruncationStats(truncation, max_length)
    budget = content_budget(tokenizer, max_length)
    n = len(raw)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        if task == SEQ:
            enc = full_encodings(tokenizer, raw.texts[s:e])
            for j in range(e - s):
                x, _ = cut(enc, j, budget, truncation, head_tokens, stats)
                ids.append(np.asarray(x, dtype=np.int64))
            labels.extend(raw.labels[s:e])
        else:
            enc = full_encodings(tokenizer, raw.tokens[s:e], is_split_into_words=True)
            for j in range(e - s):
                x, word_ids = cut(enc, j, budget, truncation, head_tokens, stats)
                tags = raw.tags[s + j]
                lab = np.full(len(x), IGNORE_INDEX, dtype=np.int64)
                st = np.full(len(tags), -1, dtype=np.int64)
                prev = None
                for pos, w in enumerate(word_ids):
                    if w is not None and w != prev:
                        lab[pos] = tags[w]  # only a word's first (kept) sub-token is scored
                        st[w] = pos
                    prev = w
                ids.append(np.asarray(x, dtype=np.int64))
                labels.append(lab)
                starts.append(st)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    return Encoded(ids, labels, lengths, starts, stats.as_dict())


def collate(ds: Encoded, idx, pad_id: int, task: str) -> dict[str, torch.Tensor]:
    """Dynamic padding: each batch is padded to its own longest row."""
    width = int(max(ds.lengths[i] for i in idx))
    n = len(idx)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    if task == SEQ:
        labels = torch.tensor([ds.labels[i] for i in idx], dtype=torch.long)
    else:
        labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    for r, i in enumerate(idx):
        L = int(ds.lengths[i])
        input_ids[r, :L] = torch.from_numpy(ds.input_ids[i])
        mask[r, :L] = 1
        if task == TOK:
            labels[r, :L] = torch.from_numpy(ds.labels[i])
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The row order of one epoch: a function of (seed, epoch) only, so a resumed run sees the same order."""
    return np.random.default_rng([seed, epoch]).permutation(n)
