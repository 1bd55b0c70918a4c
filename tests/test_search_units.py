"""The search platform's logic without a Ray cluster: space, seed repeater, ASHA x seeds, summary, CLI.

Ray's own classes are used for real (OptunaSearch, Trial, AsyncHyperBandScheduler); only no cluster
is started. The end-to-end searches on a real local Ray are in test_search_ray.py.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
from pathlib import Path

import optuna
import pytest

pytest.importorskip("ray.tune")

from asha_support import epoch_result, seed_group_asha, stub_trial  # noqa: E402
from ray.tune.experiment import Trial  # noqa: E402
from ray.tune.schedulers import TrialScheduler  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402
from support import REPO, SEARCH  # noqa: E402

from selfre.config import RunConfig  # noqa: E402
from selfre.errors import ConfigError  # noqa: E402
from selfre.search import seeds as seeds_module  # noqa: E402
from selfre.search.plan import build_plan  # noqa: E402
from selfre.search.resources import TrialResources, check_fits  # noqa: E402
from selfre.search.seeds import SeedRepeater  # noqa: E402
from selfre.search.space import DefineByRun, apply_params, parse_space  # noqa: E402
from selfre.search.summary import TrialRecord, format_report, summarize  # noqa: E402
from selfre.search_results import (  # noqa: E402
    COMPLETE,
    ERROR,
    FAILED,
    INCOMPLETE,
    PRUNED,
    STOPPED,
    config_status,
    mean_std,
    to_csv,  # noqa: E402
)

CONFIG_DIR = REPO / "tune" / "configs"
SPACE = {
    "model.weighting": {"choice": ["manual", "uncertainty"]},
    "model.spp_lambda": {"uniform": [0.1, 1.0], "step": 0.1, "when": {"model.weighting": "manual"}},
    "train.epochs": {"int": [1, 3]},
}


def _base() -> RunConfig:
    return RunConfig()


# -- space -----------------------------------------------------------------------------------------
def test_lambda_is_only_sampled_under_manual_weighting():
    params = parse_space(SPACE, _base())
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {"manual": 0, "uncertainty": 0}
    for _ in range(30):
        trial = study.ask()
        DefineByRun(params, _base())(trial)
        weighting = trial.params["model.weighting"]
        seen[weighting] += 1
        assert ("model.spp_lambda" in trial.params) == (weighting == "manual")
        if weighting == "manual":
            assert 0.1 <= trial.params["model.spp_lambda"] <= 1.0
        study.tell(trial, 0.5)
    assert seen["manual"] and seen["uncertainty"]


@pytest.mark.parametrize(
    "space, fragment",
    [
        ({"model.nope": {"choice": [1]}}, "search.space.model.nope"),
        ({"train.seed": {"int": [1, 5]}}, "search.space.train.seed"),
        ({"model.head": {"choice": ["bogus"]}}, "search.space.model.head"),
        ({"train.epochs": {"int": [5, 1]}}, "search.space.train.epochs.int"),
        (
            {
                "model.spp_lambda": {"uniform": [0.1, 1.0], "when": {"model.weighting": "manual"}},
                "model.weighting": {"choice": ["manual", "uncertainty"]},
            },
            "list it first",
        ),
        ({"model.dropout": {"uniform": [0.1, 0.2], "choice": [0.1]}}, "exactly one of"),
    ],
)
def test_bad_spaces_name_the_key(space, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        parse_space(space, _base())


def test_apply_params_sets_values_and_seed():
    cfg = apply_params(_base().to_dict(), {"model.spp_lambda": 1, "train.epochs": 3.0}, seed=52)
    assert cfg.model.spp_lambda == 1.0 and isinstance(cfg.model.spp_lambda, float)
    assert cfg.train.epochs == 3 and cfg.train.seed == 52


# -- arithmetic --------------------------------------------------------------------------------------
def test_mean_and_sample_std():
    mean, std = mean_std([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7) and std == pytest.approx(0.2)  # n-1 denominator
    assert mean_std([0.4]) == (0.4, 0.0)
    assert all(math.isnan(x) for x in mean_std([]))
    assert mean_std([0.2, None, 0.4]) == (pytest.approx(0.3), pytest.approx(statistics.stdev([0.2, 0.4])))


def test_configuration_status():
    assert config_status([COMPLETE, COMPLETE], 2) == COMPLETE
    assert config_status([COMPLETE, STOPPED], 2) == PRUNED
    assert config_status([STOPPED, ERROR], 2) == FAILED
    assert config_status([COMPLETE], 2) == INCOMPLETE


# -- the seed repeater -------------------------------------------------------------------------------
def _repeater(num_configs=3, seeds=(42, 52)) -> SeedRepeater:
    inner = OptunaSearch(
        space=DefineByRun(parse_space(SPACE, _base()), _base()),
        metric="best_dev_score",
        mode="max",
        sampler=optuna.samplers.TPESampler(seed=0),
    )
    return SeedRepeater(inner, list(seeds), num_configs)


def _final(value):
    return {"best_dev_score": value, "is_final": True}


def test_repeater_hands_out_seeds_and_tells_optuna_the_mean():
    rep = _repeater(num_configs=2)
    handed = [rep.suggest(f"t{i}") for i in range(4)]
    assert [(h["config_id"], h["seed"]) for h in handed] == [("c001", 42), ("c001", 52), ("c002", 42), ("c002", 52)]
    assert handed[0]["params"] == handed[1]["params"]
    assert rep.suggest("t4") == Searcher.FINISHED
    for trial_id, value in zip(("t0", "t1", "t2", "t3"), (0.5, 0.7, 0.2, 0.4), strict=True):
        rep.on_trial_complete(trial_id, _final(value))
    study = rep.searcher._ot_study
    values = [t.value for t in study.trials]
    assert values == [pytest.approx(0.6), pytest.approx(0.3)]
    assert rep.groups["c001"]["std"] == pytest.approx(statistics.stdev([0.5, 0.7]))
    assert rep.groups["c001"]["status"] == COMPLETE


def test_stepped_floats_are_handed_out_as_written():
    """Optuna's `step 0.1` grid gives 0.7000000000000001 for 0.7: handed out as 0.7, the value as written."""
    rep = _repeater(num_configs=30, seeds=(42,))
    lambdas = {rep.suggest(f"t{i}")["params"].get("model.spp_lambda") for i in range(30)} - {None}
    assert lambdas and lambdas <= {round(0.1 * k, 1) for k in range(1, 11)}
    assert all(len(repr(v)) <= 4 for v in lambdas), lambdas


def _small_repeater(space, num_configs, seeds=(42,)) -> SeedRepeater:
    inner = OptunaSearch(
        space=DefineByRun(parse_space(space, _base()), _base()),
        metric="best_dev_score",
        mode="max",
        sampler=optuna.samplers.TPESampler(seed=0),
    )
    return SeedRepeater(inner, list(seeds), num_configs, redraw_duplicates=True)


def test_a_configuration_is_never_trained_twice():
    """TPE re-proposes points of small discrete spaces; with redraw_duplicates no point is trained as two
    configurations. Six points, six configurations: each once."""
    rep = _small_repeater(
        {"model.weighting": {"choice": ["manual", "uncertainty"]}, "train.epochs": {"int": [1, 3]}}, 6
    )
    handed = [rep.suggest(f"t{i}") for i in range(6)]
    points = [tuple(sorted(h["params"].items())) for h in handed]
    assert len(set(points)) == 6
    # Redrawn proposals of a configuration still running are told to Optuna as failed (TPE ignores them).
    states = {t.state for t in rep.searcher._ot_study.trials}
    assert states <= {optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL}


def test_a_repeated_proposal_is_answered_as_failed_and_a_spent_space_repeats():
    rep = _small_repeater({"model.weighting": {"choice": ["uncertainty"]}}, 2)
    first = rep.suggest("a")
    rep.on_trial_complete("a", _final(0.6))
    second = rep.suggest("b")  # the space has one point: after MAX_REDRAWS answers it is trained again
    assert second["config_id"] == "c002" and second["params"] == first["params"]
    states = [t.state for t in rep.searcher._ot_study.trials]
    assert states[0] == optuna.trial.TrialState.COMPLETE and rep.searcher._ot_study.trials[0].value == pytest.approx(
        0.6
    )
    assert states[1:-1] == [optuna.trial.TrialState.FAIL] * seeds_module.MAX_REDRAWS
    rep.on_trial_complete("b", _final(0.4))  # c002's own result reaches its own Optuna trial
    assert rep.searcher._ot_study.trials[-1].value == pytest.approx(0.4)


def test_a_stopped_seed_prunes_the_configuration_and_skips_its_other_seeds():
    rep = _repeater(num_configs=2, seeds=(42, 52, 62))
    first = rep.suggest("a")
    rep.on_trial_complete("a", {"best_dev_score": 0.1, "is_final": False})  # ASHA stopped it
    nxt = rep.suggest("b")
    assert (nxt["config_id"], nxt["seed"]) == ("c002", 42)  # c001's seeds 52 and 62 never start
    assert first["config_id"] == "c001" and rep.groups["c001"]["status"] == PRUNED
    assert rep.searcher._ot_study.trials[0].state == optuna.trial.TrialState.PRUNED
    rep.on_trial_complete("b", {"best_dev_score": 0.1, "is_final": False})
    assert rep.suggest("c") == Searcher.FINISHED


def test_a_failed_seed_does_not_stop_its_configurations_other_seeds():
    """A seed that fails (the machine's fault as often as the configuration's) leaves its configuration open:
    the next seed still starts, and `--resume` retries the failed one, so the configuration ends with every seed."""
    rep = _repeater(num_configs=1, seeds=(42, 52, 62))
    rep.suggest("a"), rep.suggest("b")
    rep.on_trial_complete("a", _final(0.5))
    rep.on_trial_complete("b", None, error=True)
    c = rep.suggest("c")
    assert (c["config_id"], c["seed"]) == ("c001", 62)  # the failure stops nothing
    rep.on_trial_complete("c", _final(0.6))
    assert rep.groups["c001"]["status"] == FAILED
    assert rep.searcher._ot_study.trials[0].state == optuna.trial.TrialState.FAIL
    assert rep.suggest("d") == Searcher.FINISHED
    rep.on_trial_complete("b", _final(0.7))  # --resume retried it (resume_errored) and it finished
    assert rep.groups["c001"]["status"] == COMPLETE and rep.groups["c001"]["mean"] == pytest.approx(0.6)


def test_repeater_state_survives_save_and_restore(tmp_path):
    rep = _repeater(num_configs=3)
    for i in range(3):
        rep.suggest(f"t{i}")
    rep.on_trial_complete("t0", _final(0.5))
    rep.save(str(tmp_path / "searcher.pkl"))

    fresh = _repeater(num_configs=3)
    fresh.restore(str(tmp_path / "searcher.pkl"))
    assert fresh.groups == rep.groups and fresh.trial_to_group == rep.trial_to_group
    fresh.on_trial_complete("t1", _final(0.7))  # c001 completes after the restore
    assert fresh.groups["c001"]["mean"] == pytest.approx(0.6)
    nxt = fresh.suggest("t3")
    assert (nxt["config_id"], nxt["seed"]) == ("c002", 52)  # continues where it left off

    # Tune's path: get_state/set_state for the wrapper, the inner searcher saved on its own.
    other = _repeater(num_configs=3)
    other.set_state(rep.get_state())
    assert other.groups == rep.groups and other.searcher is not rep.searcher


# -- ASHA x seeds ------------------------------------------------------------------------------------
def test_asha_prunes_configurations_on_matched_seeds_and_never_a_finished_trial():
    good42, good52 = stub_trial("g1", "c1", 42), stub_trial("g2", "c1", 52)
    weak42, weak52 = stub_trial("w1", "c2", 42), stub_trial("w2", "c2", 52)
    late42, late52 = stub_trial("l1", "c3", 42), stub_trial("l2", "c3", 52)
    sched = seed_group_asha(good42, good52, weak42, weak52, late42, late52)
    assert sched.fractions == [0.25, 0.5, 1.0]  # epochs 1, 2, 4 of a 4-epoch schedule
    assert sched.on_trial_result(None, good42, epoch_result(1, 0.8)) == TrialScheduler.CONTINUE  # alone at the rung
    # c1's own second seed is much worse, but seeds never judge each other: c1 has no competitor yet.
    assert sched.on_trial_result(None, good52, epoch_result(1, 0.3)) == TrialScheduler.CONTINUE
    # c2's first seed alone is never judged, however weak (0.1 against c1's 0.8 on seed 42) ...
    assert sched.on_trial_result(None, weak42, epoch_result(1, 0.1)) == TrialScheduler.CONTINUE
    # ... its second seed completes the pair: mean 0.35 on seeds {42, 52} < c1's 0.55 there -> pruned whole.
    assert sched.on_trial_result(None, weak52, epoch_result(1, 0.6)) == TrialScheduler.STOP
    assert "c2" in sched.dead_groups
    assert (
        sched.on_trial_result(None, weak42, epoch_result(2, 0.99)) == TrialScheduler.STOP
    )  # its sibling, however good
    # c1 keeps going at the next rung (no other configuration there yet).
    assert sched.on_trial_result(None, good42, epoch_result(2, 0.85)) == TrialScheduler.CONTINUE
    # A trial at its last epoch (or its final test report) is never stopped, however weak.
    assert sched.on_trial_result(None, late42, epoch_result(1, 0.0, total=1)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, late52, epoch_result(1, 0.0, total=1, final=True)) == TrialScheduler.CONTINUE
    assert "c3" not in sched.dead_groups
    assert sched.history["c3"] == {42: {1: 0.0}, 52: {1: 0.0}}  # its values still count for the others


def test_one_unlucky_seed_cannot_prune_a_configuration():
    # c1 is good on both seeds. c2's seed 42 is unlucky at the first rung, its seed 52 strong: on the seeds both
    # configurations reached, c2's mean (0.40+0.90)/2 = 0.65 beats c1's (0.60+0.62)/2 = 0.61 — c2 goes on.
    # (Judging c2 by its first seed alone, against c1's two-seed mean, would have pruned it at 0.40 < 0.61.)
    c1a, c1b, c2a, c2b = (
        stub_trial("a", "c1", 42),
        stub_trial("b", "c1", 52),
        stub_trial("c", "c2", 42),
        stub_trial("d", "c2", 52),
    )
    sched = seed_group_asha(c1a, c1b, c2a, c2b)
    for t, v in ((c1a, 0.60), (c1b, 0.62), (c2a, 0.40), (c2b, 0.90)):
        assert sched.on_trial_result(None, t, epoch_result(1, v)) == TrialScheduler.CONTINUE
    assert not sched.dead_groups


def test_configurations_are_compared_on_the_seeds_both_reached():
    # c1 has seeds 42 and 52 at the rung, c2 has 52 and 62: they share only seed 52, fewer than min_seeds=2,
    # so c2 is not judged against c1 (whose mean over other seeds would not be like with like).
    c1a, c1b, c2a, c2b = (
        stub_trial("a", "c1", 42),
        stub_trial("b", "c1", 52),
        stub_trial("c", "c2", 52),
        stub_trial("d", "c2", 62),
    )
    sched = seed_group_asha(c1a, c1b, c2a, c2b)
    for t, v in ((c1a, 0.9), (c1b, 0.9), (c2a, 0.1), (c2b, 0.1)):
        assert sched.on_trial_result(None, t, epoch_result(1, v)) == TrialScheduler.CONTINUE
    # With one seed per configuration (min_seeds=1, e.g. a one-seed search) the comparison is plain ASHA.
    x, y = stub_trial("x", "c1", 42), stub_trial("y", "c2", 42)
    single = seed_group_asha(x, y, min_seeds=1)
    assert single.on_trial_result(None, x, epoch_result(1, 0.9)) == TrialScheduler.CONTINUE
    assert single.on_trial_result(None, y, epoch_result(1, 0.1)) == TrialScheduler.STOP


def test_a_long_schedule_is_not_pruned_by_a_short_one_that_leads_early():
    # Both decay their learning rate linearly over their own epochs. The short one (2 epochs) leads at absolute
    # epoch 1 (0.60 vs 0.40), but the long one (4 epochs) is better at the same point of its schedule (0.62 at
    # epoch 2 = 50% vs 0.60 at epoch 1 = 50%) and at its end (0.80 vs 0.70). Rungs in absolute epochs would
    # prune it at epoch 1; rungs as fractions of each schedule never compare it with the short one there.
    s42, s52, l42, l52 = (
        stub_trial("s1", "short", 42),
        stub_trial("s2", "short", 52),
        stub_trial("l1", "long", 42),
        stub_trial("l2", "long", 52),
    )
    sched = seed_group_asha(s42, s52, l42, l52)
    curves = {"short": [0.60, 0.70], "long": [0.40, 0.62, 0.75, 0.80]}
    for trial, name in ((s42, "short"), (s52, "short"), (l42, "long"), (l52, "long")):
        total = len(curves[name])
        for epoch, value in enumerate(curves[name], start=1):
            decision = sched.on_trial_result(None, trial, epoch_result(epoch, value, total=total, final=False))
            assert decision == TrialScheduler.CONTINUE, (name, epoch)
    assert not sched.dead_groups
    assert {g for g, _, f in sched.reached if f == 0.25} == {"long"}  # a 2-epoch schedule has no epoch at 25%
    # and the comparison works the other way round: a long schedule that is worse at the same point is pruned.
    w42, w52 = stub_trial("w1", "worse", 42), stub_trial("w2", "worse", 52)
    for t in (w42, w52):
        sched.on_trial_add(None, t)
    assert sched.on_trial_result(None, w42, epoch_result(2, 0.30, total=4)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, w52, epoch_result(2, 0.30, total=4)) == TrialScheduler.STOP


def test_rounding_never_puts_the_judged_configuration_later_in_its_schedule():
    # A 3-epoch configuration reaches the 50% rung at epoch 1 (33% of its schedule); a 4-epoch one is there at
    # epoch 2 (50%). Compared at their own rung epochs, the 3-epoch one (0.42 at 33%) would lose to the 4-epoch
    # one's 0.62 at 50%, later in its schedule. So the 4-epoch one is taken at its last epoch not beyond 33% of
    # its schedule (epoch 1: 0.40), and the 3-epoch one goes on.
    d42, d52, c42, c52 = (
        stub_trial("a", "four", 42),
        stub_trial("b", "four", 52),
        stub_trial("c", "three", 42),
        stub_trial("d", "three", 52),
    )
    sched = seed_group_asha(d42, d52, c42, c52)
    for t in (d42, d52):
        for epoch, value in ((1, 0.40), (2, 0.62)):
            assert sched.on_trial_result(None, t, epoch_result(epoch, value, total=4)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, c42, epoch_result(1, 0.42, total=3)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, c52, epoch_result(1, 0.42, total=3)) == TrialScheduler.CONTINUE
    assert not sched.dead_groups
    # at 0.39 it is worse than the 4-epoch configuration at the same point, and pruned
    e42, e52 = stub_trial("e", "worse", 42), stub_trial("f", "worse", 52)
    for t in (e42, e52):
        sched.on_trial_add(None, t)
    assert sched.on_trial_result(None, e42, epoch_result(1, 0.39, total=3)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, e52, epoch_result(1, 0.39, total=3)) == TrialScheduler.STOP


def test_rung_fractions_match_the_configs():
    from selfre.search.scheduler import rung_epoch, rung_fractions

    assert rung_fractions(2, 10, 2) == [0.2, 0.4, 0.8]  # TACRED: epochs 2, 4, 8 of the 10-epoch schedule
    assert [rung_epoch(f, 5) for f in rung_fractions(2, 10, 2)] == [1, 2, 4]  # ... and 1, 2, 4 of a 5-epoch one
    assert rung_fractions(2, 20, 2) == [0.1, 0.2, 0.4, 0.8]  # SemEval
    assert rung_fractions(1, 1, 2) == [1.0]
    assert rung_epoch(0.1, 5) is None  # no epoch at 10% of a 5-epoch schedule


def test_restored_trials_rebuild_pruned_groups():
    stopped = stub_trial("x", "c7", 42)
    stopped.set_status(Trial.TERMINATED)
    stopped.run_metadata.last_result = epoch_result(1, 0.1)
    done = stub_trial("y", "c8", 42)
    done.set_status(Trial.TERMINATED)
    done.run_metadata.last_result = epoch_result(4, 0.9, final=True)
    sched = seed_group_asha(stopped, done)
    assert sched.dead_groups == {"c7"}


# -- summary -----------------------------------------------------------------------------------------
def _rec(config_id, seed, status, dev=None, test=None, params=None):
    metrics = (
        {
            "best_epoch": 1,
            "dev_score": dev,
            "test_score": test,
            "dev_f1": dev,
            "test_precision": test,
            "test_recall": test,
            "test_f1": test,
            "test_pc_f1": test,
        }
        if status == COMPLETE
        else {}
    )
    return TrialRecord(f"{config_id}-{seed}", config_id, seed, params or {"model.head": config_id}, status, 1, metrics)


def test_summary_picks_the_best_complete_configuration():
    records = [
        _rec("c001", 42, COMPLETE, 0.60, 0.50),
        _rec("c001", 52, COMPLETE, 0.70, 0.54),
        _rec("c002", 42, COMPLETE, 0.90, 0.80),
        _rec("c002", 52, STOPPED),  # pruned: higher mean, not eligible
        _rec("c003", 42, COMPLETE, 0.62, 0.40),
        _rec("c003", 52, COMPLETE, 0.66, 0.42),
    ]
    summary = summarize(records, [42, 52])
    by_id = {c["config_id"]: c for c in summary["configurations"]}
    assert by_id["c002"]["status"] == PRUNED
    assert summary["best"]["config_id"] == "c001"  # 0.65 beats c003's 0.64
    assert by_id["c001"]["dev_f1"]["mean"] == pytest.approx(0.65)
    assert by_id["c001"]["test_f1"]["std"] == pytest.approx(statistics.stdev([0.50, 0.54]))
    csv_text = to_csv(summary)
    assert csv_text.splitlines()[0].startswith(
        "config_id,status,seeds_complete,seeds_planned,model.head,dev_score_mean"
    )
    assert "best configuration c001" in format_report(summary)


def test_ties_prefer_the_smaller_spread():
    records = [
        _rec("c001", 42, COMPLETE, 0.5, 0.5),
        _rec("c001", 52, COMPLETE, 0.7, 0.5),
        _rec("c002", 42, COMPLETE, 0.6, 0.5),
        _rec("c002", 52, COMPLETE, 0.6, 0.5),
    ]
    assert summarize(records, [42, 52])["best"]["config_id"] == "c002"


# -- resources, plan, CLI ------------------------------------------------------------------------------
def test_resources_fit_and_errors_name_the_flags():
    two = TrialResources(2, 1.0, 0.0)
    assert two.trials_that_fit({"CPU": 3.0}) == 1  # 2 workers + the driver's token share
    assert two.trials_that_fit({"CPU": 2.0}) == 0
    assert check_fits(two, {"CPU": 5.0}, 0) == 2
    with pytest.raises(ConfigError, match="--workers-per-trial 2"):
        check_fits(two, {"CPU": 2.0}, 0)
    # A joined cluster may autoscale from zero GPU nodes (cluster/gpu.yaml): queue, do not refuse — but
    # throttled all the same (Tune reserves only the drivers' token CPUs; unthrottled, all trials start).
    gpu_trial = TrialResources(2, 1.0, 1.0)
    assert check_fits(gpu_trial, {"CPU": 4.0}, 0, joined=True) == 1
    assert check_fits(gpu_trial, {"CPU": 4.0}, 3, joined=True) == 3
    assert check_fits(two, {"CPU": 5.0}, 0, joined=True) == 2
    with pytest.raises(ConfigError, match="--gpus-per-worker 1.0"):
        check_fits(gpu_trial, {"CPU": 4.0}, 0)
    gpu = TrialResources(2, 1.0, 0.5)
    assert gpu.backend == "gloo" and gpu.per_worker() == {"CPU": 1.0, "GPU": 0.5}
    assert TrialResources(2, 1.0, 1.0).backend == "nccl"
    with pytest.raises(ConfigError, match="--gpus-per-worker"):
        TrialResources(1, 1.0, 1.5).validate()


def test_a_restarted_trial_is_complete_and_its_failures_are_reported():
    """Tune restarted c001 seed 52 twice before it completed: it counts as complete (its result is whole), and
    the report says so with the last error's telling line (Tune's error file appends one block per failure)."""
    from selfre.search.summary import _last_error_line

    error_file = (
        "Failure # 1 (occurred at 2026-12-06_10-50-34)\nray::run_trial() (pid=1)\nValueError: first\n\n"
        "Failure # 2 (occurred at 2026-12-06_10-51-02)\nThe actor died unexpectedly before finishing this task.\n"
    )
    assert _last_error_line(error_file) == "The actor died unexpectedly before finishing this task."
    assert _last_error_line(None) is None and _last_error_line("\n") is None
    restarted = _rec("c001", 52, COMPLETE, 0.7, 0.5)
    restarted.failures, restarted.last_error = 2, _last_error_line(error_file)
    summary = summarize([_rec("c001", 42, COMPLETE, 0.6, 0.5), restarted], [42, 52])
    assert summary["configurations"][0]["status"] == COMPLETE
    assert [t["failures"] for t in summary["best"]["trials"]] == [0, 2]
    report = format_report(summary)
    assert "1 trial(s) failed and were restarted by Tune" in report
    assert "c001 seed 52: 2 failure(s), last: The actor died unexpectedly before finishing this task." in report
    assert "failed and were restarted" not in format_report(summarize([_rec("c001", 42, COMPLETE, 0.6, 0.5)], [42]))


def test_dataset_configs_load_with_the_papers_defaults(tmp_path):
    for dataset, epochs, lam in (("tacred", 10, 0.4), ("retacred", 15, 0.7), ("semeval", 20, 0.2)):
        plan = build_plan(dataset, CONFIG_DIR, storage_root=str(tmp_path))
        cfg = plan.run_config()
        assert (cfg.train.epochs, cfg.model.spp_lambda, cfg.train.batch_size, cfg.train.learning_rate) == (
            epochs,
            lam,
            32,
            3e-5,
        )
        assert plan.search.seeds == [42, 52, 62, 72, 82]
        assert {p.key for p in plan.params()} >= {"model.spp_lambda", "model.weighting", "train.epochs"}
    demo = build_plan("demo", CONFIG_DIR, storage_root=str(tmp_path))
    assert Path(demo.run_config().data.data_dir).is_absolute()  # workers do not share the driver's cwd


def test_jsonl_searches_your_own_data_with_the_bundled_config(tmp_path):
    plan = build_plan("jsonl", storage_root=str(tmp_path))  # no config_dir: the configs inside the package
    cfg = plan.run_config()
    assert (cfg.data.dataset, cfg.train.batch_size, cfg.train.learning_rate) == ("jsonl", 32, 3e-5)
    assert {p.key for p in plan.params()} >= {"model.spp_lambda", "model.weighting", "train.epochs"}


def test_selfre_search_is_tune_search(capsys, tmp_path):
    """`selfre search` hands its arguments to the same parser: same flags, same errors, listed by `selfre --help`."""
    from selfre.cli import build_parser as selfre_parser
    from selfre.cli import main as selfre_main
    from selfre.cli.search_cmd import build_parser

    assert "search" in selfre_parser().format_help()
    with pytest.raises(SystemExit) as exit_:
        selfre_main(["search", "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == build_parser(prog="selfre search").format_help()
    missing = tmp_path / "missing"
    assert selfre_main(["search", "--dataset", "jsonl", "--data-dir", str(missing), "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "train.jsonl" in err  # the layout the jsonl reader expects, before Ray starts


def test_selfre_ablate_is_tune_ablate(capsys, tmp_path):
    """`selfre ablate` (an installed wheel's ablation) hands its arguments to tune/ablate.py's parser."""
    from selfre.cli import main as selfre_main
    from selfre.cli.ablate_cmd import build_parser

    with pytest.raises(SystemExit) as exit_:
        selfre_main(["ablate", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out == build_parser(prog="selfre ablate").format_help() and "95% t-interval" in out
    assert selfre_main(["ablate", "--dataset", "demo", "--seeds", "1,1", "--storage", str(tmp_path)]) == 2
    assert "--seeds must be a non-empty list of distinct integers" in capsys.readouterr().err


def test_a_subcommand_that_fails_to_import_is_an_error_not_a_missing_command(monkeypatch):
    import selfre.cli

    monkeypatch.setattr(selfre.cli, "SUBCOMMANDS", (*selfre.cli.SUBCOMMANDS, "absent"))
    with pytest.raises(ModuleNotFoundError, match="selfre.cli.absent_cmd"):
        selfre.cli.build_parser()


def _cli(*args, cwd=None):
    # A user's shell, not this test session's: MLFLOW_TRACKING_URI / RAY_ADDRESS set by an earlier test in this
    # process would change which store or cluster the CLI picks by default.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_ADDRESS"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([*SEARCH, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_help_documents_every_flag():
    out = _cli("--help").stdout
    for flag in (
        "--dataset",
        "--data-dir",
        "--model",
        "--config",
        "--num-samples",
        "--seeds",
        "--scheduler",
        "--max-concurrent",
        "--workers-per-trial",
        "--gpus-per-worker",
        "--storage",
        "--address",
        "--resume",
        "--name",
    ):
        assert flag in out


def test_bad_flags_name_the_flag(tmp_path):
    res = _cli("--dataset", "demo", "--seeds", "42,x", cwd=tmp_path)
    assert res.returncode == 2 and "--seeds" in res.stderr
    res = _cli("--dataset", "demo", "--workers-per-trial", "0", "--storage", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 2 and "--workers-per-trial" in res.stderr
    res = _cli("--dataset", "demo", "--resume", "--storage", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 2 and "--name" in res.stderr


def test_tacred_without_data_says_where_to_get_it_before_starting_ray(tmp_path):
    res = _cli("--dataset", "tacred", "--storage", str(tmp_path), cwd=tmp_path)
    assert res.returncode != 0
    assert "LDC2018T24" in res.stderr and "train.json" in res.stderr
    assert "Ray" not in res.stdout and "Started a local Ray instance" not in res.stderr
    res = _cli("--dataset", "tacred", "--data-dir", str(tmp_path / "missing"), "--storage", str(tmp_path), cwd=tmp_path)
    assert res.returncode != 0 and "LDC2018T24" in res.stderr


def test_joining_a_cluster_needs_a_tracking_store_every_node_reaches(tmp_path):
    res = _cli("--dataset", "demo", "--address", "127.0.0.1:1", "--storage", str(tmp_path / "runs"), cwd=tmp_path)
    assert res.returncode == 2 and "--tracking-uri" in res.stderr and "cluster/start_mlflow.sh" in res.stderr
    assert "Started a local Ray instance" not in res.stderr and "could not connect" not in res.stderr  # before Ray
    res = _cli(
        "--dataset", "demo", "--tracking-uri", "http://user:pw@127.0.0.1:1", "--storage", str(tmp_path), cwd=tmp_path
    )
    assert res.returncode == 2 and "MLFLOW_TRACKING_USERNAME" in res.stderr and "pw@" not in res.stderr


def test_an_unreachable_tracking_server_stops_the_search_before_ray(tmp_path):
    res = _cli(
        "--dataset", "demo", "--tracking-uri", "http://127.0.0.1:9", "--storage", str(tmp_path / "runs"), cwd=tmp_path
    )
    assert res.returncode == 2 and "unreachable" in res.stderr and "127.0.0.1:9" in res.stderr
    assert "Started a local Ray instance" not in res.stderr


def test_plan_round_trips_through_the_run_folder_without_credentials(tmp_path):
    from selfre.redact import redact
    from selfre.search.plan import SearchPlan

    plan = build_plan("demo", CONFIG_DIR, name="p1", storage_root=str(tmp_path / "a"))
    plan.save()
    (tmp_path / "a").rename(tmp_path / "b")  # a run folder can move; --storage says where it is now
    loaded = SearchPlan.load(str(tmp_path / "b"), "p1")
    assert (loaded.base, loaded.search, loaded.storage) == (plan.base, plan.search, str(tmp_path / "b"))
    assert redact("s3://KEY:SECRET@bucket/runs") == "s3://***@bucket/runs"
    with pytest.raises(ConfigError, match="--resume: no search named 'nope'"):
        SearchPlan.load(str(tmp_path / "b"), "nope")


def test_checkpoint_paths_from_ray_get_their_scheme_back():
    from selfre.storage import with_scheme_of

    assert with_scheme_of("bucket/runs/x/final", "s3://bucket/runs/x") == "s3://bucket/runs/x/final"
    assert with_scheme_of("/abs/runs/x/final", "/abs/runs/x") == "/abs/runs/x/final"  # local stays local
    assert with_scheme_of("s3://b/k", "s3://b") == "s3://b/k"  # already a URI


# -- objective, first configuration, Optuna settings, typed config ------------------------------------
def test_summary_ranks_by_the_objective_and_names_it():
    # c001 has the better micro F1 (dev_f1), c002 the better objective (dev_score): the objective decides.
    def rec(cid, seed, score, f1):
        metrics = {
            "best_epoch": 2,
            "dev_score": score,
            "test_score": score - 0.1,
            "dev_f1": f1,
            "test_f1": f1,
            "test_pc_f1": f1,
            "test_official_macro_f1": score - 0.1,
        }
        return TrialRecord(
            f"{cid}-{seed}", cid, seed, {"model.spp_lambda": 0.1 if cid == "c001" else 0.5}, COMPLETE, 2, metrics
        )

    records = [
        rec("c001", 42, 0.50, 0.90),
        rec("c001", 52, 0.52, 0.91),
        rec("c002", 42, 0.60, 0.70),
        rec("c002", 52, 0.64, 0.72),
    ]
    base = build_plan("semeval", CONFIG_DIR).base
    summary = summarize(records, [42, 52], objective="official_macro_f1", base=base)
    assert summary["objective"] == "official_macro_f1" and summary["best"]["config_id"] == "c002"
    assert summary["best"]["test_official_macro_f1"]["mean"] == pytest.approx(0.52)
    text = format_report(summary)
    assert "dev macro-F1" in text and "test macro-F1" in text and "test F1" in text
    # best_config.json: the best configuration, best-dev seed (52: 0.64), as `selfre train --config` reads it
    run_config = summary["best"]["run_config"]
    cfg = RunConfig.from_dict(run_config).validate()
    assert (cfg.model.spp_lambda, cfg.train.seed, cfg.train.select_metric) == (0.5, 52, "official_macro_f1")
    assert "out_dir" not in run_config


def test_first_configuration_is_the_papers_default_and_the_sampler_is_configured(tmp_path):
    from selfre.search.study import build_searcher, storage_url

    plan = build_plan("semeval", CONFIG_DIR, name="s1", storage_root=str(tmp_path))
    searcher = build_searcher(plan)
    searcher.set_search_properties(None, None, {})
    first = SeedRepeater(searcher, [42], 3).suggest("t0")["params"]
    # Table 3 for SemEval: manual weighting, λ 0.2, 20 epochs (+ the base's spp_layers/head)
    assert first == {
        "model.weighting": "manual",
        "model.spp_lambda": 0.2,
        "train.epochs": 20,
        "model.spp_layers": "all",
        "model.head": "cls_e1_e2",
    }
    sampler = searcher._ot_study.sampler
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert (sampler._multivariate, sampler._group, sampler._constant_liar) == (True, True, True)
    # The study lives at the storage root, under the search's name: optuna-dashboard and Optuna's plots read it.
    assert storage_url(plan) == f"sqlite:///{tmp_path / 'optuna.db'}"
    assert [s.study_name for s in optuna.get_all_study_summaries(storage_url(plan))] == ["s1"]


def test_default_point_skips_inactive_and_out_of_range_values():
    from selfre.search.space import default_point

    base = _base()
    base.model.weighting, base.train.epochs = "uncertainty", 10  # λ inactive; epochs outside [1, 3]
    assert default_point(parse_space(SPACE, base), base) == {"model.weighting": "uncertainty"}


def test_batch_must_divide_by_the_workers_before_ray_starts(tmp_path):
    with pytest.raises(ConfigError, match=r"train.batch_size=30 .*\(--workers-per-trial 4\)"):
        build_plan(
            "tacred",
            CONFIG_DIR,
            search_overrides={"workers_per_trial": 4},
            apply_run_overrides=lambda c: (setattr(c.train, "batch_size", 30), c)[1],
            storage_root=str(tmp_path),
        )
    cfg = tmp_path / "c.yaml"
    cfg.write_text("search:\n  space:\n    train.batch_size: {choice: [16, 24, 33]}\n")
    with pytest.raises(ConfigError, match="train.batch_size=33"):
        build_plan("tacred", CONFIG_DIR, user_config=str(cfg), storage_root=str(tmp_path))


def test_typed_yaml_reaches_no_worker_as_a_string(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "train:\n  learning_rate: 3e-5\nsearch:\n  space:\n    train.learning_rate: {loguniform: [1e-5, 5e-5]}\n"
    )
    plan = build_plan("tacred", CONFIG_DIR, user_config=str(cfg), storage_root=str(tmp_path))
    assert plan.base["train"]["learning_rate"] == 3e-5 and plan.params()[0].values == (1e-5, 5e-5)
    cfg.write_text("train:\n  learning_rate: '3e-5'\n")  # quoted: a string, which is an error naming the key
    with pytest.raises(ConfigError, match="train.learning_rate: expected a number"):
        build_plan("tacred", CONFIG_DIR, user_config=str(cfg), storage_root=str(tmp_path))
    cfg.write_text("search:\n  num_samples: many\n")
    with pytest.raises(ConfigError, match="search.num_samples: expected a number"):
        build_plan("tacred", CONFIG_DIR, user_config=str(cfg), storage_root=str(tmp_path))
    res = _cli("--dataset", "demo", "--config", str(cfg), "--storage", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 2 and "search.num_samples" in res.stderr and "Ray" not in res.stderr


def test_metric_flag_sets_the_objective(tmp_path):
    from selfre.cli.search_cmd import build_parser
    from selfre.config_flags import config_from_args

    args = build_parser().parse_args(["--dataset", "tacred", "--metric", "pc_f1"])
    plan = build_plan(
        "tacred", CONFIG_DIR, apply_run_overrides=lambda c: config_from_args(args, base=c), storage_root=str(tmp_path)
    )
    assert plan.objective == "pc_f1"
    assert build_plan("semeval", CONFIG_DIR, storage_root=str(tmp_path)).objective == "official_macro_f1"
    assert build_plan("demo", CONFIG_DIR, storage_root=str(tmp_path)).objective == "micro_f1"
    with pytest.raises(ConfigError, match="only for SemEval"):
        args = build_parser().parse_args(["--dataset", "tacred", "--metric", "official_macro_f1"])
        build_plan(
            "tacred",
            CONFIG_DIR,
            apply_run_overrides=lambda c: config_from_args(args, base=c),
            storage_root=str(tmp_path),
        )


SAVED_PLANS = Path(__file__).resolve().parent / "saved_plans"


@pytest.mark.parametrize("name", ["abl", "srch"])
def test_a_plan_saved_before_search_config_was_typed_still_resumes(tmp_path, name):
    """search_plan.json files written by the dict-based plan (an ablation with named variants; a search with
    --final-seeds) load into SearchConfig and resume: their flat `search:` mapping is unchanged."""
    import json
    import shutil

    from selfre.cli.ablate_cmd import build_parser as ablate_parser
    from selfre.cli.ablate_cmd import plan_from_args as ablate_plan
    from selfre.cli.search_cmd import build_parser as search_parser
    from selfre.cli.search_cmd import plan_from_args as search_plan

    saved = json.loads((SAVED_PLANS / f"{name}.json").read_text())
    (tmp_path / name).mkdir()
    shutil.copy(SAVED_PLANS / f"{name}.json", tmp_path / name / "search_plan.json")
    argv = ["--resume", "--name", name, "--storage", str(tmp_path), "--tracking-uri", "none"]
    if name == "abl":
        plan = ablate_plan(ablate_parser().parse_args(["--dataset", "demo", *argv]), CONFIG_DIR)
    else:
        plan = search_plan(search_parser().parse_args(["--dataset", "semeval", *argv]), CONFIG_DIR)
    assert (plan.name, plan.base, plan.storage) == (name, saved["base"], str(tmp_path))
    assert {k: v for k, v in plan.to_dict()["search"].items() if k in saved["search"]} == saved["search"]
    plan.validate()
    if name == "abl":
        assert list(plan.search.variants) == ["baseline", "spp", "hr", "self", "strong"]
        strong = saved["search"]["variants"]["strong"]
        assert (plan.search.grid[4], plan.search.seeds, plan.search.analysis) == (strong, [42, 52], "ablation")
    else:
        final = plan.final_phase({"model.weighting": "manual"})
        assert (final.search.seeds, final.search.grid) == ([7, 8], [{"model.weighting": "manual"}])
        assert plan.search.grace_period == 2
