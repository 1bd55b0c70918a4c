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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from selfre import storage
from selfre.data.datasets import describe_expected_layout, load_splits
from selfre.errors import ConfigError, SelfreError
from selfre.redact import redact
from selfre.search.in_trial import tune_max_failures
from selfre.search.plan import PLAN_FILE, SearchPlan
from selfre.search.ray_session import ray_session
from selfre.search.resources import check_fits
from selfre.search_results import INCOMPLETE, best_checkpoint, chosen
from selfre.stage_timer import timed, timing
from selfre.storage.data_dir import local_data_dir
from selfre.storage.uri import is_remote

log = logging.getLogger(__name__)

TRACKING_OFF = "none"


@dataclass
class SearchOutcome:
    plan: SearchPlan
    summary: dict
    paths: dict[str, str]
    report: str
    notes: list[str] = field(default_factory=list)  # where else results went (MLflow run, registered model)
    artifacts: list = field(default_factory=list)  # (local file, MLflow artifact folder): plots, analysis tables

    @property
    def decided(self) -> bool:
        """Every configuration of the search itself was decided (complete, pruned or failed)."""
        configs = self.summary["configurations"]
        return len(configs) >= self.plan.search.num_samples and not any(c["status"] == INCOMPLETE for c in configs)

    @property
    def finished(self) -> bool:
        """Decided, and with --final-seeds the final re-training of its best configuration finished too; else the
        results are partial (interrupted, or a final seed failed: `--resume` retries it): never reported as
        success, never registered."""
        final_pending = (
            self.summary.get("best") is not None and "final" in self.summary and self.summary["final"] is None
        )
        return self.decided and not final_pending


@timed("runner:check_data")
def check_data(plan: SearchPlan) -> None:
    """Read the data once in the driver, before Ray starts: a missing corpus fails in seconds with
    where to get it and how to lay it out (and the demo corpus is generated if absent)."""
    cfg = plan.run_config()
    if not cfg.data.data_dir and plan.dataset != "demo":
        raise ConfigError(
            f"--data-dir is required for --dataset {plan.dataset}. {describe_expected_layout(plan.dataset)}"
        )
    if is_remote(cfg.data.data_dir):
        log.info("data: fetching %s to this node's cache (checked and fetched once per node)", cfg.data.data_dir)
    cfg.data.data_dir = local_data_dir(cfg.data.data_dir, plan.dataset)  # a wrong bucket/key fails here
    splits = load_splits(cfg.data)
    log.info("data: %s", {k: len(v) for k, v in (("train", splits.train), ("dev", splits.dev), ("test", splits.test))})
    from selfre.search.trainable import warm_preset_cache

    warm_preset_cache(cfg, splits)


@timed("runner:run_search")
def run_search(plan: SearchPlan, resume: bool = False, make_trainable=None) -> SearchOutcome:
    """`make_trainable(plan)` -> the Tune trainable every trial runs; default `trainable.make_trainable` (Ray Train
    DDP workers). A seam for measuring the driver alone: benchmarks/bench_driver.py passes a model-free stand-in."""
    plan_exists = storage.exists(storage.join(plan.experiment_uri, PLAN_FILE))
    if plan_exists and not resume:
        raise ConfigError(
            f"a search named {plan.name!r} already exists in {redact(plan.storage)}: "
            "pass --resume to continue it, or choose another --name"
        )
    if not resume:
        from selfre.search.study import check_new_study

        check_new_study(plan)
        plan.save()  # first: a driver killed from here on (reading data, starting Ray) is continued with --resume
    try:
        return _run(plan, resume, make_trainable)
    except SelfreError:
        # Refused before its first trial (data, tracking, resources): nothing to resume, so the plan is taken
        # back and the corrected command starts afresh under the same --name.
        if not resume and not storage.exists(storage.join(plan.experiment_uri, "tuner.pkl")):
            storage.delete(storage.join(plan.experiment_uri, PLAN_FILE))
            storage.delete_dir_if_empty(plan.experiment_uri)  # a refused start leaves nothing half-started
        raise


def _run(plan: SearchPlan, resume: bool, make_trainable) -> SearchOutcome:
    check_data(plan)
    tracking = open_tracking(plan)  # fails fast, before Ray starts, if the server or its bucket is unusable
    try:
        with ray_session(plan.address) as cluster:
            concurrency = check_fits(plan.resources(), cluster, plan.search.max_concurrent, joined=bool(plan.address))
            _fit(plan, resume, concurrency, make_trainable)
            outcome = finish(plan)
            if plan.search.final_seeds and outcome.decided and outcome.summary["best"] is not None:
                _final_phase(plan, outcome, resume, concurrency, make_trainable)
        if tracking is not None:
            for path, folder in outcome.artifacts:
                tracking.log_files([path], folder)
            # The parent run's best_config.json is the disk's file itself (with its `reproduce` section).
            best_file = outcome.paths.get("best_config")
            outcome.notes += tracking.finish(
                outcome.summary,
                complete=outcome.finished,
                register=plan.search.register,
                best_config=storage.read_json(best_file) if best_file else None,
            )
        outcome.notes += _predictor_note(outcome)
    except BaseException as exc:  # Ctrl-C included: the parent run must not stay RUNNING
        if tracking is not None:
            tracking.fail(exc)
        raise
    return outcome


@timed("runner:open_tracking")
def open_tracking(plan: SearchPlan):
    """The search's MLflow parent run (selfre.tracking.search_tracking), or None with `--tracking-uri none`.
    Sets `plan.tracking`, which trial drivers pass on to their rank-0 worker."""
    if (plan.tracking_uri or "").lower() == TRACKING_OFF:
        return None
    if plan.address and plan.tracking_uri is None:
        # The embedded store is a SQLite file on this machine; a trial's rank-0 worker on another node would
        # write a database of its own there, and its runs would never show up. Refuse rather than lose them.
        raise ConfigError(
            "--address: pass --tracking-uri, since trial workers on other nodes cannot write this machine's embedded "
            "MLflow store: the cluster's server (cluster/start_mlflow.sh: --tracking-uri http://HEAD_IP:5000), "
            "sqlite:///PATH on a filesystem every node mounts at PATH, or 'none'"
        )
    try:
        from selfre.tracking.search_tracking import SearchTracking
    except ImportError as exc:
        raise ConfigError(
            f"tracking needs MLflow (pip install -e '.[search]'), or pass --tracking-uri none: {exc}"
        ) from exc
    # Embedded store at the storage root, not per search: every search of the root shares one `mlflow ui` and
    # one model registry, so the champion/challenger rule compares searches with each other.
    tracking = SearchTracking.open(plan.tracking_uri, plan.storage, plan.name, plan.dataset, plan.to_dict())
    plan.tracking = tracking.worker_config
    return tracking


def _predictor_note(outcome: SearchOutcome) -> list[str]:
    """The exact Python line that loads the chosen model (the registered one when tracking is on)."""
    choice = chosen(outcome.summary)
    path = best_checkpoint(choice) if choice and outcome.finished and outcome.plan.search.register else None
    if path is None or storage.is_uri(path):  # an s3:// checkpoint is served from the registry instead
        return []
    return [f'python: from selfre.predict import Predictor; p = Predictor("{redact(path)}")']


def _fit(plan: SearchPlan, resume: bool, concurrency: int, make_trainable=None) -> None:
    """Run (or continue) the plan's Tune experiment. A resume of a search whose final phase had not started yet
    starts that phase afresh."""
    if make_trainable is None:
        from selfre.search.trainable import make_trainable
    restore = resume and storage.exists(storage.join(plan.experiment_uri, "tuner.pkl"))
    tuner = _restore_tuner(plan, make_trainable) if restore else _new_tuner(plan, concurrency, make_trainable)
    with timing("ray:Tuner.fit"):
        tuner.fit()


def _final_phase(plan: SearchPlan, outcome: SearchOutcome, resume: bool, concurrency: int, make_trainable=None) -> None:
    """--final-seeds: re-train the best configuration on more seeds; the best of those is what gets registered
    (summary["final"]), with mean ± std over the final seeds. Until every final seed completed, `final` stays None:
    the search is unfinished, nothing is chosen or registered, and `--resume` continues the phase."""
    final_plan = plan.final_phase(outcome.summary["best"]["params"])
    if not storage.exists(storage.join(final_plan.experiment_uri, PLAN_FILE)):
        final_plan.save()
    log.info(
        "final phase: the best configuration %s on seeds %s",
        outcome.summary["best"]["config_id"],
        final_plan.search.seeds,
    )
    _fit(final_plan, resume, concurrency, make_trainable)
    final = finish(final_plan)
    outcome.summary["final"] = final.summary["best"]
    outcome.paths.update(write_summary(plan, outcome.summary))
    outcome.report += "\n\nfinal re-training of the best configuration:\n" + final.report
    outcome.artifacts += final.artifacts


def write_summary(plan: SearchPlan, summary: dict) -> dict[str, str]:
    """summary.json/csv and best_config.json (the configuration that is registered, with its seed: results.chosen)."""
    from selfre.search.best_config import best_config_file
    from selfre.search.summary import write

    paths = write(summary, plan.experiment_uri)
    choice = chosen(summary)
    if choice is not None:  # the chosen configuration as a file `selfre train --config` runs as is
        paths["best_config"] = storage.join(plan.experiment_uri, "best_config.json")
        storage.write_json(paths["best_config"], best_config_file(plan, choice))
    return paths


def finish(plan: SearchPlan) -> SearchOutcome:
    """Summarise the search from what Tune saved in the run folder (+ the plan's analysis, e.g. an ablation's)."""
    from selfre.search.study import write_plots
    from selfre.search.summary import format_report, records_from_experiment, summarize

    records = records_from_experiment(plan.experiment_uri, plan.train_storage)
    summary = summarize(records, plan.search.seeds, objective=plan.objective, base=plan.base)
    if plan.search.final_seeds:
        summary["final"] = None  # what is chosen, once the final phase finished (_final_phase)
    summary["search"] = {
        "name": plan.name,
        "dataset": plan.dataset,
        "experiment": redact(plan.experiment_uri),
        "num_samples": plan.search.num_samples,
        "scheduler": plan.search.scheduler,
    }
    local = None if storage.is_uri(plan.experiment_uri) else Path(plan.experiment_uri)
    out_dir = local or Path(tempfile.mkdtemp(prefix="selfre-search-"))
    artifacts = [(p, "plots") for p in write_plots(plan, out_dir / "plots")]
    report = format_report(summary)
    if plan.search.analysis == "ablation":
        from selfre.search.ablation import analyse

        text, files = analyse(plan, summary, out_dir)
        report += "\n\n" + text
        artifacts += files
    paths = write_summary(plan, summary)
    return SearchOutcome(plan, summary, paths, report, artifacts=artifacts)


def _new_tuner(plan: SearchPlan, concurrency: int, make_trainable):
    from ray import tune

    from selfre.search.grid import FixedConfigurations
    from selfre.search.scheduler import build_scheduler
    from selfre.search.seeds import SeedRepeater
    from selfre.search.study import build_searcher

    s = plan.search
    inner = FixedConfigurations(s.grid) if s.grid else build_searcher(plan)
    searcher = SeedRepeater(
        inner, s.seeds, s.num_samples, id_prefix=s.id_prefix, redraw_duplicates=not s.grid
    )  # a grid's configurations are given, not sampled
    scheduler = build_scheduler(
        s.scheduler,
        plan.max_epochs(),
        s.grace_period,
        s.reduction_factor,
        min_seeds=min(s.asha_min_seeds, len(s.seeds)),
    )
    plan.save()
    log.info(
        "search %s: %d configuration(s) x %d seed(s), %s, %d trial(s) at a time -> %s",
        plan.name,
        s.num_samples,
        len(s.seeds),
        s.scheduler,
        concurrency,
        redact(plan.experiment_uri),
    )
    return tune.Tuner(
        make_trainable(plan),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=s.num_samples * len(s.seeds),
            max_concurrent_trials=concurrency,
            # FIFO: a trial's function returns once its training is done, so Tune can hand its actor (a process
            # that has imported Ray Train and torch: seconds of a short trial) to the next trial. Not under ASHA:
            # a stopped trial's function is still inside TorchTrainer.fit, cannot be reset, and Tune would fail
            # the next trial on that actor; killing it (no reuse) is what stops its Train run.
            reuse_actors=s.scheduler == "fifo",
        ),
        run_config=tune.RunConfig(
            name=plan.name,
            storage_path=plan.storage,
            # Worker crashes are retried inside the trial by Ray Train (trainable.py), or by Tune for a trial
            # trained in its Tune trial (in_trial.py); a trial that still fails is a fact about its configuration.
            failure_config=tune.FailureConfig(max_failures=tune_max_failures(plan.resources().workers, s.max_failures)),
        ),
    )


def _restore_tuner(plan: SearchPlan, make_trainable):
    from ray import tune

    log.info("resuming search %s from %s", plan.name, redact(plan.experiment_uri))
    return tune.Tuner.restore(
        plan.experiment_uri, trainable=make_trainable(plan), resume_unfinished=True, resume_errored=True
    )
