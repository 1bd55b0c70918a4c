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

from ray.tune.experiment import Trial  # noqa: E402
from ray.tune.schedulers import TrialScheduler  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402
from support import REPO, SEARCH  # noqa: E402

from selfre.config import RunConfig  # noqa: E402
from selfre.errors import ConfigError  # noqa: E402
from selfre.search.aggregate import COMPLETE, ERROR, FAILED, INCOMPLETE, PRUNED, STOPPED, config_status, mean_std  # noqa: E402
from selfre.search.plan import build_plan  # noqa: E402
from selfre.search.resources import TrialResources, check_fits  # noqa: E402
from selfre.search.scheduler import SeedGroupASHA  # noqa: E402
from selfre.search.seeds import SeedRepeater  # noqa: E402
from selfre.search.space import DefineByRun, apply_params, parse_space  # noqa: E402
from selfre.search.summary import TrialRecord, format_report, summarize, to_csv  # noqa: E402

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
        ({"model.spp_lambda": {"uniform": [0.1, 1.0], "when": {"model.weighting": "manual"}},
          "model.weighting": {"choice": ["manual", "uncertainty"]}}, "list it first"),  # fmt: skip
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
        space=DefineByRun(parse_space(SPACE, _base()), _base()), metric="best_dev_f1", mode="max",
        sampler=optuna.samplers.TPESampler(seed=0),
    )  # fmt: skip
    return SeedRepeater(inner, list(seeds), num_configs)


def _final(value):
    return {"best_dev_f1": value, "is_final": True}


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


def test_a_stopped_seed_prunes_the_configuration_and_skips_its_other_seeds():
    rep = _repeater(num_configs=2, seeds=(42, 52, 62))
    first = rep.suggest("a")
    rep.on_trial_complete("a", {"best_dev_f1": 0.1, "is_final": False})  # ASHA stopped it
    nxt = rep.suggest("b")
    assert (nxt["config_id"], nxt["seed"]) == ("c002", 42)  # c001's seeds 52 and 62 never start
    assert first["config_id"] == "c001" and rep.groups["c001"]["status"] == PRUNED
    assert rep.searcher._ot_study.trials[0].state == optuna.trial.TrialState.PRUNED
    rep.on_trial_complete("b", None, error=True)
    assert rep.groups["c002"]["status"] == FAILED
    assert rep.searcher._ot_study.trials[1].state == optuna.trial.TrialState.FAIL
    assert rep.suggest("c") == Searcher.FINISHED


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
def _trial(trial_id, config_id, seed):
    return Trial("__fake", config={"config_id": config_id, "seed": seed, "params": {}}, trial_id=trial_id, stub=True)


def _res(epoch, f1, total=4, final=False):
    return {"epoch": epoch, "best_dev_f1": f1, "epochs_total": total, "is_final": final}


def test_asha_prunes_configurations_by_their_seed_mean_and_never_a_finished_trial():
    sched = SeedGroupASHA(max_t=4, grace_period=1, reduction_factor=2)
    assert list(sched.rungs) == [1, 2, 4]
    good42, good52 = _trial("g1", "c1", 42), _trial("g2", "c1", 52)
    weak42, weak52 = _trial("w1", "c2", 42), _trial("w2", "c2", 52)
    late = _trial("l", "c3", 42)
    for t in (good42, good52, weak42, weak52, late):
        sched.on_trial_add(None, t)
    assert sched.on_trial_result(None, good42, _res(1, 0.8)) == TrialScheduler.CONTINUE  # alone at the rung
    # c1's own second seed is much worse, but seeds never judge each other: c1 has no competitor yet.
    assert sched.on_trial_result(None, good52, _res(1, 0.3)) == TrialScheduler.CONTINUE
    # c2 scores 0.1 < c1's mean 0.55: the whole configuration is pruned.
    assert sched.on_trial_result(None, weak42, _res(1, 0.1)) == TrialScheduler.STOP
    assert "c2" in sched.dead_groups
    assert sched.on_trial_result(None, weak52, _res(1, 0.95)) == TrialScheduler.STOP  # its sibling, however good
    # c1 keeps going at the next rung (no other configuration there yet).
    assert sched.on_trial_result(None, good42, _res(2, 0.85)) == TrialScheduler.CONTINUE
    # A trial at its last epoch (or its final test report) is never stopped, however weak.
    assert sched.on_trial_result(None, late, _res(1, 0.0, total=1)) == TrialScheduler.CONTINUE
    assert sched.on_trial_result(None, late, _res(1, 0.0, total=1, final=True)) == TrialScheduler.CONTINUE
    assert "c3" not in sched.dead_groups
    assert sched.rungs[1]["c3"] == {"l": 0.0}  # its value still counts for the others


def test_rung_epochs_match_the_configs():
    from selfre.search.scheduler import rung_epochs

    assert rung_epochs(2, 10, 2) == [2, 4, 8]  # TACRED
    assert rung_epochs(2, 20, 2) == [2, 4, 8, 16]  # SemEval
    assert rung_epochs(1, 1, 2) == [1]


def test_restored_trials_rebuild_pruned_groups():
    sched = SeedGroupASHA(max_t=4, grace_period=1, reduction_factor=2)
    stopped = _trial("x", "c7", 42)
    stopped.set_status(Trial.TERMINATED)
    stopped.run_metadata.last_result = _res(1, 0.1)
    done = _trial("y", "c8", 42)
    done.set_status(Trial.TERMINATED)
    done.run_metadata.last_result = _res(4, 0.9, final=True)
    sched.on_trial_add(None, stopped)
    sched.on_trial_add(None, done)
    assert sched.dead_groups == {"c7"}


# -- summary -----------------------------------------------------------------------------------------
def _rec(config_id, seed, status, dev=None, test=None, params=None):
    metrics = {"best_epoch": 1, "dev_f1": dev, "test_precision": test, "test_recall": test, "test_f1": test,
               "test_pc_f1": test} if status == COMPLETE else {}  # fmt: skip
    return TrialRecord(f"{config_id}-{seed}", config_id, seed, params or {"model.head": config_id}, status, 1, metrics)


def test_summary_picks_the_best_complete_configuration():
    records = [
        _rec("c001", 42, COMPLETE, 0.60, 0.50), _rec("c001", 52, COMPLETE, 0.70, 0.54),
        _rec("c002", 42, COMPLETE, 0.90, 0.80), _rec("c002", 52, STOPPED),  # pruned: higher mean, not eligible
        _rec("c003", 42, COMPLETE, 0.62, 0.40), _rec("c003", 52, COMPLETE, 0.66, 0.42),
    ]  # fmt: skip
    summary = summarize(records, [42, 52])
    by_id = {c["config_id"]: c for c in summary["configurations"]}
    assert by_id["c002"]["status"] == PRUNED
    assert summary["best"]["config_id"] == "c001"  # 0.65 beats c003's 0.64
    assert by_id["c001"]["dev_f1"]["mean"] == pytest.approx(0.65)
    assert by_id["c001"]["test_f1"]["std"] == pytest.approx(statistics.stdev([0.50, 0.54]))
    csv_text = to_csv(summary)
    assert csv_text.splitlines()[0].startswith("config_id,status,seeds_complete,seeds_planned,model.head,dev_f1_mean")
    assert "best configuration c001" in format_report(summary)


def test_ties_prefer_the_smaller_spread():
    records = [_rec("c001", 42, COMPLETE, 0.5, 0.5), _rec("c001", 52, COMPLETE, 0.7, 0.5),
               _rec("c002", 42, COMPLETE, 0.6, 0.5), _rec("c002", 52, COMPLETE, 0.6, 0.5)]  # fmt: skip
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


def test_dataset_configs_load_with_the_papers_defaults(tmp_path):
    for dataset, epochs, lam in (("tacred", 10, 0.4), ("retacred", 15, 0.7), ("semeval", 20, 0.2)):
        plan = build_plan(dataset, CONFIG_DIR, storage_root=str(tmp_path))
        cfg = plan.run_config()
        assert (cfg.train.epochs, cfg.model.spp_lambda, cfg.train.batch_size, cfg.train.learning_rate) == (epochs, lam, 32, 3e-5)
        assert plan.search["seeds"] == [42, 52, 62, 72, 82]
        assert {p.key for p in plan.params()} >= {"model.spp_lambda", "model.weighting", "train.epochs"}
    demo = build_plan("demo", CONFIG_DIR, storage_root=str(tmp_path))
    assert Path(demo.run_config().data.data_dir).is_absolute()  # workers do not share the driver's cwd


def _cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*SEARCH, *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)  # fmt: skip


def test_help_documents_every_flag():
    out = _cli("--help").stdout
    for flag in ("--dataset", "--data-dir", "--model", "--config", "--num-samples", "--seeds", "--scheduler",
                 "--max-concurrent", "--workers-per-trial", "--gpus-per-worker", "--storage", "--address",
                 "--resume", "--name"):  # fmt: skip
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
    res = _cli("--dataset", "demo", "--tracking-uri", "http://user:pw@127.0.0.1:1", "--storage", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 2 and "MLFLOW_TRACKING_USERNAME" in res.stderr and "pw@" not in res.stderr


def test_an_unreachable_tracking_server_stops_the_search_before_ray(tmp_path):
    res = _cli("--dataset", "demo", "--tracking-uri", "http://127.0.0.1:9", "--storage", str(tmp_path / "runs"), cwd=tmp_path)
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
    from selfre.search.storage import with_scheme_of

    assert with_scheme_of("bucket/runs/x/final", "s3://bucket/runs/x") == "s3://bucket/runs/x/final"
    assert with_scheme_of("/abs/runs/x/final", "/abs/runs/x") == "/abs/runs/x/final"  # local stays local
    assert with_scheme_of("s3://b/k", "s3://b") == "s3://b/k"  # already a URI
