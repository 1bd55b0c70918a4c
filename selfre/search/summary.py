"""The end of a search: per-trial records -> per-configuration statistics -> the best configuration,
printed and written to the run folder as summary.json and summary.csv.

Statistics are over a configuration's *complete* seeds (see aggregate.py). Only configurations whose
every seed completed can be best; among them the highest mean dev F1 wins (ties: lower std, then the
earlier configuration). Test figures are reported for the best configuration, per seed and as
mean ± std — they are never used to choose.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field

from selfre.search import storage
from selfre.search.aggregate import COMPLETE, METRIC, config_status, mean_std, seed_status

# Per-seed figures kept from a trial's final report, and the statistics computed over seeds.
SEED_FIELDS = ("best_epoch", "dev_precision", "dev_recall", "dev_f1", "test_precision", "test_recall", "test_f1",
               "test_pc_precision", "test_pc_recall", "test_pc_f1")  # fmt: skip
STAT_FIELDS = ("dev_f1", "test_precision", "test_recall", "test_f1", "test_pc_f1")


@dataclass
class TrialRecord:
    trial_id: str
    config_id: str
    seed: int
    params: dict
    status: str  # aggregate.COMPLETE / STOPPED / ERROR
    last_epoch: int | None
    metrics: dict = field(default_factory=dict)  # SEED_FIELDS from the final report (complete trials)
    checkpoint: str | None = None  # the final model checkpoint in storage (complete trials)


def _checkpoint_uri(path: str | None, experiment_path: str) -> str | None:
    return storage.with_scheme_of(path, experiment_path) if path else None


def records_from_experiment(experiment_path: str) -> list[TrialRecord]:
    """One record per Tune trial, from the experiment state Tune saved. (A `ResultGrid` has no trial
    status, and an interrupted trial must not pass for one the scheduler stopped.)"""
    from ray.tune import ExperimentAnalysis
    from ray.tune.experiment import Trial

    out = []
    for trial in ExperimentAnalysis(experiment_path).trials:
        config, metrics = trial.config or {}, trial.last_result or {}
        ended = trial.status in (Trial.TERMINATED, Trial.ERROR)
        status = seed_status(metrics, error=trial.status == Trial.ERROR, ended=ended)
        out.append(TrialRecord(
            trial_id=trial.trial_id, config_id=config["config_id"], seed=int(config["seed"]),
            params=dict(config["params"]), status=status, last_epoch=metrics.get("epoch"),
            metrics={k: metrics.get(k) for k in SEED_FIELDS} if status == COMPLETE else {},
            checkpoint=_checkpoint_uri(metrics.get("checkpoint_path"), experiment_path) if status == COMPLETE else None,
        ))  # fmt: skip
    return out


def summarize(records: list[TrialRecord], seeds: list[int]) -> dict:
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
        (c for c in configs if c["status"] == COMPLETE), key=lambda c: (-c["dev_f1"]["mean"], c["dev_f1"]["std"], c["config_id"])
    )
    return {
        "metric": f"mean over seeds of each trial's {METRIC} (its best-dev epoch)",
        "seeds": seeds,
        "num_trials": len(records),
        "best": ranked[0] if ranked else None,
        "configurations": configs,
    }


def write(summary: dict, experiment_uri: str) -> dict[str, str]:
    paths = {"json": storage.join(experiment_uri, "summary.json"), "csv": storage.join(experiment_uri, "summary.csv")}
    storage.write_json(paths["json"], _json_safe(summary))
    storage.write_text(paths["csv"], to_csv(summary))
    return paths


def to_csv(summary: dict) -> str:
    keys = sorted({k for c in summary["configurations"] for k in c["params"]})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["config_id", "status", "seeds_complete", "seeds_planned", *keys,
                *[f"{n}_{s}" for n in STAT_FIELDS for s in ("mean", "std")]])  # fmt: skip
    for c in summary["configurations"]:
        w.writerow([c["config_id"], c["status"], c["seeds_complete"], c["seeds_planned"],
                    *[c["params"].get(k, "") for k in keys],
                    *[_num(c[n][s]) for n in STAT_FIELDS for s in ("mean", "std")]])  # fmt: skip
    return buf.getvalue()


def format_report(summary: dict) -> str:
    lines = [f"{summary['num_trials']} trial(s), {len(summary['configurations'])} configuration(s), "
             f"seeds {','.join(map(str, summary['seeds']))}; ranked by {summary['metric']}; figures in %, mean±std over seeds", ""]  # fmt: skip
    keys = sorted({k for c in summary["configurations"] for k in c["params"]})
    head = f"{'config':<7} {'status':<11} {'seeds':>5}  {'dev F1':>15}  {'test F1':>15}  {'PC F1':>15}  params"
    lines.append(head)
    order = sorted(summary["configurations"], key=lambda c: (c["status"] != COMPLETE, -_key(c["dev_f1"]["mean"])))
    for c in order:
        params = " ".join(f"{k.split('.', 1)[1]}={_short(c['params'][k])}" for k in keys if k in c["params"])
        lines.append(f"{c['config_id']:<7} {c['status']:<11} {c['seeds_complete']:>2}/{c['seeds_planned']:<2}  "
                     f"{_pm(c['dev_f1']):>15}  {_pm(c['test_f1']):>15}  {_pm(c['test_pc_f1']):>15}  {params}")  # fmt: skip
    best = summary["best"]
    lines.append("")
    if best is None:
        lines.append("no configuration completed all its seeds: there is no best configuration")
        return "\n".join(lines)
    lines.append(f"best configuration {best['config_id']}: {best['params']}")
    cols = ("dev_f1", "test_precision", "test_recall", "test_f1", "test_pc_f1")
    lines.append(f"{'seed':>10} {'epoch':>5} " + " ".join(f"{h:>12}" for h in ("dev F1", "test P", "test R", "test F1", "PC F1")))
    for t in best["trials"]:
        m = t["metrics"]
        lines.append(f"{t['seed']:>10} {m['best_epoch']:>5} " + " ".join(f"{_pct(m[k]):>12}" for k in cols))
    lines.append(f"{'mean ± std':>16} " + " ".join(f"{_pm(best[k]):>12}" for k in cols))
    return "\n".join(lines)


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def _pm(stat: dict) -> str:
    if stat["mean"] is None or math.isnan(stat["mean"]):
        return "-"
    return f"{_pct(stat['mean'])}±{_pct(stat['std'])}"


def _key(x) -> float:
    return -1.0 if x is None or math.isnan(x) else x


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _num(x):
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else x


def _json_safe(obj):
    """NaN is not JSON: missing statistics become null."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
