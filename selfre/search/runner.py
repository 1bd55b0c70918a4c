"""Run (or resume) one search: check the data, open the Ray session, build or restore the Tuner,
fit, summarise.

Searcher stack: OptunaSearch (TPE, seeded, define-by-run space) inside SeedRepeater (one trial per
seed, mean/std per configuration) inside the ConcurrencyLimiter Tune adds for max_concurrent_trials.
Tune's num_samples is configurations x seeds; SeedRepeater ends the search after `num_samples`
configurations even when early-stopped configurations leave seeds unstarted.

`--resume` (`Tuner.restore`): finished trials are kept as they are; unfinished and errored ones are
resumed — their Ray Train run (named after what it trains: trainable.run_name) continues from its
newest checkpoint, and a run whose newest checkpoint is its final one only re-reports (worker.py).
Tune saves its experiment state every few seconds, so a trial that finished just before the driver
died may come back as unfinished, or a (configuration, seed) may be handed out again; either way it
lands on the same Train run and nothing that finished is trained twice.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from selfre.data.datasets import describe_expected_layout, load_splits
from selfre.errors import ConfigError
from selfre.search import storage
from selfre.search.aggregate import METRIC
from selfre.search.plan import PLAN_FILE, SearchPlan
from selfre.search.resources import check_fits
from selfre.search.session import ray_session

log = logging.getLogger(__name__)

# Test-only: a marker path; rank 0 of the first trial to finish epoch 2 creates it and exits (worker.py).
FAULT_ENV = "SELFRE_SEARCH_CRASH_ONCE"


@dataclass
class SearchOutcome:
    plan: SearchPlan
    summary: dict
    paths: dict[str, str]
    report: str


def check_data(plan: SearchPlan) -> None:
    """Read the data once in the driver, before Ray starts: a missing corpus fails in seconds with
    where to get it and how to lay it out (and the demo corpus is generated if absent)."""
    cfg = plan.run_config()
    if not cfg.data.data_dir and plan.dataset != "demo":
        raise ConfigError(f"--data-dir is required for --dataset {plan.dataset}. {describe_expected_layout(plan.dataset)}")
    splits = load_splits(cfg.data)
    log.info("data: %s", {k: len(v) for k, v in (("train", splits.train), ("dev", splits.dev), ("test", splits.test))})
    from selfre.search.trainable import warm_preset_cache

    warm_preset_cache(cfg, splits)


def run_search(plan: SearchPlan, resume: bool = False) -> SearchOutcome:
    plan.fault_marker = plan.fault_marker or os.environ.get(FAULT_ENV)
    plan_exists = storage.exists(storage.join(plan.experiment_uri, PLAN_FILE))
    if plan_exists and not resume:
        raise ConfigError(
            f"a search named {plan.name!r} already exists in {storage.redact(plan.storage)}: "
            "pass --resume to continue it, or choose another --name"
        )
    check_data(plan)
    with ray_session(plan.address) as cluster:
        concurrency = check_fits(plan.resources(), cluster, int(plan.search["max_concurrent"]))
        tuner = _restore_tuner(plan) if resume else _new_tuner(plan, concurrency)
        tuner.fit()
    return finish(plan)


def finish(plan: SearchPlan) -> SearchOutcome:
    """Summarise the search from what Tune saved in the run folder."""
    from selfre.search.summary import format_report, records_from_experiment, summarize, write

    summary = summarize(records_from_experiment(plan.experiment_uri), plan.search["seeds"])
    summary["search"] = {"name": plan.name, "dataset": plan.dataset, "experiment": storage.redact(plan.experiment_uri),
                         "num_samples": plan.search["num_samples"], "scheduler": plan.search["scheduler"]}  # fmt: skip
    paths = write(summary, plan.experiment_uri)
    return SearchOutcome(plan, summary, paths, format_report(summary))


def _new_tuner(plan: SearchPlan, concurrency: int):
    import optuna
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from selfre.search.scheduler import build_scheduler
    from selfre.search.seeds import SeedRepeater
    from selfre.search.space import DefineByRun
    from selfre.search.trainable import make_trainable

    s = plan.search
    inner = OptunaSearch(
        space=DefineByRun(plan.params(), plan.run_config()), metric=METRIC, mode="max",
        sampler=optuna.samplers.TPESampler(seed=int(s["sampler_seed"])),
    )  # fmt: skip
    searcher = SeedRepeater(inner, s["seeds"], int(s["num_samples"]))
    scheduler = build_scheduler(s["scheduler"], plan.max_epochs(), int(s["grace_period"]), float(s["reduction_factor"]))
    plan.save()
    log.info("search %s: %d configuration(s) x %d seed(s), %s, %d trial(s) at a time -> %s", plan.name,
             s["num_samples"], len(s["seeds"]), s["scheduler"], concurrency, storage.redact(plan.experiment_uri))  # fmt: skip
    return tune.Tuner(
        make_trainable(plan),
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=int(s["num_samples"]) * len(s["seeds"]),
            max_concurrent_trials=concurrency,
        ),
        run_config=tune.RunConfig(
            name=plan.name, storage_path=plan.storage,
            # Worker crashes are retried inside the trial by Ray Train (trainable.py); a trial that still
            # fails is a fact about its configuration, not something to rerun.
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )  # fmt: skip


def _restore_tuner(plan: SearchPlan):
    from ray import tune

    from selfre.search.trainable import make_trainable

    log.info("resuming search %s from %s", plan.name, storage.redact(plan.experiment_uri))
    return tune.Tuner.restore(
        plan.experiment_uri, trainable=make_trainable(plan), resume_unfinished=True, resume_errored=True
    )
