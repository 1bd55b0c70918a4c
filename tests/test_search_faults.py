"""Fault paths of a search without a Ray cluster: a failed seed under ASHA, a pruned configuration's last epoch,
repeated TPE proposals, search-config checks, and one study per search name.

Ray's and Optuna's own classes are used for real (Trial, SeedGroupASHA, OptunaSearch); no cluster is started.
The final phase's fault paths need one: test_search_faults_ray.py.
"""

from __future__ import annotations

import optuna
import pytest
from support import REPO

pytest.importorskip("ray.tune")

from asha_support import epoch_result, seed_group_asha, stub_trial  # noqa: E402
from ray.tune.experiment import Trial  # noqa: E402
from ray.tune.schedulers import TrialScheduler  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402

from selfre.config import RunConfig  # noqa: E402
from selfre.errors import ConfigError  # noqa: E402
from selfre.search.plan import build_plan  # noqa: E402
from selfre.search.seeds import SeedRepeater  # noqa: E402
from selfre.search.space import DefineByRun, parse_space  # noqa: E402

CONFIG_DIR = REPO / "tune" / "configs"


# -- a failure is a failure, not a pruning --------------------------------------------------------------
def test_a_failed_seed_stops_no_sibling_under_asha():
    failed, sibling = stub_trial("a", "c1", 42), stub_trial("b", "c1", 52)
    sched = seed_group_asha(failed, sibling)
    assert sched.on_trial_result(None, failed, epoch_result(1, 0.5)) == TrialScheduler.CONTINUE
    sched.on_trial_error(None, failed)  # e.g. the OOM killer, past Ray Train's retries
    assert sched.on_trial_result(None, sibling, epoch_result(1, 0.5)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, sibling, epoch_result(2, 0.6)) == TrialScheduler.CONTINUE
    assert "c1" not in sched.dead_groups


def test_a_failed_trial_restored_by_resume_is_retried_to_its_end():
    """--resume: Tune hands the errored trial back (resume_errored); its configuration is not dead, so the retry
    runs to the end instead of being stopped at its first report."""
    errored = stub_trial("a", "c1", 42, status=Trial.ERROR, last=epoch_result(1, 0.5))
    done = stub_trial("b", "c1", 52, status=Trial.TERMINATED, last=epoch_result(4, 0.7, final=True))
    sched = seed_group_asha(errored, done)
    assert sched.dead_groups == set()
    errored.set_status(Trial.PENDING)
    for epoch in (2, 3, 4):
        assert sched.on_trial_result(None, errored, epoch_result(epoch, 0.6)) == TrialScheduler.CONTINUE


def test_a_pruned_configurations_seed_at_its_last_epoch_is_not_stopped():
    good42, good52 = stub_trial("g1", "c1", 42), stub_trial("g2", "c1", 52)
    weak42, weak52 = stub_trial("w1", "c2", 42), stub_trial("w2", "c2", 52)
    sched = seed_group_asha(good42, good52, weak42, weak52)
    sched.on_trial_result(None, good42, epoch_result(1, 0.8))
    sched.on_trial_result(None, good52, epoch_result(1, 0.8))
    sched.on_trial_result(None, weak42, epoch_result(1, 0.1))
    assert sched.on_trial_result(None, weak52, epoch_result(1, 0.1)) == TrialScheduler.STOP
    assert "c2" in sched.dead_groups
    # weak42 was between reports when c2 was pruned; its next report is its last epoch: training is done.
    assert sched.on_trial_result(None, weak42, epoch_result(4, 0.2)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, weak42, epoch_result(4, 0.2, final=True)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, weak52, epoch_result(2, 0.2)) == TrialScheduler.STOP  # not at its end: stopped


# -- a repeated TPE proposal adds no weight -------------------------------------------------------------
def test_repeated_proposals_leave_the_studys_scored_trials_distinct_points():
    """A proposal repeating a finished configuration is answered with a record TPE ignores (FAIL): a COMPLETE copy
    would weigh that point once more in TPE per repeat and count towards its start-up trials."""
    space = {"model.weighting": {"choice": ["manual", "uncertainty"]}, "train.epochs": {"int": [1, 2]}}
    inner = OptunaSearch(
        space=DefineByRun(parse_space(space, RunConfig()), RunConfig()),
        metric="best_dev_score",
        mode="max",
        sampler=optuna.samplers.TPESampler(seed=0),
    )
    rep = SeedRepeater(inner, [42], 4, redraw_duplicates=True)
    for i in range(4):
        rep.suggest(f"t{i}")
        rep.on_trial_complete(f"t{i}", {"best_dev_score": 0.1 * (i + 1), "is_final": True})
    trials = rep.searcher._ot_study.trials
    scored = [tuple(sorted(t.params.items())) for t in trials if t.state != optuna.trial.TrialState.FAIL]
    assert len(trials) > 4  # TPE did repeat itself here ...
    assert len(scored) == len(set(scored)) == 4  # ... and only the four trained configurations carry a score


# -- search-config checks --------------------------------------------------------------------------------
def test_a_fractional_reduction_factor_is_accepted(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("search:\n  reduction_factor: 1.5\n")
    plan = build_plan("demo", CONFIG_DIR, user_config=str(cfg), storage_root=str(tmp_path))
    assert plan.search.reduction_factor == 1.5


@pytest.mark.parametrize("kind", ["uniform", "loguniform"])
def test_a_continuous_range_on_a_whole_number_field_is_refused_naming_the_key(tmp_path, kind):
    """Optuna would hand every trial e.g. epochs=2.37, and every trial would fail; refused before Ray starts."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"search:\n  space:\n    train.epochs: {{{kind}: [1, 3]}}\n")
    with pytest.raises(ConfigError, match=rf"search\.space\.train\.epochs\.{kind}: .*whole number.*int: \[1, 3\]"):
        build_plan("demo", CONFIG_DIR, user_config=str(cfg), storage_root=str(tmp_path))


# -- a search name is one study -------------------------------------------------------------------------
def test_a_new_search_never_inherits_a_deleted_searchs_study(tmp_path):
    """The run folder of search s1 was deleted, its Optuna study (in the storage root's shared optuna.db) was not:
    a new s1 would condition TPE on the old trials and plot them as its own. It is refused before anything
    else (here: before the missing TACRED data would be reported), with the fix; --resume is not."""
    from selfre.search.runner import run_search
    from selfre.search.study import storage_url

    plan = build_plan("tacred", CONFIG_DIR, name="s1", storage_root=str(tmp_path), tracking_uri="none")
    old = optuna.create_study(study_name="s1", storage=storage_url(plan))
    old.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.9))
    with pytest.raises(
        ConfigError,
        match=r"Optuna study named 's1' already exists.*--name.*optuna delete-study "
        r"--study-name s1 --storage sqlite:///",
    ):
        run_search(plan)
    plan.save()  # the search's own run folder: --resume continues its study
    with pytest.raises(ConfigError, match="--data-dir is required"):
        run_search(plan, resume=True)


# -- killed during registration ---------------------------------------------------------------------------------
def test_a_version_registered_but_never_promoted_is_promoted_by_the_resume(tmp_path):
    """The driver died between creating the model version and giving it its alias: `--resume` finds the version
    (no second one) and promotes it, instead of calling it a challenger of no champion."""
    from mlflow.tracking import MlflowClient

    from selfre.tracking import registry

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("e", artifact_location=str(tmp_path / "a"))).info.run_id
    client.create_registered_model("m")
    tags = {
        "dataset": "demo",
        "metric": "micro_f1",
        "dev_digest": "d",
        "mean_dev_score": "0.5",
        "std_dev_score": "0.1",
        "person_centric_f1": "",
        "search_run_id": run_id,
        "config_id": "f001",
    }
    client.create_model_version("m", str(tmp_path), run_id=run_id, tags=tags)
    got = registry.register_best(
        uri, run_id, str(tmp_path / "no-checkpoint"), "demo", "f001", "micro_f1", 0.5, 0.1, None, name="m"
    )
    assert (got.version, got.alias) == ("1", "champion")
    assert str(client.get_model_version_by_alias("m", "champion").version) == "1"
    assert len(client.search_model_versions("name = 'm'")) == 1


# -- a search is resumable from its first second -----------------------------------------------------------------
def test_a_driver_killed_while_reading_its_data_leaves_a_search_that_resume_continues(tmp_path):
    import os
    import signal
    import subprocess

    from support import SEARCH

    from selfre.search.plan import SearchPlan

    driver = subprocess.Popen(
        [
            *SEARCH,
            "--dataset",
            "demo",
            "--data-dir",
            str(tmp_path / "demo"),
            "--storage",
            str(tmp_path / "runs"),
            "--name",
            "s",
            "--tracking-uri",
            "none",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        for line in driver.stdout:
            if "generating the demo corpus" in line:
                break
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # before Ray starts, as if the machine went away
        driver.wait()
    assert SearchPlan.load(str(tmp_path / "runs"), "s").name == "s"  # what --resume reads first


def test_a_start_refused_on_its_input_can_be_run_again_under_its_name(tmp_path):
    from selfre.search.runner import run_search

    plan = build_plan("tacred", CONFIG_DIR, name="t", storage_root=str(tmp_path), tracking_uri="none")
    for _ in range(2):  # the second time too: the data error, not "a search named 't' already exists"
        with pytest.raises(ConfigError, match="--data-dir is required"):
            run_search(plan)


def test_a_saved_plan_reads_back_its_conditional_space(tmp_path):
    """The space is define-by-run: a condition's parameter comes first. The saved plan keeps the order as written
    (sorted keys put model.spp_lambda before the model.weighting it depends on, and every --resume that built a
    Tuner — a final phase, a search killed before its first trial — was refused)."""
    from selfre.search.plan import SearchPlan

    plan = build_plan("demo", CONFIG_DIR, name="p", storage_root=str(tmp_path))
    plan.save()
    loaded = SearchPlan.load(str(tmp_path), "p")
    assert [p.key for p in loaded.params()] == [p.key for p in plan.params()]
    assert loaded.final_phase({"model.weighting": "manual"}).max_epochs() == plan.max_epochs()
