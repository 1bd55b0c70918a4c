"""Test-wide settings: offline HuggingFace, a per-session preset cache, one torch thread per xdist worker."""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from pathlib import Path

import pytest
import torch

# Never reach for the hub: every encoder in tests is built offline or shipped in a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Two xdist workers on two cores: more threads per worker only thrash.
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _selfre_cache(tmp_path_factory):
    """Presets (the `tiny` encoder) are built into a session temp folder, never the user's cache."""
    path = tmp_path_factory.getbasetemp() / "selfre-cache"
    os.environ["SELFRE_CACHE_DIR"] = str(path)
    yield path


# Sentences the tiny byte-level BPE tokenizer is trained on (marker characters included, each line twice so
# that frequent words become single tokens while unseen names split into several sub-words).
TINY_TEXTS = [
    "@ * person * Bill Gates @ founded # ^ organization ^ Microsoft # in 1975 .",
    "# ^ organization ^ Microsoft # was founded by @ * person * Bill Gates @ .",
    "@ Alice Smith @ works for # Acme Corp # in the city of Paris and London .",
    "[E1] Bob [/E1] lives in [E2] London [/E2] with his family and friends .",
    "the company and the founder and the city and the state or province .",
] * 2


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory):
    """A random RoBERTa (d=32, 2 layers, 2 heads, no dropout) with a byte-level BPE tokenizer, built offline."""
    from selfre.model.presets import build_tiny_encoder

    return build_tiny_encoder(
        TINY_TEXTS,
        tmp_path_factory.mktemp("tiny-encoder"),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


@pytest.fixture(autouse=True)
def _no_leaked_store_or_cluster():
    """Each test starts with the session's MLFLOW_TRACKING_URI / RAY_ADDRESS: selfre reads them as defaults, so a
    value one test leaves behind would send a later test's search to another store or cluster."""
    from selfre.env_overlay import overlay_environ

    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "RAY_ADDRESS")
    # Overlaying each variable with its own value (or "dropping" an unset one) restores it exactly afterwards.
    with overlay_environ(
        {k: os.environ[k] for k in keys if k in os.environ}, drop=[k for k in keys if k not in os.environ]
    ):
        yield


# The modules that use `ray_session` (below). Under `pytest -n N` they all run on one xdist worker, one after the
# other, sharing one Ray session and their session-scoped searches, while the other workers take every other test.
# (xdist's own `--dist loadgroup` cannot do this with pytest 9: its group suffix on node ids is not applied.)
EMBEDDED_RAY_MODULES = frozenset(
    {
        "test_ablation_ray.py",
        "test_search_driver_ray.py",
        "test_search_ray.py",
        "test_tracking_resume.py",
        "test_search_in_trial.py",
        "test_search_trainer.py",
    }
)


@pytest.hookimpl(optionalhook=True)  # `-p no:xdist` runs must still load this conftest
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class EmbeddedRayTogether(LoadScopeScheduling):
        """LoadScope with one unit for the embedded-Ray modules and a unit per test otherwise (as `--dist
        load`). Units are handed out largest first, so the long Ray unit starts at once."""

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            return "embedded_ray" if module in EMBEDDED_RAY_MODULES else nodeid

    return EmbeddedRayTogether(config, log)


RAY_LOCK = Path(tempfile.gettempdir()) / "selfre-search-ray-tests.lock"


@pytest.fixture(scope="session")
def ray_session():
    """One embedded Ray session per test process, sized like the embedded default (num_cpus=3 on 2 cores: trials'
    drivers take a token CPU share, and with half a CPU per worker two 2-worker trials run at once). Started once:
    under xdist every module that uses it runs on one worker (EMBEDDED_RAY_MODULES), so starting and stopping
    Ray per module would be pure cost. It holds an inter-process lock while up, so a plain
    `pytest -p no:xdist`-style runs of several processes still never run two Ray clusters on 2 cores at once."""
    import ray

    from selfre.search.ray_session import ADDRESS_HOOK, EMBEDDED_SYSTEM_CONFIG, apply_embedded_env

    with open(RAY_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        apply_embedded_env()  # as the embedded default would
        # Workers pin RAY_ADDRESS to this cluster, as the embedded default's do: a real search may be running
        # beside the tests, and Ray Train's cleaner refuses to pick between two clusters on one machine.
        ray.init(
            num_cpus=3,
            include_dashboard=True,
            logging_level=logging.WARNING,
            runtime_env={"worker_process_setup_hook": ADDRESS_HOOK},
            _system_config=EMBEDDED_SYSTEM_CONFIG,
        )
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()
            fcntl.flock(lock, fcntl.LOCK_UN)
