"""run.json and the events against the JSON Schemas generated from contracts/trainer-protocol.ts."""

import json

import jsonschema
import pytest

import datagen
from lakeforge_trainer.config import validate_config
from lakeforge_trainer.errors import BadInput
from lakeforge_trainer.schemas import load_schema


def test_defaults_come_from_the_schema(tmp_path):
    cfg = validate_config({
        "task": "sequence-classification",
        "model": {"config": {"model_type": "bert", "hidden_size": 32}},
        "tokenizer": {"type": "train-wordpiece", "vocab_size": 100},
        "data": {"train": "/x"},
        "labels": ["a", "b"],
        "output_dir": "/out",
    })
    assert cfg["data"] == {"train": "/x", "val": None, "test": None, "text_column": "text", "label_column": "label",
                           "tokens_column": "tokens", "tags_column": "tags", "max_length": 128,
                           "truncation": "head", "head_tokens": None, "chunks": None}
    assert cfg["tokenizer"] == {"type": "train-wordpiece", "vocab_size": 100, "lowercase": True}
    assert cfg["hparams"]["grad_accum_steps"] == 1 and cfg["hparams"]["early_stopping"] is None
    assert cfg["model"] == {"config": {"model_type": "bert", "hidden_size": 32}}  # passthrough kwargs untouched
    assert (cfg["resume_from"], cfg["keep_last"], cfg["deterministic"]) == (None, 2, False)


def test_lora_defaults_fill_inside_a_nullable_object():
    cfg = datagen.run_config(datagen.Path("/tmp"), {"train": "/x"}, hparams={"lora": {"r": 4, "alpha": 8}})
    out = validate_config(cfg)
    assert out["hparams"]["lora"] == {"r": 4, "alpha": 8, "dropout": 0, "target_modules": None}


@pytest.mark.parametrize("patch, where", [
    ({"task": "regression"}, "task"),
    ({"labels": []}, "labels"),
    ({"keep_last": 0}, "keep_last"),
    ({"tokenizer": {"type": "train-wordpiece"}}, "tokenizer"),
    ({"hparams": {"batch_size": "16"}}, "hparams/batch_size"),
    ({"extra": 1}, "(root)"),
])
def test_invalid_configs_are_bad_input(patch, where):
    cfg = datagen.run_config(datagen.Path("/tmp"), {"train": "/x"})
    for k, v in patch.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and k == "hparams" else v
    with pytest.raises(BadInput) as exc:
        validate_config(cfg, source="run.json")
    assert f"invalid at {where}" in exc.value.message


def test_event_schema_is_strict():
    v = jsonschema.Draft202012Validator(load_schema("event"))
    ok = {"event": "checkpoint", "step": 3, "path": "/c/step-3", "reason": "interval"}
    assert v.is_valid(ok)
    assert not v.is_valid({**ok, "undeclared": 1})
    assert not v.is_valid({"event": "progress", "step": 1})
    assert not v.is_valid({"event": "error", "kind": "oops", "message": "m"})
    assert v.is_valid({"event": "done", "output_dir": "/o", "metrics": {"f1": 0.5}, "steps": 0})
    assert not v.is_valid({"event": "done", "output_dir": "/o", "metrics": {"f1": "high"}, "steps": 0})


def test_every_event_of_a_run_validates(tmp_path):
    from conftest import run_inproc

    splits = datagen.seq_dataset(tmp_path / "f", n_train=48, n_val=16, n_test=16)
    cfg = datagen.run_config(tmp_path, splits, hparams={"epochs": 2, "eval_every_steps": 2},
                             checkpoint_every_steps=3, progress_every_seconds=0.001)
    seen = []
    v = jsonschema.Draft202012Validator(load_schema("event"))

    def check(e):
        assert json.loads(json.dumps(e)) == e
        errors = list(v.iter_errors(e))
        assert not errors, (e, errors[0].message)
        seen.append(e["event"])

    rc, events = run_inproc(datagen.write_config(tmp_path / "run.json", cfg), validator=check)
    assert rc == 0
    assert set(seen) == {"started", "progress", "checkpoint", "eval", "done"}
    assert len([e for e in events if e["event"] == "progress"]) == 6  # every step, at this progress interval


def test_emitter_drops_nan_metrics_and_survives_a_dead_reader():
    import os

    from lakeforge_trainer.events import Emitter, event_validator

    r, w = os.pipe()
    stream = os.fdopen(w, "w")
    gone = []
    em = Emitter(stream, validator=event_validator(), on_broken_pipe=lambda: gone.append(True))
    em.emit("eval", step=1, metrics={"loss": float("nan"), "accuracy": 0.5})
    assert json.loads(os.read(r, 4096)) == {**em.history[-1], "metrics": {"accuracy": 0.5}}
    os.close(r)  # the parent died: the next write hits a broken pipe, which must not raise
    em.emit("checkpoint", step=2, path="/c/step-2")
    assert gone == [True]
