"""One MLflow run per search (the parent of every trial run).

Start: the search config as params (flattened, `search.*`/`base.*`) and `search_config.json`, tags naming
the search (its name and storage: together, what identifies a search).
Finish (`finish_search`): the summary (summary/summary.json + .csv, byte-for-byte the search's own files),
the chosen configuration (results.chosen: the search's best, or with --final-seeds the final re-training's
best — the one on disk and in the registry; tags, `best_<stat>_{mean,std}` metrics, and `best_config.json` =
its nested RunConfig with its seed, a file `selfre train --config` accepts), Table 8 of that configuration and
the λ-sensitivity plot (Fig. 11) — paper_tables.py, the same code as `selfre report` — then
every child run still RUNNING is ended: KILLED for trials ASHA stopped, FAILED for errored ones, each with
a `selfre.end_reason` tag. The input is the search's `summary` dict; nothing is recomputed or re-ranked.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from selfre import provenance
from selfre.redact import redact
from selfre.search_results import ERROR, STOPPED, chosen, json_safe, stat_names, to_csv
from selfre.tracking import paper_tables, plots
from selfre.tracking.child import TAG_CONFIG, TAG_KIND, TAG_REASON, TAG_SEED
from selfre.tracking.params import dict_params

TAG_SEARCH = "selfre.search"
TAG_DATASET = "selfre.dataset"
TAG_STORAGE = "selfre.storage"  # where the search's files are: with the name, what identifies a search
# MLflow 3's UI files an experiment without this tag under GenAI ("Evaluation runs"). The value for model
# training is the UI's ExperimentKind.CUSTOM_MODEL_DEVELOPMENT (mlflow/server/js: "custom_model_development";
# the Python package has no constant for it), shown as "Machine learning" with the Runs view.
KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
SEARCH_CONFIG, SUMMARY, BEST_CONFIG = "search_config.json", "summary/summary.json", "best_config.json"
log = logging.getLogger(__name__)
# summary status (selfre.search_results) -> (MLflow end status, reason) for a child run left open
_END = {
    STOPPED: ("KILLED", "stopped early by the scheduler (ASHA)"),
    ERROR: ("FAILED", "trial failed (see the search log)"),
}


def experiment_id(client: MlflowClient, name: str, artifact_location: str | None = None) -> str:
    """The experiment's id, created if needed and marked as model training (EXPERIMENT_KIND)."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(name, artifact_location=artifact_location, tags={KIND_TAG: EXPERIMENT_KIND})
    if KIND_TAG not in exp.tags:  # made before selfre set it (or by someone else): mark it, never overrule a choice
        client.set_experiment_tag(exp.experiment_id, KIND_TAG, EXPERIMENT_KIND)
    return exp.experiment_id


def start_search(
    tracking_uri: str,
    experiment: str,
    search_name: str,
    dataset: str,
    search_config: Mapping,
    artifact_location: str | None = None,
) -> str:
    """-> parent run id. A resumed search (same experiment, search name and storage) reopens its run; the same
    name under another --storage is another search and gets a run of its own."""
    client = MlflowClient(tracking_uri)
    exp_id = experiment_id(client, experiment, artifact_location)
    where = redact(str(search_config.get("storage", "")))
    found = client.search_runs(
        [exp_id],
        f"tags.`{TAG_SEARCH}` = '{search_name}' and tags.`{TAG_KIND}` = 'search' and tags.`{TAG_STORAGE}` = '{where}'",
        max_results=1,
    )
    if found:
        run_id = found[0].info.run_id
        client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        return run_id
    tags = {
        MLFLOW_RUN_NAME: search_name,
        TAG_SEARCH: search_name,
        TAG_DATASET: dataset,
        TAG_KIND: "search",
        TAG_STORAGE: where,
        **provenance.tags(),
    }
    run_id = client.create_run(exp_id, tags=tags).info.run_id
    params = dict_params(dict(search_config))
    items = [Param(k, v) for k, v in params.items()]
    for i in range(0, len(items), 90):  # log_batch: at most 100 params per call
        client.log_batch(run_id, params=items[i : i + 90])
    client.log_dict(run_id, dict(search_config), SEARCH_CONFIG)
    return run_id


def finish_search(
    tracking_uri: str,
    run_id: str,
    summary: dict,
    status: str = "FINISHED",
    reason: str | None = None,
    best_config: dict | None = None,
) -> None:
    """End the search's parent run with its summary and chosen configuration. `best_config`: the file the search
    wrote beside its summary (the chosen run_config + how it was trained), logged as is so both copies are one."""
    client = MlflowClient(tracking_uri)
    summary = json_safe(summary)  # exactly what summary.json holds, for the tables below as for the report
    client.log_dict(run_id, summary, SUMMARY)
    client.log_text(run_id, to_csv(summary), "summary/summary.csv")
    run = client.get_run(run_id)
    base = (artifact_json(client, run_id, SEARCH_CONFIG) or {}).get("base")
    configs = paper_tables.configurations(summary, run.info.run_name, base)
    best = chosen(summary)  # what best_config.json on disk and the registry hold (with --final-seeds: `final`)
    if best:
        client.set_tag(run_id, "selfre.best_config_id", best["config_id"])
        if best_config or best.get("run_config"):
            client.log_dict(run_id, best_config or best["run_config"], BEST_CONFIG)
        else:  # summarized without the search's base config: no run config to give
            log.warning("summary has no best run_config: %s not logged", BEST_CONFIG)
        metrics = [
            Metric(f"best_{k}_{s}", float(best[k][s]), 0, 0)
            for k in stat_names([best])
            for s in ("mean", "std")
            if isinstance(best[k][s], int | float)
        ]
        client.log_batch(run_id, metrics=metrics)
        rows = paper_tables.configurations({**summary, "configurations": [best]}, run.info.run_name, base)
        if rows:
            client.log_text(run_id, paper_tables.table8(rows[0]), "tables/seeds_table8.md")
    points = paper_tables.lambda_points(configs)
    if points:
        fig = plots.lambda_curve(points)
        client.log_figure(run_id, fig, "plots/lambda_sensitivity.png")
        plots.close(fig)
    close_children(client, run_id, summary)
    if reason:
        client.set_tag(run_id, TAG_REASON, reason[:5000])
    client.set_terminated(run_id, status)


def artifact_json(client: MlflowClient, run_id: str, path: str) -> dict | None:
    """A run's JSON artifact, or None if it has none there."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return json.loads(Path(client.download_artifacts(run_id, path, tmp)).read_text(encoding="utf-8"))
        except (MlflowException, OSError):
            return None


def close_children(client: MlflowClient, parent_run_id: str, summary: dict | None = None) -> list[str]:
    """End every child run still RUNNING (its worker was killed: ASHA stop, failure, driver exit)."""
    trial_status = {}
    for c in (summary or {}).get("configurations", []):
        for t in c.get("trials", []):
            trial_status[(str(t["config_id"]), str(t["seed"]))] = t["status"]
    exp_id = client.get_run(parent_run_id).info.experiment_id
    open_runs = client.search_runs(
        [exp_id],
        f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}' and attributes.status = 'RUNNING'",
        max_results=10000,
    )
    ended = []
    for run in open_runs:
        key = (run.data.tags.get(TAG_CONFIG), run.data.tags.get(TAG_SEED))
        status, reason = _END.get(trial_status.get(key), ("KILLED", "search ended before the trial finished"))
        client.set_tag(run.info.run_id, TAG_REASON, reason)
        client.set_terminated(run.info.run_id, status)
        ended.append(run.info.run_id)
    return ended
