"""Links into MLflow's web UI that land on the page a user wants, printed by the search, the ablation and
`selfre report`.

MLflow 3's UI opens an experiment in its GenAI view (traces, "Evaluation runs") unless the browser chose
"Model training" in the sidebar before: that choice lives in the browser's local storage (key
mlflow.workflowType, default genai) and ignores the experiment's kind tag. The UI reads the same choice from
the page's `workflowType` query parameter first, so the runs link carries `workflowType=machine_learning` and
shows the Training runs in any browser. Routes and parameter: MLflow 3.17's UI bundle
(mlflow/server/js/build: HashRouter, "/experiments/:experimentId/runs", "/models/:modelName",
`e.get("workflowType")` before the stored value).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from selfre.tracking.preflight import UI_HOST, UI_PORT

TRAINING_VIEW = "workflowType=machine_learning"


def ui_base(tracking_uri: str) -> str | None:
    """The UI's address for a tracking URI: the server itself (without credentials or query), or the address
    `mlflow ui` serves an embedded SQLite store on (preflight.ui_command); None where selfre cannot know it."""
    if tracking_uri.startswith("sqlite:///"):
        return f"http://{UI_HOST}:{UI_PORT}"
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    parts = urlsplit(tracking_uri)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def experiment_runs(base: str, experiment_id: str) -> str:
    return f"{base}/#/experiments/{quote(str(experiment_id), safe='')}/runs?{TRAINING_VIEW}"


def registered_model(base: str, name: str) -> str:
    return f"{base}/#/models/{quote(name, safe='')}"


def lines(tracking_uri: str, experiment_id: str, model_names=()) -> list[str]:
    """What to print: one line per page, nothing when the UI's address is unknown."""
    base = ui_base(tracking_uri)
    if base is None:
        return []
    out = [f"MLflow UI, training runs: {experiment_runs(base, experiment_id)}"]
    out += [f"MLflow UI, registered model {name}: {registered_model(base, name)}" for name in model_names]
    return out


def report_lines(tracking_uri: str, experiment: str, search_run_id: str | None = None) -> list[str]:
    """`selfre report`'s links: the experiment's Training runs, and every registered model a reported search
    (all finished searches of the experiment, or the one asked for) registered a version of."""
    if ui_base(tracking_uri) is None:
        return []
    from mlflow.tracking import MlflowClient

    from selfre.tracking.child import TAG_KIND

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    if search_run_id:
        run_ids = [search_run_id]
    else:
        runs = client.search_runs(
            [exp.experiment_id], f"tags.`{TAG_KIND}` = 'search' and attributes.status = 'FINISHED'", max_results=50000
        )
        run_ids = [r.info.run_id for r in runs]
    names = set()
    for i in range(0, len(run_ids), 100):  # a registered version's run is the search that registered it
        chunk = ", ".join(f"'{r}'" for r in run_ids[i : i + 100])
        names.update(mv.name for mv in client.search_model_versions(f"run_id IN ({chunk})"))
    return lines(tracking_uri, exp.experiment_id, sorted(names))
