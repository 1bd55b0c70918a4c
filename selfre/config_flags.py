"""Command-line flags generated from the config dataclasses, so `--help` is the field documentation.

Every dataclass built with `selfre.config.option` gets its flags here: `RunConfig`'s sections (`selfre train`,
the search, the ablation), `SearchConfig` (selfre.search.search_config) and `BenchSettings`. A field's flag
is `--field-name`; its type, choices, metavar and help come from the field.

Precedence: dataclass default < `--config FILE.yaml` < explicit flags. Flags default to None so an
unset flag never overrides a value from the YAML file (or the dataclass default).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from selfre.config import DataConfig, ModelConfig, RunConfig, TrainConfig, load_yaml
from selfre.reproduce import SECTION as REPRODUCE

SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
# Short spellings users expect; the long dataclass name stays valid too.
ALIASES = {"model_name_or_path": ["--model"], "learning_rate": ["--lr"], "select_metric": ["--metric"]}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def parse_int_list(text: str) -> list[int]:
    """`42,52,62` -> [42, 52, 62] (the type of a `list[int]` field's flag; what the list may hold is the
    config's to check, e.g. SearchConfig.validate for seeds)."""
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 42,52,62, got {text!r}") from None


PARSERS = {"int": int, "float": float, "str": str, "list[int]": parse_int_list}


def field_default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def add_field_flags(
    group,
    cls,
    dest: Callable[[str], str] = str,
    default_note: Callable[[str, object], str] = lambda name, default: f"(default: {default!r})",
    exclude=(),
    aliases: dict[str, list[str]] | None = None,
) -> None:
    """One flag per field of dataclass `cls` that is a flag (`option(..., flag=True)`, the default), into the
    argparse `group`, stored under `dest(field name)` with default None. The help ends with
    `default_note(name, default)` unless the field's help states its default itself."""
    for f in dataclasses.fields(cls):
        if f.name in exclude or not f.metadata.get("flag", False):
            continue
        names = [*(aliases or {}).get(f.name, []), flag(f.name)]
        help_text = f.metadata["help"]
        if "(default:" not in help_text:
            help_text = f"{help_text} {default_note(f.name, field_default(f))}"
        kwargs = {"dest": dest(f.name), "default": None, "help": help_text.replace("%", "%%")}
        if str(f.type) == "bool":
            group.add_argument(*names, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            choices = f.metadata.get("choices")
            metavar = None if choices else f.metadata.get("metavar", f.name.upper())
            group.add_argument(*names, type=PARSERS[str(f.type)], choices=choices, metavar=metavar, **kwargs)


def given(args: argparse.Namespace, cls, dest: Callable[[str], str] = str) -> dict:
    """The fields of `cls` whose flags were given (not None), by field name."""
    values = {f.name: getattr(args, dest(f.name), None) for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if v is not None}


def add_config_args(
    parser: argparse.ArgumentParser, sections=("data", "model", "train"), exclude=(), config_file=True
) -> None:
    """One flag per config field; `config_file` adds `--config FILE.yaml` (callers with their own say False)."""
    if config_file:
        parser.add_argument(
            "--config", metavar="FILE.yaml", help="YAML with data:/model:/train: sections; flags override it."
        )
    for section in sections:
        group = parser.add_argument_group(f"{section} options")
        add_field_flags(
            group, SECTIONS[section], dest=lambda name, s=section: f"{s}.{name}", exclude=exclude, aliases=ALIASES
        )


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
