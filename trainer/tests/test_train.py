"""A tiny from-config model learns on generated data; evaluate writes what the contract promises."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

import datagen
from conftest import run_inproc


@pytest.fixture(scope="module")
def seq_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seq")
    splits = datagen.seq_dataset(tmp / "features", n_train=240)
    cfg = datagen.run_config(tmp, splits, hparams={"epochs": 4, "learning_rate": 5e-3}, checkpoint_every_steps=None)
    rc, events = run_inproc(datagen.write_config(tmp / "run.json", cfg))
    return tmp, splits, cfg, rc, events


def test_loss_falls_and_beats_majority(seq_run):
    tmp, splits, cfg, rc, events = seq_run
    assert rc == 0, events
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "done"
    assert events[0]["device"] == "cpu" and events[0]["resumed_from_step"] is None
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[0]["step"] == 1 and progress[-1]["step"] == 60
    evals = [e for e in events if e["event"] == "eval"]
    assert evals[-1]["metrics"]["loss"] < evals[0]["metrics"]["loss"] - 0.2
    val_labels = pq.read_table(splits["val"]).column("label").to_pylist()
    majority = max(val_labels.count(x) for x in set(val_labels)) / len(val_labels)
    assert evals[-1]["metrics"]["accuracy"] > majority + 0.15
    done = events[-1]
    assert done["steps"] == 60 and done["metrics"]["val_accuracy"] > majority + 0.15


def test_output_dir_loads_with_auto_classes(seq_run):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tmp, _, cfg, rc, _ = seq_run
    out = tmp / "out"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "label_map.json", "training_args.json", "metrics.json"):
        assert (out / name).is_file(), name
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.id2label == {0: "neg", 1: "neu", 2: "pos"}
    assert json.loads((out / "label_map.json").read_text())["labels"] == datagen.SEQ_LABELS
    # The reloaded model and tokenizer reproduce the exported checkpoint's val accuracy.
    val = pq.read_table(cfg["data"]["val"]).to_pylist()
    enc = tok([r["text"] for r in val], padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        pred = model(**enc).logits.argmax(-1).tolist()
    acc = np.mean([datagen.SEQ_LABELS[p] == r["label"] for p, r in zip(pred, val)])
    assert acc == pytest.approx(seq_run[4][-1]["metrics"]["val_accuracy"])


def test_evaluate_writes_metrics_and_predictions(seq_run):
    tmp, splits, cfg, _, _ = seq_run
    ecfg = {"task": cfg["task"], "model": {"name_or_path": str(tmp / "out")},
            "tokenizer": {"type": "pretrained", "name_or_path": str(tmp / "out")},
            "data": {"test": str(splits["test"]), "max_length": 64}, "labels": datagen.SEQ_LABELS,
            "output_dir": str(tmp / "eval")}
    rc, events = run_inproc(datagen.write_config(tmp / "eval.json", ecfg), "evaluate")
    assert rc == 0, events
    assert [e["event"] for e in events] == ["started", "done"]
    metrics = json.loads((tmp / "eval" / "metrics.json").read_text())
    preds = pq.read_table(tmp / "eval" / "predictions.parquet").to_pylist()
    test_rows = pq.read_table(splits["test"]).to_pylist()
    assert [p["row_key"] for p in preds] == [r["row_key"] for r in test_rows]
    # Recompute the report from the predictions file by hand.
    y_true = np.array([p["label"] for p in preds])
    y_pred = np.array([p["prediction"] for p in preds])
    assert metrics["accuracy"] == pytest.approx(float((y_true == y_pred).mean()))
    rep = metrics["classification_report"]
    for lab in datagen.SEQ_LABELS:
        tp = int(((y_true == lab) & (y_pred == lab)).sum())
        assert rep[lab]["support"] == int((y_true == lab).sum())
        assert rep[lab]["precision"] == pytest.approx(tp / max(1, (y_pred == lab).sum()))
        assert rep[lab]["recall"] == pytest.approx(tp / max(1, (y_true == lab).sum()))
    cm = metrics["confusion_matrix"]
    assert cm["labels"] == datagen.SEQ_LABELS and sum(map(sum, cm["matrix"])) == len(preds)
    head = events[-1]["metrics"]
    assert head["accuracy"] == metrics["accuracy"]
    assert head["macro_f1"] == pytest.approx(rep["macro avg"]["f1-score"])


def test_token_classification_trains_and_evaluates(tmp_path):
    splits = datagen.ner_dataset(tmp_path / "features", n_train=200, n_val=60, n_test=60)
    cfg = datagen.run_config(tmp_path, splits, task="token-classification",
                             hparams={"epochs": 4, "learning_rate": 5e-3, "eval_every_steps": 13,
                                      "early_stopping": {"metric": "f1", "mode": "max", "patience": 5}},
                             checkpoint_every_steps=None)
    rc, events = run_inproc(datagen.write_config(tmp_path / "run.json", cfg))
    assert rc == 0, events
    evals = [e["metrics"] for e in events if e["event"] == "eval"]
    assert evals[-1]["loss"] < evals[0]["loss"]
    assert max(e["f1"] for e in evals) > 0.5
    ecfg = {**cfg, "model": {"name_or_path": str(tmp_path / "out")}, "output_dir": str(tmp_path / "eval")}
    rc, events = run_inproc(datagen.write_config(tmp_path / "eval.json", ecfg), "evaluate")
    assert rc == 0, events
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(events[-1]["metrics"]) >= {"precision", "recall", "f1"}
    assert metrics["f1"] == events[-1]["metrics"]["f1"] > 0.5
    preds = pq.read_table(tmp_path / "eval" / "predictions.parquet").to_pylist()
    assert all(len(p["predicted_tags"]) == len(p["tokens"]) for p in preds)
    from lakeforge_trainer.metrics import entity_report
    rep = entity_report([p["tags"] for p in preds], [p["predicted_tags"] for p in preds])
    assert rep["micro avg"]["f1-score"] == pytest.approx(metrics["f1"])


def test_wordpiece_training_is_reproducible():
    # The tokenizers trainer alone is not (hash-map order); a fresh restart must rebuild the same vocabulary.
    from lakeforge_trainer.modeling import train_wordpiece

    texts = [r["text"] for r in datagen.seq_rows(1500, 3)]
    a, b = (train_wordpiece(texts, 250, True) for _ in range(2))
    assert a.get_vocab() == b.get_vocab()
    assert len(a) == 250
    assert a.convert_ids_to_tokens(a("w7 superb")["input_ids"])[0] == "[CLS]"


def test_lora_trains_and_exports_a_merged_model(tmp_path):
    pytest.importorskip("peft")
    from transformers import AutoModelForSequenceClassification

    splits = datagen.seq_dataset(tmp_path / "features", n_train=96, n_val=32, n_test=16)
    cfg = datagen.run_config(tmp_path, splits, hparams={"epochs": 1, "learning_rate": 5e-3,
                                                        "lora": {"r": 4, "alpha": 8, "target_modules": ["query", "value"]}},
                             checkpoint_every_steps=3)
    rc, events = run_inproc(datagen.write_config(tmp_path / "run.json", cfg))
    assert rc == 0, events
    # Resuming from the (adapter-wrapped) checkpoint works too.
    rc, events = run_inproc(datagen.write_config(tmp_path / "run.json", cfg))
    assert rc == 0 and events[0]["resumed_from_step"] == 6
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")
    assert not any("lora" in name for name, _ in model.named_parameters())


def _predict_cfg(tmp, splits, out, **predict):
    return {"task": "sequence-classification", "model": {"name_or_path": str(tmp / "out")},
            "tokenizer": {"type": "pretrained", "name_or_path": str(tmp / "out")},
            "data": {"max_length": 64}, "labels": datagen.SEQ_LABELS, "output_dir": str(out),
            "predict": {"input_dir": str(splits["test"]), "key_columns": ["row_key"], "top_k": 2, "part_rows": 20, **predict}}


def test_predict_scores_every_row_in_parts_matching_evaluate(seq_run):
    tmp, splits, _, _, _ = seq_run
    rc, events = run_inproc(datagen.write_config(tmp / "predict.json", _predict_cfg(tmp, splits, tmp / "pred")), "predict")
    assert rc == 0, events
    assert [e["event"] for e in events] == ["started", "done"] and events[0]["mode"] == "predict"
    parts = sorted((tmp / "pred").glob("part-*.parquet"))
    rows = [r for p in parts for r in pq.read_table(p).to_pylist()]
    test_rows = pq.read_table(splits["test"]).to_pylist()
    assert len(parts) == -(-len(test_rows) // 20)
    assert [r["row_key"] for r in rows] == [r["row_key"] for r in test_rows]
    # The same model on the same rows: evaluate's predictions and probabilities (test_evaluate_... wrote them).
    ev = {p["row_key"]: p for p in pq.read_table(tmp / "eval" / "predictions.parquet").to_pylist()}
    for r in rows:
        assert r["prediction"] == ev[r["row_key"]]["prediction"] == r["top_labels"][0]
        assert r["score"] == pytest.approx(ev[r["row_key"]]["score"], abs=1e-5)
        assert len(r["top_scores"]) == 2 and r["top_scores"][0] >= r["top_scores"][1]
        assert r["text_length"] == len(next(t["text"] for t in test_rows if t["row_key"] == r["row_key"]))


def test_predict_shards_and_resume_write_the_same_parts(seq_run):
    tmp, splits, _, _, _ = seq_run
    whole = tmp / "pred-whole"
    rc, events = run_inproc(datagen.write_config(tmp / "whole.json", _predict_cfg(tmp, splits, whole)), "predict")
    assert rc == 0, events
    shard = tmp / "pred-shards"
    for i in range(2):
        rc, events = run_inproc(datagen.write_config(tmp / f"s{i}.json", _predict_cfg(tmp, splits, shard, shard_index=i, shard_count=2)), "predict")
        assert rc == 0, events
    assert sorted(p.name for p in shard.glob("part-*.parquet")) == sorted(p.name for p in whole.glob("part-*.parquet"))
    for p in whole.glob("part-*.parquet"):
        assert [r["row_key"] for r in pq.read_table(shard / p.name).to_pylist()] == [r["row_key"] for r in pq.read_table(p).to_pylist()]
    # A run that finds every part already there scores nothing and says so.
    rc, events = run_inproc(datagen.write_config(tmp / "again.json", _predict_cfg(tmp, splits, shard)), "predict")
    assert rc == 0 and events[-1]["metrics"]["resumed_parts"] == events[-1]["metrics"]["parts"]
    bad = _predict_cfg(tmp, splits, tmp / "bad")
    bad["predict"]["key_columns"] = ["no_such_column"]
    rc, events = run_inproc(datagen.write_config(tmp / "bad.json", bad), "predict")
    assert rc == 2 and events[-1]["kind"] == "bad_input" and events[-1]["column"] == "no_such_column"
