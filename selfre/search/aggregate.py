"""What one configuration's seeds add up to. The seed-repeating searcher (what Optuna learns) and the
final summary (what people read) both call these, so the two can never disagree.

A seed trial ends in one of three ways:
  complete    its worker reported the final result (best-dev epoch scored on test; `is_final` set);
  stopped     the scheduler stopped it before that (ASHA pruned its configuration);
  error       Ray Train gave up on it (worker failures beyond FailureConfig.max_failures);
or has not ended yet:
  unfinished  the search was interrupted while it ran or waited (`--resume` continues it).
A configuration is `complete` only when every seed is complete; one stopped seed makes it `pruned`,
one errored seed `failed`; otherwise (search interrupted) it is `incomplete`. Only complete
configurations have a mean that means anything, so only they can be chosen best.
"""

from __future__ import annotations

from collections.abc import Iterable

# The statuses and the seed statistics live in selfre.results, shared with the tracking layer.
from selfre.results import COMPLETE, ERROR, FAILED, INCOMPLETE, PRUNED, STOPPED, UNFINISHED, mean_std  # noqa: F401

# A trial's running best dev value of the search objective (train.select_metric: selfre.metrics.objective);
# at the end, its best-dev epoch's value. What ASHA, Optuna and the summary rank by.
METRIC = "best_dev_score"
TIME_ATTR = "epoch"  # ASHA's clock: reports repeat an epoch (the final test report), iterations would not
FINAL_KEY = "is_final"  # set only on the report that carries test metrics


def seed_status(result: dict | None, error: bool, ended: bool = True) -> str:
    """`ended`: Tune has finished with the trial (terminated or errored), as opposed to a trial the
    search was interrupted in; the searcher only ever hears of ended trials."""
    if error:
        return ERROR
    if result and result.get(FINAL_KEY):
        return COMPLETE
    return STOPPED if ended else UNFINISHED


def config_status(seed_statuses: Iterable[str], n_seeds: int) -> str:
    statuses = list(seed_statuses)
    if ERROR in statuses:
        return FAILED
    if STOPPED in statuses:
        return PRUNED
    if statuses.count(COMPLETE) == n_seeds:
        return COMPLETE
    return INCOMPLETE
