"""The training loop end to end on the tiny encoder: learning, checkpoints, resume, evaluate, predict."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from selfre.cli import main
from selfre.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from selfre.data.datasets import DatasetSplits, load_splits
from selfre.data.demo import generate_demo
from selfre.predict import Predictor
from selfre.train.loop import train
from selfre.train.results import TrainHooks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, seed=13, n_train=200, n_dev=60, n_test=60)
    return out


def small_cfg(out_dir, data_dir, **train_kw) -> RunConfig:
    train_kw = {"epochs": 2, "batch_size": 16, "learning_rate": 5e-4, "progress": False, **train_kw}
    return RunConfig(
        data=DataConfig(dataset="demo", data_dir=str(data_dir), max_seq_length=64),
        model=ModelConfig(model_name_or_path="tiny"),
        train=TrainConfig(**train_kw),
        out_dir=str(out_dir),
    )


def test_tiny_model_overfits_64_demo_examples(demo_dir, tmp_path):
    splits = load_splits(DataConfig(dataset="demo", data_dir=str(demo_dir)))
    few = splits.train[:64]
    cfg = small_cfg(tmp_path, demo_dir, epochs=12, batch_size=8, learning_rate=1e-3, eval_every_epochs=12)
    result = train(cfg, splits=DatasetSplits(few, few, few, splits.label_set, {}))
    assert result.history[-1].step == 12 * 8  # bounded: 96 optimizer steps
    assert result.best_dev["f1"] >= 0.95
    assert result.test["f1"] >= 0.95


class Recorder(TrainHooks):
    def __init__(self):
        self.epochs, self.dirs = [], []

    def on_epoch_end(self, result, checkpoint_dir):
        self.epochs.append(result.summary())
        self.dirs.append(checkpoint_dir)


def test_checkpoint_layout_hooks_and_metrics(demo_dir, tmp_path):
    hooks = Recorder()
    result = train(small_cfg(tmp_path / "run", demo_dir), hooks=hooks)
    assert [e["epoch"] for e in hooks.epochs] == [1, 2]
    assert all(k in hooks.epochs[0] for k in ("train_loss", "loss_re", "loss_spp", "dev_f1", "learning_rate"))
    assert hooks.dirs[-1] == tmp_path / "run" / "last"
    ck = tmp_path / "run" / "checkpoint"
    for name in (
        "model.safetensors",
        "encoder/config.json",
        "tokenizer/tokenizer.json",
        "labels.json",
        "config.json",
        "metrics.json",
        "data_info.json",
    ):
        assert (ck / name).exists(), name
    assert (tmp_path / "run" / "last" / "training_state.pt").exists()
    saved = json.loads((ck / "config.json").read_text())
    assert RunConfig.from_dict(saved).model.spp_lambda == 0.4
    metrics = json.loads((ck / "metrics.json").read_text())
    assert metrics["best_epoch"] == result.best_epoch
    assert metrics["test"]["f1"] == pytest.approx(result.test["f1"])
    preds = (tmp_path / "run" / "test_predictions.txt").read_text().split()
    assert len(preds) == 60


class Crash(TrainHooks):
    """Simulates a killed run: dies right after epoch 1's checkpoint is written."""

    def on_epoch_end(self, result, checkpoint_dir):
        if result.epoch == 1:
            raise KeyboardInterrupt


def test_resume_continues_where_it_stopped(demo_dir, tmp_path):
    """A run killed after epoch 1 and resumed ends with the same weights as an uninterrupted run."""
    full = small_cfg(tmp_path / "full", demo_dir, epochs=2)
    train(full)
    part = replace(full, out_dir=str(tmp_path / "part"))
    with pytest.raises(KeyboardInterrupt):
        train(part, hooks=Crash())
    resumed = train(part, resume_from=tmp_path / "part" / "last")
    assert [h.epoch for h in resumed.history] == [1, 2]
    a = load_file(str(tmp_path / "full" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "part" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


def test_evaluate_predict_cli_and_predictor(demo_dir, tmp_path, capsys):
    train(small_cfg(tmp_path / "run", demo_dir))
    ck = tmp_path / "run" / "checkpoint"
    assert main(["evaluate", "--checkpoint", str(ck), "--split", "test", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    stored = json.loads((ck / "metrics.json").read_text())["test"]
    assert metrics["f1"] == pytest.approx(stored["f1"])

    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        json.dumps(
            {
                "text": "Anna Berg married Tom Lind in 1990 .",
                "subj": [0, 9],
                "obj": [18, 26],
                "subj_type": "PERSON",
                "obj_type": "PERSON",
                "id": "a",
            }
        )
        + "\n"
        + json.dumps(
            {
                "tokens": ["Anna", "Berg", "married", "Tom", "Lind", "."],
                "subj": [0, 2],
                "obj": [3, 5],
                "subj_type": "PERSON",
                "obj_type": "PERSON",
                "id": "b",
            }
        )
        + "\n"
    )
    assert main(["predict", "--checkpoint", str(ck), "--input", str(inputs)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"]
    # Character spans and token spans describe the same sentence: same answer.
    assert lines[0]["label"] == lines[1]["label"]
    assert 0 < lines[0]["probability"] <= 1
    predictor = Predictor(ck, device="cpu")
    labels = {p.label for p in predictor.predict([json.loads(x) for x in inputs.read_text().splitlines()])}
    assert labels == {lines[0]["label"]}
    assert predictor.model.encoder.config._attn_implementation == "sdpa"  # inference keeps the fused kernel


def test_predict_bad_record_names_file_and_record(demo_dir, tmp_path, capsys):
    train(small_cfg(tmp_path / "run", demo_dir, epochs=1))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"tokens": ["a", "b"], "subj": [0, 1], "obj": [1, 5], "id": "r9"}) + "\n")
    assert main(["predict", "--checkpoint", str(tmp_path / "run" / "checkpoint"), "--input", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "record 0 (id=r9)" in err and "out of range" in err


def test_best_epoch_follows_the_selection_metric(demo_dir, tmp_path):
    # pc_f1 (person-centric F1) instead of the demo's default micro F1: the best epoch is the first maximum
    # of dev person-centric F1, and every evaluated epoch reports that metric as dev_score.
    cfg = small_cfg(tmp_path, demo_dir, epochs=3, select_metric="pc_f1")
    result = train(cfg)
    scores = [h.score for h in result.history]
    assert scores == [h.dev["person_centric"]["f1"] for h in result.history]
    assert result.objective == "pc_f1"
    assert result.best_epoch == 1 + scores.index(max(scores))
    assert [h.summary()["dev_score"] for h in result.history] == scores
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["objective"] == "pc_f1" and saved["best_epoch"] == result.best_epoch


def test_yaml_config_values_are_typed(tmp_path):
    from selfre.config import RunConfig, load_yaml
    from selfre.errors import ConfigError

    path = tmp_path / "run.yaml"
    path.write_text("train:\n  learning_rate: 3e-5\n  epochs: 2\n")  # YAML 1.1 would read 3e-5 as a string
    cfg = RunConfig.from_dict(load_yaml(path))
    assert isinstance(cfg.train.learning_rate, float) and cfg.train.learning_rate == 3e-5
    path.write_text("train:\n  learning_rate: fast\n")
    with pytest.raises(ConfigError, match="train.learning_rate: expected a number, got str 'fast'"):
        RunConfig.from_dict(load_yaml(path))
    with pytest.raises(ConfigError, match="train.epochs: expected a whole number"):
        RunConfig.from_dict({"train": {"epochs": 2.5}})
