"""Test-only fault: a search whose first trial to end epoch 2 loses rank 0's process there, once.

`run_search(plan, make_trainable=crash_once(marker))` runs the real trainable (trainable.make_trainable) with one
change (benchmarks/gpu_check.sh installs it as `trainable.make_trainable` to crash a `selfre search` the same way): the session a trial's training reports through (worker.TrainSession in a Ray Train worker,
in_trial.TrialSession in a one-worker Tune trial) is wrapped, so that rank 0 dies hard when it reports epoch 2,
before the report leaves the process. The first process to create `marker` crashes; later attempts find it and
carry on, so Ray Train (or Tune, for a one-worker trial) must resume the trial from its epoch-1 checkpoint.
Nothing of this is in the production path: the search's own code only offers the `make_trainable` seam.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from unittest import mock

from ray import cloudpickle

# Ray's processes (Tune trial actors, Train workers) cannot import the tests folder: ship this module's functions
# by value, as Ray does for functions defined in a script.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

log = logging.getLogger(__name__)
CRASH_EPOCH = 2


class CrashOnceSession:
    """A trial session (rank, world, get_checkpoint, report) whose rank 0 exits at CRASH_EPOCH's report, once per
    marker."""

    def __init__(self, session, marker: str):
        self.session, self.marker = session, marker
        self.rank, self.world = session.rank, session.world

    def get_checkpoint(self):
        return self.session.get_checkpoint()

    def report(self, metrics: dict, *args, **kwargs) -> None:
        from selfre.search_results import FINAL_KEY

        if self.rank == 0 and metrics.get("epoch") == CRASH_EPOCH and not metrics.get(FINAL_KEY):
            _crash_once(self.marker, self.rank, CRASH_EPOCH)
        self.session.report(metrics, *args, **kwargs)


def _crash_once(marker: str, rank: int, epoch: int) -> None:
    """The first caller creates `marker` and exits; later ones return.

    The pause first: Ray Train V2 collects reports by polling the workers (every RAY_TRAIN_HEALTH_CHECK_INTERVAL_S,
    2 s by default), so a report made moments before a crash is lost with the worker group — the run would then
    resume from an older checkpoint, or none."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"crashed rank {rank} at epoch {epoch}\n".encode())
    os.close(fd)
    time.sleep(3 * float(os.environ.get("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "2")))
    log.warning("test fault injection: worker rank %d exits at the end of epoch %d", rank, epoch)
    os._exit(1)


def crash_once(marker):
    """make_trainable for run_search: the real trainable, its training sessions wrapped in CrashOnceSession."""
    from selfre.search import trainable, worker

    marker, make_trainable = str(marker), trainable.make_trainable  # the real one, even if this replaces it

    def make(plan):
        def train_loop_per_worker(config: dict) -> None:  # runs in each Ray Train worker
            worker.train_trial(config, CrashOnceSession(worker.TrainSession(), marker))

        def train_trial(config: dict, session) -> None:  # a one-worker trial, in its Tune trial
            worker.train_trial(config, CrashOnceSession(session, marker))

        def run_trial(config: dict, plan) -> None:  # the real one's name: Tune names the trainable after it
            with mock.patch.multiple(trainable, train_loop_per_worker=train_loop_per_worker, train_trial=train_trial):
                trainable.run_trial(config, plan)

        return make_trainable(plan, run=run_trial)

    return make
