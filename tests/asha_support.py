"""Stub Tune trials and a SeedGroupASHA over them: the scheduler's unit tests drive it with Ray's own Trial class,
no cluster started."""

from __future__ import annotations

from ray.tune.experiment import Trial

from selfre.search.scheduler import SeedGroupASHA


def stub_trial(trial_id: str, config_id: str, seed: int, status: str | None = None, last: dict | None = None) -> Trial:
    trial = Trial("__fake", config={"config_id": config_id, "seed": seed, "params": {}}, trial_id=trial_id, stub=True)
    if status:
        trial.set_status(status)
    if last:
        trial.run_metadata.last_result = last
    return trial


def epoch_result(epoch: int, score: float, total: int = 4, final: bool = False) -> dict:
    """A trial's report as worker.epoch_metrics shapes it (the keys the scheduler reads)."""
    return {"epoch": epoch, "best_dev_score": score, "epochs_total": total, "is_final": final}


def seed_group_asha(*trials: Trial, max_t: int = 4, min_seeds: int = 2) -> SeedGroupASHA:
    sched = SeedGroupASHA(max_t=max_t, grace_period=1, reduction_factor=2, min_seeds=min_seeds)
    for t in trials:
        sched.on_trial_add(None, t)
    return sched
