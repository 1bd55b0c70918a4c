"""Trial schedulers: FIFO (everything runs to the end) or ASHA over configurations (`SeedGroupASHA`).

Why not Ray's ASHA as is: it judges every trial against every other trial at a rung, so the seeds of one
configuration compete with each other — with reduction factor 2 the second seed of the very first
configuration is stopped whenever it is a little worse than the first, and a good configuration is
lost to seed noise. Here the unit ASHA judges is the configuration, scored by its mean over seeds.

What is stopped, and when (`--scheduler asha`):
  * Rungs are the epochs grace_period * reduction_factor^k up to the longest trial's (max_t).
  * When a seed trial of configuration C reports a rung epoch, its running best dev F1 is recorded
    for C at that rung, and C's rung score is the mean over C's seeds recorded there so far. If the
    score is below the top 1/reduction_factor of the *other* configurations' rung scores (their
    (1 - 1/rf) quantile, as ASHA), C is pruned. With no other configuration at the rung yet, C goes on.
    Seeds of one configuration never judge each other.
  * Pruned means: the reporting seed stops now, C's other running seeds stop at their next report,
    its seeds not yet started are never launched (the searcher skips them), Optuna is told the
    configuration was PRUNED (no value), and the summary lists it as `pruned`: it is never chosen
    best. A seed that errors out (beyond --max-failures) does the same to its configuration (`failed`).
  * A trial is never stopped at or after its own last epoch (its training is done; stopping it would
    only lose its test score); its value there still counts in the rung for the others.
  * Rung records are not part of Tune's experiment checkpoint: after `--resume` they start empty, but
    configurations already pruned stay pruned (rebuilt from the restored trials).
"""

from __future__ import annotations

import math
import statistics

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from selfre.search.aggregate import FINAL_KEY, METRIC, TIME_ATTR

GROUP_KEY = "config_id"


def rung_epochs(grace_period: int, max_t: int, reduction_factor: float) -> list[int]:
    """grace_period * rf^k up to max_t (ASHA's rungs for one bracket), as whole epochs."""
    rungs, k = [], 0
    while (epoch := grace_period * reduction_factor**k) <= max_t:
        rungs.append(int(math.floor(epoch)))
        k += 1
    return sorted(set(rungs))


class SeedGroupASHA(FIFOScheduler):
    def __init__(self, max_t: int, grace_period: int, reduction_factor: float):
        super().__init__()
        self._metric, self._mode = METRIC, "max"  # Tune checks every result carries the scheduler's metric
        self.reduction_factor = reduction_factor
        self.rungs: dict[int, dict[str, dict[str, float]]] = {e: {} for e in rung_epochs(grace_period, max_t, reduction_factor)}
        self.dead_groups: set[str] = set()

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        super().on_trial_add(tune_controller, trial)
        # On --resume, trials come back with their last status: rebuild which configurations are dead.
        if trial.status == Trial.ERROR or (trial.status == Trial.TERMINATED and not _is_final(trial.last_result)):
            self.dead_groups.add(trial.config.get(GROUP_KEY))

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        super().on_trial_error(tune_controller, trial)
        self.dead_groups.add(trial.config.get(GROUP_KEY))

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        group = trial.config.get(GROUP_KEY)
        if group in self.dead_groups:
            return TrialScheduler.STOP
        if TIME_ATTR not in result or METRIC not in result:
            return TrialScheduler.CONTINUE
        epoch, value = result[TIME_ATTR], float(result[METRIC])
        below = False
        for rung, scores in self.rungs.items():
            if epoch >= rung and trial.trial_id not in scores.setdefault(group, {}):
                scores[group][trial.trial_id] = value
                below = below or self._below_cutoff(rung, group)
        finished = _is_final(result) or epoch >= result.get("epochs_total", math.inf)
        if below and not finished:
            self.dead_groups.add(group)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def _below_cutoff(self, rung: int, group: str) -> bool:
        score = {g: statistics.fmean(v.values()) for g, v in self.rungs[rung].items() if v}
        others = sorted(s for g, s in score.items() if g != group)
        if not others:
            return False
        return score[group] < _quantile(others, 1 - 1 / self.reduction_factor)

    def debug_string(self) -> str:
        return "SeedGroupASHA: " + " | ".join(f"epoch {r}: {len(s)} configs" for r, s in self.rungs.items())


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default, as Ray's ASHA uses)."""
    pos = q * (len(sorted_values) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _is_final(result: dict | None) -> bool:
    return bool(result and result.get(FINAL_KEY))


def build_scheduler(kind: str, max_t: int, grace_period: int, reduction_factor: float) -> TrialScheduler:
    if kind == "fifo":
        return FIFOScheduler()
    if kind == "asha":
        return SeedGroupASHA(max_t=max_t, grace_period=min(grace_period, max_t), reduction_factor=reduction_factor)
    raise ValueError(f"unknown scheduler {kind!r}")
