"""What one trial asks Ray for, and the Ray session the search runs in.

A trial is a Tune function (the *driver*: it only launches a TorchTrainer and waits) plus
`workers_per_trial` Ray Train workers. The Train V2 controller actor takes no CPU. The driver is
given a token CPU share (DRIVER_CPUS) instead of Tune's default whole CPU, which on a 2-core
machine would leave room for only one worker. Because a token share still keeps a whole-CPU worker
from fitting beside it, the embedded (in-process) cluster advertises one logical CPU more than the
machine has: the drivers live in that slack and the workers get every real core.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from selfre.errors import ConfigError

log = logging.getLogger(__name__)

DRIVER_CPUS = 0.01
# Ray placement-group strategies (--placement); "auto" picks per trial (TrialResources.placement_strategy).
PLACEMENTS = ("auto", "PACK", "STRICT_PACK", "SPREAD", "STRICT_SPREAD")


@dataclass(frozen=True)
class TrialResources:
    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    placement: str = "auto"

    def validate(self) -> TrialResources:
        if self.workers < 1:
            raise ConfigError(f"--workers-per-trial must be >= 1, got {self.workers}")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"--cpus-per-worker must be > 0, got {self.cpus_per_worker}")
        if self.gpus_per_worker < 0:
            raise ConfigError(f"--gpus-per-worker must be >= 0, got {self.gpus_per_worker}")
        if self.gpus_per_worker > 1:
            # A worker trains on one device (Ray Train's get_device): a second GPU would be reserved and idle.
            raise ConfigError(
                f"--gpus-per-worker {self.gpus_per_worker:g}: a worker trains on one GPU, so the rest would be reserved "
                f"and idle; use --workers-per-trial {self.workers * math.ceil(self.gpus_per_worker)} --gpus-per-worker 1 "
                "to train on that many GPUs"
            )
        if self.placement not in PLACEMENTS:
            raise ConfigError(f"--placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        return self

    @property
    def use_gpu(self) -> bool:
        return self.gpus_per_worker > 0

    @property
    def backend(self) -> str:
        # NCCL refuses two ranks on one GPU, which fractional GPUs allow; gloo handles CUDA tensors too.
        return "nccl" if self.use_gpu and (self.gpus_per_worker >= 1 or self.workers == 1) else "gloo"

    @property
    def placement_strategy(self) -> str:
        """Ray's placement strategy for the trial's workers. auto: STRICT_PACK for a multi-worker GPU trial
        (its DDP all-reduce moves every gradient each step: over NVLink on one node, not a network between
        two); Ray's default PACK otherwise. A STRICT_PACK trial waits for one node with all its GPUs."""
        if self.placement != "auto":
            return self.placement
        return "STRICT_PACK" if self.use_gpu and self.workers > 1 else "PACK"

    def per_worker(self) -> dict[str, float]:
        out = {"CPU": float(self.cpus_per_worker)}
        if self.use_gpu:
            out["GPU"] = float(self.gpus_per_worker)
        return out

    def per_trial(self) -> dict[str, float]:
        """Driver + workers: what must be free at once for a trial to start."""
        return {k: v * self.workers + (DRIVER_CPUS if k == "CPU" else 0.0) for k, v in self.per_worker().items()}

    def threads_per_worker(self) -> int:
        """torch threads per worker when the config leaves it at 0: its CPU share, at least 1."""
        return max(1, int(self.cpus_per_worker))

    def trials_that_fit(self, cluster: dict[str, float]) -> int:
        need = self.per_trial()
        return min(int(math.floor(cluster.get(k, 0.0) / v + 1e-9)) for k, v in need.items() if v > 0)


def embedded_cpus() -> int:
    """Logical CPUs for the in-process cluster: the machine's cores plus one for trial drivers."""
    return (os.cpu_count() or 1) + 1


def check_fits(trial: TrialResources, cluster: dict[str, float], max_concurrent: int, joined: bool = False) -> int:
    """How many trials run at once: --max-concurrent, or as many as fit the cluster now.

    This limit is the only throttle: Tune reserves just the trial driver's token CPU, while each trial's
    Ray Train workers ask for their CPUs/GPUs only once the trial runs — unthrottled, every trial would
    start and their worker groups would starve each other. Embedded cluster: fixed, so an error if not
    even one trial fits. Joined cluster (--address): it may autoscale (`cluster/gpu.yaml` starts with no
    GPU node; a waiting worker group is what makes the autoscaler launch one), so a trial that does not
    fit *now* is a warning and runs one at a time unless --max-concurrent says how far to grow."""
    fit = trial.trials_that_fit(cluster)
    if joined and fit < 1:
        log.warning(
            "one trial needs %s; the cluster has %s now. Trials wait for the autoscaler to add nodes (on a "
            "fixed-size cluster they would wait forever: Ctrl-C, then lower the per-trial flags). Running %d "
            "trial(s) at a time: --max-concurrent N lets an autoscaling cluster grow to N trials",
            _fmt(trial.per_trial()),
            _fmt({k: cluster.get(k, 0.0) for k in trial.per_trial()}),
            max_concurrent or 1,
        )
        return max_concurrent or 1
    if fit < 1:
        have = {k: cluster.get(k, 0.0) for k in trial.per_trial()}
        raise ConfigError(
            f"one trial needs {_fmt(trial.per_trial())} (--workers-per-trial {trial.workers} x "
            f"(--cpus-per-worker {trial.cpus_per_worker}, --gpus-per-worker {trial.gpus_per_worker}) + a "
            f"{DRIVER_CPUS} CPU driver) but the Ray cluster has {_fmt(have)}; lower those flags or add nodes"
        )
    if max_concurrent and max_concurrent > fit:
        log.warning(
            "--max-concurrent %d: %d trial(s) fit the cluster now; the rest wait for resources%s",
            max_concurrent,
            fit,
            " (or for the autoscaler)" if joined else "",
        )
    return max_concurrent or fit


def _fmt(res: dict[str, float]) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in res.items())
