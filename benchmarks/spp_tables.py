"""The tables of docs/results.md's SPP-regime study, from a finished search (its summary.json) and the MLflow store
its trials logged to: the search table (each configuration's regime, λ, epochs, dev objective and test figure over
seeds, outcome) and, per SPP run of the search and of any ablations named, what SPP did to the model — L_spp and
SPP's gradient share (`spp_grad_ratio`) at the first and last epoch, the learned σ's under uncertainty weighting,
the entity-position mass of the attention SPP reads before -> after training, and the run's test figure.

    python benchmarks/spp_tables.py --storage runs/search --search semeval-cpu-spp \
        --ablation semeval-cpu-spp-ablation
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from selfre.metrics.percent import percent


def _pm(stat: dict | None) -> str:
    """mean ± std in percent (a one-seed std reads 0.00); '–' where the configuration has no figure."""
    if not stat or stat.get("mean") is None:
        return "–"
    return f"{percent(stat['mean'])} ± {percent(stat.get('std') or 0.0)}"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def search_table(summary: dict) -> list[str]:
    best = (summary.get("best") or {}).get("config_id")
    rows = [
        "| configuration | weighting | spp_alpha | spp_target | ε | layers | λ | epochs | dev objective | test objective | outcome |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in summary["configurations"]:
        p = c["params"]
        weighting = p.get("model.weighting", "manual")
        lam = "learned σ" if weighting == "uncertainty" else _num(p.get("model.spp_lambda"))
        target = p.get("model.spp_target", "softmax")
        eps = _num(p.get("model.spp_epsilon")) if target == "smooth" else "–"
        dev = _pm(c.get("dev_score"))
        if c["status"] != "complete":
            reached = max((t.get("last_epoch") or 0) for t in c.get("trials", []))
            dev = f"stopped after epoch {reached}"
        name = f"**{c['config_id']}** (best)" if c["config_id"] == best else c["config_id"]
        rows.append(
            f"| {name} | {weighting} | {p.get('model.spp_alpha', 'softmax')} | {target} | {eps} | "
            f"{p.get('model.spp_layers', 'all')} | {lam} | {p.get('train.epochs', '')} | {dev} | "
            f"{_pm(c.get('test_score'))} | {c['status']} |"
        )
    return rows


def diagnostics_table(client, experiment_id: str, search: str) -> list[str]:
    def history(run_id: str, key: str) -> list[float]:
        return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]

    rows = [
        f"| {search}: run | weighting | α | target | layers | λ | L_spp first → last epoch | spp_grad_ratio first → last "
        "| σ_re, σ_spp (last epoch) | α′ entity mass before → after (uniform) | test objective |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    parents = client.search_runs([experiment_id], f"tags.`selfre.search` = '{search}'")
    children = [
        run
        for parent in parents
        for run in client.search_runs(
            [experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'", max_results=5000
        )
    ]
    for run in sorted(children, key=lambda r: r.info.run_name or ""):
        p, m, run_id = run.data.params, run.data.metrics, run.info.run_id
        if p.get("model.use_spp") == "False":
            continue
        spp, ratio = history(run_id, "loss_spp"), history(run_id, "spp_grad_ratio")
        s_re, s_spp = history(run_id, "sigma_re"), history(run_id, "sigma_spp")
        sigmas = f"{s_re[-1]:.3f}, {s_spp[-1]:.3f}" if s_re and s_spp else "–"
        mass = "–"
        if "spp_entity_mass_after" in m:
            mass = (
                f"{100 * m['spp_entity_mass_before']:.1f} → {100 * m['spp_entity_mass_after']:.1f} % "
                f"({100 * m['spp_entity_uniform_share']:.1f} %)"
            )
        lam = "σ" if p.get("model.weighting") == "uncertainty" else _num(float(p.get("model.spp_lambda", "nan")))
        test = f"{100 * m['test_score']:.2f}" if "test_score" in m else "–"
        rows.append(
            f"| {run.info.run_name} | {p.get('model.weighting')} | {p.get('model.spp_alpha')} | "
            f"{p.get('model.spp_target')} | {p.get('model.spp_layers')} | {lam} | "
            f"{_num(spp[0] if spp else None)} → {_num(spp[-1] if spp else None)} | "
            f"{_num(ratio[0] if ratio else None)} → {_num(ratio[-1] if ratio else None)} | {sigmas} | {mass} | {test} |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--storage", required=True, help="the searches' storage root (--storage of tune/search.py)")
    ap.add_argument("--search", required=True, help="the search's name")
    ap.add_argument("--ablation", action="append", default=[], help="an ablation's name (repeatable)")
    ap.add_argument("--tracking-uri", help="the MLflow store (default: sqlite:///STORAGE/mlflow.db)")
    ap.add_argument("--experiment", help="the MLflow experiment (default: selfre-DATASET of the search)")
    args = ap.parse_args(argv)

    from mlflow.tracking import MlflowClient

    from selfre.tracking.preflight import default_tracking
    from selfre.tracking.targets import default_name

    storage = Path(args.storage)
    summary = json.loads((storage / args.search / "summary.json").read_text(encoding="utf-8"))
    print("\n".join(search_table(summary)))
    client = MlflowClient(args.tracking_uri or default_tracking(storage)[0])
    plan = json.loads((storage / args.search / "search_plan.json").read_text(encoding="utf-8"))
    name = args.experiment or default_name(plan["dataset"])
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise SystemExit(f"--experiment {name}: no such MLflow experiment in {client.tracking_uri}")
    for search in [args.search, *args.ablation]:
        print()
        print("\n".join(diagnostics_table(client, experiment.experiment_id, search)))


if __name__ == "__main__":
    main()
