"""One-worker trials trained in the Tune trial itself (selfre/search/in_trial.py), on a real local Ray: no Ray
Train run, the same checkpoints and MLflow run as a Ray Train trial, a crash resumed from the last epoch, and
the same figures as the core loop trained directly.

One Ray session serves the module (the `ray_session` fixture of conftest.py); under xdist, one worker runs this
module with every other user of the embedded Ray (conftest.EMBEDDED_RAY_MODULES).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from fault_support import crash_once  # noqa: E402
from ray_support import mlflow_runs  # noqa: E402
from support import REPO  # noqa: E402

from selfre.data.demo import generate_demo  # noqa: E402
from selfre.search.plan import build_plan  # noqa: E402
from selfre.search.runner import run_search  # noqa: E402
from selfre.search_results import COMPLETE  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def in_trial_search(ray_session, tmp_path_factory):
    """1 configuration x 2 seeds, one worker each, one trial at a time; the first to end epoch 2 dies there."""
    data = tmp_path_factory.mktemp("demo")
    generate_demo(data, seed=13, n_train=96, n_dev=32, n_test=32)
    storage = tmp_path_factory.mktemp("runs")

    def small(cfg):
        cfg.data.data_dir, cfg.data.max_eval_examples = str(data), 32
        cfg.train.epochs, cfg.train.batch_size = 2, 16
        return cfg

    search = {
        "num_samples": 1,
        "seeds": [42, 52],
        "scheduler": "fifo",
        "keep_checkpoints": 3,
        "workers_per_trial": 1,
        "cpus_per_worker": 1,
        "max_concurrent": 1,
    }
    plan = build_plan(
        "demo",
        REPO / "tune" / "configs",
        search_overrides=search,
        apply_run_overrides=small,
        name="in-trial",
        storage_root=str(storage),
    )
    marker = storage / "crashed.marker"
    outcome = run_search(plan, make_trainable=crash_once(marker))
    return outcome, marker


def _trials(outcome) -> list[dict]:
    return [t for c in outcome.summary["configurations"] for t in c["trials"]]


def _rows(outcome, trial) -> list[dict]:
    [folder] = [d for d in Path(outcome.plan.experiment_uri).iterdir() if d.is_dir() and trial["trial_id"] in d.name]
    return [json.loads(line) for line in (folder / "result.json").read_text().splitlines() if line.strip()]


def test_a_one_worker_trial_starts_no_ray_train_run_and_keeps_the_checkpoint_layout(in_trial_search):
    outcome, _ = in_trial_search
    runs = Path(outcome.plan.train_storage)
    assert [c["status"] for c in outcome.summary["configurations"]] == [COMPLETE]
    for trial in _trials(outcome):
        final = Path(trial["checkpoint"])
        assert final.parent.parent == runs and final.name == "final"
        assert (final / "model.safetensors").is_file() and json.loads((final / "search_state.json").read_text())[
            "is_final"
        ]
        assert sorted(p.name for p in final.parent.glob("checkpoint_epoch_*")) == [
            "checkpoint_epoch_0001",
            "checkpoint_epoch_0002",
        ]
        assert not (final.parent / "checkpoint_manager_snapshot.json").exists()  # what a Ray Train run writes


def test_a_crashed_one_worker_trial_resumes_from_its_last_epoch(in_trial_search):
    outcome, marker = in_trial_search
    assert marker.read_text().startswith("crashed rank 0 at epoch 2")
    resumed = {t["seed"]: [r["resumed_from_epoch"] for r in _rows(outcome, t)] for t in _trials(outcome)}
    # every epoch reported once; exactly one trial lost its process and continued from epoch 1's checkpoint
    assert sorted(resumed.values()) == [[0, 0, 0], [0, 1, 1]]
    # the restart is on record, not hidden behind the trial's COMPLETE: its count and the dead process named
    crashed = {t["seed"]: t for t in _trials(outcome) if resumed[t["seed"]] == [0, 1, 1]}
    [(seed, trial)] = crashed.items()
    assert trial["status"] == COMPLETE and trial["failures"] == 1 and "died" in trial["last_error"].lower()
    assert [t["failures"] for t in _trials(outcome) if t["seed"] != seed] == [0]
    assert "1 trial(s) failed and were restarted" in outcome.report and f"seed {seed}: 1 failure(s)" in outcome.report
    client, [search], trials = mlflow_runs(Path(outcome.plan.storage))
    assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
    for run in trials:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
        assert (run.data.params["train.world_size"], run.data.params["train.per_rank_batch_size"]) == ("1", "16")


def test_an_uninterrupted_in_trial_trial_scores_what_the_core_loop_scores(in_trial_search, tmp_path):
    """The launcher changes nothing about a result: the trial that did not crash equals `train()` run directly."""
    from selfre.metrics.objective import score
    from selfre.search.space import apply_params
    from selfre.train.loop import train

    outcome, _ = in_trial_search
    [clean] = [t for t in _trials(outcome) if [r["resumed_from_epoch"] for r in _rows(outcome, t)] == [0, 0, 0]]
    config = outcome.summary["configurations"][0]
    cfg = apply_params(outcome.plan.base, config["params"], seed=clean["seed"])
    cfg.out_dir, cfg.train.progress, cfg.train.device, cfg.train.num_threads = str(tmp_path / "direct"), False, "cpu", 1
    direct = train(cfg)
    assert clean["metrics"]["dev_score"] == score(direct.best_dev, direct.objective)
    assert clean["metrics"]["test_f1"] == direct.test["f1"]
