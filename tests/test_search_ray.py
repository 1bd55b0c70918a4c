"""End-to-end searches on a real local Ray (no mocks): a small search with one injected worker crash,
and a search whose driver is killed and then resumed.

One Ray session serves the module (the `ray_session` fixture of conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from fault_support import crash_once  # noqa: E402
from ray_support import mlflow_runs  # noqa: E402
from support import REPO, SEARCH  # noqa: E402

from selfre.data.demo import generate_demo  # noqa: E402
from selfre.search.plan import build_plan  # noqa: E402
from selfre.search.runner import run_search  # noqa: E402
from selfre.search.summary import restarted_trials  # noqa: E402
from selfre.search_results import COMPLETE  # noqa: E402
from selfre.storage import TRAIN_RUNS  # noqa: E402

# Under xdist, one worker runs this module with every other user of the embedded Ray (conftest.EMBEDDED_RAY_MODULES).
pytestmark = pytest.mark.slow

CONFIG_DIR = REPO / "tune" / "configs"


@pytest.fixture(scope="session")  # session: computed once even if xdist splits the module's run
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, seed=13, n_train=96, n_dev=32, n_test=32)
    return out


def _plan(storage, demo_dir, name, epochs, num_samples, seeds, **search):
    def small(cfg):
        cfg.data.data_dir, cfg.data.max_eval_examples = str(demo_dir), 32
        cfg.train.epochs, cfg.train.batch_size = epochs, 16
        return cfg

    # cpus_per_worker 0.5 (as in demo.yaml): two 2-worker trials at once in the 3 logical CPUs.
    overrides = {
        "num_samples": num_samples,
        "seeds": seeds,
        "scheduler": "fifo",
        "keep_checkpoints": 3,
        "cpus_per_worker": 0.5,
        **search,
    }
    return build_plan(
        "demo", CONFIG_DIR, search_overrides=overrides, apply_run_overrides=small, name=name, storage_root=str(storage)
    )


def _optuna_trials(experiment: Path) -> list:
    """The Optuna study as the search saved it (OptunaSearch pickles itself into the run folder)."""
    import pickle

    [state_file] = sorted(experiment.glob("searcher-state-*.pkl"))[-1:]
    with open(state_file, "rb") as fh:
        return pickle.load(fh)["_ot_study"].trials


def _results(trial_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines() if line.strip()]


# -- a small search with a worker crash ------------------------------------------------------------------
@pytest.fixture(scope="session")  # session: computed once even if xdist splits the module's run
def crashed_search(ray_session, demo_dir, tmp_path_factory):
    storage = tmp_path_factory.mktemp("runs")
    marker = storage / "crashed.marker"
    plan = _plan(storage, demo_dir, "small", epochs=2, num_samples=2, seeds=[42, 52])
    outcome = run_search(plan, make_trainable=crash_once(marker))  # only this search crashes
    return outcome, marker


def test_every_configuration_is_trained_once_per_seed(crashed_search):
    outcome, _ = crashed_search
    summary = outcome.summary
    assert summary["num_trials"] == 2 * 2
    assert [c["config_id"] for c in summary["configurations"]] == ["c001", "c002"]
    for config in summary["configurations"]:
        assert config["status"] == COMPLETE
        assert sorted(t["seed"] for t in config["trials"]) == [42, 52]


def test_mean_and_std_are_over_the_seeds(crashed_search):
    for config in crashed_search[0].summary["configurations"]:
        devs = [t["metrics"]["dev_score"] for t in config["trials"]]
        tests = [t["metrics"]["test_pc_f1"] for t in config["trials"]]
        # the demo's objective is micro F1: the score the search ranks by is that figure
        assert devs == [t["metrics"]["dev_f1"] for t in config["trials"]]
        assert config["dev_score"]["mean"] == pytest.approx(statistics.fmean(devs))
        assert config["dev_score"]["std"] == pytest.approx(statistics.stdev(devs))
        assert config["test_pc_f1"]["mean"] == pytest.approx(statistics.fmean(tests))


def test_optuna_learns_the_mean_over_seeds(crashed_search):
    outcome, _ = crashed_search
    told = [t.value for t in _optuna_trials(Path(outcome.plan.experiment_uri))]
    assert told == [pytest.approx(c["dev_score"]["mean"]) for c in outcome.summary["configurations"]]


def test_best_configuration_has_the_highest_mean_dev_score(crashed_search):
    outcome, _ = crashed_search
    best = outcome.summary["best"]
    assert outcome.summary["objective"] == "micro_f1"
    assert best["dev_score"]["mean"] == max(c["dev_score"]["mean"] for c in outcome.summary["configurations"])
    written = json.loads(Path(outcome.paths["json"]).read_text())
    assert written["best"]["config_id"] == best["config_id"]
    assert Path(outcome.paths["csv"]).read_text().count("\n") == 1 + 2
    assert f"best configuration {best['config_id']}" in outcome.report


def test_checkpoints_are_in_storage(crashed_search):
    outcome, _ = crashed_search
    runs = Path(outcome.plan.train_storage)
    assert len([r for r in runs.iterdir() if r.is_dir()]) == 4
    for config in outcome.summary["configurations"]:
        for trial in config["trials"]:
            final = Path(trial["checkpoint"])
            assert final.parent.parent == runs and final.name == "final"
            assert (final / "model.safetensors").is_file() and (final / "metrics.json").is_file()
            epochs = sorted(p.name for p in final.parent.glob("checkpoint_epoch_*"))
            assert epochs == ["checkpoint_epoch_0001", "checkpoint_epoch_0002"]
            assert (final.parent / epochs[-1] / "training_state.pt").is_file()


def test_a_crashed_worker_resumes_from_its_checkpoint(crashed_search):
    outcome, marker = crashed_search
    assert marker.read_text().startswith("crashed rank 0 at epoch 2")
    trials = [t for c in outcome.summary["configurations"] for t in c["trials"]]
    resumed = [t for t in trials if t["status"] == COMPLETE and _trial_dir(outcome, t)]
    crashed = []
    for trial in resumed:
        rows = _results(_trial_dir(outcome, trial))
        epochs = [r["epoch"] for r in rows if not r["is_final"]]
        assert epochs == [1, 2]  # every epoch reported exactly once: nothing was trained twice in Tune's eyes
        if any(r["resumed_from_epoch"] == 1 for r in rows):
            crashed.append(trial)
    assert len(crashed) == 1  # exactly one trial lost a worker, and it continued from epoch 1's checkpoint
    rows = _results(_trial_dir(outcome, crashed[0]))
    assert [r["resumed_from_epoch"] for r in rows] == [0, 1, 1]


def test_mlflow_has_one_child_run_per_trial_each_epoch_logged_once(crashed_search):
    """The embedded default (no --tracking-uri): a parent run, one nested run per (configuration, seed) —
    the crashed-and-resumed trial included, its epochs logged once — and the best model registered."""
    outcome, _ = crashed_search
    client, [search], trials = mlflow_runs(Path(outcome.plan.storage))
    assert (
        search.info.status == "FINISHED"
        and search.data.tags["selfre.best_config_id"] == outcome.summary["best"]["config_id"]
    )
    pairs = sorted((r.data.tags["selfre.config_id"], r.data.tags["selfre.seed"]) for r in trials)
    assert pairs == [("c001", "42"), ("c001", "52"), ("c002", "42"), ("c002", "52")]
    for run in trials:
        assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == search.info.run_id
        assert run.data.params["train.seed"] == run.data.tags["selfre.seed"]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "dev_f1")] == [1, 2]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "dev_score")] == [1, 2]
        assert {"test_f1", "test_pc_f1", "best_dev_f1", "best_dev_score", "test_score"} <= set(run.data.metrics)
        # batch 16 is the global batch: 8 on each of the trial's 2 DDP workers
        assert (run.data.params["train.world_size"], run.data.params["train.per_rank_batch_size"]) == ("2", "8")
        assert any(k.startswith("test_rel_f1/") for k in run.data.metrics)
        plots = {f.path for f in client.list_artifacts(run.info.run_id, "plots")}
        assert {"plots/per_relation_f1.png", "plots/confusion_top20.png"} <= plots
        # From the Ray worker too: the trial's config file, system metrics, its three datasets (selfre.tracking).
        assert "config.yaml" in {f.path for f in client.list_artifacts(run.info.run_id)}
        assert run.data.metrics["system/system_memory_usage_megabytes"] > 0
        assert sorted(d.dataset.name for d in run.inputs.dataset_inputs) == ["demo-dev", "demo-test", "demo-train"]
    from selfre.tracking.registry import model_name

    champion = client.get_model_version_by_alias(model_name("demo"), "champion")
    assert champion.tags["search_run_id"] == search.info.run_id
    assert float(champion.tags["mean_dev_score"]) == pytest.approx(outcome.summary["best"]["dev_score"]["mean"])


def _trial_dir(outcome, trial) -> Path | None:
    exp = Path(outcome.plan.experiment_uri)
    found = [d for d in exp.iterdir() if d.is_dir() and trial["trial_id"] in d.name]
    return found[0] if found else None


# -- kill the driver, then --resume -------------------------------------------------------------------------
def test_a_killed_search_resumes_without_training_anything_twice(ray_session, demo_dir, tmp_path):
    storage = tmp_path / "runs"
    args = [
        "--dataset",
        "demo",
        "--data-dir",
        str(demo_dir),
        "--max-eval-examples",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--num-samples",
        "2",
        "--seeds",
        "42",
        "--scheduler",
        "fifo",
        # One trial at a time, one worker each (DDP is crashed_search's): the driver is killed once the
        # first trial's final checkpoint is committed, while the second trains.
        "--workers-per-trial",
        "1",
        "--cpus-per-worker",
        "1",
        "--max-concurrent",
        "1",
        "--storage",
        str(storage),
        "--name",
        "killed",
        "--address",
        ray_session,
        "--tracking-uri",
        f"sqlite:///{storage / 'mlflow.db'}",
    ]
    # ray.init above switched this process to token auth (this Ray's default for local clusters); the driver
    # starts without RAY_AUTH_MODE, as a user's shell would: its token-less first attempt is refused and
    # it must retry with the local token (search/ray_session.py) to join at all.
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    driver = subprocess.Popen(
        [*SEARCH, *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    runs = storage / "killed" / TRAIN_RUNS
    deadline = time.time() + 240
    try:
        while not _committed_finals(runs) and driver.poll() is None and time.time() < deadline:
            time.sleep(0.5)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver dies mid-search, as if its machine went away
        driver.wait()
    # A finished trial's final checkpoint, as it was when the driver died: a retrained trial would rewrite it.
    finished_before = {run: _fingerprint(runs / run / "final") for run in _committed_finals(runs)}
    assert finished_before, "no trial finished before the driver was killed"
    assert len(finished_before) < 2

    from selfre.search.plan import SearchPlan

    outcome = run_search(SearchPlan.load(str(storage), "killed"), resume=True)
    configs = outcome.summary["configurations"]
    assert [c["status"] for c in configs] == [COMPLETE, COMPLETE]
    pairs = [(c["config_id"], t["seed"]) for c in configs for t in c["trials"]]
    assert sorted(pairs) == [("c001", 42), ("c002", 42)]
    assert sorted(p.name for p in runs.iterdir()) == sorted(_run_names(configs))  # one Train run per pair
    for run, fingerprint in finished_before.items():
        assert _fingerprint(runs / run / "final") == fingerprint, f"{run} was trained again"
    # No epoch reached Tune twice either (a row can be missing: the killed driver's last rows were never synced).
    exp = storage / "killed"
    reported = [
        (row["config"]["config_id"], row["config"]["seed"], row["epoch"])
        for d in exp.iterdir()
        if (d / "result.json").exists()
        for row in _results(d)
        if not row["is_final"]
    ]
    assert len(reported) == len(set(reported))
    # MLflow: the resumed search reopened its parent run, and each trial has exactly one run, logged once.
    client, [search], trials = mlflow_runs(storage)
    assert search.info.status == "FINISHED"
    assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
    for run in trials:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1]


def _committed_finals(runs: Path) -> list[str]:
    """Runs whose final checkpoint is committed. Ray Train's (multi-worker trials): its snapshot names it (a `final`
    folder alone may still be uploading, and its report may yet be lost with the driver). A one-worker trial's
    (trained in its Tune trial, selfre.search.in_trial): the state file, copied last, is in `final`."""
    done = []
    for snapshot in runs.glob("*/checkpoint_manager_snapshot.json"):
        try:
            latest = json.loads(snapshot.read_text()).get("latest_checkpoint_result") or {}
        except (OSError, json.JSONDecodeError):
            continue  # being written
        if latest.get("checkpoint_dir_name") == "final":
            done.append(snapshot.parent.name)
    done += [
        state.parent.parent.name
        for state in runs.glob("*/final/search_state.json")
        if not (state.parent.parent / "checkpoint_manager_snapshot.json").exists()
    ]
    return done


def _fingerprint(folder: Path) -> tuple:
    return tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()))


def _run_names(configs) -> list[str]:
    from selfre.search.trainable import run_name

    return [
        run_name({"config_id": c["config_id"], "seed": t["seed"], "params": c["params"]})
        for c in configs
        for t in c["trials"]
    ]


# -- ASHA x seeds ---------------------------------------------------------------------------------------------
def _asha_search(root: Path):
    data = root / "demo"
    generate_demo(data, seed=13, n_train=400, n_dev=60, n_test=60)
    plan = _plan(
        root / "runs",
        data,
        "asha",
        epochs=3,
        num_samples=2,
        seeds=[42, 52],
        scheduler="asha",
        grace_period=1,
        reduction_factor=2,
        workers_per_trial=1,
        max_concurrent=2,
        sampler_seed=7,
    )
    plan.base["data"]["max_train_examples"] = 400
    plan.base["train"]["batch_size"] = 8
    plan.search.space = {"train.learning_rate": {"choice": [0.003, 1e-6]}}
    return plan, run_search(plan)


def test_asha_prunes_a_whole_configuration(ray_session, tmp_path):
    """c001 (lr 3e-3, the demo config's default: tried first) and c002 (lr 1e-6: nothing learnt after one
    epoch; sampler seed 7 proposes it second). c001's two seeds run first and never judge each other; at the
    epoch-1 rung (a third of the 3-epoch schedule) c002 is judged once both its seeds are there, below c001 on
    the same seeds, so ASHA stops it and with it the whole configuration: both seeds stop before their last
    epoch, it is pruned, and never best.

    The order this relies on (c001's seeds end together, so c002's start together) holds only if no trial
    fails: a c001 seed that errors and is restarted ends a whole trial later, and c002's first seed, alone at
    the rung (min_seeds 2: not judged), trains to its last epoch — correct ASHA, another test. Such a failure is
    the machine's, not the scheduler's (it was seen once in CI, under load); the search is then run once more,
    and the failure is printed so it is not lost."""
    plan, outcome = _asha_search(tmp_path / "first")
    if restarted_trials(outcome.summary):
        print("a trial failed and was restarted, which breaks this test's order; once more:\n" + outcome.report)
        plan, outcome = _asha_search(tmp_path / "again")
        assert not restarted_trials(outcome.summary), outcome.report

    configs = {c["config_id"]: c for c in outcome.summary["configurations"]}
    assert configs["c001"]["params"] == {"train.learning_rate": 0.003}
    assert configs["c001"]["status"] == COMPLETE and configs["c001"]["seeds_complete"] == 2
    assert configs["c002"]["status"] == "pruned" and configs["c002"]["seeds_complete"] == 0
    assert outcome.summary["best"]["config_id"] == "c001"
    assert outcome.summary["num_trials"] == 4
    for trial in configs["c002"]["trials"]:
        # the later seed stops at the rung, the earlier at its next report; neither reaches its last epoch
        assert trial["status"] == "stopped" and trial["last_epoch"] in (1, 2)
    import optuna

    told = _optuna_trials(Path(plan.experiment_uri))
    assert [t.state for t in told] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    assert told[0].value == pytest.approx(configs["c001"]["dev_score"]["mean"]) and told[1].value is None
    # No MLflow run is left RUNNING: the stopped trials' runs end KILLED, saying why.
    _, [search], trials = mlflow_runs(Path(plan.storage))
    assert search.info.status == "FINISHED"
    for run in trials:
        if run.data.tags["selfre.config_id"] == "c001":
            assert run.info.status == "FINISHED"
        else:
            assert run.info.status == "KILLED" and "ASHA" in run.data.tags["selfre.end_reason"]
