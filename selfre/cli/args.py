"""Command-line flags generated from the config dataclasses, so `--help` is the field documentation.

Precedence: dataclass default < `--config FILE.yaml` < explicit flags. Flags default to None so an
unset flag never overrides a value from the YAML file.
"""

from __future__ import annotations

import argparse
import dataclasses

from selfre.config import DataConfig, ModelConfig, RunConfig, TrainConfig, load_yaml
from selfre.reproduce import SECTION as REPRODUCE

SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
# Short spellings users expect; the long dataclass name stays valid too.
ALIASES = {"model_name_or_path": ["--model"], "learning_rate": ["--lr"], "select_metric": ["--metric"]}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_args(parser: argparse.ArgumentParser, sections=("data", "model", "train"), exclude=(), config_file=True) -> None:
    """One flag per config field; `config_file` adds `--config FILE.yaml` (callers with their own say False)."""
    if config_file:
        parser.add_argument("--config", metavar="FILE.yaml", help="YAML with data:/model:/train: sections; flags override it.")
    for section in sections:
        group = parser.add_argument_group(f"{section} options")
        for f in dataclasses.fields(SECTIONS[section]):
            if f.name in exclude:
                continue
            names = [*ALIASES.get(f.name, []), flag(f.name)]
            kwargs = {"dest": f"{section}.{f.name}", "default": None}
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            help_text = f"{f.metadata.get('help', '')} (default: {default!r})"
            if f.type in ("bool", bool):
                group.add_argument(*names, action=argparse.BooleanOptionalAction, help=help_text, **kwargs)
            else:
                ftype = {"int": int, "float": float, "str": str}.get(str(f.type), str)
                group.add_argument(
                    *names, type=ftype, choices=f.metadata.get("choices"), metavar=None if f.metadata.get("choices") else f.name.upper(),
                    help=help_text, **kwargs,
                )  # fmt: skip


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """Merge defaults, the optional YAML file and explicit flags into one validated RunConfig."""
    cfg = base.to_dict() if base else RunConfig().to_dict()
    if getattr(args, "config", None):
        loaded = load_yaml(args.config)
        loaded.pop(REPRODUCE, None)  # how a search trial ran, not a config field (selfre.reproduce)
        for key, value in loaded.items():
            if isinstance(value, dict) and key in cfg:
                cfg[key].update(value)
            else:
                cfg[key] = value
    for dest, value in vars(args).items():
        if value is None or "." not in dest:
            continue
        section, name = dest.split(".", 1)
        if section in SECTIONS:
            cfg[section][name] = value
    if getattr(args, "out", None):
        cfg["out_dir"] = args.out
    return RunConfig.from_dict(cfg).validate()
