"""The end of a search: per-trial records -> per-configuration statistics -> the best configuration,
printed and written to the run folder as summary.json and summary.csv.

Statistics are over a configuration's *complete* seeds (statuses: selfre.search_results). Only configurations
whose every seed completed can be best; among them the highest mean dev score wins — the search objective,
`summary["objective"]` (train.select_metric: SemEval's official macro-F1, TACRED's micro F1, ...) —
ties: lower std, then the earlier configuration. Test figures are reported for the best configuration,
per seed and as mean ± std — they are never used to choose. `best["run_config"]` is the best
configuration's full run config with its best-dev seed: a file `selfre train --config` accepts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from selfre import storage
from selfre.metrics.percent import mean_pm_std, percent
from selfre.search_results import COMPLETE, METRIC, config_status, json_safe, mean_std, seed_status, to_csv

# Per-seed figures kept from a trial's final report (worker.final_metrics), and the statistics over seeds.
# dev_score/test_score are the objective's values; *_official_macro_f1 exist for SemEval only.
SEED_FIELDS = (
    "best_epoch",
    "dev_score",
    "test_score",
    "dev_precision",
    "dev_recall",
    "dev_f1",
    "dev_pc_f1",
    "dev_official_macro_f1",
    "test_precision",
    "test_recall",
    "test_f1",
    "test_pc_precision",
    "test_pc_recall",
    "test_pc_f1",
    "test_official_macro_f1",
)
STAT_FIELDS = (
    "dev_score",
    "test_score",
    "dev_f1",
    "test_precision",
    "test_recall",
    "test_f1",
    "test_pc_f1",
    "test_official_macro_f1",
)


@dataclass
class TrialRecord:
    trial_id: str
    config_id: str
    seed: int
    params: dict
    status: str  # search_results.COMPLETE / STOPPED / ERROR
    last_epoch: int | None
    metrics: dict = field(default_factory=dict)  # SEED_FIELDS from the final report (complete trials)
    checkpoint: str | None = None  # the final model checkpoint in storage (complete trials)
    # Times Tune restarted the trial after an error (a crashed process, an exception), and the last error's
    # final line: a restarted trial that then completed is complete, but its failures are reported, not hidden.
    failures: int = 0
    last_error: str | None = None


def _checkpoint_uri(path: str | None, experiment_path: str) -> str | None:
    return storage.with_scheme_of(path, experiment_path) if path else None


def records_from_experiment(experiment_path: str, train_storage: str | None = None) -> list[TrialRecord]:
    """One record per Tune trial, from the experiment state Tune saved. (A `ResultGrid` has no trial
    status, and an interrupted trial must not pass for one the scheduler stopped.)"""
    from ray.tune import ExperimentAnalysis
    from ray.tune.experiment import Trial

    out = []
    for trial in ExperimentAnalysis(experiment_path).trials:
        config, metrics = trial.config or {}, trial.last_result or {}
        ended = trial.status in (Trial.TERMINATED, Trial.ERROR)
        status = seed_status(metrics, error=trial.status == Trial.ERROR, ended=ended)
        complete = status == COMPLETE
        out.append(
            TrialRecord(
                trial_id=trial.trial_id,
                config_id=config["config_id"],
                seed=int(config["seed"]),
                params=dict(config["params"]),
                status=status,
                last_epoch=metrics.get("epoch"),
                metrics={k: metrics.get(k) for k in SEED_FIELDS} if complete else {},
                checkpoint=final_checkpoint(config, metrics, experiment_path, train_storage) if complete else None,
                failures=trial.run_metadata.num_failures,
                last_error=_last_error_line(trial.get_error()) if trial.run_metadata.num_failures else None,
            )
        )
    return out


def _last_error_line(text: str | None) -> str | None:
    """The telling line of Tune's error file (`Failure # N (occurred at ...)` + the error, appended per
    failure): the last non-empty line, which names the exception or the dead actor."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:500] if lines else None


def final_checkpoint(config: dict, metrics: dict, experiment_path: str, train_storage: str | None) -> str | None:
    """Where a complete trial's final model is. Its last report names it — except a trial that `--resume` found
    finished: it only re-reports its result, without the checkpoint (worker.py). Its Train run is named after
    what it trains (trainable.run_name), so the final checkpoint is found in storage all the same."""
    if metrics.get("checkpoint_path"):
        return _checkpoint_uri(metrics["checkpoint_path"], experiment_path)
    if train_storage is None:
        return None
    from selfre.search.trainable import run_name
    from selfre.search.worker import FINAL_DIR_NAME

    path = storage.join(train_storage, run_name(config), FINAL_DIR_NAME)
    return path if storage.exists(path) else None


def summarize(
    records: list[TrialRecord], seeds: list[int], objective: str = "micro_f1", base: dict | None = None
) -> dict:
    """`objective`: the resolved train.select_metric the trials ranked their epochs by; `base`: the plan's
    base run config (for best["run_config"])."""
    groups: dict[str, list[TrialRecord]] = {}
    for r in sorted(records, key=lambda r: (r.config_id, seeds.index(r.seed) if r.seed in seeds else r.seed)):
        groups.setdefault(r.config_id, []).append(r)
    configs = []
    for config_id, trials in sorted(groups.items()):
        complete = [t for t in trials if t.status == COMPLETE]
        row = {
            "config_id": config_id,
            "status": config_status((t.status for t in trials), len(seeds)),
            "params": trials[0].params,
            "seeds_complete": len(complete),
            "seeds_started": len(trials),
            "seeds_planned": len(seeds),
            "trials": [asdict(t) for t in trials],
        }
        for name in STAT_FIELDS:
            mean, std = mean_std(t.metrics.get(name) for t in complete)
            row[name] = {"mean": mean, "std": std}
        configs.append(row)
    ranked = sorted(
        (c for c in configs if c["status"] == COMPLETE),
        key=lambda c: (-c["dev_score"]["mean"], c["dev_score"]["std"], c["config_id"]),
    )
    best = ranked[0] if ranked else None
    if best is not None and base is not None:
        best = {**best, "run_config": best_run_config(best, base)}
    return {
        "objective": objective,
        "metric": f"mean over seeds of each trial's {METRIC}: dev {objective} of its best-dev epoch",
        "seeds": seeds,
        "num_trials": len(records),
        "best": best,
        "configurations": configs,
    }


def best_seed(config: dict) -> int:
    """The seed whose trial scored the highest dev objective (its checkpoint is the one registered)."""
    trials = [t for t in config["trials"] if t["status"] == COMPLETE]
    return max(trials, key=lambda t: t["metrics"]["dev_score"])["seed"]


def best_run_config(config: dict, base: dict) -> dict:
    """Base + the configuration's params + its best seed, as the nested dict `selfre train --config` reads."""
    from selfre.search.space import apply_params

    cfg = apply_params(base, config["params"], seed=best_seed(config)).to_dict()
    cfg.pop("out_dir", None)  # where to write is the re-run's own choice (--out)
    return cfg


def write(summary: dict, experiment_uri: str) -> dict[str, str]:
    paths = {"json": storage.join(experiment_uri, "summary.json"), "csv": storage.join(experiment_uri, "summary.csv")}
    storage.write_json(paths["json"], json_safe(summary))
    storage.write_text(paths["csv"], to_csv(summary))
    return paths


SHORT_NAMES = {"micro_f1": "F1", "official_macro_f1": "macro-F1", "pc_f1": "PC F1"}


def _columns(summary: dict) -> list[tuple[str, str]]:
    """(stat field, header) of the tables: the objective on dev and test, then micro F1, the official SemEval
    figure where it exists, person-centric F1 — each once."""
    name = SHORT_NAMES.get(summary.get("objective", "micro_f1"), "score")
    cols = [
        ("dev_score", f"dev {name}"),
        ("test_score", f"test {name}"),
        ("test_f1", "test F1"),
        ("test_official_macro_f1", "test macro-F1"),
        ("test_pc_f1", "PC F1"),
    ]
    objective_field = {"micro_f1": "test_f1", "official_macro_f1": "test_official_macro_f1", "pc_f1": "test_pc_f1"}
    duplicate = objective_field.get(summary.get("objective", "micro_f1"))
    present = {k for c in summary["configurations"] for k in STAT_FIELDS if _key(c.get(k, {}).get("mean")) >= 0}
    return [(k, h) for k, h in cols if k != duplicate and (k in present or k in ("dev_score", "test_score"))]


def format_report(summary: dict) -> str:
    lines = [
        f"{summary['num_trials']} trial(s), {len(summary['configurations'])} configuration(s), "
        f"seeds {','.join(map(str, summary['seeds']))}; ranked by {summary['metric']}; figures in %, mean±std over seeds",
        "",
    ]
    keys = sorted({k for c in summary["configurations"] for k in c["params"]})
    cols = _columns(summary)
    lines.append(f"{'config':<7} {'status':<11} {'seeds':>5}  " + "  ".join(f"{h:>15}" for _, h in cols) + "  params")
    order = sorted(summary["configurations"], key=lambda c: (c["status"] != COMPLETE, -_key(c["dev_score"]["mean"])))
    for c in order:
        params = " ".join(f"{k.split('.', 1)[1]}={_short(c['params'][k])}" for k in keys if k in c["params"])
        lines.append(
            f"{c['config_id']:<7} {c['status']:<11} {c['seeds_complete']:>2}/{c['seeds_planned']:<2}  "
            + "  ".join(f"{_mean_pm_std(c.get(k, {})):>15}" for k, _ in cols)
            + f"  {params}"
        )
    restarted = restarted_trials(summary)
    if restarted:
        lines += [
            "",
            f"{len(restarted)} trial(s) failed and were restarted by Tune (statuses above are after the restarts):",
        ]
        lines += [
            f"  {t['config_id']} seed {t['seed']}: {t['failures']} failure(s), last: {t['last_error'] or 'no error text'}"
            for t in restarted
        ]
    best = summary["best"]
    lines.append("")
    if best is None:
        lines.append("no configuration completed all its seeds: there is no best configuration")
        return "\n".join(lines)
    lines.append(f"best configuration {best['config_id']}: {best['params']}")
    per_seed = [cols[0], ("test_precision", "test P"), ("test_recall", "test R"), *cols[1:]]
    lines.append(f"{'seed':>10} {'epoch':>5} " + " ".join(f"{h:>14}" for _, h in per_seed))
    for t in best["trials"]:
        m = t["metrics"]
        cells = " ".join(f"{percent(m.get(k)):>14}" for k, _ in per_seed)
        lines.append(f"{t['seed']:>10} {m['best_epoch']:>5} {cells}")
    lines.append(f"{'mean ± std':>16} " + " ".join(f"{_mean_pm_std(best.get(k, {})):>14}" for k, _ in per_seed))
    return "\n".join(lines)


def restarted_trials(summary: dict) -> list[dict]:
    """The trials Tune restarted after an error (each trial's `failures`), whatever their status now."""
    return [t for c in summary["configurations"] for t in c["trials"] if t.get("failures")]


def _mean_pm_std(stat: dict) -> str:
    return mean_pm_std(stat.get("mean"), stat.get("std"), sep="±")


def _key(x) -> float:
    return -1.0 if x is None or math.isnan(x) else x


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
