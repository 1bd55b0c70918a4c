"""MLflow tracking against a real `mlflow server` (SQLite, proxied local artifacts) on loopback: the
search's parent run, nested trial runs written through the core's TrainHooks, run closing, the
registered pyfunc model with the champion/challenger rule, preflight, and `mlflow models serve`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

mlflow = pytest.importorskip("mlflow")

from mlflow.tracking import MlflowClient  # noqa: E402
from pyfunc_support import assert_logged_as_code, assert_public_pins  # noqa: E402
from support import free_port  # noqa: E402
from tracking_support import ENV_PATH, MLFLOW, launch_server, stop, tiny_config, wait_http, wait_server  # noqa: E402

from selfre.config import RunConfig  # noqa: E402
from selfre.predict import Predictor  # noqa: E402
from selfre.tracking import child, parent, preflight, registry  # noqa: E402
from selfre.tracking.names import MAPPING_ARTIFACT, metric_names  # noqa: E402

pytestmark = pytest.mark.slow
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
SEARCH_CONFIG = {
    "name": "demo-search",
    "search": {"seeds": [1, 2], "num_samples": 2, "scheduler": "asha"},
    "params": {"model.spp_lambda": {"type": "float", "low": 0.1, "high": 1.0}},
}
# Pyfunc requests: both record shapes (character spans in `text`, token spans in `tokens`).
ROWS = [
    {"text": "Bill Gates founded Microsoft in 1975.", "subj": [0, 10], "obj": [19, 28]},
    {"tokens": ["Alice", "Smith", "works", "for", "Acme", "Corp"], "subj": [0, 2], "obj": [4, 6]},
]


@pytest.fixture(scope="module")
def server_and_training(tmp_path_factory):
    """The server starts (slowly: schema creation) while the tiny model trains (2 epochs, uncertainty
    weighting); the training's hook calls are recorded and replayed once the server is up."""
    from selfre.train.loop import train
    from selfre.train.results import TrainHooks

    folder = tmp_path_factory.mktemp("mlflow-server")
    proc, uri = launch_server(folder)
    calls = []

    class Recorder(TrainHooks):
        def on_epoch_end(self, result, checkpoint_dir=None):
            calls.append(("on_epoch_end", result, checkpoint_dir))

        def on_train_end(self, result):
            calls.append(("on_train_end", result))

    try:
        cfg = tiny_config(tmp_path_factory.mktemp("search"), "c0-s1", seed=1)
        cfg.model.weighting = "uncertainty"
        cfg.train.epochs = 2
        result = train(cfg, hooks=Recorder())
        wait_server(proc, uri, folder)
        yield uri, cfg, result, calls
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def server(server_and_training):
    return server_and_training[0]


def final_metrics(dev: float, test: float, best_epoch: int = 1) -> dict:
    """A trial's final metrics as the search summary keeps them (objective micro_f1: score = F1)."""
    return {
        "best_epoch": best_epoch,
        "dev_score": dev,
        "test_score": test,
        "dev_precision": dev,
        "dev_recall": dev,
        "dev_f1": dev,
        "dev_pc_f1": dev,
        "test_precision": test,
        "test_recall": test,
        "test_f1": test,
        "test_pc_precision": test,
        "test_pc_recall": test,
        "test_pc_f1": test,
    }


# The trial's config as the search built it: what config.yaml must hold (the worker trains with its own
# out_dir and a node-local copy of the data) and where lineage says the data came from.
S3_DATA = "s3://selfre-data/demo"
EXTRA = {"train.world_size": 2, "train.per_rank_batch_size": 8}


@pytest.fixture(scope="module")
def search(server_and_training):
    """A miniature search as the platform would log it: trial c0/seed 1 trained through `child.hooks`
    (wrapping the hooks Ray needs); c1/seed 1 is left RUNNING after an epoch as if ASHA had stopped it;
    c1/seed 2 as if it had failed. Then the search ends with its summary."""
    from selfre.search.summary import TrialRecord, summarize
    from selfre.search_results import COMPLETE, ERROR, STOPPED
    from selfre.train.results import TrainHooks

    server, cfg, result, calls = server_and_training
    run_config = RunConfig.from_dict(cfg.to_dict())
    run_config.out_dir, run_config.data.data_dir = "runs/search/c0-seed1", S3_DATA
    run_config = run_config.to_dict()
    run_id = parent.start_search(server, "selfre-demo", "demo-search", "demo", {**SEARCH_CONFIG, "base": cfg.to_dict()})
    tracking = {"tracking_uri": server, "parent_run_id": run_id}
    inner_calls = []

    class Inner(TrainHooks):  # stands for Ray's report hooks: must still be called
        def on_epoch_end(self, result, checkpoint_dir=None):
            inner_calls.append(result.epoch)

    hooks = child.tracked_hooks(
        Inner(), tracking, rank=0, config_id="c0", seed=1, cfg=cfg, extra_params=EXTRA, run_config=run_config
    )
    assert (
        child.tracked_hooks("inner", tracking, rank=1, config_id="c0", seed=1, cfg=cfg) == "inner"
    )  # rank > 0 logs nothing
    for name, *args in calls:  # exactly what train() called, in order
        getattr(hooks, name)(*args)
    stopped = child.TrialRun(server, run_id, "c1", 1, cfg)  # ASHA-stopped: worker killed after an epoch
    stopped.on_epoch_end(result.history[0])
    child.TrialRun(server, run_id, "c1", 2, cfg)  # failed before its first epoch

    test = result.test
    m = {
        **final_metrics(result.best_dev["f1"], test["f1"], result.best_epoch),
        "dev_precision": result.best_dev["precision"],
        "dev_recall": result.best_dev["recall"],
        "test_precision": test["precision"],
        "test_recall": test["recall"],
        "test_pc_precision": test["person_centric"]["precision"],
        "test_pc_recall": test["person_centric"]["recall"],
        "test_pc_f1": test["person_centric"]["f1"],
    }
    worse = {**m, "dev_f1": m["dev_f1"] * 0.9, "dev_score": m["dev_score"] * 0.9}
    records = [
        TrialRecord("t0", "c0", 1, {"model.spp_lambda": 0.4}, COMPLETE, 2, m, result.checkpoint_dir),
        TrialRecord("t1", "c0", 2, {"model.spp_lambda": 0.4}, COMPLETE, 2, worse, None),
        TrialRecord("t2", "c1", 1, {"model.spp_lambda": 0.8}, STOPPED, 1, {}, None),
        TrialRecord("t3", "c1", 2, {"model.spp_lambda": 0.8}, ERROR, None, {}, None),
    ]
    summary = summarize(records, [1, 2], objective="micro_f1", base=cfg.to_dict())
    parent.finish_search(server, run_id, summary)
    return {
        "run_id": run_id,
        "result": result,
        "summary": summary,
        "cfg": cfg,
        "inner_calls": inner_calls,
        "run_config": run_config,
    }


def _children(client, run_id):
    exp = client.get_run(run_id).info.experiment_id
    runs = client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{run_id}'")
    return {(r.data.tags[child.TAG_CONFIG], r.data.tags[child.TAG_SEED]): r for r in runs}


def _artifacts(client, run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out.extend(_artifacts(client, run_id, f.path) if f.is_dir else [f.path])
    return out


def test_parent_run_has_config_best_summary_and_plots(server, search):
    client = MlflowClient(server)
    run = client.get_run(search["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["search.scheduler"] == "asha" and run.data.params["search.seeds"] == "[1, 2]"
    assert run.data.tags["selfre.best_config_id"] == "c0"
    best = search["summary"]["best"]
    assert math.isclose(run.data.metrics["best_dev_f1_mean"], best["dev_f1"]["mean"])
    assert math.isclose(run.data.metrics["best_dev_f1_std"], best["dev_f1"]["std"])
    files = set(_artifacts(client, search["run_id"]))
    assert {
        "search_config.json",
        "best_config.json",
        "summary/summary.json",
        "summary/summary.csv",
        "tables/seeds_table8.md",
    } <= files
    # The search trained with uncertainty weighting: λ weighs nothing, so no λ curve (as in `selfre report`).
    assert "plots/lambda_sensitivity.png" not in files
    text = open(client.download_artifacts(search["run_id"], "tables/seeds_table8.md")).read()
    assert (
        text.splitlines()[0]
        == "| seed | best epoch | dev micro_f1 | test micro_f1 | test P | test R | test F1 | PC F1 |"
    )
    assert "| 1 |" in text and "| 2 |" in text and "mean ± std" in text


def test_best_config_json_is_a_train_config(server, search, tmp_path):
    """best_config.json = summary["best"]["run_config"]: a file `selfre train --config` takes as is."""
    client = MlflowClient(server)
    path = client.download_artifacts(search["run_id"], parent.BEST_CONFIG, str(tmp_path))
    best = {k: v for k, v in search["cfg"].to_dict().items() if k != "out_dir"}  # c0 = the base config; seed 1 best
    assert json.load(open(path)) == search["summary"]["best"]["run_config"] == best
    assert _train_config(path).to_dict() == {**best, "out_dir": "unused"}  # train's --out


def _train_config(path) -> RunConfig:
    """What `selfre train --config PATH` would train with (its own parser and merge; stops before training)."""
    from selfre.cli import build_parser
    from selfre.config_flags import config_from_args

    return config_from_args(
        build_parser().parse_args(["train", "--out", "unused", "--config", str(path)])
    )  # --out: out_dir


def test_child_runs_nested_with_params_epochs_and_final_metrics(server, search):
    client = MlflowClient(server)
    kids = _children(client, search["run_id"])
    assert set(kids) == {("c0", "1"), ("c1", "1"), ("c1", "2")}
    run = kids[("c0", "1")]
    assert run.info.status == "FINISHED"
    p = run.data.params
    assert p["train.seed"] == "1" and p["config_id"] == "c0" and p["model.weighting"] == "uncertainty"
    assert (p["train.world_size"], p["train.per_rank_batch_size"]) == ("2", "8")  # the worker's extra params
    from selfre.config import flatten

    assert set(flatten(search["cfg"])) - {"out_dir"} <= set(p)  # every switch of docs/method.md
    history = {
        k: sorted(m.step for m in client.get_metric_history(run.info.run_id, k))
        for k in ("train_loss", "loss_re", "loss_spp", "dev_f1", "dev_precision", "dev_recall")
    }
    assert all(steps == [1, 2] for steps in history.values()), history
    assert any(k.startswith("sigma") for k in run.data.metrics), run.data.metrics.keys()
    test = search["result"].test
    assert math.isclose(run.data.metrics["test_f1"], test["f1"])
    assert math.isclose(run.data.metrics["test_score"], test["f1"])  # objective auto = micro F1 on demo
    assert math.isclose(run.data.metrics["best_dev_score"], search["result"].best_dev["f1"])
    assert math.isclose(run.data.metrics["test_pc_f1"], test["person_centric"]["f1"])
    names = metric_names(test["per_relation"])
    for label, stats in test["per_relation"].items():
        assert math.isclose(run.data.metrics[f"test_rel_f1/{names[label]}"], stats["f1"])
    files = set(_artifacts(client, run.info.run_id))
    assert {
        MAPPING_ARTIFACT,
        "tables/per_relation.csv",
        "tables/test_metrics.json",
        "plots/per_relation_f1.png",
        "plots/confusion_top20.png",
        "plots/gate_dev0.png",
        "plots/spp_iel_dev0.png",
    } <= files, files
    mapping = json.load(open(client.download_artifacts(run.info.run_id, MAPPING_ARTIFACT)))
    assert mapping == names
    assert search["inner_calls"] == [1, 2]


def test_child_run_config_yaml_is_the_trials_train_config(server, search, tmp_path):
    client = MlflowClient(server)
    run_id = _children(client, search["run_id"])[("c0", "1")].info.run_id
    path = client.download_artifacts(run_id, child.CONFIG_ARTIFACT, str(tmp_path))
    assert RunConfig.from_dict(yaml.safe_load(open(path))).to_dict() == search["run_config"]
    cfg = _train_config(path)
    assert cfg.to_dict() == {**search["run_config"], "out_dir": "unused"} and (cfg.data.data_dir, cfg.train.seed) == (
        S3_DATA,
        1,
    )


def test_child_run_has_system_metrics(server, search):
    run = _children(MlflowClient(server), search["run_id"])[("c0", "1")]
    system = {k: v for k, v in run.data.metrics.items() if k.startswith("system/")}
    assert (
        0 < system["system/system_memory_usage_megabytes"] and 0 < system["system/system_memory_usage_percentage"] < 100
    )
    assert 0 <= system["system/cpu_utilization_percentage"] <= 100


def test_system_metrics_can_be_switched_off(server, search):
    parent_id = parent.start_search(server, "selfre-quiet", "quiet", "demo", {"storage": "/runs/quiet"})
    tracking = {"tracking_uri": server, "parent_run_id": parent_id, "system_metrics": False}
    hooks = child.tracked_hooks(None, tracking, rank=0, config_id="c0", seed=1, cfg=search["cfg"])
    assert hooks.trial.monitor is None
    hooks.on_train_end(search["result"])
    metrics = MlflowClient(server).get_run(hooks.trial.run_id).data.metrics
    assert "test_f1" in metrics and not [k for k in metrics if k.startswith("system/")]


def test_child_run_inputs_are_the_datasets_it_saw(server, search):
    """Lineage: train/dev/test as MLflow datasets — source where the search read them (the s3:// data dir, not
    the node's copy), digest = the content digest of the records used, as the checkpoint recorded it."""
    from selfre.data.datasets import load_splits

    run = _children(MlflowClient(server), search["run_id"])[("c0", "1")]
    info = load_splits(search["cfg"].data).info
    seen = {}
    for d in run.inputs.dataset_inputs:
        tags = {t.key: t.value for t in d.tags}
        seen[tags["mlflow.data.context"]] = (
            d.dataset.name,
            d.dataset.digest,
            json.loads(d.dataset.source)["uri"],
            tags["selfre.sha256"],
            tags["selfre.records"],
        )
    assert seen == {
        split: (
            f"demo-{split}",
            info["digests"][split][:36],
            f"{S3_DATA}/{split}.json",
            info["digests"][split],
            str(info["counts"][split]),
        )
        for split in ("train", "dev", "test")
    }


def test_no_run_left_running_stopped_and_failed_have_reasons(server, search):
    client = MlflowClient(server)
    kids = _children(client, search["run_id"])
    assert {k: r.info.status for k, r in kids.items()} == {
        ("c0", "1"): "FINISHED",
        ("c1", "1"): "KILLED",
        ("c1", "2"): "FAILED",
    }
    assert "ASHA" in kids[("c1", "1")].data.tags[child.TAG_REASON]
    assert "failed" in kids[("c1", "2")].data.tags[child.TAG_REASON]
    exp = kids[("c0", "1")].info.experiment_id
    assert not client.search_runs([exp], "attributes.status = 'RUNNING'")


def test_reopened_trial_logs_nothing_twice(server, search):
    """A restarted trial (Ray Train restore / --resume) reopens its run and skips what is logged."""
    client = MlflowClient(server)
    again = child.TrialRun(server, search["run_id"], "c0", 1, search["cfg"])
    for epoch in search["result"].history:
        again.on_epoch_end(epoch)
    again.on_train_end(search["result"])
    again.end("FINISHED")
    assert len(client.get_metric_history(again.run_id, "train_loss")) == 2
    assert len(client.get_metric_history(again.run_id, "test_f1")) == 1
    assert len(_children(client, search["run_id"])) == 3


def test_a_search_is_its_name_and_storage(server):
    """--resume (same name, same storage) reopens the search's run; the same name under another --storage is
    another search, and must not inherit that run's trials (they would be 'already logged' and skipped)."""
    first = parent.start_search(server, "selfre-ident", "same-name", "demo", {"storage": "/runs/a"})
    assert parent.start_search(server, "selfre-ident", "same-name", "demo", {"storage": "/runs/a"}) == first
    other = parent.start_search(server, "selfre-ident", "same-name", "demo", {"storage": "s3://u:p@bucket/runs"})
    assert other != first
    assert MlflowClient(server).get_run(other).data.tags["selfre.storage"] == "s3://***@bucket/runs"


def test_a_re_reported_trial_still_ends_finished_with_its_final_metrics(server, search):
    """--resume restarts a trial whose final result Ray already had, but whose worker died before MLflow heard
    of it: the run is reopened, given the reported final metrics, and ended FINISHED (never left RUNNING)."""
    client = MlflowClient(server)
    parent_id = parent.start_search(server, "selfre-rereport", "rereport", "demo", {})
    first = child.TrialRun(server, parent_id, "c9", 7, search["cfg"])
    first.on_epoch_end(search["result"].history[0])  # then the worker died, run still RUNNING
    final = {
        "best_epoch": 1,
        "dev_precision": 0.5,
        "dev_recall": 0.25,
        "dev_f1": 1 / 3,
        "test_precision": 0.4,
        "test_recall": 0.2,
        "test_f1": 0.8 / 3,
        "test_pc_precision": 0.3,
        "test_pc_recall": 0.3,
        "test_pc_f1": 0.3,
    }
    tracking = {"tracking_uri": server, "parent_run_id": parent_id}
    child.end_reported(tracking, 1, "c9", 7, search["cfg"], final)  # rank 1 logs nothing
    assert client.get_run(first.run_id).info.status == "RUNNING"
    child.end_reported(tracking, 0, "c9", 7, search["cfg"], final)
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED" and run.data.tags[child.TAG_FINAL] == "true"
    assert run.data.metrics["test_f1"] == pytest.approx(0.8 / 3) and run.data.metrics["test_pc_f1"] == pytest.approx(
        0.3
    )
    assert run.data.metrics["best_dev_f1"] == pytest.approx(1 / 3)
    child.end_reported(tracking, 0, "c9", 7, search["cfg"], final)  # a second restart logs nothing again
    assert len(client.get_metric_history(first.run_id, "test_f1")) == 1
    assert len(_children(client, parent_id)) == 1


def test_register_champion_challenger_and_pyfunc(server, search):
    client = MlflowClient(server)
    ckpt = search["result"].checkpoint_dir
    had_env = os.environ.get("MLFLOW_TRACKING_URI")
    first = registry.register_best(server, search["run_id"], ckpt, "demo", "c0", "micro_f1", 0.50, 0.01, 0.3)
    assert first.alias == "champion" and first.previous_champion is None
    # Registering leaves no MLFLOW_TRACKING_URI behind: selfre reads it as the default store, and the next
    # search in this process would otherwise log to this server.
    assert os.environ.get("MLFLOW_TRACKING_URI") == had_env
    later_search = parent.start_search(server, "selfre-demo", "later-search", "demo", {"storage": "/runs/later"})
    worse = registry.register_best(server, later_search, ckpt, "demo", "c0", "micro_f1", 0.40, 0.02, 0.3)
    assert worse.alias == "challenger" and worse.previous_champion == first.version
    reason = client.get_model_version("selfre-demo", worse.version).tags[registry.REASON_TAG]
    assert reason == f"mean dev micro_f1 0.4000 does not beat champion version {first.version}'s 0.5000"
    # Finishing a search again (--resume after it had finished) adds no copy: its version comes back.
    versions = len(client.search_model_versions("name = 'selfre-demo'"))
    again = registry.register_best(server, search["run_id"], ckpt, "demo", "c0", "micro_f1", 0.50, 0.01, 0.3)
    assert (again.version, again.alias) == (first.version, "champion")
    assert len(client.search_model_versions("name = 'selfre-demo'")) == versions
    assert client.get_model_version_by_alias("selfre-demo", "champion").version == first.version
    assert client.get_model_version_by_alias("selfre-demo", "challenger").version == worse.version
    # an equal score does not take the title; a better one does (promote() is the rule register_best applies)
    tags = client.get_model_version("selfre-demo", worse.version).tags
    assert (
        registry.promote(client, "selfre-demo", worse.version, {**tags, registry.SCORE_TAG: "0.5"})[0] == "challenger"
    )
    assert registry.promote(client, "selfre-demo", worse.version, {**tags, registry.SCORE_TAG: "0.55"}) == (
        "champion",
        first.version,
    )
    client.set_model_version_tag("selfre-demo", worse.version, registry.SCORE_TAG, "0.55")
    assert client.get_model_version_by_alias("selfre-demo", "champion").version == worse.version
    mv = client.get_model_version("selfre-demo", first.version)
    from selfre.data.datasets import load_splits

    dev_digest = load_splits(search["cfg"].data).info["digests"]["dev"]  # what the checkpoint's data_info.json holds
    assert {
        "dataset": "demo",
        "metric": "micro_f1",
        "dev_digest": dev_digest,
        "search_run_id": search["run_id"],
        "mean_dev_score": "0.5",
        "std_dev_score": "0.01",
        "person_centric_f1": "0.3",
        "config_id": "c0",
    }.items() <= mv.tags.items()

    with registry.fluent_tracking_uri(server):
        model = mlflow.pyfunc.load_model("models:/selfre-demo@champion")
        reqs = open(mlflow.pyfunc.get_model_dependencies("models:/selfre-demo@champion")).read()
    assert model.metadata.signature is not None and model.metadata._is_signature_from_type_hint()
    assert "torch==" in reqs and "transformers==" in reqs
    # Both record shapes in one call (a list of instances, as served under "inputs").
    out = model.predict(ROWS)
    direct = Predictor(ckpt, device="cpu").predict(ROWS)
    assert [o.label for o in out] == [p.label for p in direct]
    assert [round(o.probability, 5) for o in out] == [round(p.probability, 5) for p in direct]


def test_register_into_an_embedded_sqlite_store(search, tmp_path):
    """The embedded default store (no server): MLflow 3 resolves the `models:/m-...` source of a new version
    through the fluent tracking URI, which registering must set for the whole registration, not just the log."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    from selfre.tracking.preflight import artifacts_beside

    # artifacts beside the database, as the embedded default puts them (else MLflow writes ./mlruns in the cwd)
    run_id = parent.start_search(
        store, "selfre-demo", "embedded", "demo", {"storage": str(tmp_path)}, artifacts_beside(store)
    )
    reg = registry.register_best(
        store, run_id, search["result"].checkpoint_dir, "demo", "c0", "micro_f1", 0.5, 0.0, None
    )
    assert (reg.alias, reg.version) == ("champion", "1")
    assert os.environ.get("MLFLOW_TRACKING_URI") != store


def test_logged_model_is_code_with_public_requirements(server, search, tmp_path):
    """Installable from the public index with any env manager: pinned name==version lines, no `+cpu`."""
    reg = registry.register_best(
        server, search["run_id"], search["result"].checkpoint_dir, "reqs", "c0", "micro_f1", 0.5, 0.0, None
    )
    with registry.fluent_tracking_uri(server):
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=reg.model_uri, dst_path=str(tmp_path)))
    assert_logged_as_code(folder)
    assert_public_pins(folder)


def test_champion_is_challenged_only_on_the_same_dev_data_and_metric(server, search, tmp_path):
    """A higher dev score on other dev data (here: the first 20 dev examples, as
    --max-eval-examples 20 would give) or by another metric never unseats the champion; the version
    becomes challenger and says why. The same data and metric with a higher score does."""
    import shutil

    from selfre.data.datasets import load_splits

    client = MlflowClient(server)
    ckpt = search["result"].checkpoint_dir
    small = tmp_path / "small-dev"
    shutil.copytree(ckpt, small)
    data = RunConfig.from_dict(search["cfg"].to_dict()).data
    data.max_eval_examples = 20
    info = load_splits(data).info  # exactly the data_info.json a run with 20 dev examples saves
    (small / "data_info.json").write_text(json.dumps(info))
    full_digest = load_splits(search["cfg"].data).info["digests"]["dev"]
    assert info["digests"]["dev"] != full_digest

    def register(name, folder, metric, score):
        run = parent.start_search(server, "selfre-rule", name, "demo", {"storage": f"/runs/{name}"})
        reg = registry.register_best(
            server, run, str(folder), "demo", "c0", metric, score, 0.0, None, name="selfre-rule"
        )
        return reg, client.get_model_version("selfre-rule", reg.version).tags

    champ, _ = register("full", ckpt, "micro_f1", 0.50)
    tiny, tags = register("tiny", small, "micro_f1", 0.99)
    assert (champ.alias, tiny.alias) == ("champion", "challenger") and tags["dev_digest"] == info["digests"]["dev"]
    assert tags[registry.REASON_TAG].startswith(
        f"not compared with champion version {champ.version}: different dev data "
        f"({info['digests']['dev'][:12]} vs {full_digest[:12]})"
    )
    other, tags = register("pc", ckpt, "pc_f1", 0.99)
    assert other.alias == "challenger" and "different metric (pc_f1 vs micro_f1)" in tags[registry.REASON_TAG]
    better, tags = register("better", ckpt, "micro_f1", 0.60)
    assert (better.alias, better.previous_champion) == ("champion", champ.version) and registry.REASON_TAG not in tags
    assert client.get_model_version_by_alias("selfre-rule", "champion").version == better.version


def test_preflight_passes_and_fails_fast(server):
    preflight.preflight(server)
    port = free_port()
    t0 = time.time()
    with pytest.raises(preflight.TrackingUnavailable, match="unreachable"):
        preflight.preflight(f"http://127.0.0.1:{port}")
    assert time.time() - t0 < 15


def test_serve_champion_answers_on_loopback(server, search, tmp_path):
    """Its own registered model (`selfre-serve`): independent of test order and xdist placement."""
    reg = registry.register_best(
        server, search["run_id"], search["result"].checkpoint_dir, "serve", "c0", "micro_f1", 0.5, 0.0, None
    )
    assert reg.model_uri == "models:/selfre-serve@champion"
    port = free_port()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [
            MLFLOW,
            "models",
            "serve",
            "-m",
            reg.model_uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **ENV_PATH, "MLFLOW_TRACKING_URI": server},
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", proc, 120, log)
        answer = _invoke(port, {"inputs": ROWS})  # one request, both record forms
        # A bad request is refused before the model runs, and says what is wrong.
        with pytest.raises(urllib.error.HTTPError) as bad:
            _invoke(port, {"inputs": [{"text": "Bill Gates founded Microsoft.", "obj": [19, 28]}]})
    finally:
        stop(proc)
    direct = Predictor(search["result"].checkpoint_dir, device="cpu").predict(ROWS)
    assert [p["label"] for p in answer["predictions"]] == [p.label for p in direct]
    assert [p["probability"] for p in answer["predictions"]] == pytest.approx([p.probability for p in direct], abs=1e-6)
    assert [p["id"] for p in answer["predictions"]] == ["0", "1"]
    assert bad.value.code == 400
    message = json.loads(bad.value.read())["message"]
    assert "subj" in message and "Field required" in message, message


def _invoke(port: int, body: dict) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def log_search(server, experiment, name, storage, configs, base, cfg, dev_digest="d" * 64, analysis=""):
    """A finished search as the platform logs it: child runs for the seeds that finished (their dev data input
    with `dev_digest`, none if ""), then its summary. `configs`: {config_id: (λ, {seed: dev score, or None for a
    seed ASHA stopped})}; test = dev - 0.1. `analysis`: "ablation" for a tune/ablate.py run."""
    import tempfile

    from selfre.search.summary import TrialRecord, summarize
    from selfre.search_results import COMPLETE, STOPPED

    config = {"storage": storage, "base": base, "search": {"analysis": analysis}}
    run_id = parent.start_search(server, experiment, name, "demo", config)
    data_info = Path(tempfile.mkdtemp(prefix="data-info-")) / "data_info.json"
    data_info.write_text(
        json.dumps(
            {
                "dataset": "demo",
                "data_dir": "/data/demo",
                "files": {k: f"/data/demo/{k}.json" for k in ("train", "dev", "test")},
                "digests": {"train": "1" * 64, "dev": dev_digest, "test": "2" * 64},
                "counts": {"train": 9, "dev": 3, "test": 3},
            }
        )
    )
    records, seeds = [], sorted({seed for _, by_seed in configs.values() for seed in by_seed})
    for config_id, (lam, by_seed) in configs.items():
        for seed, dev in by_seed.items():
            if dev is None:
                records.append(
                    TrialRecord(f"{config_id}-{seed}", config_id, seed, {"model.spp_lambda": lam}, STOPPED, 1, {})
                )
                continue
            m = final_metrics(dev, dev - 0.1)
            trial = child.TrialRun(server, run_id, config_id, seed, cfg)
            if dev_digest:
                trial.log_inputs(data_info)
            trial.log_final(child.reported_scores(m))
            records.append(
                TrialRecord(f"{config_id}-{seed}", config_id, seed, {"model.spp_lambda": lam}, COMPLETE, 1, m)
            )
    summary = summarize(records, seeds, objective="micro_f1", base=base)
    parent.finish_search(server, run_id, summary)
    return run_id, summary


def test_selfre_report_shows_what_the_searches_decided(server, search, tmp_path, monkeypatch, capsys):
    """Only the summary's complete configurations (a pruned one with a lucky finished seed never
    wins Table 8); two searches with one name under different --storage stay two; Table 8 is the search's
    own (the parent run's tables/seeds_table8.md, same code); columns name the objective; the λ curve only
    where λ weighs the loss; MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME stand in for the flags."""
    from selfre.cli import main

    manual = RunConfig.from_dict(search["cfg"].to_dict())
    manual.model.weighting = "manual"
    base = manual.to_dict()
    a, _ = log_search(
        server,
        "selfre-report",
        "same-name",
        "/runs/a",
        {"c001": (0.3, {1: 0.60, 2: 0.64}), "c002": (0.9, {1: 0.99, 2: None})},
        base,
        manual,
    )
    b, _ = log_search(
        server, "selfre-report", "same-name", "/runs/b", {"c001": (0.5, {1: 0.50, 2: 0.52})}, base, manual
    )
    assert a != b
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "selfre-report")
    assert main(["report", "--out", str(tmp_path / "all")]) == 0
    exp_id = MlflowClient(server).get_experiment_by_name("selfre-report").experiment_id
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"MLflow UI, training runs: {server}/#/experiments/{exp_id}/runs?workflowType=machine_learning"
    )
    text = (tmp_path / "all" / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| same-name")]
    assert rows[:2] == [
        "| same-name (/runs/a)/c001 | 0.3 | 2 | 62.00 ± 2.83 | 52.00 ± 2.83 | 52.00 ± 2.83 | 52.00 ± 2.83 | 52.00 ± 2.83 | 52.00 ± 2.83 |",
        "| same-name (/runs/b)/c001 | 0.5 | 2 | 51.00 ± 1.41 | 41.00 ± 1.41 | 41.00 ± 1.41 | 41.00 ± 1.41 | 41.00 ± 1.41 | 41.00 ± 1.41 |",
    ]
    assert "c002" not in text and "1 pruned, failed or incomplete left out" in text
    assert "| configuration | λ | seeds | dev micro_f1 | test micro_f1 | test P |" in text
    assert "## Table 8: seeds of same-name (/runs/a)/c001 (best of same-name (/runs/a))" in text
    table8 = open(MlflowClient(server).download_artifacts(a, "tables/seeds_table8.md", str(tmp_path))).read()
    assert table8 in text and "| 1 | 1 | 60.00 | 50.00 |" in table8
    assert "Fig. 11" in text and (tmp_path / "all" / "lambda_sensitivity.png").read_bytes().startswith(b"\x89PNG")
    assert "plots/lambda_sensitivity.png" in set(_artifacts(MlflowClient(server), a))  # the search run draws it too

    # The flags win over the environment; one search by its run id.
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "nope")
    assert main(["report", "--experiment", "selfre-report", "--search-run-id", b, "--out", str(tmp_path / "b")]) == 0
    text = (tmp_path / "b" / "report.md").read_text()
    assert "| same-name/c001 | 0.5 | 2 | 51.00 ± 1.41 |" in text and "/runs/a" not in text
    assert main(["report", "--out", str(tmp_path / "x")]) == 2  # experiment 'nope' (from the environment)
    assert (
        main(["report", "--experiment", "selfre-report", "--search-run-id", "0" * 32, "--out", str(tmp_path / "x")])
        == 2
    )
    # That first search trained with uncertainty weighting: λ weighs nothing, so no λ and no λ curve.
    assert (
        main(
            ["report", "--experiment", "selfre-demo", "--search-run-id", search["run_id"], "--out", str(tmp_path / "u")]
        )
        == 0
    )
    text = (tmp_path / "u" / "report.md").read_text()
    assert "| demo-search/c0 | - | 2 |" in text and "Fig. 11" not in text


def test_report_tables_compare_only_comparable_searches(server, search, tmp_path):
    """The registry's rule in the tables: a smoke search scored on other dev data (a --max-eval-examples slice)
    never wins a row of the full search's Table 6 — it is a group of its own, headed by what differs; a search of
    unknown dev data is compared with none; an ablation's variants are reported as an ablation (its own table),
    never beside a search's best-of-N."""
    from selfre.cli import main

    manual = RunConfig.from_dict(search["cfg"].to_dict())
    manual.model.weighting = "manual"
    base, full_dev, smoke_dev = manual.to_dict(), "a" * 64, "b" * 64
    log_search(server, "selfre-groups", "full", "/runs/g", {"c001": (0.4, {1: 0.60, 2: 0.62})}, base, manual, full_dev)
    log_search(
        server, "selfre-groups", "smoke", "/runs/g", {"c001": (0.4, {1: 0.90, 2: 0.92})}, base, manual, smoke_dev
    )
    log_search(server, "selfre-groups", "old", "/runs/g", {"c001": (0.4, {1: 0.95, 2: 0.95})}, base, manual, "")
    abl, _ = log_search(
        server,
        "selfre-groups",
        "abl",
        "/runs/g",
        {"v001": (0.4, {1: 0.97, 2: 0.99})},
        base,
        manual,
        full_dev,
        analysis="ablation",
    )
    ablation_table = "| variant | seeds | test micro F1 | PC F1 | Δ vs baseline [95% CI] | bootstrap p | verdict |"
    MlflowClient(server).log_text(abl, ablation_table + "\n", "tables/ablation.md")
    assert main(["report", "--tracking-uri", server, "--experiment", "selfre-groups", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "3 group(s) of searches and 1 ablation(s), reported as ablations" in text
    first, rest = text.split("## Group 2", 1)
    second, rest = rest.split("## Group 3", 1)
    third, ablation = rest.split("## Ablation: abl", 1)
    assert "## Group 1: dataset demo, metric micro_f1, dev data aaaaaaaaaaaa" in first and "Searches: full." in first
    assert "| SELF (SPP+HR) | full/c001 | 51.00 ± 1.41 |" in first  # not smoke/c001 (81.00) nor the ablation's v001
    assert "smoke/" not in first and "old/" not in first and "abl/" not in first
    assert second.startswith(": dataset demo, metric micro_f1, dev data bbbbbbbbbbbb")
    assert "Not comparable with group 1: different dev data (bbbbbbbbbbbb vs aaaaaaaaaaaa)." in second
    assert "| SELF (SPP+HR) | smoke/c001 | 81.00 ± 1.41 |" in second
    assert "dev data unknown" in third and "different dev data (unknown vs aaaaaaaaaaaa)" in third
    assert "comparable with group 1." in ablation and ablation_table in ablation and "abl/v001" not in ablation


def test_experiments_are_filed_as_model_training(server):
    """MLflow 3's UI files an experiment without a kind under GenAI; ours are model training."""
    client = MlflowClient(server)
    parent.start_search(server, "selfre-kind", "k", "demo", {"storage": "/runs/k"})
    assert client.get_experiment_by_name("selfre-kind").tags[parent.KIND_TAG] == "custom_model_development"
    old = client.create_experiment("selfre-made-before")  # e.g. by an older selfre: gets the tag
    parent.start_search(server, "selfre-made-before", "k", "demo", {"storage": "/runs/k"})
    assert client.get_experiment(old).tags[parent.KIND_TAG] == "custom_model_development"
    chosen = client.create_experiment("selfre-chosen", tags={parent.KIND_TAG: "finetuning"})  # someone's choice stays
    parent.start_search(server, "selfre-chosen", "k", "demo", {"storage": "/runs/k"})
    assert client.get_experiment(chosen).tags[parent.KIND_TAG] == "finetuning"


def test_search_tracking_session_registers_best_seed(server, search):
    """The driver-side wrapper the search calls: preflight + parent run, then finish = register + close."""
    from selfre.search_results import best_checkpoint
    from selfre.tracking.search_tracking import SearchTracking

    summary = search["summary"]
    assert best_checkpoint(summary["best"]) == search["result"].checkpoint_dir  # seed 1 has the higher dev F1
    tracking = SearchTracking.open(server, None, "session-search", "session", SEARCH_CONFIG)
    assert tracking.worker_config == {
        "tracking_uri": server,
        "parent_run_id": tracking.parent_run_id,
        "system_metrics": True,
    }
    lines = tracking.finish(summary)
    reg = tracking.registered
    assert any("models:/selfre-session@champion" in line for line in lines)
    assert reg.name == "selfre-session" and reg.alias == "champion"
    client = MlflowClient(server)
    mv = client.get_model_version_by_alias("selfre-session", "champion")
    assert math.isclose(float(mv.tags["mean_dev_score"]), summary["best"]["dev_f1"]["mean"])
    assert client.get_run(tracking.parent_run_id).info.status == "FINISHED"
    # Links to the pages a user opens next: the Training runs view (whatever the browser chose before) and the model.
    exp_id = client.get_run(tracking.parent_run_id).info.experiment_id
    assert lines[-2:] == [
        f"MLflow UI, training runs: {server}/#/experiments/{exp_id}/runs?workflowType=machine_learning",
        f"MLflow UI, registered model selfre-session: {server}/#/models/selfre-session",
    ]


def test_every_run_and_model_version_names_its_code(server, search, tmp_path, capsys):
    """The search run, each trial run and the registered version record the selfre version, the commit and
    whether the tree had uncommitted changes (selfre.provenance), so a registered model leads to its code."""
    from selfre import provenance
    from selfre.tracking.search_tracking import SearchTracking

    code = provenance.code_version()
    assert code.commit, "this checkout must know its commit"
    expected = {"selfre.version": code.version, "selfre.commit": code.commit, "selfre.dirty": str(code.dirty).lower()}
    client = MlflowClient(server)
    runs = [client.get_run(search["run_id"]), *_children(client, search["run_id"]).values()]
    assert len(runs) == 4
    for run in runs:
        assert {k: run.data.tags.get(k) for k in expected} == expected, run.data.tags.get("mlflow.runName")
        assert run.data.tags["mlflow.source.git.commit"] == code.commit  # MLflow's UI shows it as the source version
    tracking = SearchTracking.open(server, None, "provenance-search", "provenance", SEARCH_CONFIG)
    tracking.finish(search["summary"])
    mv = client.get_model_version(tracking.registered.name, tracking.registered.version)
    assert {k: mv.tags.get(k) for k in expected} == expected and mv.tags["search_run_id"] == tracking.parent_run_id
    # `selfre report` links the experiment's Training runs and the model the reported search registered.
    from selfre.cli import main

    capsys.readouterr()
    exp = client.get_experiment_by_name("selfre-provenance")
    assert (
        main(
            [
                "report",
                "--tracking-uri",
                server,
                "--experiment",
                exp.name,
                "--search-run-id",
                tracking.parent_run_id,
                "--out",
                str(tmp_path / "report"),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines()[-2:] == [
        f"MLflow UI, training runs: {server}/#/experiments/{exp.experiment_id}/runs?workflowType=machine_learning",
        f"MLflow UI, registered model {mv.name}: {server}/#/models/{mv.name}",
    ]


def test_search_tracking_takes_experiment_and_registered_model(server, search, monkeypatch):
    """--experiment / --registered-model (search.experiment / registered_model in the plan): the parent run goes
    to that experiment, the best checkpoint becomes a version of that model — three-part names included."""
    from selfre.errors import ConfigError
    from selfre.tracking.search_tracking import SearchTracking

    config = {"search": {"experiment": "team-selfre", "registered_model": "main.selfre.demo", "system_metrics": False}}
    tracking = SearchTracking.open(server, None, "named", "demo", config)
    client = MlflowClient(server)
    assert (
        client.get_run(tracking.parent_run_id).info.experiment_id
        == client.get_experiment_by_name("team-selfre").experiment_id
    )
    assert tracking.worker_config["system_metrics"] is False
    tracking.finish(search["summary"])
    assert (tracking.registered.name, tracking.registered.alias) == ("main.selfre.demo", "champion")
    assert (
        client.get_model_version_by_alias("main.selfre.demo", "champion").tags["search_run_id"]
        == tracking.parent_run_id
    )
    monkeypatch.setenv(
        "MLFLOW_REGISTRY_URI", "databricks-uc"
    )  # a Unity Catalog registry: refused before any run starts
    runs = len(client.search_runs([client.get_experiment_by_name("team-selfre").experiment_id]))
    with pytest.raises(ConfigError, match="--registered-model 'selfre-demo': the Unity Catalog registry"):
        SearchTracking.open(server, None, "uc", "demo", {"search": {"experiment": "team-selfre"}})
    assert len(client.search_runs([client.get_experiment_by_name("team-selfre").experiment_id])) == runs
