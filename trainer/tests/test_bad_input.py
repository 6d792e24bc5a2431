"""Bad input exits 2 with an `error` event of kind bad_input that names the file and column."""

import json

import pyarrow as pa
import pytest

import datagen
from conftest import run_inproc


@pytest.fixture
def seq(tmp_path):
    splits = datagen.seq_dataset(tmp_path / "features", n_train=64, n_val=16, n_test=16)
    return tmp_path, splits


def expect_bad(cfg_path, reason, *needles, command="train"):
    rc, events = run_inproc(cfg_path, command)
    assert rc == 2, events
    err = events[-1]
    assert err["event"] == "error" and err["kind"] == "bad_input" and err["reason"] == reason, err
    for n in needles:
        assert str(n) in err["message"], (n, err["message"])
    return err


def test_missing_split(seq):
    tmp, splits = seq
    cfg = datagen.run_config(tmp, {**splits, "val": tmp / "features" / "split=nope"})
    err = expect_bad(datagen.write_config(tmp / "run.json", cfg), "missing_split", "split=nope")
    assert err["file"].endswith("split=nope")


def test_missing_test_split_for_evaluate(seq):
    tmp, splits = seq
    cfg = datagen.run_config(tmp, {**splits, "test": None})
    cfg["model"] = {"name_or_path": str(tmp)}
    expect_bad(datagen.write_config(tmp / "run.json", cfg), "missing_split", "data.test", command="evaluate")


def test_unknown_label(seq):
    tmp, splits = seq
    rows = datagen.seq_rows(10, 5)
    rows[3]["label"] = "meh"
    d = datagen.write_split(tmp / "bad", "train", rows, parts=1)
    cfg = datagen.run_config(tmp, {**splits, "train": d})
    err = expect_bad(datagen.write_config(tmp / "run.json", cfg), "unknown_label", "'meh'", "part-00000.parquet", "row 3")
    assert err["column"] == "label" and err["file"].endswith("part-00000.parquet")


def test_unknown_tag(tmp_path):
    rows = datagen.ner_rows(10, 1)
    rows[2]["tags"][0] = "B-ORG"
    splits = {"train": datagen.write_split(tmp_path / "f", "train", rows, parts=1)}
    cfg = datagen.run_config(tmp_path, splits, task="token-classification")
    err = expect_bad(datagen.write_config(tmp_path / "run.json", cfg), "unknown_label", "B-ORG")
    assert err["column"] == "tags"


def test_empty_split(seq):
    tmp, splits = seq
    schema = pa.schema([("row_key", pa.string()), ("text", pa.string()), ("label", pa.string())])
    d = datagen.write_split(tmp / "empty", "train", [], parts=1, schema=schema)
    cfg = datagen.run_config(tmp, {**splits, "train": d})
    expect_bad(datagen.write_config(tmp / "run.json", cfg), "empty", "no rows")


def test_label_column_of_wrong_type(seq):
    tmp, splits = seq
    rows = [{"row_key": "a", "text": "hello", "label": 1}, {"row_key": "b", "text": "x", "label": 0}]
    d = datagen.write_split(tmp / "ints", "train", rows, parts=1)
    cfg = datagen.run_config(tmp, {**splits, "train": d})
    err = expect_bad(datagen.write_config(tmp / "run.json", cfg), "wrong_type", "'label'", "int64", "string")
    assert err["column"] == "label"


def test_tokens_column_of_wrong_type(tmp_path):
    rows = [{"row_key": "a", "tokens": "alice went", "tags": ["B-PER", "O"]}]
    splits = {"train": datagen.write_split(tmp_path / "f", "train", rows, parts=1)}
    cfg = datagen.run_config(tmp_path, splits, task="token-classification")
    err = expect_bad(datagen.write_config(tmp_path / "run.json", cfg), "wrong_type", "'tokens'", "list<string>")
    assert err["column"] == "tokens"


def test_tokens_and_tags_of_different_lengths(tmp_path):
    rows = [{"row_key": "a", "tokens": ["alice", "went"], "tags": ["B-PER"]}]
    splits = {"train": datagen.write_split(tmp_path / "f", "train", rows, parts=1)}
    cfg = datagen.run_config(tmp_path, splits, task="token-classification")
    expect_bad(datagen.write_config(tmp_path / "run.json", cfg), "wrong_type", "2 tokens but 1 tags")


def test_missing_column(seq):
    tmp, splits = seq
    rows = [{"row_key": "a", "body": "hello", "label": "pos"}]
    d = datagen.write_split(tmp / "renamed", "train", rows, parts=1)
    cfg = datagen.run_config(tmp, {**splits, "train": d})
    err = expect_bad(datagen.write_config(tmp / "run.json", cfg), "missing_column", "missing column 'text'")
    assert err["column"] == "text"


def test_null_text(seq):
    tmp, splits = seq
    rows = [{"row_key": "a", "text": "hello", "label": "pos"}, {"row_key": "b", "text": None, "label": "neg"}]
    d = datagen.write_split(tmp / "nulls", "train", rows, parts=1)
    cfg = datagen.run_config(tmp, {**splits, "train": d})
    expect_bad(datagen.write_config(tmp / "run.json", cfg), "wrong_type", "null value in column 'text' at row 1")


def test_corrupt_parquet(seq):
    tmp, splits = seq
    d = tmp / "corrupt" / "split=train"
    d.mkdir(parents=True)
    (d / "part-00000.parquet").write_bytes(b"PAR1 this is not parquet")
    cfg = datagen.run_config(tmp, {**splits, "train": d})
    expect_bad(datagen.write_config(tmp / "run.json", cfg), "unreadable", "part-00000.parquet")


def test_invalid_config(seq):
    tmp, splits = seq
    cfg = datagen.run_config(tmp, splits)
    cfg["hparams"]["lerning_rate"] = 0.1
    path = datagen.write_config(tmp / "run.json", cfg)
    expect_bad(path, "config", "run.json", "hparams", "lerning_rate")
    cfg = datagen.run_config(tmp, splits, hparams={"early_stopping": {"metric": "bleu", "mode": "max", "patience": 1}})
    expect_bad(datagen.write_config(tmp / "run.json", cfg), "config", "bleu")
    (tmp / "broken.json").write_text("{not json")
    expect_bad(tmp / "broken.json", "config", "broken.json")
    expect_bad(tmp / "absent.json", "config", "absent.json")


def test_resume_with_a_different_config(seq):
    tmp, splits = seq
    cfg = datagen.run_config(tmp, splits, hparams={"max_steps": 2}, checkpoint_every_steps=1)
    rc, _ = run_inproc(datagen.write_config(tmp / "run.json", cfg))
    assert rc == 0
    # Checkpoint cadence, paths and output may change between attempts; what is trained may not.
    same = datagen.run_config(tmp, splits, hparams={"max_steps": 2}, checkpoint_every_steps=5, output_dir=str(tmp / "o2"))
    rc, events = run_inproc(datagen.write_config(tmp / "run.json", same))
    assert rc == 0 and events[0]["resumed_from_step"] == 2
    changed = datagen.run_config(tmp, splits, hparams={"max_steps": 2, "learning_rate": 1e-4})
    err = expect_bad(datagen.write_config(tmp / "run.json", changed), "config_mismatch", "different config", "step-2")
    assert err["file"].endswith("step-2")


def test_bad_input_exits_2_as_a_process(seq, child_factory):
    tmp, splits = seq
    cfg = datagen.run_config(tmp, {**splits, "train": tmp / "nowhere"})
    c = child_factory(datagen.write_config(tmp / "run.json", cfg))
    assert c.wait() == 2
    assert [e["event"] for e in c.events] == ["error"]  # stdout held nothing but this JSON line
    assert c.events[0]["kind"] == "bad_input" and "nowhere" in c.events[0]["message"]
    assert "bad input" in c.stderr
    assert json.loads(c.raw_lines[0]) == c.events[0]


def test_evaluate_a_directory_that_is_not_a_model(seq):
    tmp, splits = seq
    (tmp / "not-a-model").mkdir()
    cfg = datagen.run_config(tmp, splits)
    cfg["model"] = {"name_or_path": str(tmp / "not-a-model")}
    expect_bad(datagen.write_config(tmp / "run.json", cfg), "config", "not-a-model", command="evaluate")
