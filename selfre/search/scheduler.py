"""Trial schedulers: FIFO (everything runs to the end) or ASHA over configurations (`SeedGroupASHA`).

Why not Ray's ASHA as is: it judges every trial against every other trial at a rung, so the seeds of one
configuration compete with each other — with reduction factor 2 the second seed of the very first
configuration is stopped whenever it is a little worse than the first, and a good configuration is
lost to seed noise. Here the unit ASHA judges is the configuration, and it is judged fairly:

Like with like, seed by seed. A configuration C is judged at a rung only once `min_seeds` of its seeds
(default 2, or all seeds when fewer are planned) have reached it, and against each other configuration D
only on the seeds both have reached there: mean of C over those seeds against the mean of D over the same
seeds, and only where they share at least `min_seeds`. So neither one unlucky seed of C, nor a comparison
of C's one seed with D's average, can decide. Seeds of C that reach the rung before the decision carry on;
they stop at their next report if C is pruned.

Like with like, phase by phase. The search varies `train.epochs`, and the learning rate decays linearly over
each trial's own schedule: at absolute epoch 2 a 4-epoch trial has almost finished decaying while a 20-epoch
one is still near its peak rate, and judging them there would prune long schedules systematically. So rungs
are *fractions of each trial's own schedule*: f_k = grace_period * reduction_factor^k / max_t (max_t = the
longest schedule in the space), and a trial of E epochs reaches rung k at epoch floor(f_k * E) — a trial too
short to have an epoch at f_k (f_k * E < 1) sits that rung out. Where f_k * E is not whole the judged trial is
at p = floor(f_k * E) / E < f_k; every other configuration is then taken at its last epoch not beyond p of its
own schedule (each trial's running best is kept per epoch), so rounding never leaves the judged configuration
at a later point of its schedule than the ones it is compared with. Configurations are therefore compared at
the same point of their learning-rate schedules (up to rounding in their favour), and ASHA still saves the
same share of each trial's epochs.

The cut: C is pruned when it beats (or ties) fewer than 1/reduction_factor of the configurations it can be
compared with — ASHA's "keep the top 1/rf", counted over pairwise seed-matched comparisons. With nothing to
compare against, C goes on.

What pruning means: the reporting seed stops now, C's other running seeds stop at their next report, its
seeds not yet started are never launched (the searcher skips them), Optuna is told the configuration was
PRUNED (no value), and the summary lists it as `pruned`: it is never chosen best. A trial is never stopped at
or after its own last epoch, in a pruned configuration neither (its training is done; stopping it would only
lose its test score); its value there still counts for the others.

A seed that errors out (beyond --max-failures) stops nothing: a failure is often the machine's (the OOM
killer), not the configuration's; its siblings run on, the configuration is `failed` until `--resume` retries
the failed trial to its end, and then it is complete like any other.

Rung records are not part of Tune's experiment checkpoint: after `--resume` they start empty, but
configurations already pruned stay pruned (rebuilt from the restored trials that ended without their final
report; an errored trial comes back to be retried and prunes nothing).
"""

from __future__ import annotations

import math
import statistics

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from selfre.search_results import FINAL_KEY, METRIC, TIME_ATTR

GROUP_KEY = "config_id"
SEED_KEY = "seed"


def rung_fractions(grace_period: int, max_t: int, reduction_factor: float) -> list[float]:
    """grace_period * rf^k / max_t up to 1: ASHA's rungs for the longest schedule, as fractions of a schedule."""
    out, k = [], 0
    while (epoch := grace_period * reduction_factor**k) <= max_t:
        out.append(epoch / max_t)
        k += 1
    return sorted(set(out))


def rung_epoch(fraction: float, epochs_total: int) -> int | None:
    """The epoch at which a trial of `epochs_total` epochs reaches a rung, or None if it has none there."""
    epoch = math.floor(fraction * epochs_total + 1e-9)
    return epoch if epoch >= 1 else None


class SeedGroupASHA(FIFOScheduler):
    def __init__(self, max_t: int, grace_period: int, reduction_factor: float, min_seeds: int = 2):
        super().__init__()
        self._metric, self._mode = METRIC, "max"  # Tune checks every result carries the scheduler's metric
        self.reduction_factor = reduction_factor
        self.min_seeds = max(1, int(min_seeds))
        self.fractions = rung_fractions(grace_period, max_t, reduction_factor)
        # config_id -> seed -> epoch -> the seed's running best at that epoch; and each configuration's schedule
        self.history: dict[str, dict[int, dict[int, float]]] = {}
        self.totals: dict[str, int] = {}
        self.reached: set[tuple[str, int, float]] = set()  # (config_id, seed, rung fraction) already judged
        self.dead_groups: set[str] = set()

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        super().on_trial_add(tune_controller, trial)
        # On --resume, trials come back with their last status: a trial that ended without its final report was
        # stopped by this scheduler, so its configuration stays pruned. An errored one is not: failures prune
        # nothing, and Tune hands it back to be retried (resume_errored).
        if trial.status == Trial.TERMINATED and not _is_final(trial.last_result):
            self.dead_groups.add(trial.config.get(GROUP_KEY))

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        group, seed = trial.config.get(GROUP_KEY), int(trial.config.get(SEED_KEY, 0))
        if _is_final(result) or _at_last_epoch(result):
            finished = True  # its training is done: never stopped, even in a pruned configuration
        elif group in self.dead_groups:
            return TrialScheduler.STOP
        else:
            finished = False
        if TIME_ATTR not in result or METRIC not in result or "epochs_total" not in result:
            return TrialScheduler.CONTINUE
        epoch, total, value = int(result[TIME_ATTR]), int(result["epochs_total"]), float(result[METRIC])
        self.history.setdefault(group, {}).setdefault(seed, {}).setdefault(
            epoch, value
        )  # the final report repeats an epoch
        self.totals[group] = total
        below = False
        for fraction in self.fractions:
            at = rung_epoch(fraction, total)
            if at is not None and epoch >= at and (group, seed, fraction) not in self.reached:
                self.reached.add((group, seed, fraction))
                below = below or self._below_cutoff(group, at)
        if below and not finished:
            self.dead_groups.add(group)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def _below_cutoff(self, group: str, epoch: int) -> bool:
        """Judge `group` at its `epoch`, i.e. at the point p = epoch / its schedule: every other configuration is
        taken at its last epoch not beyond p of *its* schedule (so rounding never puts the judged configuration at a
        later point than the ones it is compared with), on the seeds both have there."""
        phase = epoch / self.totals[group]
        mine = _values_at(self.history[group], epoch)
        if len(mine) < self.min_seeds:
            return False  # too few of its seeds here to judge it
        wins = compared = 0
        for other, seeds in self.history.items():
            their_epoch = math.floor(phase * self.totals[other] + 1e-9)
            if other == group or their_epoch < 1:
                continue
            theirs = _values_at(seeds, their_epoch)
            common = mine.keys() & theirs.keys()
            if len(common) < self.min_seeds:
                continue
            compared += 1
            wins += statistics.fmean(mine[s] for s in common) >= statistics.fmean(theirs[s] for s in common)
        return compared > 0 and wins / compared < 1 / self.reduction_factor

    def debug_string(self) -> str:
        counts = {f: len({g for g, _, r in self.reached if r == f}) for f in self.fractions}
        return "SeedGroupASHA: " + " | ".join(f"{f:.0%} of schedule: {n} configs" for f, n in counts.items())


def _values_at(seeds: dict[int, dict[int, float]], epoch: int) -> dict[int, float]:
    """Each seed's running best at `epoch` — from its last report at or before it (a resumed trial may have
    gaps) — for the seeds that have got that far."""
    out = {}
    for seed, by_epoch in seeds.items():
        if max(by_epoch) >= epoch:
            out[seed] = (
                by_epoch[max(e for e in by_epoch if e <= epoch)] if min(by_epoch) <= epoch else by_epoch[min(by_epoch)]
            )
    return out


def _is_final(result: dict | None) -> bool:
    return bool(result and result.get(FINAL_KEY))


def _at_last_epoch(result: dict) -> bool:
    return TIME_ATTR in result and "epochs_total" in result and int(result[TIME_ATTR]) >= int(result["epochs_total"])


def build_scheduler(
    kind: str, max_t: int, grace_period: int, reduction_factor: float, min_seeds: int = 2
) -> TrialScheduler:
    if kind == "fifo":
        return FIFOScheduler()
    if kind == "asha":
        return SeedGroupASHA(
            max_t=max_t, grace_period=min(grace_period, max_t), reduction_factor=reduction_factor, min_seeds=min_seeds
        )
    raise ValueError(f"unknown scheduler {kind!r}")
