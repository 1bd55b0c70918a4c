"""The production recipe's auth: `mlflow server --app-name basic-auth` with mlflow/basic_auth.ini (its
database_uri pointed at SQLite). Preflight fails fast and clearly without credentials, passes with
MLFLOW_TRACKING_USERNAME/PASSWORD from the environment, and the password never lands in the run."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("flask_wtf", reason="the basic-auth app needs mlflow[auth] (Flask-WTF)")

from mlflow.tracking import MlflowClient  # noqa: E402
from tracking_support import start_server, stop  # noqa: E402

from selfre.tracking import preflight  # noqa: E402

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = "auth-test-Pa55word-never-logged"
INI = Path(__file__).resolve().parents[1] / "mlflow" / "basic_auth.ini"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-auth")
    ini = configparser.ConfigParser()
    ini.read(INI)
    assert ini["mlflow"]["database_uri"].startswith("postgresql://") and "admin_password" not in ini["mlflow"]
    ini["mlflow"]["database_uri"] = f"sqlite:///{folder / 'auth.db'}"
    with open(folder / "basic_auth.ini", "w") as fh:
        ini.write(fh)
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(folder / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
    }
    proc, uri = start_server(folder, extra_args=["--app-name", "basic-auth"], env=env)
    yield uri
    stop(proc)


def test_preflight_needs_credentials_from_the_environment(auth_server, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    with pytest.raises(preflight.TrackingUnavailable, match="not usable") as err:
        preflight.preflight(auth_server, experiment="auth-demo")
    assert ADMIN_PASSWORD not in str(err.value)

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    preflight.preflight(auth_server, experiment="auth-demo")
    from selfre.tracking.parent import start_search

    run_id = start_search(auth_server, "auth-demo", "auth-search", "demo", {"tracking_uri": auth_server})
    run = MlflowClient(auth_server).get_run(run_id)
    assert ADMIN_PASSWORD not in str(run.data.params) + str(run.data.tags)
