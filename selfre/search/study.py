"""The Optuna side of a search: the sampler, the study's storage, the first configuration, and the plots.

Sampler: TPE with `multivariate=True, group=True` — the space is conditional and define-by-run (λ exists only
under manual weighting), which independent per-parameter TPE models badly and `group` decomposes into the
sub-spaces that actually co-occur — and `constant_liar=True`, so trials running concurrently are not all
proposed next to the same promising point. Seeded (search.sampler_seed).

Storage: a search's study lives in `optuna.db` (SQLite) at a local storage root, named after the search (a new
search refuses a name whose study is already there: check_new_study), so
`optuna-dashboard sqlite:///STORAGE/optuna.db` and Optuna's own analysis (importance, history) work on it;
the two plots are written beside the summary and logged to the MLflow parent run.

First configuration: the base config's values of the searched params (search.start_from_defaults), i.e.
the paper's Table 3 settings of tune/configs/<dataset>.yaml — every search also measures the published setting.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from selfre.errors import ConfigError
from selfre.redact import redact
from selfre.search.plan import SearchPlan
from selfre.search.space import DefineByRun, default_point
from selfre.search_results import METRIC
from selfre.storage.uri import local_path

log = logging.getLogger(__name__)

STUDY_FILE = "optuna.db"


def storage_url(plan: SearchPlan) -> str | None:
    """The Optuna RDB URL for this search, or None for an in-memory study."""
    setting = plan.search.optuna_storage
    if setting == "none":
        return None
    if setting != "auto":
        return setting
    root = local_path(plan.storage)
    if root is None:
        log.info(
            "optuna: study kept in memory (storage %s is remote; set search.optuna_storage to an RDB URL to keep it)",
            redact(plan.storage),
        )
        return None
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / STUDY_FILE}"


def check_new_study(plan: SearchPlan) -> None:
    """A new search starts a new study. The study file is shared by every search of the storage root, so a study
    of this name can outlive its run folder (deleted, with the name reused); loading it would condition TPE on
    another search's trials and plot them as this one's. Refused, with the fix; `--resume` skips this check."""
    url = None if plan.search.grid else storage_url(plan)
    if url is None:
        return
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return  # no study file yet, so no study of any name (opening it would create the file)
    import optuna

    if plan.name in {s.study_name for s in optuna.get_all_study_summaries(storage=url, include_best_trial=False)}:
        raise ConfigError(
            f"an Optuna study named {plan.name!r} already exists in {redact(url)}, but the search's run folder does "
            f"not: a new search would learn from that study's trials. Choose another --name, or delete the old "
            f"study: optuna delete-study --study-name {plan.name} --storage {redact(url)}"
        )


def sampler(seed: int):
    import optuna

    with warnings.catch_warnings():  # multivariate/group/constant_liar are "experimental" in Optuna's terms
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)


def build_searcher(plan: SearchPlan):
    """Ray Tune's OptunaSearch over the plan's define-by-run space."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per study and trial buries Tune's table
    params, base = plan.params(), plan.run_config()
    points = [default_point(params, base)] if plan.search.start_from_defaults else []
    url = storage_url(plan)
    try:
        rdb = optuna.storages.RDBStorage(url) if url else None
    except Exception as exc:  # noqa: BLE001 - a bad URL or an unreachable database: say which setting
        raise ConfigError(f"search.optuna_storage={url!r}: cannot open the Optuna storage: {exc}") from None
    return OptunaSearch(
        space=DefineByRun(params, base),
        metric=METRIC,
        mode="max",
        sampler=sampler(plan.search.sampler_seed),
        points_to_evaluate=[p for p in points if p] or None,
        study_name=plan.name,
        storage=rdb,
    )


def write_plots(plan: SearchPlan, out_dir: Path) -> list[Path]:
    """Optuna's optimisation history and parameter importances of the search's study, as PNGs in `out_dir`.
    Empty when the study is in memory or too small to plot (importance needs two finished configurations)."""
    url = storage_url(plan)
    if url is None:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=plan.name, storage=url)
    except KeyError:
        return []
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    plots = [("optuna_history.png", ovm.plot_optimization_history, 1)]
    plots.append(("optuna_importance.png", ovm.plot_param_importances, 2))
    for name, plot, needed in plots:
        if len(done) < needed:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ax = plot(study)
            except (ValueError, RuntimeError) as exc:  # e.g. importance over a single distinct value
                log.info("optuna: %s skipped: %s", name, exc)
                continue
        fig = ax.figure if hasattr(ax, "figure") else ax[0].figure
        fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(out_dir / name)
    return written
