"""moto's S3 server on loopback, and the environment that points boto3 (and MLflow) at it.

Credentials are dummy values in environment variables only: ~/.aws and instance metadata are switched off,
so a test can never reach a real account.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from selfre.env_overlay import overlay_environ


def aws_env_vars(endpoint: str, tmp: Path, key_id: str = "testing", secret: str = "testing") -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


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


def environ(values: dict[str, str]):
    """os.environ pointing at the moto server, with any session token or profile of the caller's removed,
    restored afterwards (for module-scoped fixtures, where pytest's monkeypatch is not available)."""
    return overlay_environ(values, drop=("AWS_SESSION_TOKEN", "AWS_PROFILE"))
