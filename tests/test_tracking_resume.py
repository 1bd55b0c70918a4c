"""The registry after `--resume`, on a real local Ray: a trial that had finished in Ray Train but not in Tune's
saved state is restarted, finds its final checkpoint and only re-reports — without `checkpoint_path`. The
search must still register the true best seed's final checkpoint (selfre.search.summary.final_checkpoint).

The driver's death is made exact instead of raced: the search runs to the end untracked, then the best
seed's trial is put back to RUNNING in Tune's saved experiment state — what a driver killed after that
trial's last report, before Tune's next state save, leaves behind (the resume test in test_search_ray.py
races a real kill; it cannot choose which trial is caught). The resume then tracks to MLflow, as
`--resume --tracking-uri` does, into the experiment and registered model the search was planned with.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
mlflow = pytest.importorskip("mlflow")

from support import REPO, load_script  # noqa: E402

from selfre.data.demo import generate_demo  # noqa: E402
from selfre.search.plan import SearchPlan, build_plan  # noqa: E402
from selfre.search.runner import run_search  # noqa: E402

# Under xdist, one worker runs this module with every other user of the embedded Ray (conftest.EMBEDDED_RAY_MODULES).
pytestmark = pytest.mark.slow


def _restart_in_saved_state(experiment: Path, trial_id: str) -> None:
    """Tune's newest experiment state, with `trial_id` as it was while it still ran."""
    [state_file] = sorted(glob.glob(str(experiment / "experiment_state-*.json")))[-1:]
    state = json.loads(Path(state_file).read_text())
    for entry in state["trial_data"]:
        trial = json.loads(entry[0])
        if trial["trial_id"] == trial_id:
            assert trial["status"] == "TERMINATED"
            trial["status"] = "RUNNING"
            entry[0] = json.dumps(trial)
    Path(state_file).write_text(json.dumps(state))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _small_run(data: Path, n_train: int, n_eval: int, epochs: int):
    """A run override (build_plan's apply_run_overrides): the demo corpus in `data`, cut small, batch 8."""

    def small(cfg):
        cfg.data.data_dir, cfg.data.max_train_examples, cfg.data.max_eval_examples = str(data), n_train, n_eval
        cfg.train.epochs, cfg.train.batch_size = epochs, 8
        return cfg

    return small


def test_resume_registers_the_best_seed_of_a_re_reported_trial(ray_session, tmp_path):  # ray_session: conftest.py
    data = tmp_path / "demo"
    generate_demo(data, seed=13, n_train=200, n_dev=40, n_test=40)

    small = _small_run(data, n_train=200, n_eval=40, epochs=2)

    search = {
        "num_samples": 1,
        "seeds": [42, 52],
        "scheduler": "fifo",
        "workers_per_trial": 1,
        "cpus_per_worker": 0.5,
        "keep_checkpoints": 3,
        "experiment": "team-selfre",
        "registered_model": "main.selfre.demo",
    }
    plan = build_plan(
        "demo",
        REPO / "tune" / "configs",
        search_overrides=search,
        apply_run_overrides=small,
        name="again",
        storage_root=str(tmp_path / "runs"),
        tracking_uri="none",
    )
    plan.search.space = {"train.learning_rate": {"choice": [0.003]}}
    first = run_search(plan).summary
    trials = first["best"]["trials"]
    best = max(trials, key=lambda t: t["metrics"]["dev_f1"])  # the best-dev seed (the first of equals)
    assert all(t["checkpoint"] for t in trials)
    _restart_in_saved_state(Path(plan.experiment_uri), best["trial_id"])

    resumed = SearchPlan.load(str(tmp_path / "runs"), "again")
    resumed.tracking_uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"  # as --resume --tracking-uri does
    outcome = run_search(resumed, resume=True)
    again = {t["seed"]: t for t in outcome.summary["best"]["trials"]}
    from ray.tune import ExperimentAnalysis

    last = {t.trial_id: t.last_result for t in ExperimentAnalysis(plan.experiment_uri).trials}
    assert last[best["trial_id"]]["is_final"] and "checkpoint_path" not in last[best["trial_id"]]  # it only re-reported
    # ... and its final checkpoint was found all the same.
    assert again[best["seed"]]["checkpoint"] == best["checkpoint"]
    assert again[best["seed"]]["metrics"]["dev_f1"] == best["metrics"]["dev_f1"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(resumed.tracking_uri)
    mv = client.get_model_version_by_alias("main.selfre.demo", "champion")
    assert mv.tags["config_id"] == first["best"]["config_id"]
    assert float(mv.tags["mean_dev_score"]) == pytest.approx(first["best"]["dev_f1"]["mean"])
    run = client.get_run(mv.tags["search_run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "team-selfre"
    from selfre.tracking.registry import fluent_tracking_uri

    with fluent_tracking_uri(
        resumed.tracking_uri
    ):  # models:/ URIs resolve through the registry, as MLFLOW_TRACKING_URI sets it
        model = Path(
            mlflow.artifacts.download_artifacts(
                f"models:/main.selfre.demo/{mv.version}", dst_path=str(tmp_path / "model")
            )
        )
    [registered] = [p.parent for p in model.rglob("model.safetensors")]
    final = Path(best["checkpoint"])
    assert json.loads((registered / "config.json").read_text())["train"]["seed"] == best["seed"]
    assert _sha256(registered / "model.safetensors") == _sha256(final / "model.safetensors")
    assert mv.tags["dev_digest"] == json.loads((final / "data_info.json").read_text())["digests"]["dev"]


# -- the final phase: registered only when it finished ----------------------------------------------------------
def _final_seed_fails_once(seed: int):
    """make_trainable for run_search: the real trainable, except that the final phase's trial of `seed` fails (as a
    seed the OOM killer takes past Ray Train's retries would)."""

    def make(plan):
        from selfre.search import trainable
        from selfre.search.resources import DRIVER_CPUS

        if plan.search.id_prefix != "f":
            return trainable.make_trainable(plan)

        def run_trial(config, plan):  # the real one's name: `--resume` restores the Tuner with the real trainable
            if config["seed"] == seed:
                raise RuntimeError("killed (out of memory)")
            trainable.run_trial(config, plan)

        return ray.tune.with_resources(ray.tune.with_parameters(run_trial, plan=plan), {"CPU": DRIVER_CPUS})

    return make


def test_an_unfinished_final_phase_registers_nothing_and_resume_registers_it_once(ray_session, tmp_path):
    from mlflow.tracking import MlflowClient

    from selfre.tracking.parent import artifact_json

    data = tmp_path / "demo"
    generate_demo(data, seed=13, n_train=120, n_dev=32, n_test=32)

    small = _small_run(data, n_train=120, n_eval=32, epochs=1)

    storage = tmp_path / "runs"
    search = {
        "num_samples": 1,
        "seeds": [42],
        "final_seeds": [62, 72],
        "scheduler": "fifo",
        "workers_per_trial": 1,
        "cpus_per_worker": 0.5,
    }
    plan = build_plan(
        "demo",
        REPO / "tune" / "configs",
        search_overrides=search,
        apply_run_overrides=small,
        name="fin",
        storage_root=str(storage),
        tracking_uri=f"sqlite:///{storage / 'mlflow.db'}",
    )
    plan.search.space = {"train.learning_rate": {"choice": [0.003]}}
    storage.mkdir()
    client = MlflowClient(plan.tracking_uri)

    first = run_search(plan, make_trainable=_final_seed_fails_once(72))
    assert not first.finished  # the final phase did not finish: not a result
    assert first.summary["best"]["config_id"] == "c001" and first.summary["final"] is None
    assert not (storage / "fin" / "best_config.json").exists()
    [parent] = client.search_runs(
        [client.get_experiment_by_name("selfre-demo").experiment_id], "tags.`selfre.kind` = 'search'"
    )
    assert parent.info.status == "KILLED" and "selfre.best_config_id" not in parent.data.tags
    assert not any(k.startswith("best_") for k in parent.data.metrics)
    assert client.search_model_versions("name = 'selfre-demo'") == []

    outcome = run_search(SearchPlan.load(str(storage), "fin"), resume=True)  # the failed final seed is retried
    assert outcome.finished
    final = outcome.summary["final"]
    assert final["config_id"] == "f001" and final["status"] == "complete" and final["seeds_complete"] == 2
    on_disk = json.loads((storage / "fin" / "best_config.json").read_text())
    # best_config.json = the chosen run_config + how it was trained (its `reproduce` section)
    assert {k: v for k, v in on_disk.items() if k != "reproduce"} == final["run_config"]
    assert on_disk["train"]["seed"] in (62, 72)
    parent = client.get_run(parent.info.run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["selfre.best_config_id"] == "f001"
    assert artifact_json(client, parent.info.run_id, "best_config.json") == on_disk
    assert parent.data.metrics["best_dev_score_mean"] == pytest.approx(final["dev_score"]["mean"])
    table8 = Path(client.download_artifacts(parent.info.run_id, "tables/seeds_table8.md", str(tmp_path)))
    assert [line.split("|")[1].strip() for line in table8.read_text().splitlines()[2:4]] == ["62", "72"]
    [mv] = client.search_model_versions("name = 'selfre-demo'")
    assert mv.tags["config_id"] == "f001" and float(mv.tags["mean_dev_score"]) == pytest.approx(
        final["dev_score"]["mean"]
    )


# -- killed anywhere, the same answer (one kill point here; benchmarks/kill_resume.py runs many) ------------------
def test_a_driver_killed_in_the_final_phase_resumes_to_the_uninterrupted_answer(ray_session, tmp_path):
    """SIGKILL the driver's process group once the first final seed finished, `--resume`: the same summary figures,
    the same registered configuration and seed, one model version, no MLflow run left RUNNING, nothing trained twice."""
    kr = load_script("benchmarks/kill_resume.py")
    data = tmp_path / "demo"
    generate_demo(data, seed=13, n_train=120, n_dev=32, n_test=32)
    args = [
        "--dataset",
        "demo",
        "--data-dir",
        str(data),
        "--max-train-examples",
        "120",
        "--max-eval-examples",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--num-samples",
        "1",
        "--seeds",
        "42",
        "--final-seeds",
        "62,72",
        "--scheduler",
        "fifo",
        "--workers-per-trial",
        "1",
        "--cpus-per-worker",
        "0.5",
        "--max-concurrent",
        "1",
        "--address",
        ray_session,
        "--tracking-uri",
        "sqlite:///{storage}/mlflow.db",
    ]
    ref, total, _ = kr.reference(args, tmp_path / "reference", limit=900)
    assert total == 3 and [v["config_id"] for v in ref["versions"]] == ["f001"]
    record = kr.kill_point(args, tmp_path / "killed", "2+0", ref, total, tolerance=0.0, limit=900)
    assert record["exited_before_kill"] is None and record["phase"].startswith("final phase"), record
    assert record["resume_exit"] == 0 and record["ok"], record["checks"]
