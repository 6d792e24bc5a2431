"""Cheap baselines beside every evaluation, fitted on the train split and scored on the evaluation split.

- sequence classification: TF-IDF (word + char_wb n-grams) + logistic regression (scikit-learn), and the majority class;
- token classification: the most frequent tag of each token in train (the CoNLL baseline), and the majority tag.

Each baseline's section carries the same headline names as the model's, so the promotion gate and the report compare
like with like, plus the CPU and wall seconds it took.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict

import numpy as np

from .config import SEQ
from .metrics import sequence_headline, sequence_metrics, token_headline, token_metrics
from .splits import RawSplit

log = logging.getLogger("lakeforge_trainer.baselines")

_EPS = 1e-12


class _Clock:
    def __enter__(self):
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu = time.process_time() - self.cpu0
        self.wall = time.perf_counter() - self.wall0


def _log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    p = probs[np.arange(len(y)), y]
    return float(-np.log(np.clip(p, _EPS, 1.0)).mean())


def _seq_section(y_true, pred, probs, labels, clock: _Clock, params: dict) -> dict:
    body = sequence_metrics(y_true, pred.tolist(), labels)
    headline = sequence_headline(body["classification_report"])
    headline["loss"] = _log_loss(probs, np.asarray(y_true))
    headline["rows"] = len(y_true)
    return {**body, "headline": headline, "cpu_seconds": round(clock.cpu, 4), "wall_seconds": round(clock.wall, 4),
            "params": params, "predictions": pred.tolist(), "probabilities": probs.tolist()}


def tfidf_pipeline(p: dict):
    """The scikit-learn pipeline for the `tfidf` settings of run.json (also what the tests rebuild independently)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    common = {"sublinear_tf": p["sublinear_tf"], "lowercase": p["lowercase"], "min_df": p["min_df"],
              "max_features": p["max_features"], "dtype": np.float64}
    parts = [("word", TfidfVectorizer(analyzer="word", ngram_range=tuple(p["word_ngram_range"]), **common))]
    if p["char_ngram_range"] is not None:
        parts.append(("char", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(p["char_ngram_range"]), **common)))
    clf = LogisticRegression(C=p["C"], max_iter=p["max_iter"], class_weight=p["class_weight"])
    return Pipeline([("features", FeatureUnion(parts)), ("clf", clf)])


def tfidf_logreg(train: RawSplit, test: RawSplit, labels: list[str], params: dict) -> dict:
    k = len(labels)
    y = np.asarray(train.labels)
    with _Clock() as clock:
        if len(set(train.labels)) < 2:
            # One class in train: logistic regression cannot fit; the baseline is that class.
            pred = np.full(len(test), y[0], dtype=np.int64)
            probs = np.zeros((len(test), k))
            probs[:, y[0]] = 1.0
        else:
            pipe = tfidf_pipeline(params)
            pipe.fit(train.texts, y)
            classes = pipe.named_steps["clf"].classes_
            proba = pipe.predict_proba(test.texts)
            probs = np.zeros((len(test), k))
            probs[:, classes] = proba  # classes never seen in train keep probability 0
            pred = classes[proba.argmax(axis=1)].astype(np.int64)
    return _seq_section(test.labels, pred, probs, labels, clock, params)


def majority_seq(train: RawSplit, test: RawSplit, labels: list[str]) -> dict:
    k = len(labels)
    with _Clock() as clock:
        counts = np.bincount(np.asarray(train.labels), minlength=k).astype(np.float64)
        top = int(counts.argmax())  # ties: the lowest label id, as numpy's argmax
        pred = np.full(len(test), top, dtype=np.int64)
        probs = np.tile(counts / counts.sum(), (len(test), 1))  # the train prior, for a log loss
    section = _seq_section(test.labels, pred, probs, labels, clock, {"label": labels[top]})
    section["label"] = labels[top]
    return section


def _tok_section(gold, pred, clock: _Clock, params: dict) -> dict:
    body = token_metrics(gold, pred)
    headline = token_headline(body)
    headline["rows"] = len(gold)
    return {**body, "headline": headline, "cpu_seconds": round(clock.cpu, 4), "wall_seconds": round(clock.wall, 4),
            "params": params, "predicted_tags": pred}


def most_frequent_tag(train: RawSplit, test: RawSplit, labels: list[str]) -> dict:
    """Each token gets the tag it most often had in train; unseen tokens the most frequent tag overall."""
    with _Clock() as clock:
        per_token: dict[str, Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for toks, tags in zip(train.tokens, train.tags):
            for t, g in zip(toks, tags):
                per_token[t][g] += 1
                overall[g] += 1
        # Ties go to the lower tag id, so the result does not depend on the order rows were read in.
        best = {t: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for t, c in per_token.items()}
        fallback = min(overall.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        pred = [[labels[best.get(t, fallback)] for t in toks] for toks in test.tokens]
    gold = [[labels[g] for g in tags] for tags in test.tags]
    section = _tok_section(gold, pred, clock, {"unseen_token_tag": labels[fallback], "vocabulary": len(best)})
    return section


def majority_tok(train: RawSplit, test: RawSplit, labels: list[str]) -> dict:
    with _Clock() as clock:
        overall = Counter(g for tags in train.tags for g in tags)
        top = min(overall.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        pred = [[labels[top]] * len(toks) for toks in test.tokens]
    gold = [[labels[g] for g in tags] for tags in test.tags]
    return _tok_section(gold, pred, clock, {"label": labels[top]})


def run_baselines(task: str, train: RawSplit, test: RawSplit, labels: list[str], cfg: dict) -> dict:
    """{name: section}; sections keep per-row predictions for the report, which metrics.json drops (see strip)."""
    if task == SEQ:
        out = {"tfidf_logreg": tfidf_logreg(train, test, labels, cfg["tfidf"]), "majority": majority_seq(train, test, labels)}
    else:
        out = {"most_frequent_tag": most_frequent_tag(train, test, labels), "majority": majority_tok(train, test, labels)}
    for name, sec in out.items():
        log.info("baseline %s: %s (%.2f s CPU)", name, {k: round(v, 4) for k, v in sec["headline"].items()},
                 sec["cpu_seconds"])
    return out


ROW_KEYS = ("predictions", "probabilities", "predicted_tags")


def strip(section: dict) -> dict:
    """The section as metrics.json holds it: no per-row arrays (those go to predictions.parquet)."""
    return {k: v for k, v in section.items() if k not in ROW_KEYS}
