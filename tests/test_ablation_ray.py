"""From a search to a claim, on a real local Ray with the tiny encoder: the ablation runner (tune/ablate.py),
re-training a search trial exactly from its config file, and --final-seeds."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

pytest.importorskip("ray")

from ray_support import mlflow_runs  # noqa: E402
from support import REPO  # noqa: E402

from selfre.cli.ablate_cmd import build_parser, plan_from_args  # noqa: E402
from selfre.data.demo import generate_demo  # noqa: E402
from selfre.search.plan import SearchPlan, build_plan  # noqa: E402
from selfre.search.runner import run_search  # noqa: E402
from selfre.search_results import COMPLETE  # noqa: E402

# Under xdist, one worker runs this module with every other user of the embedded Ray (conftest.EMBEDDED_RAY_MODULES).
pytestmark = pytest.mark.slow

CONFIG_DIR = REPO / "tune" / "configs"
SMALL = ["--epochs", "2", "--max-train-examples", "96", "--max-eval-examples", "32", "--batch-size", "16"]
# One worker per trial, a whole CPU each: two trials at once in the 3 logical CPUs.
RESOURCES = ["--workers-per-trial", "1", "--cpus-per-worker", "1", "--max-concurrent", "2"]


@pytest.fixture(scope="session")  # session: computed once even if xdist splits the module's run
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, seed=13, n_train=96, n_dev=32, n_test=32)
    return out


@pytest.fixture(scope="session")  # session: computed once even if xdist splits the module's run
def ablation(ray_session, demo_dir, tmp_path_factory):
    storage = tmp_path_factory.mktemp("runs")
    args = build_parser().parse_args(
        [
            "--dataset",
            "demo",
            "--data-dir",
            str(demo_dir),
            "--variants",
            "baseline,self",
            "--seeds",
            "42,52",
            "--storage",
            str(storage),
            "--name",
            "abl",
            "--bootstrap-resamples",
            "300",
            *SMALL,
            *RESOURCES,
        ]
    )
    plan = plan_from_args(args, CONFIG_DIR)
    return run_search(plan), storage


def test_every_variant_is_trained_once_per_seed(ablation):
    outcome, _ = ablation
    summary = outcome.summary
    assert outcome.finished and summary["num_trials"] == 2 * 2
    params = {c["config_id"]: c["params"] for c in summary["configurations"]}
    assert params == {
        "v001": {"model.use_spp": False, "model.use_hr": False},
        "v002": {"model.use_spp": True, "model.use_hr": True},
    }
    assert all(c["status"] == COMPLETE and c["seeds_complete"] == 2 for c in summary["configurations"])


def test_table_figures_equal_an_independent_computation_from_the_child_runs(ablation):
    outcome, storage = ablation
    table = json.loads((Path(outcome.plan.experiment_uri) / "ablation.json").read_text())
    client, [parent], trials = mlflow_runs(storage)
    assert parent.data.tags["selfre.search"] == "abl"
    by_config: dict[str, dict[int, dict]] = {}
    for run in trials:
        by_config.setdefault(run.data.tags["selfre.config_id"], {})[int(run.data.tags["selfre.seed"])] = (
            run.data.metrics
        )
    assert len(trials) == 4
    rows = {r["config_id"]: r for r in table["rows"]}
    for config_id, seeds in by_config.items():
        test = [seeds[s]["test_score"] for s in (42, 52)]
        pc = [seeds[s]["test_pc_f1"] for s in (42, 52)]
        assert rows[config_id]["test"]["mean"] == pytest.approx(statistics.fmean(test))
        assert rows[config_id]["test"]["std"] == pytest.approx(statistics.stdev(test))
        assert rows[config_id]["pc"]["mean"] == pytest.approx(statistics.fmean(pc))
    diffs = [by_config["v002"][s]["test_score"] - by_config["v001"][s]["test_score"] for s in (42, 52)]
    self_row = rows["v002"]
    assert self_row["diff"]["mean"] == pytest.approx(statistics.fmean(diffs))
    contains_zero = self_row["diff"]["low"] <= 0 <= self_row["diff"]["high"]
    assert (
        self_row["verdict"] == "within seed noise" if contains_zero else self_row["verdict"].endswith("than baseline")
    )
    assert 0.0 <= self_row["bootstrap"]["p_value"] <= 1.0 and self_row["bootstrap"]["resamples"] == 300
    # The report was printed and logged to the ablation's run; no model is registered by an ablation.
    assert "| SELF (SPP+HR) | 2 |" in outcome.report and "paired bootstrap" in outcome.report
    artifacts = {f.path for d in ("tables", "plots") for f in client.list_artifacts(parent.info.run_id, d)}
    assert {"tables/ablation.md", "tables/ablation.json", "plots/ablation.png"} <= artifacts
    assert client.search_registered_models() == []


def test_resume_does_not_retrain_finished_trials(ablation):
    outcome, storage = ablation
    finals = sorted(Path(outcome.plan.train_storage).glob("*/final/model.safetensors"))
    assert len(finals) == 4
    before = [(p, p.stat().st_mtime_ns) for p in finals]
    again = run_search(SearchPlan.load(str(storage), "abl"), resume=True)
    assert [(p, p.stat().st_mtime_ns) for p, _ in before] == before
    assert again.summary["configurations"] == outcome.summary["configurations"]
    assert len(mlflow_runs(storage)[2]) == 4  # no new child run either


def test_retraining_a_trial_from_its_config_file_reproduces_its_metrics(ablation, tmp_path):
    """best_config.json is a `selfre train --config` file: the same seed on the same number of workers (1)
    gives the trial's dev and test figures again."""
    from selfre.cli import main

    outcome, _ = ablation
    best_file = Path(outcome.paths["best_config"])
    run_config = json.loads(best_file.read_text())
    seed = run_config["train"]["seed"]
    [trial] = [t for t in outcome.summary["best"]["trials"] if t["seed"] == seed]
    assert main(["train", "--config", str(best_file), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["best_epoch"] == trial["metrics"]["best_epoch"]
    for split, key in (("dev", "dev"), ("test", "test")):
        assert again[split]["f1"] == pytest.approx(trial["metrics"][f"{key}_f1"], abs=1e-9)
        assert again[split]["precision"] == pytest.approx(trial["metrics"][f"{key}_precision"], abs=1e-9)


def test_final_seeds_retrain_the_best_configuration_and_register_the_best_of_them(ray_session, demo_dir, tmp_path):
    def small(cfg):
        cfg.data.data_dir, cfg.data.max_train_examples, cfg.data.max_eval_examples = str(demo_dir), 96, 32
        cfg.train.epochs, cfg.train.batch_size = 1, 16
        return cfg

    overrides = {
        "num_samples": 1,
        "seeds": [42],
        "final_seeds": [52, 62],
        "scheduler": "fifo",
        "workers_per_trial": 1,
        "cpus_per_worker": 1.0,
        "max_concurrent": 2,
    }
    plan = build_plan(
        "demo",
        CONFIG_DIR,
        search_overrides=overrides,
        apply_run_overrides=small,
        name="fs",
        storage_root=str(tmp_path / "runs"),
    )
    outcome = run_search(plan)
    final = outcome.summary["final"]
    assert final["config_id"] == "f001" and final["params"] == outcome.summary["best"]["params"]
    assert sorted(t["seed"] for t in final["trials"]) == [52, 62] and final["seeds_complete"] == 2
    best_final = max(final["trials"], key=lambda t: t["metrics"]["dev_score"])
    client, _, trials = mlflow_runs(tmp_path / "runs")
    assert sorted(r.data.tags["selfre.config_id"] for r in trials) == ["c001", "f001", "f001"]
    champion = client.get_model_version_by_alias("selfre-demo", "champion")
    assert float(champion.tags["mean_dev_score"]) == pytest.approx(final["dev_score"]["mean"])
    # the registered checkpoint is the best final seed's: best_config.json names that seed
    assert json.loads(Path(outcome.paths["best_config"]).read_text())["train"]["seed"] == best_final["seed"]
    assert "final re-training of the best configuration" in outcome.report
