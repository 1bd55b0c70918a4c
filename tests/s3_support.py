"""moto's S3 server on loopback, and the environment that points boto3 (and MLflow) at it.

Credentials are dummy values in environment variables only: ~/.aws and instance metadata are switched off,
so a test can never reach a real account.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def aws_env_vars(endpoint: str, tmp: Path, key_id: str = "testing", secret: str = "testing") -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint, "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"), "AWS_EC2_METADATA_DISABLED": "true",
    }  # fmt: skip


@contextlib.contextmanager
def moto_endpoint() -> Iterator[str]:
    """A ThreadedMotoServer on 127.0.0.1 with a free port; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def environ(values: dict[str, str], drop: tuple[str, ...] = ("AWS_SESSION_TOKEN", "AWS_PROFILE")) -> Iterator[None]:
    """os.environ with `values` set and `drop` removed, restored afterwards (for module-scoped fixtures,
    where pytest's monkeypatch is not available)."""
    saved = {k: os.environ.get(k) for k in (*values, *drop)}
    os.environ.update(values)
    for k in drop:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
