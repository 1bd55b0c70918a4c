"""The Ray session a search runs in: the embedded in-process cluster, an existing cluster
(`--address auto` or `host:port`), or whatever session the caller already opened (tests, notebooks).

Two things this Ray needs that are easy to miss:
  * the dashboard (`ray[default]`): Ray Train uses its state API to clean up the workers of trials
    that Tune stops early; without it those workers linger and hold their CPUs.
  * token authentication, on by default for local clusters in this Ray: `ray.init()` creates a token
    (~/.ray/auth_token) for the embedded cluster by itself. Joining is different: a client whose
    RAY_AUTH_MODE is unset sends no token even when it has one, and a token cluster refuses it — after
    ~20 s of retries, as a plain ConnectionError. Sending a token to a cluster without auth is no fix
    either: it connects, but its actors never start. So a join is tried as configured first; if refused
    while RAY_AUTH_MODE is unset and a token is available (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
    ~/.ray/auth_token), it is retried once in token mode. Set RAY_AUTH_MODE=token to skip the wait.
    Tokens are never printed or logged here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator

from selfre.errors import ConfigError
from selfre.redact import redact
from selfre.search.resources import embedded_cpus

log = logging.getLogger(__name__)

# Ray Train settings for the embedded (single-machine) cluster, unless already set in the environment.
# Set before ray.init so every Ray process inherits them. Each cuts per-trial overhead, which dominates
# short trials (the figures: docs/benchmarks.md):
#   * the controller polls workers for reports and exit every 2 s by default: a trial's end and each
#     report reach Tune up to 2 s late;
#   * the preemption watcher, an extra actor process per trial, watches for cloud nodes being drained,
#     which cannot happen to the machine the search itself runs on.
EMBEDDED_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}
# The embedded cluster's raylet already starts one idle Python worker per logical CPU; by default it starts more
# when the driver connects. Ray Train's controllers and workers carry their own runtime env and can use none of
# them, so they would only hold memory and CPU.
EMBEDDED_SYSTEM_CONFIG = {"prestart_worker_first_driver": False}


# Ray Train's placement-group cleaner (and Ray's state API generally) find "their" cluster by scanning this
# machine for running GCS servers unless RAY_ADDRESS is set. With two embedded clusters on one machine (two
# searches, or a search beside a test run) that scan fails ("Found multiple active Ray instances"), and
# stopped trials' workers are never cleaned up. Every worker process of the embedded cluster therefore pins
# RAY_ADDRESS to its own cluster as it starts (a Ray worker setup hook, given by import path).
ADDRESS_HOOK = "selfre.search.ray_session.pin_ray_address"


def pin_ray_address() -> None:
    import ray

    if not os.environ.get("RAY_ADDRESS") or os.environ["RAY_ADDRESS"] == "auto":
        os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address


def apply_embedded_env() -> None:
    for key, value in EMBEDDED_ENV.items():
        os.environ.setdefault(key, value)


def _send_token_if_available() -> bool:
    """RAY_AUTH_MODE=token for this process and its children, if a token is available (module doc)."""
    try:
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    except ImportError:  # a Ray without token auth: nothing to send
        return False
    return maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _check_dashboard_deps() -> None:
    if importlib.util.find_spec("aiohttp") is None or importlib.util.find_spec("ray.dashboard") is None:
        raise ConfigError(
            "Ray's dashboard is not installed; Ray Train needs it to clean up stopped trials' workers. "
            "Install the search extra: pip install -e '.[search]' (it pins ray[default,train,tune])"
        )


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[dict[str, float]]:
    """Yields the cluster's total resources; shuts Ray down afterwards only if it started it here."""
    import ray
    from ray.exceptions import AuthenticationError

    if ray.is_initialized():
        yield ray.cluster_resources()
        return
    _check_dashboard_deps()
    where = f"--address {redact(address)}" if address else "the embedded Ray cluster"
    kwargs = (
        {"address": address}
        if address
        else {
            "num_cpus": embedded_cpus(),
            "include_dashboard": True,
            "runtime_env": {"worker_process_setup_hook": ADDRESS_HOOK},
            "_system_config": EMBEDDED_SYSTEM_CONFIG,
        }
    )
    if not address:
        apply_embedded_env()
    try:
        try:
            ray.init(**kwargs, logging_level=logging.WARNING)
        except ConnectionError:
            if not address or "RAY_AUTH_MODE" in os.environ or not _send_token_if_available():
                raise
            log.warning(
                "%s refused a connection without a token; retrying with this machine's token "
                "(set RAY_AUTH_MODE=token to skip this wait)",
                where,
            )
            ray.init(**kwargs, logging_level=logging.WARNING)
    except AuthenticationError:
        raise ConfigError(
            f"{where}: the cluster requires token authentication and this machine has no matching token. "
            "Copy the cluster's token (`ray get-auth-token` on its head node) into ~/.ray/auth_token or a "
            "file named by RAY_AUTH_TOKEN_PATH, or start the cluster with RAY_AUTH_MODE=disabled."
        ) from None
    except ConnectionError:
        token = os.environ.get("RAY_AUTH_MODE") == "token"
        raise ConfigError(
            f"{where}: could not connect. Check that a cluster runs there (`ray start --head`), or leave --address out "
            "to run in-process. If the cluster uses token authentication, "
            + ("the token this machine sent was refused: " if token else "run with RAY_AUTH_MODE=token and ")
            + "copy the cluster's token (`ray get-auth-token` on its head node) into ~/.ray/auth_token or a file named "
            "by RAY_AUTH_TOKEN_PATH."
        ) from None
    try:
        log.info("Ray %s: %s", "joined" if address else "started in-process", ray.cluster_resources())
        yield ray.cluster_resources()
    finally:
        ray.shutdown()
