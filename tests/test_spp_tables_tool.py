"""benchmarks/spp_tables.py: the SPP-regime study's tables from a search summary and a real MLflow store (SQLite)."""

from __future__ import annotations

import json

import pytest
from support import load_script

mlflow = pytest.importorskip("mlflow")
from mlflow.entities import Metric, Param  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

SUMMARY = {
    "best": {"config_id": "c002"},
    "configurations": [
        {
            "config_id": "c001",
            "status": "complete",
            "params": {"model.spp_lambda": 11.7014, "train.epochs": 4},
            "dev_score": {"mean": 0.7154, "std": 0.0067},
            "test_score": {"mean": 0.7246, "std": 0.0033},
            "trials": [{"last_epoch": 4}, {"last_epoch": 4}],
        },
        {
            "config_id": "c002",
            "status": "complete",
            "params": {
                "model.weighting": "uncertainty",
                "model.spp_target": "smooth",
                "model.spp_epsilon": 0.25,
                "model.spp_layers": "last",
                "train.epochs": 4,
            },
            "dev_score": {"mean": 0.7197, "std": 0.0053},
            "test_score": {"mean": 0.7308, "std": 0.0026},
            "trials": [{"last_epoch": 4}, {"last_epoch": 4}],
        },
        {
            "config_id": "c003",
            "status": "pruned",
            "params": {"model.spp_alpha": "renormalize", "model.spp_lambda": 0.128, "train.epochs": 3},
            "dev_score": None,
            "trials": [{"last_epoch": 2}, {"last_epoch": 1}],
        },
    ],
}


def test_the_search_table_reads_regime_lambda_and_outcome():
    rows = load_script("benchmarks/spp_tables.py").search_table(SUMMARY)
    assert (
        rows[2] == "| c001 | manual | softmax | softmax | – | all | 11.7 | 4 | 71.54 ± 0.67 | 72.46 ± 0.33 | complete |"
    )
    assert rows[3] == (
        "| **c002** (best) | uncertainty | softmax | smooth | 0.25 | last | learned σ | 4 | 71.97 ± 0.53 | 73.08 ± 0.26 "
        "| complete |"
    )
    assert rows[4] == (
        "| c003 | manual | renormalize | softmax | – | all | 0.128 | 3 | stopped after epoch 2 | – | pruned |"
    )


def test_the_diagnostics_come_from_each_runs_mlflow_history(tmp_path, capsys):
    storage = tmp_path / "runs"
    (storage / "s").mkdir(parents=True)
    (storage / "s" / "summary.json").write_text(json.dumps(SUMMARY))
    (storage / "s" / "search_plan.json").write_text(json.dumps({"dataset": "semeval"}))
    client = MlflowClient(f"sqlite:///{storage}/mlflow.db")
    exp = client.create_experiment("selfre-semeval", artifact_location=str(tmp_path / "art"))
    parent = client.create_run(exp, tags={"selfre.search": "s"}).info.run_id
    child = client.create_run(exp, tags={"mlflow.parentRunId": parent}, run_name="c001-seed42").info.run_id
    params = {
        "model.use_spp": "True",
        "model.weighting": "manual",
        "model.spp_alpha": "softmax",
        "model.spp_target": "softmax",
        "model.spp_layers": "all",
        "model.spp_lambda": "11.7",
    }
    history = [
        ("loss_spp", 0.012, 1),
        ("loss_spp", 0.0101, 4),
        ("spp_grad_ratio", 0.0783, 1),
        ("spp_grad_ratio", 0.0156, 4),
        ("spp_entity_mass_before", 0.074, 0),
        ("spp_entity_mass_after", 0.11, 0),
        ("spp_entity_uniform_share", 0.099, 0),
        ("test_score", 0.7222, 0),
    ]
    client.log_batch(
        child,
        params=[Param(k, v) for k, v in params.items()],
        metrics=[Metric(k, v, 0, step) for k, v, step in history],
    )
    # A baseline run (no SPP) has nothing to show: left out.
    base = client.create_run(exp, tags={"mlflow.parentRunId": parent}, run_name="v001-seed42").info.run_id
    client.log_param(base, "model.use_spp", "False")

    load_script("benchmarks/spp_tables.py").main(["--storage", str(storage), "--search", "s"])
    out = capsys.readouterr().out
    assert (
        "| c001-seed42 | manual | softmax | softmax | all | 11.7 | 0.012 → 0.0101 | 0.0783 → 0.0156 | – | "
        "7.4 → 11.0 % (9.9 %) | 72.22 |" in out
    )
    assert "v001-seed42" not in out
