"""The paper's tables and λ curve from search summaries: the one implementation behind the search run's
own artifacts (parent.py) and `selfre report` (search_report.py), so the two can never disagree.

Input: a search's summary (selfre.search.summary: summary.json) and the base config it started from.
Only *complete* configurations (every seed finished) count — exactly the ones the search itself could
choose from; a pruned or failed configuration with one lucky finished seed is left out. Figures are the
search's objective (`summary["objective"]`, selfre.metrics.objective), and columns say which metric it is.

  Table 5  overall test P/R/F1 per configuration, mean ± std over seeds
  Table 6  person-centric ablation: the best configuration per (use_spp, use_hr) variant — given only
           comparable searches (search_report.py groups them by the registry's rule)
  Table 8  a search's best configuration (its own `best`) per seed
  Fig. 11  dev/test objective against λ, where λ weighs the loss
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from selfre.metrics.percent import mean_pm_std, percent
from selfre.search_results import COMPLETE, as_float, mean_std, objective, score_stat, seed_score, stepped_float
from selfre.tracking.params import dict_params

LAMBDA = "model.spp_lambda"
VARIANTS = {
    ("False", "False"): "baseline",
    ("True", "False"): "+SPP",
    ("False", "True"): "+HR",
    ("True", "True"): "SELF (SPP+HR)",
}
# (summary statistic or seed metric, column header); "score" = the search's objective.
TABLE5 = (
    ("dev", "dev"),
    ("test", "test"),
    ("test_precision", "test P"),
    ("test_recall", "test R"),
    ("test_f1", "test F1"),
    ("test_pc_f1", "PC F1"),
)
TABLE6 = (("test", "test"), ("test_pc_precision", "PC P"), ("test_pc_recall", "PC R"), ("test_pc_f1", "PC F1"))
TABLE8 = TABLE5


@dataclass
class Configuration:
    """One complete configuration of one search, as its summary recorded it."""

    search: str  # the search's label in tables (its name; name + storage where two searches share a name)
    row: dict  # the summary's configuration: config_id, params, {mean, std} statistics, trials
    objective: str
    params: dict = field(default_factory=dict)  # the full flat config (base + searched params) as strings

    @property
    def key(self) -> str:
        return f"{self.search}/{self.row['config_id']}"

    @property
    def trials(self) -> list[dict]:
        return [t for t in self.row.get("trials", []) if t.get("status") == COMPLETE]

    def stat(self, name: str) -> tuple[float, float]:
        """'dev'/'test' = the objective; else a statistic the summary carries or, for figures it does not
        summarise (test P/R under the metric contract), mean ± std of the same seeds' final metrics."""
        if name in ("dev", "test"):
            s = score_stat(self.row, name)
            return s["mean"], s["std"]
        s = self.row.get(name)
        if isinstance(s, dict) and "mean" in s:
            return as_float(s["mean"], missing=math.nan), as_float(s["std"], missing=math.nan)
        return mean_std((t.get("metrics") or {}).get(name) for t in self.trials)

    def seed_value(self, metrics: dict, name: str) -> float:
        return seed_score(metrics, name) if name in ("dev", "test") else as_float(metrics.get(name), missing=math.nan)

    @property
    def spp_lambda(self) -> str | None:
        """λ as the run used it, or None where it weighs nothing: every config has model.spp_lambda, but under
        uncertainty weighting, or without SPP, no λ enters the loss."""
        used = (
            self.params.get("model.use_spp", "True") == "True"
            and self.params.get("model.weighting", "manual") == "manual"
        )
        value = self.params.get(LAMBDA)
        # One spelling per λ in every table and plot: the float's, stepped (0.7, never 0.7000000000000001).
        return str(stepped_float(float(value))) if used and value is not None else None


def configurations(summary: dict, search: str, base: dict | None = None) -> list[Configuration]:
    """The complete configurations of one search (base: the search's base RunConfig dict, for the switches
    it did not search over)."""
    fixed = dict_params(base or {})
    return [
        Configuration(search, c, objective(summary), {**fixed, **dict_params(c.get("params") or {})})
        for c in summary.get("configurations", [])
        if c.get("status") == COMPLETE
    ]


def best(summary: dict, configs: list[Configuration]) -> Configuration | None:
    """The search's own choice (summary["best"]), never re-ranked here."""
    chosen = (summary.get("best") or {}).get("config_id")
    return next((c for c in configs if c.row["config_id"] == chosen), None)


def table5(configs: list[Configuration]) -> str:
    lines = [_header(["configuration", "λ", "seeds"], TABLE5, configs)]
    for c in configs:
        lines.append(f"| {c.key} | {c.spp_lambda or '-'} | {len(c.trials)} | " + " | ".join(_stats(c, TABLE5)) + " |")
    return "\n".join(lines)


def table6(configs: list[Configuration]) -> str:
    """Each variant's best configuration by mean dev objective — compared only with configurations of the
    same objective (a row per variant and metric when searches differ)."""
    chosen: dict[tuple[str, str], Configuration] = {}
    for c in configs:
        key = (VARIANTS.get((c.params.get("model.use_spp"), c.params.get("model.use_hr")), "?"), c.objective)
        if key not in chosen or _mean(c, "dev") > _mean(chosen[key], "dev"):
            chosen[key] = c
    order = [*VARIANTS.values(), "?"]
    lines = [_header(["variant", "configuration"], TABLE6, configs)]
    for (variant, _), c in sorted(chosen.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        lines.append(f"| {variant} | {c.key} | " + " | ".join(_stats(c, TABLE6)) + " |")
    return "\n".join(lines)


def table8(c: Configuration) -> str:
    """One configuration per seed (its best epoch), then mean ± std; figures in %."""
    lines = [_header(["seed", "best epoch"], TABLE8, [c])]
    for t in sorted(c.trials, key=lambda t: t["seed"]):
        m = t.get("metrics") or {}
        cells = [percent(c.seed_value(m, k)) for k, _ in TABLE8]
        lines.append(f"| {t['seed']} | {m.get('best_epoch', '-')} | " + " | ".join(cells) + " |")
    lines.append("| mean ± std | | " + " | ".join(_stats(c, TABLE8)) + " |")
    return "\n".join(lines) + "\n"


def lambda_points(configs: list[Configuration]) -> list[dict]:
    """Mean ± std of the dev and test objective per configuration against λ, where λ weighs the loss."""
    out = []
    for c in configs:
        if c.spp_lambda is None:
            continue
        for split in ("dev", "test"):
            mean, std = c.stat(split)
            if not math.isnan(mean):
                out.append({"lambda": float(c.spp_lambda), "mean": mean, "std": std, "label": f"{split} {c.objective}"})
    return out


def _header(lead: list[str], columns, configs: list[Configuration]) -> str:
    """The objective's columns are named after it ('dev micro_f1'); 'dev score' if the searches differ."""
    names = {c.objective for c in configs}
    metric = names.pop() if len(names) == 1 else "score"
    heads = [*lead, *(f"{h} {metric}" if k in ("dev", "test") else h for k, h in columns)]
    return "| " + " | ".join(heads) + " |\n" + "|---" * len(heads) + "|"


def _stats(c: Configuration, columns) -> list[str]:
    return [mean_pm_std(*c.stat(name)) for name, _ in columns]


def _mean(c: Configuration, name: str) -> float:
    m, _ = c.stat(name)
    return -math.inf if math.isnan(m) else m
