"""`SearchPlan`: everything one search needs, resolved once in the driver and saved with the run.

Precedence, lowest first: `RunConfig` defaults < the bundled `configs/<dataset>.yaml` < `--config FILE` <
command-line flags. A config file has the `data:`/`model:`/`train:` sections of a `selfre train`
config plus a `search:` section (the fields of `SearchConfig`, search_config.py; `space`: space.py).
`--resume` ignores all of that and reloads the plan saved in the run folder, so a resumed search is
the same search.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfre import storage
from selfre.config import DATASETS, RunConfig, load_yaml, per_rank_batch, resolve
from selfre.data.datasets import DEFAULT_DEMO_DIR
from selfre.errors import ConfigError
from selfre.redact import redact
from selfre.reproduce import SECTION as REPRODUCE
from selfre.search.resources import TrialResources
from selfre.search.search_config import SearchConfig
from selfre.search.space import Param, apply_params, max_epochs, parse_space
from selfre.storage.uri import is_remote

PLAN_FILE = "search_plan.json"
# The paper's settings and search spaces, one <dataset>.yaml each. Package data, so an installed wheel
# finds them; in a clone `tune/configs` is a symlink to this folder, the path the docs name.
BUNDLED_CONFIGS = Path(__file__).resolve().parent / "configs"


@dataclass
class SearchPlan:
    name: str
    dataset: str
    storage: str  # absolute local path or URI
    base: dict  # RunConfig.to_dict() every trial starts from
    search: SearchConfig
    # MLflow: None = the embedded SQLite store in the run folder; "none" = no tracking (module doc of
    # selfre.tracking.search_tracking). Saved, so a resumed search logs to the same place.
    tracking_uri: str | None = None
    # Per invocation, never saved: where to run and the open MLflow parent run's coordinates for the workers.
    address: str | None = field(default=None, compare=False)
    tracking: dict | None = field(default=None, compare=False)

    # -- derived views -----------------------------------------------------------------------------
    @property
    def experiment_uri(self) -> str:
        return storage.join(self.storage, self.name)

    @property
    def train_storage(self) -> str:
        return storage.join(self.experiment_uri, storage.TRAIN_RUNS)

    def run_config(self) -> RunConfig:
        return RunConfig.from_dict(self.base)

    def params(self) -> list[Param]:
        return parse_space(self.search.space, self.run_config())

    def resources(self) -> TrialResources:
        return self.search.resources()

    def max_epochs(self) -> int:
        return max_epochs(self.params(), self.run_config())

    @property
    def objective(self) -> str:
        """The resolved selection metric every trial ranks its epochs by and the search ranks configurations by."""
        return resolve(self.run_config().train.select_metric, self.dataset)

    def validate(self) -> SearchPlan:
        resources = self.search.validate().resources()
        params = self.params()  # parses and probes the space against the base config
        self._check_batch_divides(params, resources.workers)
        for i, point in enumerate(self.search.grid):
            try:
                apply_params(self.base, point, seed=self.search.seeds[0])
            except ConfigError as exc:
                raise ConfigError(f"search.grid[{i}] {point}: {exc}") from None
        if self.tracking_uri and redact(self.tracking_uri) != self.tracking_uri:
            raise ConfigError(
                "--tracking-uri must not carry credentials (they would be saved with the run and shown in logs): "
                "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in the environment instead"
            )
        return self

    def _check_batch_divides(self, params: list[Param], workers: int) -> None:
        """train.batch_size is the global batch: every value a trial can get must split evenly over its DDP
        workers. Checked here, before Ray starts, rather than in the first worker of the first bad trial."""
        sizes = {self.run_config().train.batch_size}
        for p in params:
            if p.key == "train.batch_size":
                sizes |= (
                    set(p.probe_values())
                    if p.kind == "choice"
                    else set(range(int(p.values[0]), int(p.values[1]) + 1, int(p.step or 1)))
                )
        for size in sorted(sizes):
            try:
                per_rank_batch(int(size), workers)
            except ConfigError as exc:
                raise ConfigError(f"{exc} (--workers-per-trial {workers})") from None

    def final_phase(self, params: dict) -> SearchPlan:
        """The re-training of the best configuration `params` on search.final_seeds: a fixed one-configuration
        grid, run and stored as the search NAME-final beside this one (its own Tune experiment, resumable),
        logging under this search's MLflow run."""
        search = self.search.replace(
            seeds=list(self.search.final_seeds),
            final_seeds=[],
            grid=[dict(params)],
            num_samples=1,
            scheduler="fifo",
            id_prefix="f",
            register=False,
            analysis="",
        )
        plan = SearchPlan(f"{self.name}-final", self.dataset, self.storage, self.base, search, self.tracking_uri)
        plan.address, plan.tracking = self.address, self.tracking
        return plan

    # -- persistence -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        # Redacted: the file is stored with the run, and `load` takes the storage from --storage anyway.
        return {
            "name": self.name,
            "dataset": self.dataset,
            "storage": redact(self.storage),
            "base": self.base,
            "search": self.search.to_dict(),
            "tracking_uri": self.tracking_uri,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SearchPlan:
        search = SearchConfig.from_dict(d["search"])
        return cls(d["name"], d["dataset"], d["storage"], d["base"], search, d.get("tracking_uri"))

    def save(self) -> None:
        # Keys in their order, not sorted: the space is define-by-run, and a condition's parameter must stay
        # ahead of the parameters that depend on it (space.parse_space) when --resume reads the plan back.
        storage.write_text(storage.join(self.experiment_uri, PLAN_FILE), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, storage_root: str, name: str) -> SearchPlan:
        uri = storage.join(storage.resolve(storage_root), name, PLAN_FILE)
        if not storage.exists(uri):
            raise ConfigError(
                f"--resume: no search named {name!r} under --storage {redact(storage_root)} "
                f"({PLAN_FILE} not found); give the --name and --storage of the search to continue"
            )
        plan = cls.from_dict(storage.read_json(uri))
        plan.storage = storage.resolve(storage_root)  # where it is now, should the folder have moved
        return plan


def build_plan(
    dataset: str,
    config_dir: str | Path = BUNDLED_CONFIGS,
    user_config: str | None = None,
    search_overrides: dict[str, Any] | None = None,
    apply_run_overrides=None,
    name: str | None = None,
    storage_root: str = "runs/search",
    tracking_uri: str | None = None,
) -> SearchPlan:
    """Merge the layers into a validated plan. `apply_run_overrides(RunConfig) -> RunConfig` applies
    the command line's config-field flags (the CLI passes `selfre.config_flags.config_from_args`)."""
    if dataset not in DATASETS:
        raise ConfigError(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    layers = [load_yaml(Path(config_dir) / f"{dataset}.yaml")]
    if user_config:
        layers.append(load_yaml(user_config))
    merged: dict[str, Any] = {}
    for layer in layers:
        _deep_merge(merged, layer)
    merged.pop(REPRODUCE, None)  # a best_config.json's record of how its trial ran: this search's flags decide
    overrides = {k: v for k, v in (search_overrides or {}).items() if v is not None}
    search = SearchConfig.from_dict({**merged.pop("search", {}), **overrides})

    cfg = RunConfig.from_dict(merged)
    if apply_run_overrides is not None:
        cfg = apply_run_overrides(cfg)
    cfg.data.dataset = dataset
    if dataset == "demo" and not cfg.data.data_dir:
        cfg.data.data_dir = DEFAULT_DEMO_DIR
    if cfg.data.data_dir and not is_remote(cfg.data.data_dir):
        # Absolute: Ray workers do not run in the driver's working directory. (s3://… is fetched by each
        # node before it reads: selfre.storage.data_dir.)
        cfg.data.data_dir = str(Path(cfg.data.data_dir).expanduser().resolve())
    name = name or f"{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"--name {name!r}: use letters, digits, '-', '_' and '.' only")
    plan = SearchPlan(name, dataset, storage.resolve(storage_root), cfg.validate().to_dict(), search, tracking_uri)
    return plan.validate()


def _deep_merge(into: dict, layer: dict) -> None:
    for key, value in layer.items():
        if key == "space":
            into[key] = copy.deepcopy(value)  # a space is replaced whole, never mixed across files
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
