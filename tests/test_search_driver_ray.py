"""The search driver with a model-free trainable on a real local Ray (run_search's make_trainable seam): what
Tune does with trial actors, which a real trial would take minutes to show."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from support import REPO  # noqa: E402

from selfre.data.demo import generate_demo  # noqa: E402
from selfre.search.plan import build_plan  # noqa: E402
from selfre.search.resources import DRIVER_CPUS  # noqa: E402
from selfre.search.runner import run_search  # noqa: E402

# Under xdist, one worker runs this module with every other user of the embedded Ray (conftest.EMBEDDED_RAY_MODULES).
pytestmark = pytest.mark.slow

# Ray's workers cannot import this test module: ship its functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _pid_trial(config: dict, pid_dir: str) -> None:
    """The final report of a one-epoch trial (as the worker builds it), and this process's id in a file named
    after the trial."""
    from selfre.search.worker import final_metrics
    from selfre.train.results import EpochResult, TrainResult

    (Path(pid_dir) / f"{config['config_id']}-{config['seed']}").write_text(str(os.getpid()))
    dev = {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    epoch = EpochResult(1, 1, 1.0, 1.0, None, {}, dev, True, 0.0, 1e-3, score=0.5)
    ray.tune.report(final_metrics(TrainResult(1, dev, dev, "micro_f1", [epoch]), 1, 0))


def _search(tmp_path: Path, scheduler: str) -> dict[str, str]:
    data = tmp_path / "demo"
    generate_demo(data, seed=13, n_train=48, n_dev=16, n_test=16)

    def small(cfg):
        cfg.data.data_dir, cfg.train.epochs = str(data), 1
        return cfg

    plan = build_plan(
        "demo",
        REPO / "tune" / "configs",
        apply_run_overrides=small,
        storage_root=str(tmp_path / "runs"),
        tracking_uri="none",
        name=scheduler,
        search_overrides={"num_samples": 3, "seeds": [1], "scheduler": scheduler, "max_concurrent": 1},
    )
    pids = tmp_path / "pids"
    pids.mkdir()

    def make(plan):
        return ray.tune.with_resources(ray.tune.with_parameters(_pid_trial, pid_dir=str(pids)), {"CPU": DRIVER_CPUS})

    outcome = run_search(plan, make_trainable=make)
    assert outcome.finished and outcome.summary["num_trials"] == 3
    return {p.name: p.read_text() for p in pids.iterdir()}


def test_fifo_trials_reuse_one_trial_actor(ray_session, tmp_path):
    """Under FIFO a trial's function returns when its training is done, so the next trial runs in the same actor
    process instead of starting one (a process start plus Ray Train's and torch's imports: seconds per trial)."""
    pids = _search(tmp_path, "fifo")
    assert len(pids) == 3 and len(set(pids.values())) == 1
