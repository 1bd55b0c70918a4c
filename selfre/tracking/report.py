"""`selfre report`: the paper's tables (tables.py) regenerated from what searches logged to MLflow — nothing
is recomputed from predictions, and nothing is re-decided: each search's summary (the artifact
`summary/summary.json` of its parent run) says which configurations completed and which one is best.

Searches: the finished parent runs (tag selfre.kind = search) of an experiment, or one of them. A search is
its parent run: two searches with the same name under different --storage are two searches (labelled
`name (storage)` in the tables), never merged. An interrupted or failed search has decided nothing and is
left out (asked for by run id, it is an error).
Output: report.md + lambda_sensitivity.png in `out_dir`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from selfre.tracking import plots, tables
from selfre.tracking.child import TAG_KIND
from selfre.tracking.parent import SEARCH_CONFIG, SUMMARY, TAG_STORAGE, artifact_json

FINISHED = "FINISHED"


@dataclass
class Search:
    run_id: str
    name: str
    storage: str
    summary: dict
    base: dict | None  # the base RunConfig dict the search started from (search_config.json)
    label: str = ""


def load_searches(client: MlflowClient, experiment: str, search_run_id: str | None = None) -> list[Search]:
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise ValueError(f"no MLflow experiment named {experiment!r} (--experiment)")
    if search_run_id:
        try:
            run = client.get_run(search_run_id)
        except MlflowException:
            raise ValueError(f"no MLflow run {search_run_id} (--search-run-id)") from None
        if run.info.experiment_id != exp.experiment_id or run.data.tags.get(TAG_KIND) != "search":
            raise ValueError(f"run {search_run_id} is not a search of experiment {experiment!r} (--search-run-id)")
        if run.info.status != FINISHED:
            raise ValueError(f"search run {search_run_id} is {run.info.status}: it decided nothing yet (finish it with --resume)")
        runs = [run]
    else:
        runs = client.search_runs([exp.experiment_id], f"tags.`{TAG_KIND}` = 'search' and attributes.status = '{FINISHED}'",
                                  max_results=50000, order_by=["attributes.start_time ASC"])  # fmt: skip
    out = []
    for run in runs:
        summary = artifact_json(client, run.info.run_id, SUMMARY)
        if summary is None:
            continue  # finished before summaries were logged: nothing the report can trust
        config = artifact_json(client, run.info.run_id, SEARCH_CONFIG) or {}
        out.append(Search(run.info.run_id, run.info.run_name, run.data.tags.get(TAG_STORAGE, ""), summary, config.get("base")))
    names = Counter(s.name for s in out)
    for s in out:  # the name, unless another search shares it: then its storage (and the run id, to be sure)
        s.label = s.name if names[s.name] == 1 else f"{s.name} ({s.storage or s.run_id[:8]})"
    if len({s.label for s in out}) < len(out):
        for s in out:
            s.label = f"{s.label} [{s.run_id[:8]}]"
    return out


def write_report(tracking_uri: str, experiment: str, out_dir: str | Path, search_run_id: str | None = None) -> Path:
    searches = load_searches(MlflowClient(tracking_uri), experiment, search_run_id)
    per_search = [(s, tables.configurations(s.summary, s.label, s.base)) for s in searches]
    configs = [c for _, cs in per_search for c in cs]
    if not configs:
        where = f"search run {search_run_id}" if search_run_id else f"experiment {experiment!r}"
        raise ValueError(f"no complete configuration in any finished search of {where}")
    left_out = sum(len(s.summary.get("configurations", [])) for s in searches) - len(configs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"# selfre report: {experiment}", "",
             f"{len(searches)} search(es); their complete configurations only ({left_out} pruned, failed or "
             "incomplete left out). Figures in %, mean ± std over seeds; 'dev'/'test' columns are each search's "
             "objective, named in the header.", "",
             "## Table 5: overall P/R/F1", "", tables.table5(configs), "",
             "## Table 6: person-centric ablation", "", tables.table6(configs), ""]  # fmt: skip
    for search, cs in per_search:
        chosen = tables.best(search.summary, cs)
        if chosen is not None:
            parts += [f"## Table 8: seeds of {chosen.key} (best of {search.label})", "", tables.table8(chosen)]
    points = tables.lambda_points(configs)
    if points:
        fig = plots.lambda_curve(points)
        fig.savefig(out / "lambda_sensitivity.png", dpi=120)
        plots.close(fig)
        parts += ["## Fig. 11: objective against λ", "", "![λ sensitivity](lambda_sensitivity.png)", ""]
    (out / "report.md").write_text("\n".join(parts), encoding="utf-8")
    return out / "report.md"
