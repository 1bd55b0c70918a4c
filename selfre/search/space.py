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

A key may instead list alternatives, each with its own `when`, no two active together: one range per
regime, for a parameter whose right scale depends on another (λ weighs an SPP loss whose gradient is 100×
weaker under spp_alpha=softmax than under renormalize):

        model.spp_lambda:
          - {loguniform: [2.0, 50.0], when: {model.spp_alpha: softmax}}
          - {loguniform: [0.03, 1.0], when: {model.spp_alpha: renormalize}}

Optuna knows the N-th alternative as `KEY@N` (TPE models each range as its own dimension instead of mixing
two scales in one); everything after Optuna — trials, MLflow params, summaries — sees the config key.
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
_RESERVED = {
    "train.seed": "seeds come from search.seeds / --seeds",
    "out_dir": "each worker writes to its own folder",
    "train.select_metric": "it is the search's objective: set it once with --metric",
}


@dataclass(frozen=True)
class Param:
    key: str  # "model.spp_lambda"
    kind: str  # one of KINDS
    values: tuple  # the choices, or (low, high)
    step: float | None = None
    when: tuple[tuple[str, tuple], ...] = ()  # ((key, allowed values), ...)
    name: str = ""  # Optuna's name: the key, or KEY@N for the N-th of a key's alternatives

    @property
    def optuna_name(self) -> str:
        return self.name or self.key

    def active(self, sampled: dict[str, Any], base_flat: dict[str, Any]) -> bool:
        return all(sampled.get(k, base_flat.get(k)) in allowed for k, allowed in self.when)

    def suggest(self, trial) -> Any:
        name = self.optuna_name
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.values))
        low, high = self.values
        if self.kind == "int":
            return trial.suggest_int(name, int(low), int(high), step=int(self.step or 1))
        return trial.suggest_float(name, float(low), float(high), step=self.step, log=self.kind == "loguniform")

    def contains(self, value) -> bool:
        if self.kind == "choice":
            return value in self.values
        low, high = self.values
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            return False
        if self.kind == "int":
            return float(value).is_integer() and (value - low) % int(self.step or 1) == 0
        return self.step is None or math.isclose(
            (value - low) / self.step, round((value - low) / self.step), abs_tol=1e-9
        )

    def probe_values(self) -> list:
        """Values that exercise every bound and choice: used to validate the space before any trial."""
        return list(self.values)

    def describe(self) -> str:
        cond = "".join(f" if {k} in {list(v)}" for k, v in self.when)
        return f"{self.optuna_name}: {self.kind} {list(self.values)}{f' step {self.step}' if self.step else ''}{cond}"


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
        if isinstance(dist, list):
            params.extend(_parse_alternatives(where, key, dist, known, base))
            continue
        params.append(_parse_one(where, key, dist, known, base))
    _probe(params, base)
    return params


def _parse_one(where: str, key: str, dist, known: set[str], base: RunConfig, name: str = "") -> Param:
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
    return Param(key, kind, tuple(values), step, when, name)


def _parse_alternatives(where: str, key: str, dists: list, known: set[str], base: RunConfig) -> list[Param]:
    """A key's per-regime ranges (module doc): each needs a `when`, and any two must differ in the allowed
    values of a key they both condition on, so at most one is ever active."""
    if len(dists) < 2:
        raise ConfigError(f"{where}: a list gives alternatives, one per regime: give at least two, or a single mapping")
    params = [_parse_one(f"{where}[{i}]", key, d, known, base, name=f"{key}@{i + 1}") for i, d in enumerate(dists)]
    for i, a in enumerate(params):
        if not a.when:
            raise ConfigError(f"{where}[{i}]: an alternative needs a `when` saying in which regime it applies")
        for j, b in enumerate(params[:i]):
            mine, theirs = dict(a.when), dict(b.when)
            if not any(set(mine[k]).isdisjoint(theirs[k]) for k in mine.keys() & theirs.keys()):
                raise ConfigError(
                    f"{where}[{j}] and [{i}]: their `when`s can hold together; alternatives must "
                    "exclude each other (differ in the values of a key both condition on)"
                )
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
            if other in searched[i:] and other != p.key:
                raise ConfigError(f"search.space.{p.key}.when: {other!r} is searched after {p.key}; list it first")
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

    def __call__(self, trial) -> dict[str, Any]:
        # Ray's OptunaSearch hands a wrapper that records every suggest_* call under its Optuna name; sampling
        # on the Optuna trial it wraps and returning {config key: value} keeps `KEY@N` names inside Optuna.
        ot_trial = getattr(trial, "ot_trial", trial)
        sampled: dict[str, Any] = {}
        for p in self.params:
            if p.key not in sampled and p.active(sampled, self.base_flat):
                sampled[p.key] = p.suggest(ot_trial)
        return sampled  # the configuration


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
    keys: dict[str, Any] = {}  # by config key, for `when`
    for p in params:
        value = base_flat[p.key]
        if p.key not in keys and p.active(keys, base_flat) and p.contains(value):
            keys[p.key] = point[p.optuna_name] = value
    return point  # by Optuna name: Optuna enqueues it


def max_epochs(params: list[Param], base: RunConfig) -> int:
    """The longest a trial can run: ASHA's max_t."""
    epochs = [int(max(p.values)) for p in params if p.key == "train.epochs"]  # all its alternatives
    return max(epochs) if epochs else base.train.epochs
