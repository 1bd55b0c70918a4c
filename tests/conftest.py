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
    from selfre.encoders.presets import build_tiny_encoder

    return build_tiny_encoder(
        TINY_TEXTS, tmp_path_factory.mktemp("tiny-encoder"), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
