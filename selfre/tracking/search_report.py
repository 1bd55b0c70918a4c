"""`selfre report`: the paper's tables (paper_tables.py) regenerated from what searches logged to MLflow — nothing
is recomputed from predictions, and nothing is re-decided: each search's summary (the artifact
`summary/summary.json` of its parent run) says which configurations completed and which one is best.

Searches: the finished parent runs (tag selfre.kind = search) of an experiment, or one of them. A search is
its parent run: two searches with the same name under different --storage are two searches (labelled
`name (storage)` in the tables), never merged. An interrupted or failed search has decided nothing and is
left out (asked for by run id, it is an error).

Only comparable figures share a table, by the model registry's rule (registry.difference): the same dataset,
the same dev data — the content digest of the dev records the trials scored on, which their runs logged as
their dev dataset input (lineage.py), so a smoke search on `--max-eval-examples 100` is not the full dev
set — and the same metric (the search's objective). Searches are grouped by those three; each group gets its
own Tables 5, 6, 8 and λ curve, headed by what it is and how it differs from the first group. A search whose
dev data is unknown (trial runs without dataset inputs) is compared with none. An ablation (tune/ablate.py)
is not a search for the best: its variants are fixed configurations, so it never stands in a group's
Table 6 beside a search's best-of-N; it is reported as an ablation, with its own table (tables/ablation.md:
paired differences, bootstrap) and which group, if any, it is comparable with.
Output: report.md + lambda_sensitivity*.png in `out_dir`.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_PARENT_RUN_ID

from selfre.search_results import objective
from selfre.tracking import paper_tables, plots
from selfre.tracking.child import TAG_KIND
from selfre.tracking.lineage import SHA256_TAG
from selfre.tracking.parent import SEARCH_CONFIG, SUMMARY, TAG_DATASET, TAG_STORAGE, artifact_json
from selfre.tracking.registry import difference

FINISHED = "FINISHED"
ABLATION = "ablation"  # search.analysis of a tune/ablate.py run (selfre.search.ablation)
ABLATION_TABLE = "tables/ablation.md"


@dataclass
class Search:
    run_id: str
    name: str
    storage: str
    summary: dict
    base: dict | None  # the base RunConfig dict the search started from (search_config.json)
    label: str = ""
    dataset: str = ""
    dev_digest: str = ""  # "" = unknown: comparable with no other search
    ablation: bool = False

    @property
    def comparable(self) -> dict[str, str]:
        """The fields the registry compares before two dev scores mean the same thing (registry.COMPARABLE)."""
        return {"dataset": self.dataset, "metric": objective(self.summary), "dev_digest": self.dev_digest}


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
            raise ValueError(
                f"search run {search_run_id} is {run.info.status}: it decided nothing yet (finish it with --resume)"
            )
        runs = [run]
    else:
        runs = client.search_runs(
            [exp.experiment_id],
            f"tags.`{TAG_KIND}` = 'search' and attributes.status = '{FINISHED}'",
            max_results=50000,
            order_by=["attributes.start_time ASC"],
        )
    out = []
    for run in runs:
        summary = artifact_json(client, run.info.run_id, SUMMARY)
        if summary is None:
            continue  # no summary logged: nothing the report can trust
        config = artifact_json(client, run.info.run_id, SEARCH_CONFIG) or {}
        out.append(
            Search(
                run.info.run_id,
                run.info.run_name,
                run.data.tags.get(TAG_STORAGE, ""),
                summary,
                config.get("base"),
                dataset=run.data.tags.get(TAG_DATASET) or (summary.get("search") or {}).get("dataset", ""),
                dev_digest=dev_digest(client, exp.experiment_id, run.info.run_id),
                ablation=(config.get("search") or {}).get("analysis") == ABLATION,
            )
        )
    names = Counter(s.name for s in out)
    for s in out:  # the name, unless another search shares it: then its storage (and the run id, to be sure)
        s.label = s.name if names[s.name] == 1 else f"{s.name} ({s.storage or s.run_id[:8]})"
    if len({s.label for s in out}) < len(out):
        for s in out:
            s.label = f"{s.label} [{s.run_id[:8]}]"
    return out


def dev_digest(client: MlflowClient, experiment_id: str, search_run_id: str) -> str:
    """The dev data a search's trials scored on: the sha256 its trial runs logged with their dev dataset input;
    "" when none logged one (runs from before lineage) or they disagree (then no single dev set stands behind
    its figures)."""
    found = set()
    for run in client.search_runs(
        [experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{search_run_id}'", max_results=50000
    ):
        for given in run.inputs.dataset_inputs if run.inputs else []:
            tags = {t.key: t.value for t in given.tags}
            if tags.get(MLFLOW_DATASET_CONTEXT) == "dev" and tags.get(SHA256_TAG):
                found.add(tags[SHA256_TAG])
    return found.pop() if len(found) == 1 else ""


def comparable_groups(searches: list[Search]) -> list[list[Search]]:
    """Searches whose figures may share a table, in order of first appearance; a search of unknown dev data
    (or dataset, or metric) alone."""
    groups: list[list[Search]] = []
    for s in searches:
        group = next((g for g in groups if difference(s.comparable, g[0].comparable) is None), None)
        if group is None:
            groups.append([s])
        else:
            group.append(s)
    return groups


def describe(fields: dict[str, str]) -> str:
    dev = fields["dev_digest"][:12] or "unknown (its trial runs logged no dev dataset input)"
    return f"dataset {fields['dataset'] or 'unknown'}, metric {fields['metric']}, dev data {dev}"


def write_report(tracking_uri: str, experiment: str, out_dir: str | Path, search_run_id: str | None = None) -> Path:
    client = MlflowClient(tracking_uri)
    searches = load_searches(client, experiment, search_run_id)
    per_search = {s.run_id: paper_tables.configurations(s.summary, s.label, s.base) for s in searches}
    if not any(per_search.values()):
        where = f"search run {search_run_id}" if search_run_id else f"experiment {experiment!r}"
        raise ValueError(f"no complete configuration in any finished search of {where}")
    left_out = sum(len(s.summary.get("configurations", [])) for s in searches) - sum(map(len, per_search.values()))
    groups = comparable_groups([s for s in searches if not s.ablation])
    ablations = [s for s in searches if s.ablation]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        f"# selfre report: {experiment}",
        "",
        f"{len(searches)} search(es); their complete configurations only ({left_out} pruned, failed or "
        "incomplete left out). Figures in %, mean ± std over seeds; 'dev'/'test' columns are each search's "
        "objective, named in the header.",
        "",
        f"Tables compare only comparable searches — same dataset, same dev data (content digest of the dev "
        f"records scored), same metric, the model registry's rule: {len(groups)} group(s) of searches"
        f"{f' and {len(ablations)} ablation(s), reported as ablations' if ablations else ''}.",
        "",
    ]
    for i, group in enumerate(groups, 1):
        parts += _group_section(i, group, groups[0], per_search, out)
    for ablation in ablations:
        parts += _ablation_section(client, ablation, groups, per_search[ablation.run_id])
    (out / "report.md").write_text("\n".join(parts), encoding="utf-8")
    return out / "report.md"


def _group_section(i: int, group: list[Search], first: list[Search], per_search: dict, out: Path) -> list[str]:
    fields = group[0].comparable
    parts = [f"## Group {i}: {describe(fields)}", "", f"Searches: {', '.join(s.label for s in group)}."]
    if group is not first:
        parts.append(f"Not comparable with group 1: {difference(fields, first[0].comparable)}.")
    parts.append("")
    configs = [c for s in group for c in per_search[s.run_id]]
    if not configs:
        return [*parts, "No complete configuration.", ""]
    parts += [
        "### Table 5: overall P/R/F1",
        "",
        paper_tables.table5(configs),
        "",
        "### Table 6: person-centric ablation (best configuration per variant)",
        "",
        paper_tables.table6(configs),
        "",
    ]
    for search in group:
        chosen = paper_tables.best(search.summary, per_search[search.run_id])
        if chosen is not None:
            parts += [f"### Table 8: seeds of {chosen.key} (best of {search.label})", "", paper_tables.table8(chosen)]
    points = paper_tables.lambda_points(configs)
    if points:
        png = "lambda_sensitivity.png" if i == 1 else f"lambda_sensitivity_{i}.png"
        fig = plots.lambda_curve(points)
        fig.savefig(out / png, dpi=120)
        plots.close(fig)
        parts += ["### Fig. 11: objective against λ", "", f"![λ sensitivity]({png})", ""]
    return parts


def _ablation_section(client: MlflowClient, search: Search, groups: list[list[Search]], configs) -> list[str]:
    """The ablation's own table: every variant one fixed configuration trained on the same seeds, compared with
    the baseline seed by seed — not a best-of-N, so never merged into a group's Table 6."""
    fields = search.comparable
    home = next((i for i, g in enumerate(groups, 1) if difference(fields, g[0].comparable) is None), None)
    parts = [
        f"## Ablation: {search.label}",
        "",
        f"{describe(fields)}; "
        + (f"comparable with group {home}." if home else "comparable with no group of searches."),
        "",
    ]
    table = _artifact_text(client, search.run_id, ABLATION_TABLE)
    if table is None:  # logged before the ablation wrote its table: its variants, one configuration each
        table = paper_tables.table6(configs) if configs else "No complete variant."
    return [*parts, table.strip(), ""]


def _artifact_text(client: MlflowClient, run_id: str, path: str) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return Path(client.download_artifacts(run_id, path, tmp)).read_text(encoding="utf-8")
        except (MlflowException, OSError):
            return None
