"""Long texts: head / tail / head+tail keep exactly the promised tokens; chunked evaluation pools the windows."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

import datagen
from conftest import run_inproc
from lakeforge_trainer.data import encode
from lakeforge_trainer.modeling import train_wordpiece
from lakeforge_trainer.splits import RawSplit
from lakeforge_trainer.truncation import keep_positions, pool, window_starts

WORDS = [f"w{i}" for i in range(100)]


@pytest.fixture(scope="module")
def tok():
    # Every word of the corpus is in the vocabulary, so one word is one token and positions are easy to check.
    return train_wordpiece([" ".join(WORDS)] * 3, vocab_size=400, lowercase=True)


def _ids(tok, words):
    return [tok.convert_tokens_to_ids(w) for w in words]


def test_keep_positions():
    assert keep_positions(5, 8, "head+tail", 2).tolist() == [0, 1, 2, 3, 4]
    assert keep_positions(10, 4, "head").tolist() == [0, 1, 2, 3]
    assert keep_positions(10, 4, "tail").tolist() == [6, 7, 8, 9]
    assert keep_positions(10, 5, "head+tail", 2).tolist() == [0, 1, 7, 8, 9]
    assert keep_positions(10, 8, "head+tail").tolist() == [0, 1, 4, 5, 6, 7, 8, 9]  # default head: budget // 4


@pytest.mark.parametrize("strategy,head,expect", [
    ("head", None, WORDS[:10]),
    ("tail", None, WORDS[-10:]),
    ("head+tail", 3, WORDS[:3] + WORDS[-7:]),
    ("head+tail", None, WORDS[:2] + WORDS[-8:]),
])
def test_encode_keeps_first_k_and_last_m_tokens(tok, strategy, head, expect):
    long_text = " ".join(WORDS)  # 100 tokens
    short = " ".join(WORDS[:4])
    raw = RawSplit("test", [], ["a", "b"], texts=[long_text, short], labels=[0, 1])
    ds = encode(raw, tok, "sequence-classification", max_length=12, truncation=strategy, head_tokens=head)
    cls, sep = tok.cls_token_id, tok.sep_token_id
    assert ds.input_ids[0].tolist() == [cls] + _ids(tok, expect) + [sep]
    assert ds.input_ids[1].tolist() == [cls] + _ids(tok, WORDS[:4]) + [sep]
    t = ds.truncation
    assert t["truncated_rows"] == 1 and t["truncated_fraction"] == 0.5
    assert t["dropped_tokens_total"] == 90 and t["dropped_tokens_max"] == 90 and t["longest_content_tokens"] == 100


def test_head_truncation_matches_the_tokenizers_own(tok):
    texts = [" ".join(WORDS[i:i + 40]) for i in range(0, 60, 7)]
    raw = RawSplit("test", [], [str(i) for i in range(len(texts))], texts=texts, labels=[0] * len(texts))
    ds = encode(raw, tok, "sequence-classification", max_length=16)
    ref = tok(texts, truncation=True, max_length=16)["input_ids"]
    assert [x.tolist() for x in ds.input_ids] == ref


def test_token_task_tail_keeps_the_last_words_tags(tok):
    raw = RawSplit("test", [], ["a"], tokens=[WORDS[:20]], tags=[list(range(20))])
    ds = encode(raw, tok, "token-classification", max_length=7, truncation="tail")
    st = ds.word_starts[0]
    assert (st[:15] == -1).all() and st[15:].tolist() == [1, 2, 3, 4, 5]
    assert ds.labels[0].tolist() == [-100, 15, 16, 17, 18, 19, -100]


def test_windows_and_pooling():
    assert window_starts(5, 8, 4) == [0]
    assert window_starts(20, 8, 5) == [0, 5, 10, 12]
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    doc = np.array([0, 0, 0, 1])
    assert pool(p, doc, 2, "mean") == pytest.approx(np.array([[1.7 / 3, 1.3 / 3], [0.3, 0.7]]))
    assert pool(p, doc, 2, "max") == pytest.approx(np.array([[0.9 / 1.7, 0.8 / 1.7], [0.3, 0.7]]))


@pytest.mark.parametrize("how", ["mean", "max"])
def test_chunked_evaluation_gives_the_pooled_prediction(tmp_path, tok, how):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(3)
    conf = AutoConfig.for_model(**{**datagen.TINY_BERT, "max_position_embeddings": 32}, vocab_size=len(tok),
                                num_labels=3, id2label=dict(enumerate(datagen.SEQ_LABELS)),
                                label2id={n: i for i, n in enumerate(datagen.SEQ_LABELS)})
    model = AutoModelForSequenceClassification.from_config(conf).eval()
    mdir = tmp_path / "model"
    model.save_pretrained(mdir)
    tok.save_pretrained(mdir)
    rng = np.random.default_rng(0)
    rows = [{"row_key": f"r{i}", "text": " ".join(rng.choice(WORDS, size=n)), "label": datagen.SEQ_LABELS[i % 3]}
            for i, n in enumerate([90, 10, 47])]
    test_dir = datagen.write_split(tmp_path / "f", "test", rows, parts=1)
    ecfg = {"task": "sequence-classification", "model": {"name_or_path": str(mdir)},
            "tokenizer": {"type": "pretrained", "name_or_path": str(mdir)},
            "data": {"test": str(test_dir), "max_length": 24, "chunks": {"size": 20, "stride": 15, "pool": how}},
            "labels": datagen.SEQ_LABELS, "output_dir": str(tmp_path / "eval")}
    rc, events = run_inproc(datagen.write_config(tmp_path / "eval.json", ecfg), "evaluate")
    assert rc == 0, events
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    preds = pq.read_table(tmp_path / "eval" / "predictions.parquet").to_pylist()
    # By hand: windows of 20 tokens every 15 (the last one ending at the text's end), one forward pass each.
    for row, pr in zip(rows, preds):
        ids = _ids(tok, row["text"].split())
        starts = list(range(0, max(1, len(ids) - 20), 15)) + ([len(ids) - 20] if len(ids) > 20 else [])
        probs = []
        for s in starts:
            x = torch.tensor([[tok.cls_token_id] + ids[s:s + 20] + [tok.sep_token_id]])
            with torch.no_grad():
                probs.append(torch.softmax(model(input_ids=x).logits, -1)[0].numpy())
        probs = np.array(probs)
        pooled = probs.mean(0) if how == "mean" else probs.max(0) / probs.max(0).sum()
        assert pr["probabilities"] == pytest.approx(pooled.tolist(), abs=1e-5)
        assert pr["prediction"] == datagen.SEQ_LABELS[int(pooled.argmax())]
    assert metrics["chunks"]["windows"] == 6 + 1 + 3
    assert metrics["truncation"]["truncated_rows"] == 0 and events[-1]["metrics"]["truncated_rows"] == 0
    assert metrics["chunks"]["rows_with_several_windows"] == 2 and metrics["chunks"]["max_windows_per_row"] == 6


def test_training_with_head_tail_records_what_was_cut(tmp_path):
    rows = [{"row_key": f"r{i}", "text": " ".join(WORDS[i % 50: i % 50 + 10 + (i % 30)]), "label": datagen.SEQ_LABELS[i % 3]}
            for i in range(60)]
    splits = {"train": datagen.write_split(tmp_path / "f", "train", rows, parts=1)}
    cfg = datagen.run_config(tmp_path, splits, hparams={"epochs": 1}, checkpoint_every_steps=None,
                             data={"max_length": 16, "truncation": "head+tail", "head_tokens": 4})
    rc, events = run_inproc(datagen.write_config(tmp_path / "run.json", cfg))
    assert rc == 0, events
    lengths = [len(r["text"].split()) for r in rows]  # one token per word
    over = [n - 14 for n in lengths if n > 14]
    done = events[-1]["metrics"]
    assert done["train_truncated_rows"] == len(over) > 0
    assert done["train_truncated_fraction"] == pytest.approx(len(over) / len(rows))
    assert done["train_truncated_tokens_mean"] == pytest.approx(np.mean(over))
    t = json.loads((tmp_path / "out" / "metrics.json").read_text())["truncation"]["train"]
    assert t["strategy"] == "head+tail" and t["dropped_tokens_total"] == sum(over)
