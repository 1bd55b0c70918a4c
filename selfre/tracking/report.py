"""Paper-style tables regenerated from MLflow runs (nothing is recomputed from predictions: every figure
is a metric a trial run logged from `selfre.metrics.compute_metrics`).

  Table 5  overall test P/R/F1 per configuration, mean ± std over seeds
  Table 6  person-centric ablation: configurations grouped by (use_spp, use_hr)
  Table 8  the best configuration (highest mean dev F1) per seed
  Fig. 11  F1 against λ (mean ± std over seeds) -> lambda_sensitivity.png
Source: the finished trial runs (tag selfre.final = true) under one search run, or under every search
run of an experiment. Output: report.md + PNG in `out_dir`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlflow.tracking import MlflowClient

from selfre.results import mean_std
from selfre.tracking import plots
from selfre.tracking.child import TAG_CONFIG, TAG_FINAL, TAG_KIND, TAG_SEED
from selfre.tracking.parent import LAMBDA

STATS = ("best_dev_f1", "test_precision", "test_recall", "test_f1", "test_pc_precision", "test_pc_recall", "test_pc_f1")
VARIANTS = {("False", "False"): "baseline", ("True", "False"): "+SPP", ("False", "True"): "+HR", ("True", "True"): "SELF (SPP+HR)"}


@dataclass
class Config:
    key: str  # search run name / config_id
    params: dict
    seeds: dict = field(default_factory=dict)  # seed -> metrics

    def stat(self, name: str) -> tuple[float, float]:
        return mean_std(m.get(name) for m in self.seeds.values())

    @property
    def spp_lambda(self) -> str | None:
        """λ as the run used it, or None where it weighs nothing: every run logs model.spp_lambda (its config
        default), but under uncertainty weighting, or without SPP, no λ enters the loss."""
        used = self.params.get("model.use_spp", "True") == "True" and self.params.get("model.weighting", "manual") == "manual"
        return self.params.get(LAMBDA) if used else None


def collect(client: MlflowClient, experiment: str, search_run_id: str | None = None) -> list[Config]:
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise ValueError(f"no MLflow experiment named {experiment!r}")
    flt = f"tags.`{TAG_FINAL}` = 'true'"
    if search_run_id:
        flt += f" and tags.`mlflow.parentRunId` = '{search_run_id}'"
    runs = client.search_runs([exp.experiment_id], flt, max_results=50000)
    names = {r.info.run_id: r.info.run_name for r in client.search_runs([exp.experiment_id], f"tags.`{TAG_KIND}` = 'search'")}
    configs: dict[str, Config] = {}
    for r in runs:
        parent = r.data.tags.get("mlflow.parentRunId", "")
        key = f"{names.get(parent, parent[:8])}/{r.data.tags[TAG_CONFIG]}"
        c = configs.setdefault(key, Config(key, dict(r.data.params)))
        c.seeds[int(r.data.tags[TAG_SEED])] = dict(r.data.metrics)
    return sorted(configs.values(), key=lambda c: c.key)


def _pm(c: Config, name: str) -> str:
    mean, std = c.stat(name)
    return "-" if mean != mean else f"{100 * mean:.2f} ± {100 * std:.2f}"


def table5(configs: list[Config]) -> str:
    lines = ["| configuration | λ | seeds | dev F1 | test P | test R | test F1 |", "|---|---|---|---|---|---|---|"]
    for c in configs:
        lines.append(f"| {c.key} | {c.spp_lambda or '-'} | {len(c.seeds)} | " +
                     " | ".join(_pm(c, s) for s in ("best_dev_f1", "test_precision", "test_recall", "test_f1")) + " |")  # fmt: skip
    return "\n".join(lines)


def table6(configs: list[Config]) -> str:
    """Each variant's best configuration (by mean dev F1): overall vs person-centric test figures."""
    best: dict[str, Config] = {}
    for c in configs:
        v = VARIANTS.get((c.params.get("model.use_spp"), c.params.get("model.use_hr")), "?")
        if v not in best or _mean(c, "best_dev_f1") > _mean(best[v], "best_dev_f1"):
            best[v] = c
    lines = ["| variant | configuration | test F1 | PC P | PC R | PC F1 |", "|---|---|---|---|---|---|"]
    for v in [v for v in VARIANTS.values() if v in best] + (["?"] if "?" in best else []):
        c = best[v]
        lines.append(f"| {v} | {c.key} | " + " | ".join(_pm(c, s) for s in ("test_f1", "test_pc_precision", "test_pc_recall", "test_pc_f1")) + " |")
    return "\n".join(lines)


def table8(configs: list[Config]) -> str:
    c = max(configs, key=lambda c: _mean(c, "best_dev_f1"))
    cols = ("best_dev_f1", "test_precision", "test_recall", "test_f1", "test_pc_f1")
    lines = [f"Best configuration: {c.key}", "", "| seed | dev F1 | test P | test R | test F1 | PC F1 |", "|---|---|---|---|---|---|"]
    for seed, m in sorted(c.seeds.items()):
        lines.append(f"| {seed} | " + " | ".join("-" if m.get(k) is None else f"{100 * m[k]:.2f}" for k in cols) + " |")
    lines.append("| mean ± std | " + " | ".join(_pm(c, k) for k in cols) + " |")
    return "\n".join(lines)


def lambda_points(configs: list[Config]) -> list[dict]:
    out = []
    for c in configs:
        if c.spp_lambda is None:
            continue
        for name, label in (("best_dev_f1", "dev F1"), ("test_f1", "test F1")):
            mean, std = c.stat(name)
            if mean == mean:
                out.append({"lambda": float(c.spp_lambda), "mean": mean, "std": std, "label": label})
    return out


def write_report(tracking_uri: str, experiment: str, out_dir: str | Path, search_run_id: str | None = None) -> Path:
    configs = collect(MlflowClient(tracking_uri), experiment, search_run_id)
    if not configs:
        raise ValueError(f"no finished trial runs in experiment {experiment!r}" + (f" under run {search_run_id}" if search_run_id else ""))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"# selfre report: {experiment}", "", "Figures in %, mean ± std over seeds.", "",
             "## Table 5: overall P/R/F1", "", table5(configs), "",
             "## Table 6: person-centric ablation", "", table6(configs), "",
             "## Table 8: seeds", "", table8(configs), ""]  # fmt: skip
    points = lambda_points(configs)
    if points:
        fig = plots.lambda_curve(points)
        fig.savefig(out / "lambda_sensitivity.png", dpi=120)
        plots.close(fig)
        parts += ["## Fig. 11: F1 against λ", "", "![λ sensitivity](lambda_sensitivity.png)", ""]
    (out / "report.md").write_text("\n".join(parts), encoding="utf-8")
    return out / "report.md"


def _mean(c: Config, name: str) -> float:
    m, _ = c.stat(name)
    return -1.0 if m != m else m
