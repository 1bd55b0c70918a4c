"""Links into MLflow's UI (selfre.tracking.links): the address for each kind of tracking URI, the pages' URL
forms, and those forms checked against the installed MLflow UI's own routes, so an MLflow upgrade that moves a
page fails here instead of printing dead links."""

from __future__ import annotations

from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")

from selfre.tracking import links, preflight  # noqa: E402

UI_JS = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"


@pytest.mark.parametrize(
    ("uri", "base"),
    [
        ("sqlite:////runs/search/mlflow.db", "http://127.0.0.1:5000"),  # what `mlflow ui` of an embedded store serves
        ("http://10.0.1.5:5000", "http://10.0.1.5:5000"),
        ("http://10.0.1.5:5000/", "http://10.0.1.5:5000"),
        ("https://admin:s3cret@mlflow.example.org/tracking/?x=1", "https://mlflow.example.org/tracking"),  # no login
        ("http://[::1]:5000", "http://[::1]:5000"),
        ("databricks", None),
        ("file:///tmp/mlruns", None),
    ],
)
def test_ui_address_of_each_tracking_uri(uri, base):
    assert links.ui_base(uri) == base


def test_embedded_links_match_the_printed_ui_command():
    command = preflight.ui_command("sqlite:////x/mlflow.db")
    assert command.endswith(f"--host {preflight.UI_HOST} --port {preflight.UI_PORT}")
    assert links.ui_base("sqlite:////x/mlflow.db") == f"http://{preflight.UI_HOST}:{preflight.UI_PORT}"


def test_page_links_and_lines():
    assert (
        links.experiment_runs("http://h:5000", "7")
        == "http://h:5000/#/experiments/7/runs?workflowType=machine_learning"
    )
    assert links.registered_model("http://h:5000", "main.selfre.demo") == "http://h:5000/#/models/main.selfre.demo"
    assert links.registered_model("http://h:5000", "my model") == "http://h:5000/#/models/my%20model"
    assert links.lines("http://h:5000", "7", ["selfre-tacred"]) == [
        "MLflow UI, training runs: http://h:5000/#/experiments/7/runs?workflowType=machine_learning",
        "MLflow UI, registered model selfre-tacred: http://h:5000/#/models/selfre-tacred",
    ]
    assert links.lines("databricks", "7", ["m"]) == []
    assert "s3cret" not in " ".join(links.lines("http://admin:s3cret@h:5000", "7", ["m"]))


def test_the_installed_ui_has_these_routes_and_reads_the_view_from_the_link():
    bundle = "".join(p.read_text(encoding="utf-8", errors="replace") for p in UI_JS.glob("main.*.js"))
    assert bundle, f"no MLflow UI bundle in {UI_JS}"
    assert '"/experiments/:experimentId/runs"' in bundle and '"/models/:modelName"' in bundle
    # The sidebar's view: the link's workflowType parameter first, else the browser's stored choice (GenAI).
    assert 'key:"mlflow.workflowType"' in bundle and 'get("workflowType")' in bundle
    assert f'MACHINE_LEARNING="{links.TRAINING_VIEW.split("=")[1]}"' in bundle
