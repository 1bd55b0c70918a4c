"""One nested MLflow run per trial (configuration × seed), written by the trial's rank-0 worker only.

`TrialRun` uses an explicit `MlflowClient` and run id, never MLflow's fluent "active run": several
trials can share a worker process, and the fluent API's global state would cross them.

Nothing is logged twice. A trial restarted by Ray Train (worker crash) or by `--resume` finds its run
again through its tags (parent run, config_id, seed) and reopens it; epochs already logged (the
`train_loss` history) are skipped and the final metrics are written only once (`selfre.final` tag).

Params: the trial's flattened RunConfig (params.py) plus the extra params the worker passes (e.g.
train.world_size, train.per_rank_batch_size). Artifact `config.yaml`: the trial's nested RunConfig as the
search built it — a file `selfre train --config` accepts as is.
Metric keys: per epoch, with step = epoch — EpochResult.summary(): train_loss, loss_re, loss_spp, sigma_*,
learning_rate, epoch_seconds, dev_precision/recall/f1, dev_pc_f1, dev_official_macro_f1 (SemEval),
dev_score (the objective); `system/…` while it trains (system.py); at the end (step 0) — best_epoch,
best_dev_score and test_score (the objective), best_dev_* and test_* (selfre.metrics.objective.flat_scores
of the best-dev epoch and of test), test_pc_precision/recall/f1, and per relation
`test_rel_{precision,recall,f1}/<name>` with names from `names.py` (mapping: relation_metric_names.json).
Inputs: the train/dev/test datasets with their content digests (lineage.py), logged once.
SPP runs also log `spp_grad_ratio` (and `_raw`) per epoch and, at the end, `spp_entity_mass_{before,after}`
and `spp_alpha_mass_{before,after}` (mean over the probe sentences), `spp_entity_uniform_share`, with
tables/spp_attention.json and plots/spp_attention.png (selfre.train.spp_diagnostics).
Artifacts: config.yaml, tables/per_relation.{csv,json}, tables/test_metrics.json, plots/*.png.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from statistics import fmean

import yaml
from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from selfre import provenance
from selfre.config import RunConfig
from selfre.metrics.objective import flat_scores, score
from selfre.stage_timer import timed
from selfre.tracking import plots, system
from selfre.tracking.lineage import dataset_inputs
from selfre.tracking.names import MAPPING_ARTIFACT, metric_names, relation_metric_key
from selfre.tracking.params import run_params, to_param

log = logging.getLogger(__name__)

TAG_CONFIG, TAG_SEED, TAG_FINAL, TAG_REASON = "selfre.config_id", "selfre.seed", "selfre.final", "selfre.end_reason"
TAG_KIND = "selfre.kind"
PROBE_SENTENCES = 3
CONFIG_ARTIFACT = "config.yaml"


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


class TrialRun:
    """Open (or reopen) the child run of `config_id`/`seed` under `parent_run_id`."""

    @timed("child:TrialRun.__init__")
    def __init__(
        self,
        tracking_uri: str,
        parent_run_id: str,
        config_id: str,
        seed: int,
        cfg: RunConfig,
        extra_params: Mapping[str, object] | None = None,
        run_config: dict | None = None,
    ):
        """`cfg`: what the worker trains with (its own out_dir, the node's copy of the data); `run_config`: the
        trial's config as the search built it (default cfg's) — the config.yaml artifact and the data source."""
        self.client, self.tracking_uri, self.monitor = MlflowClient(tracking_uri), tracking_uri, None
        self.run_config = run_config or cfg.to_dict()
        parent = self.client.get_run(parent_run_id)
        self.experiment_id = parent.info.experiment_id
        existing = self.client.search_runs(
            [self.experiment_id],
            f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}' and tags.`{TAG_CONFIG}` = '{config_id}' "
            f"and tags.`{TAG_SEED}` = '{seed}'",
            max_results=1,
        )
        if existing:
            self.run_id = existing[0].info.run_id
            self.client.update_run(self.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            self.logged_epochs = {m.step for m in self.client.get_metric_history(self.run_id, "train_loss")}
            self.final_done = existing[0].data.tags.get(TAG_FINAL) == "true"
            self.inputs_logged = bool(existing[0].inputs and existing[0].inputs.dataset_inputs)
            log.info("reopened MLflow run %s (%s seed %s)", self.run_id, config_id, seed)
        else:
            tags = {
                MLFLOW_PARENT_RUN_ID: parent_run_id,
                MLFLOW_RUN_NAME: f"{config_id}-seed{seed}",
                TAG_CONFIG: config_id,
                TAG_SEED: str(seed),
                TAG_KIND: "trial",
                **provenance.tags(),
            }
            self.run_id = self.client.create_run(self.experiment_id, tags=tags).info.run_id
            self.logged_epochs, self.final_done, self.inputs_logged = set(), False, False
            params = {
                **run_params(cfg),
                "config_id": config_id,
                **{k: to_param(v) for k, v in (extra_params or {}).items()},
            }
            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in params.items()])
            self.client.log_text(self.run_id, yaml.safe_dump(self.run_config, sort_keys=False), CONFIG_ARTIFACT)

    def start_system_metrics(self) -> None:
        self.monitor = system.start(self.run_id, self.tracking_uri)

    # -- core TrainHooks protocol (rank 0 only: see tracked_hooks()) ----------------------------
    @timed("child:TrialRun.on_epoch_end")
    def on_epoch_end(self, result, checkpoint_dir=None) -> None:
        if result.epoch in self.logged_epochs:
            return
        ts = _now_ms()
        metrics = {k: v for k, v in result.summary().items() if k not in ("epoch", "step") and v is not None}
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), ts, result.epoch) for k, v in metrics.items()])
        self.logged_epochs.add(result.epoch)
        if checkpoint_dir is not None and not self.inputs_logged:
            self.log_inputs(Path(checkpoint_dir) / "data_info.json")

    def log_inputs(self, data_info_file: Path) -> None:
        """The trial's datasets, from the data_info.json every checkpoint carries (no second read of the data)."""
        try:
            info = json.loads(data_info_file.read_text(encoding="utf-8"))
            inputs = dataset_inputs(info, (self.run_config.get("data") or {}).get("data_dir"))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("dataset inputs not logged: %s", exc)
            return
        if inputs:
            self.client.log_inputs(self.run_id, datasets=inputs)
        self.inputs_logged = True

    def on_train_end(self, result) -> None:
        if self.final_done:
            return
        test = result.test or {}
        if getattr(result, "spp_attention", None):
            self.log_spp_attention(result.spp_attention)
        self.log_final(
            final_scores(result.best_epoch, result.best_dev, test, result.objective), test, result.checkpoint_dir
        )

    def log_spp_attention(self, attention: dict) -> None:
        """The entity-position mass of the attention SPP reads, before vs after training: means as metrics, the
        per-sentence values as a table, and the plot. A diagnostic: a failure is logged, never fatal."""
        try:
            ts = _now_ms()
            metrics = {
                "spp_entity_uniform_share": fmean(
                    attention["before" if "before" in attention else "after"]["uniform_mass"]
                )
            }
            for stage, values in attention.items():
                metrics[f"spp_entity_mass_{stage}"] = fmean(values["alpha_prime_mass"])
                metrics[f"spp_alpha_mass_{stage}"] = fmean(values["alpha_mass"])
            self.client.log_batch(self.run_id, metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()])
            self.client.log_dict(self.run_id, attention, "tables/spp_attention.json")
            fig = plots.spp_entity_mass(attention)
            self.client.log_figure(self.run_id, fig, "plots/spp_attention.png")
            plots.close(fig)
        except Exception as exc:  # noqa: BLE001
            log.warning("SPP attention diagnostics not logged: %s", exc)

    # -- the end of a trial ----------------------------------------------------------------------
    @timed("child:TrialRun.log_final")
    def log_final(
        self,
        scores: Mapping[str, float | None],
        test: dict | None = None,
        checkpoint_dir: str | None = None,
        probe_records=None,
    ) -> None:
        """`scores`: the flat final metrics (final_scores / reported_scores); `test`: the full test metrics
        dict, for per-relation figures, tables and plots (absent when only a reported result is known)."""
        ts = _now_ms()
        test = test or {}
        flat = dict(scores)
        per_rel = test.get("per_relation") or {}
        names = metric_names(per_rel)
        for label, stats in per_rel.items():
            for stat in ("precision", "recall", "f1"):
                flat[relation_metric_key("test", stat, names[label])] = stats[stat]
        metrics = [Metric(k, float(v), ts, 0) for k, v in flat.items() if v is not None]
        for i in range(0, len(metrics), 900):  # log_batch takes at most 1000 metrics
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 900])
        if test:
            self.client.log_dict(self.run_id, names, MAPPING_ARTIFACT)
            self.client.log_dict(self.run_id, test, "tables/test_metrics.json")
            self.client.log_text(self.run_id, per_relation_csv(per_rel, names), "tables/per_relation.csv")
        self._plots(test, checkpoint_dir, probe_records)
        self.client.set_tag(self.run_id, TAG_FINAL, "true")
        self.final_done = True

    def _plots(self, test: dict, checkpoint_dir: str | None, probe_records) -> None:
        figures = []
        if test.get("per_relation"):
            figures.append((plots.per_relation_f1(test["per_relation"]), "plots/per_relation_f1.png"))
        if test.get("confusion"):
            figures.append((plots.confusion_top(test["confusion"]), "plots/confusion_top20.png"))
        if checkpoint_dir is not None:
            figures.extend(self._probe_figures(checkpoint_dir, probe_records))
        for fig, path in figures:
            self.client.log_figure(self.run_id, fig, path)
            plots.close(fig)

    def _probe_figures(self, checkpoint_dir: str, records) -> list:
        """Gate heatmaps and SPP-vs-IEL for a few dev sentences. A plot is a diagnostic: a failure here
        is logged and must not fail a trial that trained fine."""
        from selfre.tracking.probes import probe

        try:
            if records is None:
                from selfre.data.datasets import load_splits
                from selfre.train.checkpoint import read_checkpoint_meta

                cfg, _, _ = read_checkpoint_meta(checkpoint_dir)
                records = load_splits(cfg.data).dev
            out = []
            for i, p in enumerate(probe(checkpoint_dir, records, PROBE_SENTENCES)):
                if p.gate is not None:
                    out.append(
                        (
                            plots.gate_heatmap(p.gate, p.tokens, f"retainer gate, dev {p.record_id}"),
                            f"plots/gate_dev{i}.png",
                        )
                    )
                if p.alpha is not None:
                    out.append(
                        (
                            plots.spp_vs_iel(p.alpha, p.iel, p.tokens, f"SPP α vs IEL, dev {p.record_id}"),
                            f"plots/spp_iel_dev{i}.png",
                        )
                    )
            return out
        except Exception as exc:  # noqa: BLE001
            log.warning("probe plots skipped: %s", exc)
            return []

    @timed("child:TrialRun.end")
    def end(self, status: str = "FINISHED", reason: str | None = None) -> None:
        system.stop(self.monitor)  # before the run ends: the monitor logs nothing to a finished run
        self.monitor = None
        if reason:
            self.client.set_tag(self.run_id, TAG_REASON, reason[:5000])
        self.client.set_terminated(self.run_id, status)


def final_scores(best_epoch: int, dev: dict, test: dict, objective: str) -> dict[str, float | None]:
    """The flat final metrics of a trial from its metrics dicts (selfre.metrics.compute_metrics)."""
    pc = test.get("person_centric") or {}
    return {
        "best_epoch": best_epoch,
        "best_dev_score": score(dev, objective) if dev else None,
        "test_score": score(test, objective) if test else None,
        **flat_scores(dev, "best_dev"),
        **flat_scores(test, "test"),
        **{f"test_pc_{k}": pc.get(k) for k in ("precision", "recall", "f1")},
    }


def reported_scores(final: Mapping) -> dict[str, float | None]:
    """The same metrics from a trial's final Ray report (the metric contract: dev_score, test_score,
    dev_*/test_* flat scores, test_pc_*): its best-dev figures become best_dev_*, as in final_scores."""
    out: dict[str, float | None] = {"best_epoch": final.get("best_epoch") or 0}
    for key, value in final.items():
        if key.startswith("dev_") and key != "dev_score":
            out[f"best_{key}"] = value
        elif key.startswith("test_") or key == "dev_score":
            out["best_dev_score" if key == "dev_score" else key] = value
    return {k: v for k, v in out.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def per_relation_csv(per_relation: dict, names: dict[str, str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["relation", "metric_name", "precision", "recall", "f1", "support"])
    for label, s in per_relation.items():
        w.writerow([label, names[label], s["precision"], s["recall"], s["f1"], s["support"]])
    return buf.getvalue()


class TrackedHooks:
    """Core `TrainHooks` that log to the trial run and call `inner` (Ray's report hooks).

    Per epoch, `inner` first: Tune should see a result as early as possible. At the end, MLflow first: once
    Ray has the final report the trial counts as done, and a driver killed right then leaves a trial that
    `--resume` only re-reports (worker.py) — its final metrics must already be in MLflow. The run ends
    FINISHED after the final report (see `end_reported` for the re-report path); ASHA stops kill the worker
    and `parent.close_children` ends those runs KILLED."""

    def __init__(self, inner, trial: TrialRun):
        self.inner, self.trial = inner, trial

    def on_epoch_end(self, result, checkpoint_dir=None) -> None:
        if self.inner is not None:
            self.inner.on_epoch_end(result, checkpoint_dir)
        self.trial.on_epoch_end(result, checkpoint_dir)

    def on_train_end(self, result) -> None:
        self.trial.on_train_end(result)
        if self.inner is not None:
            self.inner.on_train_end(result)
        self.trial.end("FINISHED")


def end_reported(
    tracking: Mapping | None,
    rank: int,
    config_id: str,
    seed: int,
    cfg: RunConfig,
    final: Mapping,
    extra_params: Mapping[str, object] | None = None,
    run_config: dict | None = None,
) -> None:
    """A trial that had already reported its final result is restarted (`--resume` after the driver died):
    nothing is trained, but its run must still end FINISHED — and hold the final metrics, from the reported
    result `final`, if the earlier attempt died before logging them (per-relation figures and plots need
    the checkpoint and are left out then)."""
    if rank != 0 or not tracking:
        return
    trial = TrialRun(
        tracking["tracking_uri"], tracking["parent_run_id"], config_id, seed, cfg, extra_params, run_config
    )
    if not trial.final_done:
        trial.log_final(reported_scores(final))
    trial.end("FINISHED")


def tracked_hooks(
    inner,
    tracking: Mapping | None,
    rank: int,
    config_id: str,
    seed: int,
    cfg: RunConfig,
    extra_params: Mapping[str, object] | None = None,
    run_config: dict | None = None,
):
    """What a trial's worker passes to `train(..., hooks=...)`: `inner` unchanged on ranks > 0 or when
    tracking is off (`tracking` is None), else `TrackedHooks` logging to the trial's child run (and, unless
    the search switched them off, its system metrics). `tracking` = SearchTracking.worker_config from the
    search driver: {"tracking_uri", "parent_run_id", "system_metrics"}. `extra_params`, `run_config`: TrialRun."""
    if rank != 0 or not tracking:
        return inner
    trial = TrialRun(
        tracking["tracking_uri"], tracking["parent_run_id"], config_id, seed, cfg, extra_params, run_config
    )
    if tracking.get("system_metrics", True):
        trial.start_system_metrics()
    return TrackedHooks(inner, trial)
