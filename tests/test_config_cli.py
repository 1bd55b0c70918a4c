"""Config dataclasses <-> YAML <-> flags, and `--help` completeness for every subcommand."""

from __future__ import annotations

import argparse

import pytest

from selfre.cli import build_parser, main
from selfre.config import RunConfig, flatten, parse_spp_layers
from selfre.config_flags import add_config_args, config_from_args
from selfre.errors import ConfigError


def _parse(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    add_config_args(p)
    return config_from_args(p.parse_args(argv))


def test_yaml_then_flags_precedence(tmp_path):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("model:\n  spp_lambda: 0.7\n  weighting: uncertainty\ntrain:\n  epochs: 3\n")
    cfg = _parse(["--config", str(cfg_file), "--spp-lambda", "0.2", "--no-use-hr", "--model", "tiny"])
    assert cfg.model.spp_lambda == 0.2  # flag beats YAML
    assert cfg.model.weighting == "uncertainty"  # YAML beats default
    assert cfg.train.epochs == 3
    assert cfg.model.use_hr is False and cfg.model.use_spp is True
    assert cfg.model.model_name_or_path == "tiny"
    assert cfg.train.learning_rate == 3e-5  # default untouched


def test_unknown_yaml_key_is_named(tmp_path):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text("model:\n  spp_lamda: 0.7\n")
    with pytest.raises(ConfigError, match=r"model\.spp_lamda"):
        _parse(["--config", str(cfg_file)])


def test_invalid_choice_in_yaml_is_named(tmp_path):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text("model:\n  head: mlp\n")
    with pytest.raises(ConfigError, match=r"model\.head='mlp'"):
        _parse(["--config", str(cfg_file)])


def test_roundtrip_and_flatten():
    cfg = RunConfig()
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    flat = flatten(cfg)
    assert flat["model.spp_lambda"] == 0.4 and flat["train.seed"] == 42 and flat["data.dataset"] == "demo"


@pytest.mark.parametrize(
    ("spec", "n", "expected"), [("all", 4, [1, 2, 3, 4]), ("last", 4, [4]), ("3,1", 4, [1, 3]), (" 2 ", 12, [2])]
)
def test_spp_layers(spec, n, expected):
    assert parse_spp_layers(spec, n) == expected


@pytest.mark.parametrize("spec", ["0", "5", "x", ""])
def test_spp_layers_rejects(spec):
    with pytest.raises(ConfigError, match="spp_layers"):
        parse_spp_layers(spec, 4)


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_every_flag_of_every_subcommand_has_help():
    parser = build_parser()
    seen = []
    stack = [("selfre", parser)]
    while stack:
        name, p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            assert action.help and action.help.strip(), f"{name}: {action.option_strings or action.dest} has no help"
        for sub_name, sub in _subparsers(p):
            seen.append(f"{name} {sub_name}")
            stack.append((f"{name} {sub_name}", sub))
    for expected in ("train", "evaluate", "predict", "score", "data", "data check", "data retacred", "data demo"):
        assert f"selfre {expected}" in seen


def test_train_help_lists_every_spec_switch(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--use-spp",
        "--use-hr",
        "--spp-layers",
        "--spp-target",
        "--spp-epsilon",
        "--spp-direction",
        "--spp-alpha",
        "--iel-include-markers",
        "--hr-connector",
        "--head",
        "--weighting",
        "--spp-lambda",
        "--marker",
        "--max-seq-length",
        "--learning-rate",
        "--warmup-ratio",
        "--max-grad-norm",
        "--amp",
        "--seed",
        "--resume",
    ):
        assert flag in out, flag


def test_bad_flag_value_exits_with_message(capsys):
    assert main(["train", "--out", "x", "--dataset", "demo", "--spp-layers", "zero"]) == 2
    assert "spp_layers" in capsys.readouterr().err
