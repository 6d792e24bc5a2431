"""Baselines in `evaluate`: the numbers equal scikit-learn's own run on the same splits, computed here independently."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import datagen
from conftest import run_inproc


def _texts_labels(split_dir):
    rows = pq.read_table(split_dir).to_pylist()
    return [r["text"] for r in rows], np.array([datagen.SEQ_LABELS.index(r["label"]) for r in rows])


@pytest.fixture(scope="module")
def seq_eval(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seqb")
    splits = datagen.seq_dataset(tmp / "features", n_train=200, n_val=40, n_test=90)
    cfg = datagen.run_config(tmp, splits, hparams={"epochs": 1}, checkpoint_every_steps=None)
    rc, events = run_inproc(datagen.write_config(tmp / "run.json", cfg))
    assert rc == 0, events
    ecfg = {"task": cfg["task"], "model": {"name_or_path": str(tmp / "out")},
            "tokenizer": {"type": "pretrained", "name_or_path": str(tmp / "out")},
            "data": {"train": str(splits["train"]), "test": str(splits["test"]), "max_length": 64},
            "labels": datagen.SEQ_LABELS, "output_dir": str(tmp / "eval"),
            "baselines": {"tfidf": {"C": 3.0, "char_ngram_range": [2, 4], "max_features": 3000}}}
    rc, events = run_inproc(datagen.write_config(tmp / "eval.json", ecfg), "evaluate")
    assert rc == 0, events
    return tmp, splits, json.loads((tmp / "eval" / "metrics.json").read_text()), events


def test_tfidf_baseline_equals_sklearn(seq_eval):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score
    from scipy.sparse import hstack

    tmp, splits, metrics, _ = seq_eval
    xtr, ytr = _texts_labels(splits["train"])
    xte, yte = _texts_labels(splits["test"])
    # The run.json overrides (C, char range, max_features) with the documented defaults for the rest.
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, max_features=3000)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, max_features=3000)
    Xtr = hstack([word.fit_transform(xtr), char.fit_transform(xtr)]).tocsr()
    Xte = hstack([word.transform(xte), char.transform(xte)]).tocsr()
    clf = LogisticRegression(C=3.0, max_iter=1000).fit(Xtr, ytr)
    pred = clf.predict(Xte)
    b = metrics["baselines"]["tfidf_logreg"]
    h = b["headline"]
    assert h["accuracy"] == pytest.approx(accuracy_score(yte, pred))
    assert h["macro_f1"] == pytest.approx(f1_score(yte, pred, average="macro"))
    assert h["weighted_f1"] == pytest.approx(f1_score(yte, pred, average="weighted"))
    assert h["macro_precision"] == pytest.approx(precision_score(yte, pred, average="macro", zero_division=0))
    assert h["loss"] == pytest.approx(log_loss(yte, clf.predict_proba(Xte), labels=[0, 1, 2]), rel=1e-6)
    assert b["params"]["C"] == 3.0 and b["cpu_seconds"] > 0
    # The model's headline names are all there, so the gate compares like with like.
    assert set(metrics["headline"]) - {"truncated_rows", "truncated_fraction", "truncated_tokens_mean"} <= set(h)
    preds = pq.read_table(tmp / "eval" / "predictions.parquet").to_pylist()
    assert [p["baseline_tfidf_logreg"] for p in preds] == [datagen.SEQ_LABELS[i] for i in pred]
    assert all(len(p["probabilities"]) == 3 for p in preds)


def test_majority_baseline_equals_dummy_classifier(seq_eval):
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import accuracy_score, f1_score

    _, splits, metrics, _ = seq_eval
    xtr, ytr = _texts_labels(splits["train"])
    xte, yte = _texts_labels(splits["test"])
    pred = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(ytr), 1)), ytr).predict(np.zeros((len(yte), 1)))
    h = metrics["baselines"]["majority"]["headline"]
    assert h["accuracy"] == pytest.approx(accuracy_score(yte, pred))
    assert h["macro_f1"] == pytest.approx(f1_score(yte, pred, average="macro"))
    assert metrics["baselines"]["majority"]["label"] == datagen.SEQ_LABELS[int(pred[0])]


def test_without_a_train_split_the_baselines_say_why(seq_eval, tmp_path):
    tmp, splits, _, _ = seq_eval
    ecfg = {"task": "sequence-classification", "model": {"name_or_path": str(tmp / "out")},
            "tokenizer": {"type": "pretrained", "name_or_path": str(tmp / "out")},
            "data": {"test": str(splits["test"]), "max_length": 64}, "labels": datagen.SEQ_LABELS,
            "output_dir": str(tmp_path / "eval")}
    rc, events = run_inproc(datagen.write_config(tmp_path / "eval.json", ecfg), "evaluate")
    assert rc == 0, events
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["baselines"] is None and metrics["baselines_skipped"] == "no data.train split given"


def test_token_classification_reports_the_most_frequent_tag_baseline(tmp_path):
    splits = datagen.ner_dataset(tmp_path / "features", n_train=150, n_val=30, n_test=50)
    cfg = datagen.run_config(tmp_path, splits, task="token-classification", hparams={"epochs": 1},
                             checkpoint_every_steps=None)
    rc, events = run_inproc(datagen.write_config(tmp_path / "run.json", cfg))
    assert rc == 0, events
    ecfg = {**cfg, "model": {"name_or_path": str(tmp_path / "out")}, "output_dir": str(tmp_path / "eval")}
    rc, events = run_inproc(datagen.write_config(tmp_path / "eval.json", ecfg), "evaluate")
    assert rc == 0, events
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    b = metrics["baselines"]["most_frequent_tag"]
    # Independently: count (token, tag) in train; each test token gets its most frequent tag, unseen ones "O".
    counts = {}
    for r in pq.read_table(splits["train"]).to_pylist():
        for t, g in zip(r["tokens"], r["tags"]):
            counts.setdefault(t, {}).setdefault(g, 0)
            counts[t][g] += 1
    order = datagen.NER_LABELS
    best = {t: sorted(c.items(), key=lambda kv: (-kv[1], order.index(kv[0])))[0][0] for t, c in counts.items()}
    test = pq.read_table(splits["test"]).to_pylist()
    expect = [[best.get(t, "O") for t in r["tokens"]] for r in test]
    preds = pq.read_table(tmp_path / "eval" / "predictions.parquet").to_pylist()
    assert [p["baseline_most_frequent_tag"] for p in preds] == expect
    flat = [(g, p) for r, e in zip(test, expect) for g, p in zip(r["tags"], e)]
    assert b["headline"]["token_accuracy"] == pytest.approx(np.mean([g == p for g, p in flat]))
    from lakeforge_trainer.metrics import entity_report
    assert b["headline"]["f1"] == pytest.approx(entity_report([r["tags"] for r in test], expect)["micro avg"]["f1-score"])
    # Person names and places recur, so the lookup table finds most entities; the majority tag finds none.
    assert b["headline"]["f1"] > 0.5
    assert metrics["baselines"]["majority"]["headline"]["f1"] == 0.0
    assert set(metrics["headline"]) - {"truncated_rows", "truncated_fraction", "truncated_tokens_mean"} <= set(b["headline"]) | {"loss"}
