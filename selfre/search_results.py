"""A search's results as data: the vocabulary and arithmetic that the search (which writes its summary)
and the tracking layer (which logs, registers and reports it) share.

Neutral ground on purpose: `selfre.search` imports `selfre.tracking` (to log a search), so the tracking
layer must never import `selfre.search` back (tests/test_layering.py checks it). Both import this.

  METRIC, TIME_ATTR, FINAL_KEY
                 what a trial reports and what ASHA, Optuna and the summary rank it by
  statuses       of one seed trial (`seed_status`) and of one configuration (`config_status`), below
  mean_std       the seed statistics every table shows
  json_safe      NaN -> null, for summary.json
  to_csv         summary.csv: one row per configuration, every {mean, std} statistic it carries
  objective, score_stat, seed_score
                 read a summary by its model-selection metric
  as_float       a statistic as a float, or the missing value the caller names (NaN or None)
  best_checkpoint
                 the checkpoint a configuration stands for: its best-dev seed's final model
  chosen         the configuration a search stands for (best_config.json, MLflow's best_*, the registry)
  stepped_float  a stepped float as written (0.7, not Optuna's 0.7000000000000001)

A seed trial ends in one of three ways:
  complete    its worker reported the final result (best-dev epoch scored on test; `is_final` set);
  stopped     the scheduler stopped it before that (ASHA pruned its configuration);
  error       Ray Train gave up on it (worker failures beyond FailureConfig.max_failures);
or has not ended yet:
  unfinished  the search was interrupted while it ran or waited (`--resume` continues it).
A configuration is `complete` only when every seed is complete; one stopped seed makes it `pruned`,
one errored seed `failed`; otherwise (search interrupted) it is `incomplete`. Only complete
configurations have a mean that means anything, so only they can be chosen best. The seed-repeating
searcher (what Optuna learns) and the final summary (what people read) both call `seed_status` and
`config_status`, so the two can never disagree.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Iterable

COMPLETE, STOPPED, ERROR, UNFINISHED = "complete", "stopped", "error", "unfinished"  # one seed trial
PRUNED, FAILED, INCOMPLETE = "pruned", "failed", "incomplete"  # a configuration (or COMPLETE)

# A trial's running best dev value of the search objective (train.select_metric: selfre.metrics.objective);
# at the end, its best-dev epoch's value. What ASHA, Optuna and the summary rank by.
METRIC = "best_dev_score"
TIME_ATTR = "epoch"  # ASHA's clock: reports repeat an epoch (the final test report), iterations would not
FINAL_KEY = "is_final"  # set only on the report that carries test metrics


def seed_status(result: dict | None, error: bool, ended: bool = True) -> str:
    """`ended`: Tune has finished with the trial (terminated or errored), as opposed to a trial the
    search was interrupted in; the searcher only ever hears of ended trials."""
    if error:
        return ERROR
    if result and result.get(FINAL_KEY):
        return COMPLETE
    return STOPPED if ended else UNFINISHED


def config_status(seed_statuses: Iterable[str], n_seeds: int) -> str:
    statuses = list(seed_statuses)
    if ERROR in statuses:
        return FAILED
    if STOPPED in statuses:
        return PRUNED
    if statuses.count(COMPLETE) == n_seeds:
        return COMPLETE
    return INCOMPLETE


def stepped_float(value):
    """A stepped float as written: Optuna's grid points are low + k·step in binary floating point, so
    `uniform [0.1, 1.0] step 0.1` yields 0.7000000000000001 — a λ every param, tag, table and file name would
    otherwise carry. 12 significant digits is far below any step a search space uses. Non-floats pass through."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def mean_std(values: Iterable[float | None]) -> tuple[float, float]:
    """Mean and *sample* standard deviation (n-1, as papers report seed spread); std 0.0 for one
    value; (nan, nan) for none. Missing values (None) are left out."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return math.nan, math.nan
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def json_safe(obj):
    """NaN is not JSON: missing statistics become null."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def stat_names(configurations: list[dict]) -> list[str]:
    """The {mean, std} statistics the configurations carry, in the order the summary lists them: whatever
    the search computes reaches summary.csv and the tables without a second list to keep in step."""
    names: dict[str, None] = {}
    for c in configurations:
        names.update((k, None) for k, v in c.items() if isinstance(v, dict) and set(v) == {"mean", "std"})
    return list(names)


def to_csv(summary: dict) -> str:
    configs = summary["configurations"]
    keys = sorted({k for c in configs for k in c["params"]})
    stats = stat_names(configs)
    buf = io.StringIO()
    w = csv.writer(buf)
    columns = [f"{n}_{s}" for n in stats for s in ("mean", "std")]
    w.writerow(["config_id", "status", "seeds_complete", "seeds_planned", *keys, *columns])
    for c in configs:
        w.writerow(
            [
                c["config_id"],
                c["status"],
                c["seeds_complete"],
                c["seeds_planned"],
                *[c["params"].get(k, "") for k in keys],
                *[_cell((c.get(n) or {}).get(s)) for n in stats for s in ("mean", "std")],
            ]
        )
    return buf.getvalue()


def chosen(summary: dict) -> dict | None:
    """The configuration a search stands for — written as best_config.json, logged as the parent run's best_*,
    registered: with --final-seeds the final re-training's best (`final`; None until that phase finished: nothing
    is chosen then), else the search's best. One rule, so the disk, MLflow and the registry never disagree."""
    return summary["final"] if "final" in summary else summary.get("best")


def objective(summary: dict) -> str:
    """The resolved model-selection metric the search ranked by (selfre.metrics.objective)."""
    return summary["objective"]


def score_stat(config: dict, split: str) -> dict:
    """{mean, std} of the objective on `split` ('dev' or 'test') for one summary configuration; NaN if absent."""
    stat = config.get(f"{split}_score") or {}
    return {"mean": as_float(stat.get("mean"), missing=math.nan), "std": as_float(stat.get("std"), missing=math.nan)}


def seed_score(metrics: dict, split: str) -> float:
    """The objective on `split` in one seed trial's final metrics (a summary trial's `metrics`); NaN if absent."""
    return as_float(metrics.get(f"{split}_score"), missing=math.nan)


def best_checkpoint(config: dict) -> str | None:
    """A configuration's best checkpoint: the final model of its seed with the highest dev objective — what the
    registry registers and `Predictor` loads. If that seed has no checkpoint on record, None: never a worse
    seed's model under the best seed's score (selfre.search.summary.final_checkpoint finds the final model
    even of a trial that only re-reported after --resume)."""
    scored = [
        (seed_score(t.get("metrics") or {}, "dev"), t)
        for t in config.get("trials", [])
        if t.get("status", COMPLETE) == COMPLETE
    ]
    scored = [(s, t) for s, t in scored if not math.isnan(s)]
    return max(scored, key=lambda st: st[0])[1].get("checkpoint") if scored else None


def as_float(value, missing: float | None) -> float | None:
    """A statistic as a float, or `missing` where it is absent or NaN: NaN where arithmetic and sorting
    follow (tables, the best checkpoint), None where it is written out (a registry tag, a report cell)."""
    return float(value) if isinstance(value, int | float) and not math.isnan(value) else missing


def _cell(x):
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else x
