"""Metrics against numbers worked out by hand (sklearn / seqeval semantics)."""

import pytest

from lakeforge_trainer.metrics import classification_report, confusion_matrix, entity_report, get_entities, token_metrics

approx = pytest.approx


def test_classification_report_by_hand():
    labels = ["a", "b", "c"]
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    rep = classification_report(y_true, y_pred, labels)
    # a: tp 2 of 2 predicted, 3 true; b: tp 1 of 2 predicted, 2 true; c: tp 1 of 2 predicted, 1 true.
    assert rep["a"] == {"precision": 1.0, "recall": approx(2 / 3), "f1-score": approx(0.8), "support": 3}
    assert rep["b"] == {"precision": 0.5, "recall": 0.5, "f1-score": 0.5, "support": 2}
    assert rep["c"] == {"precision": 0.5, "recall": 1.0, "f1-score": approx(2 / 3), "support": 1}
    assert rep["accuracy"] == approx(4 / 6)
    assert rep["macro avg"] == {"precision": approx(2 / 3), "recall": approx((2 / 3 + 0.5 + 1) / 3),
                                "f1-score": approx((0.8 + 0.5 + 2 / 3) / 3), "support": 6}
    assert rep["weighted avg"] == {"precision": approx(0.75), "recall": approx(4 / 6),
                                   "f1-score": approx((3 * 0.8 + 2 * 0.5 + 2 / 3) / 6), "support": 6}
    assert rep["micro avg"]["f1-score"] == approx(4 / 6)
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_absent_class_counts_as_zero_in_macro():
    rep = classification_report([0, 1], [0, 1], ["x", "y", "z"])
    assert rep["z"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
    assert rep["macro avg"]["f1-score"] == approx(2 / 3)
    assert rep["weighted avg"]["f1-score"] == approx(1.0)


def test_get_entities_follows_seqeval():
    assert get_entities(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert get_entities(["I-PER", "I-PER", "O"]) == [("PER", 0, 1)]  # I- after O starts an entity
    assert get_entities(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]  # a type switch splits
    assert get_entities(["B-PER", "B-PER"]) == [("PER", 0, 0), ("PER", 1, 1)]
    assert get_entities(["O", "O"]) == []


def test_entity_level_f1_by_hand():
    y_true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-LOC", "I-LOC", "O", "B-PER"], ["B-PER", "O"]]
    y_pred = [["B-PER", "I-PER", "O", "B-PER"], ["O", "B-LOC", "O", "O", "I-PER"], ["I-LOC", "O"]]
    # true: PER(0:0-1) PER(1:4) PER(2:0) LOC(0:3) LOC(1:1-2); pred: PER(0:0-1) PER(0:3) PER(1:4) LOC(1:1) LOC(2:0)
    # correct: PER(0:0-1), PER(1:4) -> PER 2/3 both ways, LOC 0; overall 2 of 5 predicted, 2 of 5 true.
    rep = entity_report(y_true, y_pred)
    assert rep["PER"] == {"precision": approx(2 / 3), "recall": approx(2 / 3), "f1-score": approx(2 / 3), "support": 3}
    assert rep["LOC"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 2}
    assert rep["micro avg"] == {"precision": approx(0.4), "recall": approx(0.4), "f1-score": approx(0.4), "support": 5}
    assert rep["macro avg"]["f1-score"] == approx(1 / 3)
    assert rep["weighted avg"]["f1-score"] == approx(0.4)
    m = token_metrics(y_true, y_pred)
    assert (m["precision"], m["recall"], m["f1"]) == (approx(0.4), approx(0.4), approx(0.4))
    assert m["token_accuracy"] == approx(7 / 11)
