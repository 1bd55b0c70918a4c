"""`SeedRepeater`: one configuration from the inner searcher, one Tune trial per seed.

Ray's `Repeater` does the same fan-out but tells the inner searcher only the mean, cannot say a
configuration was pruned, and forgets its groups on restore. This one:
  * asks the inner searcher (OptunaSearch) for a configuration, then hands out one trial per seed
    (`{"config_id", "seed", "params"}`), seeds of one configuration consecutively;
  * when every seed of a configuration has ended, tells the inner searcher the mean of `METRIC`
    across seeds (and keeps mean and standard deviation in `groups`) — or, if a seed was stopped
    early or failed, reports the configuration as pruned / failed (no value), so Optuna never takes a
    partial mean for a real score;
  * skips the seeds of a pruned configuration that have not started yet (ASHA's verdict is final); a seed
    that *fails* does not stop its configuration's other seeds: a failure can be the machine's (memory,
    a lost node) rather than the configuration's, `--resume` retries failed trials, and a configuration
    closed on it would stay one seed short for good;
  * with `redraw_duplicates`, never trains one configuration twice: a proposal equal to one already
    handed out is answered at once as failed (a record TPE ignores: the earlier configuration's own record
    carries its score, and a copy would count that point twice) and the inner searcher is asked again, up to
    `MAX_REDRAWS` times. TPE re-proposes the same point often in small discrete spaces, where a repeat
    would spend a whole configuration's seeds on a known point;
  * returns FINISHED after `num_configs` configurations, so `--num-samples` counts configurations
    even when skipped seeds leave Tune's trial budget unspent;
  * saves and restores all of that (get_state/set_state for Tune's experiment checkpoint, which
    saves the inner searcher separately; save/restore for standalone use).
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from ray.tune.search import Searcher

from selfre.search.searcher_file import load_state, save_state
from selfre.search_results import COMPLETE, FAILED, STOPPED, config_status, mean_std, seed_status, stepped_float

log = logging.getLogger(__name__)


MAX_REDRAWS = 20  # then the duplicate is accepted: the space may simply have fewer points than num_configs


class SeedRepeater(Searcher):
    def __init__(
        self,
        searcher: Searcher,
        seeds: list[int],
        num_configs: int,
        id_prefix: str = "c",
        redraw_duplicates: bool = False,
    ):
        if not seeds:
            raise ValueError("SeedRepeater needs at least one seed")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        # The attribute must be called `searcher`: Tune's SearchGenerator walks `.searcher` to save each
        # wrapper's get_state() and the innermost searcher's own checkpoint.
        self.searcher = searcher
        self.seeds = [int(s) for s in seeds]
        self.num_configs = int(num_configs)
        self.groups: dict[str, dict[str, Any]] = {}  # config_id -> group record (see _new_group)
        self.trial_to_group: dict[str, tuple[str, int]] = {}  # trial_id -> (config_id, seed)
        self.current: str | None = None  # config_id still handing out seeds
        self.id_prefix = id_prefix  # config ids <prefix>001, ...: "c" for a search, others for re-training phases
        self.redraw_duplicates = redraw_duplicates
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    # -- Tune's Searcher interface ----------------------------------------------------------------
    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        ok = self.searcher.set_search_properties(metric, mode, config, **spec)
        self._metric, self._mode = self.searcher.metric, self.searcher.mode
        return ok

    def suggest(self, trial_id: str) -> dict | None:
        group = self.groups.get(self.current) if self.current else None
        if group is None or not self._seeds_left(group):
            if len(self.groups) >= self.num_configs:
                return Searcher.FINISHED
            config_id = f"{self.id_prefix}{len(self.groups) + 1:03d}"
            proposal = self._propose(config_id)
            if proposal is None or proposal == Searcher.FINISHED:
                return proposal  # None: the inner searcher is not ready yet; Tune asks again later
            inner_id, params = proposal
            group = self.groups[config_id] = _new_group(config_id, params, inner_id)
            self.current = config_id
        seed = self.seeds[len(group["trials"])]
        group["trials"][str(seed)] = trial_id
        self.trial_to_group[trial_id] = (group["config_id"], seed)
        return {"config_id": group["config_id"], "seed": seed, "params": dict(group["params"])}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        # Per-seed intermediate results are not forwarded: several seeds would report the same
        # step to one Optuna trial. Early stopping is the scheduler's job (see scheduler.py).
        pass

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.trial_to_group:
            log.warning("trial %s completed but was not handed out by this searcher; ignored", trial_id)
            return
        config_id, seed = self.trial_to_group[trial_id]
        group = self.groups[config_id]
        status = seed_status(result, error)
        group["results"][str(seed)] = {"status": status, "value": (result or {}).get(self.metric)}
        self._maybe_report(group)

    # -- bookkeeping -------------------------------------------------------------------------------
    def _propose(self, config_id: str):
        """(inner trial id, params) of a configuration not handed out before (module doc), or what the inner
        searcher said instead (None / FINISHED)."""
        for attempt in range(MAX_REDRAWS + 1):
            inner_id = config_id if attempt == 0 else f"{config_id}-redraw{attempt}"
            params = self.searcher.suggest(inner_id)
            if params is None or params == Searcher.FINISHED:
                return params
            params = {key: stepped_float(value) for key, value in params.items()}
            twin = next((g for g in self.groups.values() if g["params"] == params), None)
            if not self.redraw_duplicates or twin is None:
                return inner_id, params
            if attempt == MAX_REDRAWS:
                log.warning(
                    "%s: %d proposals in a row repeated earlier configurations; training %s's again",
                    config_id,
                    attempt + 1,
                    twin["config_id"],
                )
                return inner_id, params
            # FAIL, which TPE ignores: the twin's own record already says what the point is worth; a COMPLETE or
            # PRUNED copy would weigh that point again in TPE and count towards its start-up trials.
            self.searcher.on_trial_complete(inner_id, result=None, error=True)
            log.info("%s: the proposal %s repeats %s; asking again", config_id, params, twin["config_id"])
        raise AssertionError("unreachable")

    def _seeds_left(self, group: dict) -> bool:
        """Only ASHA's stop closes a configuration: a pruned one starts no more seeds."""
        pruned = any(r["status"] == STOPPED for r in group["results"].values())
        return not pruned and len(group["trials"]) < len(self.seeds)

    def _maybe_report(self, group: dict) -> None:
        """Tell the inner searcher once every started seed has ended and no more will start."""
        if self._seeds_left(group) or len(group["results"]) < len(group["trials"]):
            return
        results = group["results"].values()
        group["status"] = config_status((r["status"] for r in results), len(self.seeds))
        group["mean"], group["std"] = mean_std(r["value"] for r in results if r["status"] == COMPLETE)
        if group["reported"]:
            return  # a failed seed retried by --resume: the ledger is updated, Optuna keeps its FAIL (TPE ignores it)
        group["reported"] = True
        if group["status"] == COMPLETE:
            self.searcher.on_trial_complete(group["inner_id"], result={self.metric: group["mean"]})
        else:
            # OptunaSearch: no value + error=False -> TrialState.PRUNED; error=True -> FAIL.
            self.searcher.on_trial_complete(group["inner_id"], result=None, error=group["status"] == FAILED)
        log.info(
            "configuration %s %s: %s mean %.4f std %.4f over %d seed(s)",
            group["config_id"],
            group["status"],
            self.metric,
            group["mean"],
            group["std"],
            sum(r["status"] == COMPLETE for r in results),
        )

    def summary(self) -> dict[str, dict]:
        """config_id -> {status, mean, std, params, seeds}: the searcher's own ledger."""
        return {
            cid: {k: g[k] for k in ("status", "mean", "std", "params", "results")} for cid, g in self.groups.items()
        }

    # -- persistence -------------------------------------------------------------------------------
    def get_state(self) -> dict:
        state = self.__dict__.copy()
        del state["searcher"]
        return state

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            inner = os.path.join(tmp, "inner.pkl")
            self.searcher.save(inner)
            with open(inner, "rb") as fh:
                inner_bytes = fh.read()
        save_state(checkpoint_path, {"repeater": self.get_state(), "inner": inner_bytes})

    def restore(self, checkpoint_path: str) -> None:
        saved = load_state(checkpoint_path)
        self.set_state(saved["repeater"])
        with tempfile.TemporaryDirectory() as tmp:
            inner = os.path.join(tmp, "inner.pkl")
            with open(inner, "wb") as fh:
                fh.write(saved["inner"])
            self.searcher.restore(inner)


def _new_group(config_id: str, params: dict, inner_id: str) -> dict[str, Any]:
    return {
        "config_id": config_id,
        "inner_id": inner_id,  # the inner searcher's trial id: the config id, or a redraw's
        "params": dict(params),
        "trials": {},  # str(seed) -> trial_id, in hand-out order
        "results": {},  # str(seed) -> {"status", "value"}
        "reported": False,
        "status": None,
        "mean": None,
        "std": None,
    }
