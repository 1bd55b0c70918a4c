"""The search's settings: the `search:` section of a config file, typed like `RunConfig` (selfre.config).

One dataclass per concern: what is searched and how (`SamplingConfig`), what a trial asks Ray for
(`ResourceConfig`), where and what MLflow records (`TrackingConfig`) and the report of an ablation
(`AblationConfig`). `SearchConfig` is all four, flat, as config files and saved plans write them
(`search: {num_samples: 8, workers_per_trial: 2, ...}`). Each field carries its help; a field that is a flag
(`option(..., flag=False)` is not) gets it from selfre.config_flags, and the YAML values are typed and checked
by the same machinery as `RunConfig`'s (`build_section`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from selfre.config import build_section, option
from selfre.errors import ConfigError
from selfre.search.resources import PLACEMENTS, TrialResources

SCHEDULERS = ("asha", "fifo")
SEEDS_METAVAR = "S1,S2,..."


@dataclass
class SamplingConfig:
    num_samples: int = option(8, "Configurations to try (each trained once per seed).", metavar="N")
    seeds: list[int] = option([42, 52, 62], "Seeds every configuration is trained with.", metavar=SEEDS_METAVAR)
    scheduler: str = option(
        "asha",
        "asha: stop configurations early at epoch rungs, each judged on all of its seeds that reached the rung "
        "(the rules: SeedGroupASHA in selfre/search/scheduler.py); a stopped configuration is pruned (never "
        "best). fifo: run every trial to the end.",
        SCHEDULERS,
    )
    # ASHA (rungs are fractions of each trial's schedule: selfre.search.scheduler).
    grace_period: int = option(1, "ASHA: first rung, in epochs of the longest schedule.", flag=False)
    reduction_factor: float = option(2.0, "ASHA: keep the top 1/reduction_factor at each rung.", flag=False)
    asha_min_seeds: int = option(
        2, "ASHA: seeds a configuration needs at a rung before it is judged (capped at len(seeds)).", flag=False
    )
    sampler_seed: int = option(0, "Seed of Optuna's TPE sampler.", metavar="N")
    start_from_defaults: bool = option(
        True,
        "The first configuration tried is the base config's values of the searched params (the paper's Table 3 "
        "defaults in tune/configs/*.yaml), so every search measures the published setting too.",
        flag=False,
    )
    optuna_storage: str = option(
        "auto",
        "Optuna study storage: 'auto' = optuna.db (SQLite) at a local storage root (optuna-dashboard and "
        "Optuna's plots read it), in memory for s3:// storage; 'none' = in memory; or an Optuna RDB URL "
        "(postgresql://...).",
        flag=False,
    )
    space: dict = option({}, "The searched parameters (selfre.search.space).", flag=False)
    final_seeds: list[int] = option(
        [],
        "After the search, re-train the best configuration once per seed here and register the best-dev one of "
        "those, with mean ± std over these seeds (the search's own winner is a maximum over noisy estimates; this "
        "re-measures it). Stored as the search NAME-final beside it.",
        metavar=SEEDS_METAVAR,
    )
    grid: list[dict] = option(
        [],
        "A fixed list of configurations (params dicts) instead of Optuna: ablations and the final re-training "
        "phase. `space` still validates them and gives max_epochs.",
        flag=False,
    )
    id_prefix: str = option("c", "Configuration ids are <prefix>001, ...", flag=False)


@dataclass
class ResourceConfig:
    max_concurrent: int = option(
        0,
        "Trials running at once (0 = as many as fit the cluster when the search starts, at least 1 with --address; "
        "on an autoscaling cluster set N to let it grow).",
        metavar="N",
    )
    workers_per_trial: int = option(2, "Ray Train DDP workers per trial.", metavar="N")
    gpus_per_worker: float = option(
        0.0,
        "GPUs per worker; fractions share a GPU between workers (0 = train on CPU with gloo; AMP is used on GPU "
        "per --amp).",
        metavar="X",
    )
    placement: str = option(
        "auto",
        "Ray placement strategy of a trial's workers (auto = STRICT_PACK for a multi-worker GPU trial: all its "
        "GPUs on one node; PACK otherwise).",
        PLACEMENTS,
    )
    cpus_per_worker: float = option(
        1.0, "CPUs per worker; also its torch threads unless --num-threads is set.", metavar="X"
    )
    max_failures: int = option(
        3, "Worker-group restarts per trial, each resuming from the trial's last epoch checkpoint.", metavar="N"
    )
    keep_checkpoints: int = option(
        1,
        "Checkpoints kept per trial in storage (newest first; the final model checkpoint counts as one).",
        metavar="N",
    )

    def resources(self) -> TrialResources:
        return TrialResources(self.workers_per_trial, self.cpus_per_worker, self.gpus_per_worker, self.placement)


@dataclass
class TrackingConfig:
    # MLflow names (selfre.tracking.targets): the flag wins over the environment, which wins over the config file.
    experiment: str = option(
        "",
        "MLflow experiment of the search's runs (default: $MLFLOW_EXPERIMENT_NAME if set, else the config file's "
        "search.experiment, else selfre-DATASET; on Databricks a workspace path such as /Users/you/selfre).",
        metavar="NAME",
    )
    registered_model: str = option(
        "",
        "Registered model the best checkpoint becomes a version of (default: search.registered_model, else "
        "selfre-DATASET); catalog.schema.model with a Unity Catalog registry (MLFLOW_REGISTRY_URI=databricks-uc, "
        "or a Databricks tracking URI).",
        metavar="NAME",
    )
    system_metrics: bool = option(True, "Log CPU/memory/GPU system metrics (system/...) in each trial's MLflow run.")
    register: bool = option(
        True, "Register the best checkpoint in MLflow's model registry (an ablation does not).", flag=False
    )


@dataclass
class AblationConfig:
    analysis: str = option("", "Extra report of the finished search: 'ablation' (selfre.search.ablation).", flag=False)
    bootstrap_resamples: int = option(1000, "Ablation: resamples of the paired bootstrap test.", flag=False)
    variants: dict = option(
        {}, "Ablation: every variant's name and params, so a resumed ablation reports them.", flag=False
    )


@dataclass
class SearchConfig(SamplingConfig, ResourceConfig, TrackingConfig, AblationConfig):
    """Every `search.*` setting (the four concerns above, flat)."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchConfig:
        """A `search:` mapping (config file, saved plan) -> typed settings, or a ConfigError naming the key."""
        return build_section(cls, d, "search")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> SearchConfig:
        return dataclasses.replace(self, **changes)

    def validate(self) -> SearchConfig:
        """The checks that need no base config (SearchPlan.validate does the rest); messages name the flag."""
        if self.num_samples < 1:
            raise ConfigError(f"--num-samples must be >= 1, got {self.num_samples}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds must be a non-empty list of distinct integers, got {self.seeds}")
        if len(set(self.final_seeds)) != len(self.final_seeds):
            raise ConfigError(f"--final-seeds must be distinct integers, got {self.final_seeds}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"--scheduler must be asha or fifo, got {self.scheduler!r}")
        if self.grace_period < 1 or self.reduction_factor <= 1:
            raise ConfigError("search.grace_period must be >= 1 and search.reduction_factor > 1")
        for key in ("max_concurrent", "max_failures"):
            if getattr(self, key) < 0:
                raise ConfigError(f"--{key.replace('_', '-')} must be >= 0, got {getattr(self, key)}")
        if self.keep_checkpoints < 1:
            raise ConfigError(f"--keep-checkpoints must be >= 1, got {self.keep_checkpoints}")
        if self.asha_min_seeds < 1:
            raise ConfigError(f"search.asha_min_seeds must be >= 1, got {self.asha_min_seeds}")
        self.resources().validate()
        return self
