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

from support import REPO  # noqa: E402

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


def test_resume_registers_the_best_seed_of_a_re_reported_trial(ray_session, tmp_path):  # ray_session: conftest.py
    data = tmp_path / "demo"
    generate_demo(data, seed=13, n_train=200, n_dev=40, n_test=40)

    def small(cfg):
        cfg.data.data_dir, cfg.data.max_train_examples, cfg.data.max_eval_examples = str(data), 200, 40
        cfg.train.epochs, cfg.train.batch_size = 2, 8
        return cfg

    search = {"num_samples": 1, "seeds": [42, 52], "scheduler": "fifo", "workers_per_trial": 1, "cpus_per_worker": 0.5,
              "keep_checkpoints": 3, "experiment": "team-selfre", "registered_model": "main.selfre.demo"}  # fmt: skip
    plan = build_plan("demo", REPO / "tune" / "configs", search_overrides=search, apply_run_overrides=small, name="again",
                      storage_root=str(tmp_path / "runs"), tracking_uri="none")  # fmt: skip
    plan.search["space"] = {"train.learning_rate": {"choice": [0.003]}}
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

    with fluent_tracking_uri(resumed.tracking_uri):  # models:/ URIs resolve through the registry, as MLFLOW_TRACKING_URI sets it
        model = Path(mlflow.artifacts.download_artifacts(f"models:/main.selfre.demo/{mv.version}", dst_path=str(tmp_path / "model")))
    [registered] = [p.parent for p in model.rglob("model.safetensors")]
    final = Path(best["checkpoint"])
    assert json.loads((registered / "config.json").read_text())["train"]["seed"] == best["seed"]
    assert _sha256(registered / "model.safetensors") == _sha256(final / "model.safetensors")
    assert mv.tags["dev_digest"] == json.loads((final / "data_info.json").read_text())["digests"]["dev"]
