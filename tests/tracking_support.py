"""Helpers for tests/test_tracking_*.py: a real `mlflow server` on loopback and a tiny trained checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from support import free_port

MLFLOW = str(Path(sys.executable).with_name("mlflow"))
# `mlflow models serve` execs `uvicorn` by name: the venv's bin must be on PATH even when it is not activated.
ENV_PATH = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


def start_server(folder: Path, artifacts_destination: str | None = None, env: dict | None = None, extra_args=()):
    """-> (Popen, tracking URI), up. SQLite backend, artifacts proxied by the server (--serve-artifacts)."""
    proc, uri = launch_server(folder, artifacts_destination, env, extra_args)
    return wait_server(proc, uri, folder), uri


def wait_server(proc: subprocess.Popen, uri: str, folder: Path) -> subprocess.Popen:
    """The server's first start creates its SQLite schema, which takes tens of seconds and more on a loaded
    machine: tests launch it, do their own slow work meanwhile, then wait here (up to 300 s)."""
    try:
        wait_http(f"{uri}/health", proc, 300, folder / "server.log")
    except Exception:
        stop(proc)
        raise
    return proc


def launch_server(folder: Path, artifacts_destination: str | None = None, env: dict | None = None, extra_args=()):
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "server.log"
    cmd = [
        MLFLOW,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        artifacts_destination or str(folder / "artifacts"),
        *extra_args,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **ENV_PATH, **(env or {})},
        start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (start_new_session): its workers too
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def tiny_config(tmp: Path, out: str = "run", seed: int = 42):
    from selfre.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from selfre.data.demo import generate_demo

    data = tmp / "demo-data"
    if not data.exists():
        generate_demo(data, n_train=120, n_dev=40, n_test=40)
    return RunConfig(
        data=DataConfig(dataset="demo", data_dir=str(data), max_seq_length=64),
        model=ModelConfig(model_name_or_path="tiny"),
        train=TrainConfig(epochs=1, batch_size=16, progress=False, seed=seed),
        out_dir=str(tmp / out),
    )
