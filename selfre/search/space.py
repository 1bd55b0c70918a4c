"""The search space: parsed from the YAML `search.space` mapping, sampled by Optuna define-by-run.

YAML form (one entry per `section.field` of `RunConfig`, sampled in the order written):

    search:
      space:
        model.weighting: {choice: [manual, uncertainty]}
        model.spp_lambda: {uniform: [0.1, 1.0], when: {model.weighting: manual}}
        train.epochs: {int: [8, 12]}
        train.learning_rate: {loguniform: [1.0e-5, 5.0e-5]}

`when` makes a parameter conditional: it is sampled only if every named key (an earlier parameter, or
the base config when that key is not searched) has one of the listed values. This is why the space is
a define-by-run function rather than a fixed dict: with a fixed dict Optuna would sample λ under
uncertainty weighting too and learn from a value that had no effect.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from selfre.config import RunConfig, flatten
from selfre.errors import ConfigError

KINDS = ("choice", "uniform", "loguniform", "int")
_SECTIONS = ("data", "model", "train")
# Keys the platform owns: a search over them would be silently overwritten per trial.
_RESERVED = {"train.seed": "seeds come from search.seeds / --seeds", "out_dir": "each worker writes to its own folder",
             "train.select_metric": "it is the search's objective: set it once with --metric"}


@dataclass(frozen=True)
class Param:
    key: str  # "model.spp_lambda"
    kind: str  # one of KINDS
    values: tuple  # the choices, or (low, high)
    step: float | None = None
    when: tuple[tuple[str, tuple], ...] = ()  # ((key, allowed values), ...)

    def active(self, sampled: dict[str, Any], base_flat: dict[str, Any]) -> bool:
        return all(sampled.get(k, base_flat.get(k)) in allowed for k, allowed in self.when)

    def suggest(self, trial) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values))
        low, high = self.values
        if self.kind == "int":
            return trial.suggest_int(self.key, int(low), int(high), step=int(self.step or 1))
        return trial.suggest_float(self.key, float(low), float(high), step=self.step, log=self.kind == "loguniform")

    def contains(self, value) -> bool:
        if self.kind == "choice":
            return value in self.values
        low, high = self.values
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            return False
        if self.kind == "int":
            return float(value).is_integer() and (value - low) % int(self.step or 1) == 0
        return self.step is None or math.isclose((value - low) / self.step, round((value - low) / self.step), abs_tol=1e-9)

    def probe_values(self) -> list:
        """Values that exercise every bound and choice: used to validate the space before any trial."""
        return list(self.values)

    def describe(self) -> str:
        cond = "".join(f" if {k} in {list(v)}" for k, v in self.when)
        return f"{self.key}: {self.kind} {list(self.values)}{f' step {self.step}' if self.step else ''}{cond}"


def parse_space(spec: dict | None, base: RunConfig) -> list[Param]:
    """`search.space` mapping -> ordered Params; ConfigError naming the key for anything unusable."""
    if not spec:
        raise ConfigError("search.space is empty: name at least one parameter to search")
    if not isinstance(spec, dict):
        raise ConfigError("search.space must be a mapping of 'section.field' to a distribution")
    known = set(flatten(base))
    params: list[Param] = []
    for key, dist in spec.items():
        where = f"search.space.{key}"
        if key in _RESERVED:
            raise ConfigError(f"{where}: cannot be searched ({_RESERVED[key]})")
        if key not in known or key.split(".", 1)[0] not in _SECTIONS:
            raise ConfigError(f"{where}: not a config field (expected 'data.*', 'model.*' or 'train.*')")
        if not isinstance(dist, dict):
            raise ConfigError(f"{where}: expected a mapping like {{choice: [...]}} or {{uniform: [low, high]}}")
        kinds = [k for k in dist if k in KINDS]
        extra = set(dist) - set(KINDS) - {"step", "when"}
        if len(kinds) != 1 or extra:
            raise ConfigError(f"{where}: give exactly one of {', '.join(KINDS)} (plus optional step, when)")
        kind = kinds[0]
        values = dist[kind]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.{kind}: expected a non-empty list")
        if kind != "choice":
            if len(values) != 2 or not all(isinstance(v, int | float) for v in values) or values[0] >= values[1]:
                raise ConfigError(f"{where}.{kind}: expected [low, high] numbers with low < high")
            if kind == "loguniform" and values[0] <= 0:
                raise ConfigError(f"{where}.loguniform: bounds must be > 0")
            if kind != "int" and _field_type(base, key) == "int":  # Optuna would hand every trial a fraction
                raise ConfigError(f"{where}.{kind}: {key} is a whole number; use {{int: {list(values)}}}")
        step = dist.get("step")
        if step is not None and (kind == "choice" or not isinstance(step, int | float) or step <= 0):
            raise ConfigError(f"{where}.step: only for uniform/int, and must be > 0")
        when = _parse_when(where, dist.get("when"), known, key)
        params.append(Param(key, kind, tuple(values), step, when))
    _probe(params, base)
    return params


def _field_type(base: RunConfig, key: str) -> str:
    """The declared type of config field 'section.field' ("int", "float", ...)."""
    section, name = key.split(".", 1)
    return next(str(f.type) for f in dataclasses.fields(getattr(base, section)) if f.name == name)


def _parse_when(where: str, when, known: set[str], key: str) -> tuple:
    if when is None:
        return ()
    if not isinstance(when, dict) or not when:
        raise ConfigError(f"{where}.when: expected a mapping of 'section.field' to a value or list of values")
    out = []
    for other, allowed in when.items():
        if other == key or other not in known:
            raise ConfigError(f"{where}.when: {other!r} is not another config field")
        out.append((other, tuple(allowed) if isinstance(allowed, list) else (allowed,)))
    return tuple(out)


def _probe(params: list[Param], base: RunConfig) -> None:
    """Every choice and bound must give a valid RunConfig, and `when` must only look backwards."""
    searched = [p.key for p in params]
    for i, p in enumerate(params):
        for other, _ in p.when:
            if other in searched[i:]:
                raise ConfigError(
                    f"search.space.{p.key}.when: {other!r} is searched after {p.key}; list it first"
                )
        for value in p.probe_values():
            try:
                apply_params(base.to_dict(), {p.key: value}, seed=base.train.seed)
            except (ConfigError, TypeError, ValueError) as exc:
                raise ConfigError(f"search.space.{p.key}: value {value!r} is not usable: {exc}") from None


class DefineByRun:
    """The callable OptunaSearch runs per configuration: samples the active params only.

    A class, not a closure: OptunaSearch saves itself (this included) with the standard pickle."""

    def __init__(self, params: list[Param], base: RunConfig):
        self.params = params
        self.base_flat = flatten(base)

    def __call__(self, trial) -> None:
        sampled: dict[str, Any] = {}
        for p in self.params:
            if p.active(sampled, self.base_flat):
                sampled[p.key] = p.suggest(trial)
        return None  # OptunaSearch records every suggest_* call as the configuration


def apply_params(base: dict, params: dict[str, Any], seed: int) -> RunConfig:
    """Base config dict + one configuration's values + one seed -> validated RunConfig (values take their
    field's type in RunConfig.from_dict: Optuna's ints for float fields and the like)."""
    d = copy.deepcopy(base)
    for key, value in params.items():
        section, name = key.split(".", 1)
        d[section][name] = value
    d["train"]["seed"] = int(seed)
    return RunConfig.from_dict(d).validate()


def default_point(params: list[Param], base: RunConfig) -> dict[str, Any]:
    """The base config's value of every searched param that is active under the others' base values and
    lies inside its distribution: the configuration Optuna tries first (search.start_from_defaults).
    A base value outside the searched range is left to the sampler."""
    base_flat = flatten(base)
    point: dict[str, Any] = {}
    for p in params:
        value = base_flat[p.key]
        if p.active(point, base_flat) and p.contains(value):
            point[p.key] = value
    return point


def max_epochs(params: list[Param], base: RunConfig) -> int:
    """The longest a trial can run: ASHA's max_t."""
    for p in params:
        if p.key == "train.epochs":
            return int(max(p.values))
    return base.train.epochs
