"""Before any trial starts: is the tracking store (and its artifact store) usable? Else stop with a clear message.

`preflight(uri)` makes a real round trip: it creates the experiment if needed, starts a throw-away run,
logs a small artifact, reads it back and deletes the run. That exercises the server, its auth, its
database and the artifact bucket (S3 / MinIO, direct or proxied by `--serve-artifacts`) — a plain
/health check would pass with a broken bucket.

Embedded default (`default_tracking(storage_root)`): no `--tracking-uri` -> `mlflow.db` (SQLite) and
`mlartifacts/` in the search storage root (`--storage`, e.g. `runs/search/mlflow.db`: one store for every search
stored there, not one per search folder); `ui_command` is printed so the user can open them.
"""

from __future__ import annotations

import shlex
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from selfre.env_overlay import overlay_environ
from selfre.errors import SelfreError
from selfre.redact import redact

# Per request. Connection refused and DNS errors fail at once whatever this is; it only bounds a server that
# accepts and then stalls, so it is generous: a small server under load (basic auth hashes every request's
# password) can take several seconds for a request that is not lost.
TIMEOUT_S = 30
UI_HOST, UI_PORT = "127.0.0.1", 5000  # where ui_command serves an embedded store (links.py builds links to it)


class TrackingUnavailable(SelfreError):
    pass


def default_tracking(storage_root: str | Path) -> tuple[str, str]:
    """-> (tracking URI, artifact location) inside the search's local storage root."""
    folder = Path(storage_root).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    return uri, artifacts_beside(uri)


def artifacts_beside(tracking_uri: str) -> str | None:
    """A database store has no artifact server: without a location, MLflow puts artifacts in `./mlruns` of
    whichever process logs — each Ray worker's own working directory. Keep them in `mlartifacts/` next to the
    database file instead. Servers (http[s]://) decide for themselves: None."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()


def ui_command(tracking_uri: str) -> str:
    return f"mlflow ui --backend-store-uri {shlex.quote(tracking_uri)} --host {UI_HOST} --port {UI_PORT}"


def preflight(tracking_uri: str, experiment: str = "selfre-preflight", artifact_location: str | None = None) -> None:
    where = redact(tracking_uri)
    if tracking_uri.startswith(("http://", "https://")):
        _health(tracking_uri.rstrip("/"), where)
    with _quick_http():
        _round_trip(tracking_uri, experiment, artifact_location, where)


def _quick_http():
    """Fail in seconds, not after minutes of retries — for the preflight only: the driver's environment is
    inherited by local Ray workers, whose logging should keep MLflow's default retries."""
    return overlay_environ(
        {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(TIMEOUT_S)}, keep_existing=True
    )


def _round_trip(tracking_uri: str, experiment: str, artifact_location: str | None, where: str) -> None:
    from mlflow.tracking import MlflowClient

    from selfre.tracking.parent import experiment_id

    client = MlflowClient(tracking_uri)
    try:
        exp_id = experiment_id(client, experiment, artifact_location)
        run = client.create_run(exp_id, tags={"mlflow.runName": "preflight"})
    except Exception as exc:  # noqa: BLE001
        raise TrackingUnavailable(f"MLflow tracking store {where} is not usable: {_first_line(exc)}") from exc
    try:
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / "preflight.txt"
            probe.write_text("selfre preflight\n")
            client.log_artifact(run.info.run_id, str(probe))
            back = Path(client.download_artifacts(run.info.run_id, "preflight.txt", tmp + "/back"))
            if back.read_text() != "selfre preflight\n":
                raise TrackingUnavailable("artifact read back differs")
    except Exception as exc:  # noqa: BLE001
        raise TrackingUnavailable(
            f"MLflow artifact store of {where} (location {redact(run.info.artifact_uri)}) is not usable: {_first_line(exc)}. "
            "Check the bucket exists and the server (or this machine) has credentials for it."
        ) from exc
    finally:
        try:
            client.delete_run(run.info.run_id)
        except Exception:  # noqa: BLE001, S110
            pass


def _health(base: str, where: str) -> None:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=TIMEOUT_S) as resp:
            if resp.status != 200:
                raise TrackingUnavailable(f"MLflow server {where} answered /health with HTTP {resp.status}")
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingUnavailable(
            f"MLflow server {where} is unreachable ({_first_line(exc)}); start it (mlflow/launch.sh or "
            "cluster/start_mlflow.sh) or omit --tracking-uri for the embedded local store"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
