"""The search driver's whole MLflow side in three calls (what selfre.search calls):

tracking = SearchTracking.open(tracking_uri, plan.storage, plan.name, plan.dataset, plan.to_dict())
    # before Ray starts: preflight (fails fast) + the parent run; None URI = embedded SQLite store.
    # The plan's search section names the experiment, the registered model and whether trials log
    # system metrics (search.experiment / registered_model / system_metrics; targets.py for defaults).
train_loop_config["tracking"] = tracking.worker_config     # rank 0 of each trial: child.tracked_hooks(...)
tracking.finish(summary)   # after fit: register the best checkpoint, summary artifacts, close runs -> lines to print
tracking.fail(exc)         # on an exception instead
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from pathlib import Path

from selfre.redact import redact
from selfre.search_results import as_float, best_checkpoint, chosen, objective, score_stat
from selfre.stage_timer import timed
from selfre.storage.uri import is_uri
from selfre.tracking import links, parent, preflight, registry, targets

log = logging.getLogger(__name__)


@dataclass
class SearchTracking:
    tracking_uri: str
    parent_run_id: str
    dataset: str
    embedded: bool
    model_name: str
    system_metrics: bool = True
    registered: registry.Registered | None = None  # set by finish()

    @classmethod
    def open(
        cls,
        tracking_uri: str | None,
        storage_root: str | Path | None,
        search_name: str,
        dataset: str,
        search_config: dict,
    ) -> SearchTracking:
        options = search_config.get("search") or {}
        experiment = targets.check_experiment(options.get("experiment") or targets.default_name(dataset), tracking_uri)
        model = targets.check_model_name(options.get("registered_model") or registry.model_name(dataset), tracking_uri)
        embedded = tracking_uri is None
        if embedded:
            if storage_root is None or is_uri(storage_root):
                raise preflight.TrackingUnavailable(
                    "the embedded MLflow store needs a local run folder; with remote --storage pass --tracking-uri"
                )
            tracking_uri, artifacts = preflight.default_tracking(storage_root)
        else:
            artifacts = preflight.artifacts_beside(tracking_uri)
        preflight.preflight(tracking_uri, experiment, artifacts)
        run_id = parent.start_search(tracking_uri, experiment, search_name, dataset, search_config, artifacts)
        return cls(tracking_uri, run_id, dataset, embedded, model, bool(options.get("system_metrics", True)))

    @property
    def worker_config(self) -> dict:
        """Plain data for Ray's train_loop_config (no secrets: credentials stay in the environment)."""
        return {
            "tracking_uri": self.tracking_uri,
            "parent_run_id": self.parent_run_id,
            "system_metrics": self.system_metrics,
        }

    @timed("session:SearchTracking.finish")
    def finish(
        self, summary: dict, complete: bool = True, register: bool = True, best_config: dict | None = None
    ) -> list[str]:
        """Register the best model and end the parent run; -> lines telling the user where to look.
        `best_config`: the search's best_config.json as written beside its summary (logged as is).
        An interrupted search (`complete` False) registers nothing and ends KILLED: its best so far is not a
        result, and `--resume` reopens the same parent run."""
        where = [f"MLflow: search run {self.parent_run_id} in {redact(self.tracking_uri)}"]
        if self.embedded:
            where.append(f"       open it with: {preflight.ui_command(self.tracking_uri)}")
        if not complete:
            parent.finish_search(
                self.tracking_uri,
                self.parent_run_id,
                summary,
                "KILLED",
                "search interrupted before every configuration was decided; continue it with --resume",
            )
            return where + self.ui_links()
        registered = None
        best = chosen(summary) if register else None  # with --final-seeds: the final re-training's best
        checkpoint = best_checkpoint(best) if best else None
        if checkpoint:
            dev = score_stat(best, "dev")
            test_pc_f1 = as_float((best.get("test_pc_f1") or {}).get("mean"), missing=None)
            registered = registry.register_best(
                self.tracking_uri,
                self.parent_run_id,
                checkpoint,
                self.dataset,
                best["config_id"],
                objective(summary),
                dev["mean"],
                dev["std"],
                test_pc_f1,
                self.model_name,
            )
            log.info("registered %s version %s as %s", registered.name, registered.version, registered.alias)
            where.append(
                f"model: registered {registered.name} version {registered.version} as @{registered.alias}; serve the "
                f"champion with: MLFLOW_TRACKING_URI={shlex.quote(redact(self.tracking_uri))} mlflow models serve "
                f"-m models:/{registered.name}@champion --env-manager local --host 127.0.0.1 --port 5001"
            )
        self.registered = registered
        parent.finish_search(self.tracking_uri, self.parent_run_id, summary, best_config=best_config)
        return where + self.ui_links()

    def ui_links(self) -> list[str]:
        """Links to the search's Training runs and its registered model in MLflow's UI (links.py)."""
        from mlflow.tracking import MlflowClient

        experiment_id = MlflowClient(self.tracking_uri).get_run(self.parent_run_id).info.experiment_id
        return links.lines(self.tracking_uri, experiment_id, [self.registered.name] if self.registered else [])

    def log_files(self, paths, artifact_dir: str) -> None:
        """Files the search wrote (e.g. Optuna's plots) as artifacts of the parent run."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.tracking_uri)
        for path in paths:
            client.log_artifact(self.parent_run_id, str(path), artifact_dir)

    def fail(self, exc: BaseException) -> None:
        parent.finish_search(
            self.tracking_uri, self.parent_run_id, {"configurations": []}, "FAILED", f"{type(exc).__name__}: {exc}"
        )
