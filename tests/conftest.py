"""Test-wide settings: offline HuggingFace, a per-session preset cache, one torch thread per xdist worker."""

from __future__ import annotations

import os

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
