"""selfre.tracking pieces that need no server: metric names, params, plots, parent tables."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("matplotlib")

from selfre.config import RunConfig, flatten  # noqa: E402
from selfre.tracking import parent, plots, preflight  # noqa: E402
from selfre.tracking.names import metric_names, relation_metric_key, sanitize  # noqa: E402
from selfre.tracking.params import dict_params, redact, run_params  # noqa: E402


def test_metric_names_are_mlflow_safe_unique_and_documented():
    from mlflow.utils.validation import _validate_metric_name

    labels = ["per:city_of_birth", "org:top_members/employees", "Cause-Effect(e1,e2)", "a:b", "a.b", "no_relation", "))"]
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

    per_rel = {"per:title": {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 3},
               "no_relation": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 0}}  # fmt: skip
    conf = {"labels": ["a", "b"], "errors": [2, 2], "matrix": [[3, 2], [0, 1]], "pairs": []}
    for fig in (plots.per_relation_f1(per_rel), plots.confusion_top(conf), plots.confusion_top({"labels": [], "matrix": []}),
                plots.gate_heatmap(np.random.rand(5, 4), list("abcde"), "g"),
                plots.spp_vs_iel(np.full(5, 0.2), np.array([0, 1, 1, 0, 0.0]), list("abcde"), "s"),
                plots.lambda_curve([{"lambda": 0.2, "mean": 0.5, "std": 0.1, "label": "dev F1"},
                                    {"lambda": 0.8, "mean": 0.6, "std": 0.0, "label": "dev F1"}])):  # fmt: skip
        assert _png(fig).startswith(b"\x89PNG")


def _summary():
    def conf(cid, lam, dev, status="complete"):
        trials = [{"config_id": cid, "seed": s, "status": status,
                   "metrics": {"best_epoch": 1, "dev_f1": dev, "test_precision": 0.5, "test_recall": 0.5, "test_f1": 0.5,
                               "test_pc_f1": 0.4}} for s in (1, 2)]  # fmt: skip
        stat = {"mean": dev, "std": 0.01}
        return {"config_id": cid, "status": status, "params": {"model.spp_lambda": lam}, "trials": trials,
                "dev_f1": stat, "test_precision": stat, "test_recall": stat, "test_f1": stat, "test_pc_f1": stat}  # fmt: skip

    configs = [conf("c0", 0.4, 0.6), conf("c1", 0.8, 0.5), conf("c2", 1.0, float("nan"), "pruned")]
    return {"configurations": configs, "best": configs[0], "seeds": [1, 2]}


def test_lambda_points_and_seed_table():
    s = _summary()
    points = parent.lambda_points(s)
    assert {(p["lambda"], p["label"]) for p in points} == {(0.4, "dev F1"), (0.4, "test F1"), (0.8, "dev F1"), (0.8, "test F1")}
    table = parent.seeds_markdown(s["best"])
    assert table.splitlines()[2].startswith("| 1 | 1 | 60.00 |") and "60.00 ± 1.00" in table


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
    """Every run logs model.spp_lambda, but under uncertainty weighting or without SPP it is inert: the
    report's Table 5 shows '-' there and the λ curve leaves those configurations out."""
    from selfre.tracking.report import Config, lambda_points, table5

    seed = {1: {"best_dev_f1": 0.5, "test_f1": 0.4, "test_precision": 0.4, "test_recall": 0.4}}
    manual = Config("s/c1", {"model.spp_lambda": "0.7", "model.weighting": "manual", "model.use_spp": "True"}, seed)
    learned = Config("s/c2", {"model.spp_lambda": "0.4", "model.weighting": "uncertainty", "model.use_spp": "True"}, seed)
    no_spp = Config("s/c3", {"model.spp_lambda": "0.4", "model.weighting": "manual", "model.use_spp": "False"}, seed)
    rows = table5([manual, learned, no_spp]).splitlines()[2:]
    assert [r.split(" | ")[1] for r in rows] == ["0.7", "-", "-"]
    assert {p["lambda"] for p in lambda_points([manual, learned, no_spp])} == {0.7}
