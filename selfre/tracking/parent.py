"""One MLflow run per search (the parent of every trial run).

Start: the search config as params (flattened, `search.*`/`base.*`), tags naming the search.
Finish (`finish_search`): the best configuration (tags + `best_*` metrics + best_config.json), the
summary table (summary.json/csv, the search's own files), the λ-sensitivity plot (Fig. 11) and the
per-seed table of the best configuration (Table 8) — then every child run still RUNNING is ended:
KILLED for trials ASHA stopped, FAILED for errored ones, each with a `selfre.end_reason` tag.
The input is the search's `summary` dict (selfre.search.summary.summarize); nothing is recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from selfre.redact import redact
from selfre.results import ERROR, STOPPED, json_safe, to_csv
from selfre.tracking import plots
from selfre.tracking.child import TAG_CONFIG, TAG_KIND, TAG_REASON, TAG_SEED
from selfre.tracking.params import dict_params

TAG_SEARCH = "selfre.search"
TAG_DATASET = "selfre.dataset"
TAG_STORAGE = "selfre.storage"  # where the search's files are: with the name, what identifies a search
LAMBDA = "model.spp_lambda"
# summary status (selfre.search.aggregate) -> (MLflow end status, reason) for a child run left open
_END = {STOPPED: ("KILLED", "stopped early by the scheduler (ASHA)"), ERROR: ("FAILED", "trial failed (see the search log)")}


def experiment_id(client: MlflowClient, name: str, artifact_location: str | None = None) -> str:
    exp = client.get_experiment_by_name(name)
    return exp.experiment_id if exp else client.create_experiment(name, artifact_location=artifact_location)


def start_search(tracking_uri: str, experiment: str, search_name: str, dataset: str, search_config: Mapping,
                 artifact_location: str | None = None) -> str:  # fmt: skip
    """-> parent run id. A resumed search (same experiment, search name and storage) reopens its run; the same
    name under another --storage is another search and gets a run of its own."""
    client = MlflowClient(tracking_uri)
    exp_id = experiment_id(client, experiment, artifact_location)
    where = redact(str(search_config.get("storage", "")))
    found = client.search_runs([exp_id], f"tags.`{TAG_SEARCH}` = '{search_name}' and tags.`{TAG_KIND}` = 'search' "
                               f"and tags.`{TAG_STORAGE}` = '{where}'", max_results=1)  # fmt: skip
    if found:
        run_id = found[0].info.run_id
        client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        return run_id
    tags = {MLFLOW_RUN_NAME: search_name, TAG_SEARCH: search_name, TAG_DATASET: dataset, TAG_KIND: "search",
            TAG_STORAGE: where}  # fmt: skip
    run_id = client.create_run(exp_id, tags=tags).info.run_id
    params = dict_params(dict(search_config))
    items = [Param(k, v) for k, v in params.items()]
    for i in range(0, len(items), 90):  # log_batch: at most 100 params per call
        client.log_batch(run_id, params=items[i : i + 90])
    client.log_dict(run_id, dict(search_config), "search_config.json")
    return run_id


def finish_search(tracking_uri: str, run_id: str, summary: dict, status: str = "FINISHED", reason: str | None = None) -> None:
    # The search's own serialisers (selfre.results): the artifacts are byte-for-byte the files it writes.
    client = MlflowClient(tracking_uri)
    client.log_dict(run_id, json_safe(summary), "summary/summary.json")
    client.log_text(run_id, to_csv(summary), "summary/summary.csv")
    best = summary.get("best")
    if best:
        # The best configuration with its best seed as a `selfre train --config` file (older summaries: params only).
        client.log_dict(run_id, best.get("run_config") or {"config_id": best["config_id"], "params": best["params"]}, "best_config.json")
        client.set_tag(run_id, "selfre.best_config_id", best["config_id"])
        metrics = [Metric(f"best_{k}_{s}", float(best[k][s]), 0, 0) for k in ("dev_score", "test_score", "dev_f1", "test_f1", "test_pc_f1", "test_official_macro_f1")
                   for s in ("mean", "std") if _num(best.get(k, {}).get(s))]  # fmt: skip
        client.log_batch(run_id, metrics=metrics)
        client.log_text(run_id, seeds_markdown(best), "tables/seeds_table8.md")
    points = lambda_points(summary)
    if points:
        fig = plots.lambda_curve(points)
        client.log_figure(run_id, fig, "plots/lambda_sensitivity.png")
        plots.close(fig)
    close_children(client, run_id, summary)
    if reason:
        client.set_tag(run_id, TAG_REASON, reason[:5000])
    client.set_terminated(run_id, status)


def close_children(client: MlflowClient, parent_run_id: str, summary: dict | None = None) -> list[str]:
    """End every child run still RUNNING (its worker was killed: ASHA stop, failure, driver exit)."""
    trial_status = {}
    for c in (summary or {}).get("configurations", []):
        for t in c.get("trials", []):
            trial_status[(str(t["config_id"]), str(t["seed"]))] = t["status"]
    exp_id = client.get_run(parent_run_id).info.experiment_id
    open_runs = client.search_runs(
        [exp_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}' and attributes.status = 'RUNNING'", max_results=10000
    )
    ended = []
    for run in open_runs:
        key = (run.data.tags.get(TAG_CONFIG), run.data.tags.get(TAG_SEED))
        status, reason = _END.get(trial_status.get(key), ("KILLED", "search ended before the trial finished"))
        client.set_tag(run.info.run_id, TAG_REASON, reason)
        client.set_terminated(run.info.run_id, status)
        ended.append(run.info.run_id)
    return ended


def lambda_points(summary: dict) -> list[dict]:
    """Mean ± std dev and test F1 per configuration against λ (configurations without λ are skipped)."""
    out = []
    for c in summary.get("configurations", []):
        lam = c["params"].get(LAMBDA)
        if lam is None:
            continue
        for key, label in (("dev_f1", "dev F1"), ("test_f1", "test F1")):
            out.append({"lambda": float(lam), "mean": c[key]["mean"], "std": c[key]["std"], "label": label})
    return [p for p in out if _num(p["mean"])]


def seeds_markdown(best: dict) -> str:
    """Table 8: the best configuration per seed, then mean ± std (figures in %)."""
    cols = (("dev_f1", "dev F1"), ("test_precision", "test P"), ("test_recall", "test R"), ("test_f1", "test F1"),
            ("test_pc_f1", "PC F1"))  # fmt: skip
    lines = ["| seed | best epoch | " + " | ".join(h for _, h in cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for t in best["trials"]:
        m = t.get("metrics") or {}
        lines.append(f"| {t['seed']} | {m.get('best_epoch', '-')} | " + " | ".join(_pct(m.get(k)) for k, _ in cols) + " |")
    lines.append("| mean ± std | | " + " | ".join(f"{_pct(best[k]['mean'])} ± {_pct(best[k]['std'])}" for k, _ in cols) + " |")
    return "\n".join(lines) + "\n"


def _num(x) -> bool:
    return isinstance(x, int | float) and not math.isnan(x)


def _pct(x) -> str:
    return f"{100 * x:.2f}" if _num(x) else "-"
