"""selfre.tracking pieces that need no server: metric names, params, plots, parent tables."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("matplotlib")

from selfre.config import RunConfig, flatten  # noqa: E402
from selfre.search_results import mean_std  # noqa: E402
from selfre.tracking import plots, preflight  # noqa: E402
from selfre.tracking.names import metric_names, relation_metric_key, sanitize  # noqa: E402
from selfre.tracking.params import dict_params, redact, run_params  # noqa: E402


def test_metric_names_are_mlflow_safe_unique_and_documented():
    from mlflow.utils.validation import _validate_metric_name

    labels = [
        "per:city_of_birth",
        "org:top_members/employees",
        "Cause-Effect(e1,e2)",
        "a:b",
        "a.b",
        "no_relation",
        "))",
    ]
    names = metric_names(labels)
    assert names["per:city_of_birth"] == "per.city_of_birth"
    assert names["org:top_members/employees"] == "org.top_members_employees"
    assert names["Cause-Effect(e1,e2)"] == "Cause-Effect_e1_e2"
    assert names["a.b"] == "a.b_2" and len(set(names.values())) == len(labels)
    for name in names.values():
        _validate_metric_name(relation_metric_key("test", "f1", name))
    assert sanitize("))") == "_"


def test_params_cover_every_switch_and_hide_credentials():
    cfg = RunConfig()
    cfg.data.data_dir = "s3://AKIAXXX:secret@bucket/tacred?X-Amz-Signature=abc"
    params = run_params(cfg)
    assert set(params) == set(flatten(cfg)) - {"out_dir"}
    assert params["data.data_dir"] == "s3://***@bucket/tacred"
    assert params["model.spp_lambda"] == "0.4" and params["train.seed"] == "42"
    assert redact("http://user:pw@host:5000/x") == "http://***@host:5000/x"
    assert dict_params({"search": {"seeds": [1, 2]}, "n": 3}) == {"search.seeds": "[1, 2]", "n": "3"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plots.close(fig)
    return buf.getvalue()


def test_plots_render_png():
    import numpy as np

    per_rel = {
        "per:title": {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 3},
        "no_relation": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 0},
    }
    conf = {"labels": ["a", "b"], "errors": [2, 2], "matrix": [[3, 2], [0, 1]], "pairs": []}
    for fig in (
        plots.per_relation_f1(per_rel),
        plots.confusion_top(conf),
        plots.confusion_top({"labels": [], "matrix": []}),
        plots.gate_heatmap(np.random.rand(5, 4), list("abcde"), "g"),
        plots.spp_vs_iel(np.full(5, 0.2), np.array([0, 1, 1, 0, 0.0]), list("abcde"), "s"),
        plots.lambda_curve(
            [
                {"lambda": 0.2, "mean": 0.5, "std": 0.1, "label": "dev F1"},
                {"lambda": 0.8, "mean": 0.6, "std": 0.0, "label": "dev F1"},
            ]
        ),
    ):
        assert _png(fig).startswith(b"\x89PNG")


def contract_summary():
    """A search summary as the metric contract has it (objective pc_f1, so the objective and micro F1 differ):
    c1 and c2 complete, c3 pruned with one finished seed that scored best of all, c4 (λ under uncertainty
    weighting) complete. The search chose c2: the best mean dev objective among complete configurations."""

    def trial(cid, seed, dev, dev_f1, status="complete"):
        m = (
            {
                "best_epoch": seed % 3 + 1,
                "dev_score": dev,
                "test_score": dev - 0.1,
                "dev_f1": dev_f1,
                "test_f1": dev_f1 - 0.1,
                "test_precision": 0.5,
                "test_recall": 0.4,
                "test_pc_f1": dev - 0.1,
            }
            if status == "complete"
            else {}
        )
        return {"config_id": cid, "seed": seed, "status": status, "metrics": m, "checkpoint": f"/ck/{cid}-{seed}"}

    def conf(cid, status, params, *trials):
        done = [t["metrics"] for t in trials if t["status"] == "complete"]
        stats = {
            k: dict(zip(("mean", "std"), mean_std(m[k] for m in done), strict=True))
            for k in ("dev_score", "test_score", "dev_f1", "test_f1", "test_pc_f1")
        }
        return {
            "config_id": cid,
            "status": status,
            "params": params,
            "trials": list(trials),
            **stats,
            "seeds_complete": len(done),
            "seeds_planned": 2,
        }

    c1 = conf("c1", "complete", {"model.spp_lambda": 0.4}, trial("c1", 1, 0.60, 0.90), trial("c1", 2, 0.62, 0.92))
    # c2's λ as Optuna's step grid gives 0.8 (reported as 0.8)
    c2 = conf(
        "c2",
        "complete",
        {"model.spp_lambda": 0.7999999999999999},
        trial("c2", 1, 0.70, 0.50),
        trial("c2", 2, 0.74, 0.52),
    )
    c3 = conf(
        "c3", "pruned", {"model.spp_lambda": 1.0}, trial("c3", 1, 0.99, 0.99), trial("c3", 2, None, None, "stopped")
    )
    c4 = conf(
        "c4",
        "complete",
        {"model.spp_lambda": 0.2, "model.weighting": "uncertainty"},
        trial("c4", 1, 0.30, 0.30),
        trial("c4", 2, 0.30, 0.30),
    )
    return {"objective": "pc_f1", "seeds": [1, 2], "configurations": [c1, c2, c3, c4], "best": c2}


BASE = {"model": {"use_spp": True, "use_hr": True, "weighting": "manual", "spp_lambda": 0.4}, "train": {"seed": 42}}


def test_tables_show_complete_configurations_by_the_search_objective():
    from selfre.tracking import paper_tables

    summary = contract_summary()
    configs = paper_tables.configurations(summary, "s", BASE)
    assert [c.key for c in configs] == ["s/c1", "s/c2", "s/c4"]  # c3 was pruned: its lucky seed never counts
    t5 = paper_tables.table5(configs).splitlines()
    assert t5[0] == "| configuration | λ | seeds | dev pc_f1 | test pc_f1 | test P | test R | test F1 | PC F1 |"
    assert (
        t5[3]
        == "| s/c2 | 0.8 | 2 | 72.00 ± 2.83 | 62.00 ± 2.83 | 50.00 ± 0.00 | 40.00 ± 0.00 | 41.00 ± 1.41 | 62.00 ± 2.83 |"
    )
    assert t5[4].startswith("| s/c4 | - | 2 |")  # λ weighs nothing under uncertainty weighting
    # Table 6 ranks by the objective (c2: 0.72), not by micro F1 (c1: 0.91).
    assert paper_tables.table6(configs).splitlines()[2].startswith("| SELF (SPP+HR) | s/c2 | 62.00 ± 2.83 |")
    chosen = paper_tables.best(summary, configs)
    assert chosen.key == "s/c2"
    rows = paper_tables.table8(chosen).splitlines()
    assert rows[0] == "| seed | best epoch | dev pc_f1 | test pc_f1 | test P | test R | test F1 | PC F1 |"
    assert rows[2] == "| 1 | 2 | 70.00 | 60.00 | 50.00 | 40.00 | 40.00 | 60.00 |"
    assert (
        rows[4]
        == "| mean ± std | | 72.00 ± 2.83 | 62.00 ± 2.83 | 50.00 ± 0.00 | 40.00 ± 0.00 | 41.00 ± 1.41 | 62.00 ± 2.83 |"
    )
    points = {(p["lambda"], p["label"]): round(p["mean"], 4) for p in paper_tables.lambda_points(configs)}
    assert points == {
        (0.4, "dev pc_f1"): 0.61,
        (0.4, "test pc_f1"): 0.51,
        (0.8, "dev pc_f1"): 0.72,
        (0.8, "test pc_f1"): 0.62,
    }


def test_default_tracking_is_local_sqlite(tmp_path):
    uri, artifacts = preflight.default_tracking(tmp_path / "run")
    assert uri == f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}" and artifacts.startswith("file://")
    assert preflight.ui_command(uri).startswith("mlflow ui --backend-store-uri sqlite:///")


@pytest.mark.slow
def test_embedded_default_store_passes_preflight(tmp_path):
    """No --tracking-uri: SQLite + local artifacts in the run folder; preflight's round trip works there."""
    uri, artifacts = preflight.default_tracking(tmp_path / "run")
    preflight.preflight(uri, experiment="selfre-demo", artifact_location=artifacts)
    assert (tmp_path / "run" / "mlflow.db").exists() and (tmp_path / "run" / "mlartifacts").is_dir()


def test_report_shows_lambda_only_where_it_weighs_the_loss():
    """Every config has model.spp_lambda, but under uncertainty weighting or without SPP it is inert: Table 5
    shows '-' there and the λ curve leaves those configurations out."""
    from selfre.tracking import paper_tables

    summary = contract_summary()
    for c, params in zip(
        summary["configurations"], ({"model.use_spp": False}, {"model.weighting": "uncertainty"}, {}, {}), strict=True
    ):
        c["params"].update(params)
    configs = paper_tables.configurations(summary, "s", BASE)
    assert [r.split(" | ")[1] for r in paper_tables.table5(configs).splitlines()[2:]] == ["-", "-", "-"]
    assert paper_tables.lambda_points(configs) == []


def test_summary_csv_has_every_statistic_the_summary_carries():
    from selfre.search_results import to_csv

    head = to_csv(contract_summary()).splitlines()[0].split(",")
    assert head[:6] == ["config_id", "status", "seeds_complete", "seeds_planned", "model.spp_lambda", "model.weighting"]
    assert head[6:] == [
        f"{n}_{s}" for n in ("dev_score", "test_score", "dev_f1", "test_f1", "test_pc_f1") for s in ("mean", "std")
    ]


def test_final_metrics_from_a_reported_result_match_the_live_ones():
    """A trial re-reported after --resume logs the same metric names as one that trained in this process."""
    from selfre.tracking.child import final_scores, reported_scores

    dev = {
        "precision": 0.5,
        "recall": 0.25,
        "f1": 1 / 3,
        "person_centric": {"precision": 0.4, "recall": 0.4, "f1": 0.4},
    }
    test = {
        "precision": 0.4,
        "recall": 0.2,
        "f1": 0.8 / 3,
        "person_centric": {"precision": 0.3, "recall": 0.3, "f1": 0.3},
    }
    live = final_scores(2, dev, test, "pc_f1")
    assert live["best_dev_score"] == 0.4 and live["test_score"] == 0.3 and live["best_dev_f1"] == 1 / 3
    report = {
        "best_epoch": 2,
        "dev_score": 0.4,
        "test_score": 0.3,
        "dev_precision": 0.5,
        "dev_recall": 0.25,
        "dev_f1": 1 / 3,
        "dev_pc_f1": 0.4,
        "test_precision": 0.4,
        "test_recall": 0.2,
        "test_f1": 0.8 / 3,
        "test_pc_f1": 0.3,
        "test_pc_precision": 0.3,
        "test_pc_recall": 0.3,
        "is_final": True,
        "epochs_total": 2,
    }
    assert reported_scores(report) == live


def test_targets_flags_win_over_mlflow_environment(monkeypatch):
    from selfre.tracking import targets

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "env-exp")
    assert targets.tracking_uri(None) == "http://env:5000" and targets.tracking_uri("http://flag:1") == "http://flag:1"
    assert targets.experiment(None) == "env-exp" and targets.experiment("flag-exp") == "flag-exp"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME")
    assert targets.tracking_uri(None) is None and targets.experiment(None) is None


def test_unity_catalog_names_are_three_part(monkeypatch):
    from selfre.errors import ConfigError
    from selfre.tracking import targets

    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    assert targets.check_model_name("selfre-demo", "http://host:5000") == "selfre-demo"  # OSS registry: any name
    assert targets.check_model_name("main.selfre.demo", "http://host:5000") == "main.selfre.demo"
    assert targets.registry_uri("databricks") == "databricks-uc"  # MLflow 3's default for Databricks tracking
    assert targets.check_model_name("main.selfre.tacred_v2", "databricks") == "main.selfre.tacred_v2"
    for bad in ("selfre-demo", "main.selfre", "a.b.c.d", "main..demo", "main.sel fre.demo"):
        with pytest.raises(ConfigError, match=r"--registered-model .*catalog\.schema\.model"):
            targets.check_model_name(bad, "databricks")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc://profile")
    with pytest.raises(ConfigError, match="--registered-model 'selfre-demo'"):
        targets.check_model_name("selfre-demo", "http://host:5000")
    with pytest.raises(ConfigError, match="--experiment 'selfre': a Databricks experiment is a workspace path"):
        targets.check_experiment("selfre", "databricks")
    assert targets.check_experiment("/Users/me/selfre", "databricks") == "/Users/me/selfre"


def test_search_command_line_takes_mlflow_environment_and_flags_win(monkeypatch, capsys):
    from support import REPO

    from selfre.cli.search_cmd import build_parser, plan_from_args

    configs = REPO / "tune" / "configs"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "env-exp")
    plan = plan_from_args(build_parser().parse_args(["--dataset", "demo", "--name", "e"]), configs)
    assert (plan.tracking_uri, plan.search.experiment) == ("http://env:5000", "env-exp")
    assert plan.search.registered_model == "" and plan.search.system_metrics is True  # "": selfre-demo
    args = [
        "--dataset",
        "demo",
        "--name",
        "f",
        "--tracking-uri",
        "none",
        "--experiment",
        "team/x",
        "--registered-model",
        "main.selfre.demo",
        "--no-system-metrics",
    ]
    plan = plan_from_args(build_parser().parse_args(args), configs)
    assert (plan.tracking_uri, plan.search.experiment) == ("none", "team/x")
    assert plan.search.registered_model == "main.selfre.demo" and plan.search.system_metrics is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "$MLFLOW_TRACKING_URI if set" in text
        and "$MLFLOW_EXPERIMENT_NAME if set" in text
        and "--no-system-metrics" in text
    )


def test_report_command_needs_a_store_and_an_experiment(monkeypatch, capsys):
    from selfre.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    assert main(["report", "--experiment", "x"]) == 2
    assert "pass --tracking-uri or set MLFLOW_TRACKING_URI" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")
    assert main(["report"]) == 2
    assert "pass --experiment or set MLFLOW_EXPERIMENT_NAME" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "selfre-demo")
    assert main(["report"]) == 2
    assert "--experiment 'selfre-demo': a Databricks experiment is a workspace path" in capsys.readouterr().err


def test_promotion_compares_only_like_with_like():
    from selfre.tracking.registry import why_not_comparable

    champion = {"dataset": "tacred", "metric": "micro_f1", "dev_digest": "a" * 64}
    assert why_not_comparable(dict(champion), champion, "3") is None
    demo = {**champion, "dev_digest": "b" * 64}
    assert why_not_comparable(demo, champion, "3") == (
        "not compared with champion version 3: different dev data (bbbbbbbbbbbb vs aaaaaaaaaaaa); promote it by hand if it should serve"
    )
    assert "different metric (pc_f1 vs micro_f1)" in why_not_comparable({**champion, "metric": "pc_f1"}, champion, "3")
    assert "different dataset (retacred vs tacred)" in why_not_comparable(
        {**champion, "dataset": "retacred"}, champion, "3"
    )
    old = {"dataset": "tacred", "mean_dev_f1": "0.7"}  # a version registered before digests: never comparable
    assert "different metric (micro_f1 vs unknown)" in why_not_comparable(champion, old, "1")


def test_best_checkpoint_is_the_best_dev_seeds_or_none():
    """Never a worse seed's model under the best configuration's name: if the best-dev seed has no checkpoint on
    record, nothing is registered (summary.final_checkpoint is what finds it)."""
    from selfre.search_results import best_checkpoint

    c2 = contract_summary()["best"]
    assert best_checkpoint(c2) == "/ck/c2-2"  # dev 0.74 beats 0.70
    c2["trials"][1]["checkpoint"] = None
    assert best_checkpoint(c2) is None


def test_ablation_command_line_takes_mlflow_environment_too(monkeypatch):
    """tune/ablate.py shares the search's run flags (and their help): the same defaults from the environment."""
    from support import REPO

    from selfre.cli.ablate_cmd import build_parser, plan_from_args

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "env-exp")
    plan = plan_from_args(build_parser().parse_args(["--dataset", "demo", "--name", "a"]), REPO / "tune" / "configs")
    assert (plan.tracking_uri, plan.search.experiment) == ("http://env:5000", "env-exp")
    args = ["--dataset", "demo", "--name", "b", "--tracking-uri", "none", "--experiment", "x", "--no-system-metrics"]
    plan = plan_from_args(build_parser().parse_args(args), REPO / "tune" / "configs")
    assert (plan.tracking_uri, plan.search.experiment, plan.search.system_metrics) == ("none", "x", False)
