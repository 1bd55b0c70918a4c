"""The offline `tiny` preset: built once, cached complete, and identical whichever process builds it."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from selfre.model import presets

TEXTS = ["Alice Smith works for Acme Corp in Paris .", "Bob Jones was born in Lyon in 1970 ."] * 20


def _build_in_group(rank: int, world: int, init_file: str, out_root: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        presets.build_tiny_encoder(TEXTS, Path(out_root) / f"rank{rank}", vocab_size=400)
    finally:
        dist.destroy_process_group()


def test_rank_one_of_a_process_group_writes_the_weights_too(tmp_path):
    """transformers 5's save_pretrained writes nothing on ranks != 0; a preset first built inside a DDP
    worker of rank 1 must still be cached with its weights (and the same weights as rank 0's)."""
    mp.spawn(_build_in_group, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        folder = tmp_path / f"rank{rank}"
        assert sorted(f for f in presets.PRESET_FILES if (folder / f).is_file()) == sorted(presets.PRESET_FILES)
    w0 = load_file(str(tmp_path / "rank0" / presets.WEIGHTS_FILE))
    w1 = load_file(str(tmp_path / "rank1" / presets.WEIGHTS_FILE))
    assert w0.keys() == w1.keys() and "embeddings.word_embeddings.weight" in w0
    assert all(torch.equal(w0[k], w1[k]) for k in w0)


def test_an_incomplete_cached_preset_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFRE_CACHE_DIR", str(tmp_path))
    folder = Path(presets.resolve_encoder("tiny", lambda: TEXTS))
    (folder / presets.WEIGHTS_FILE).unlink()  # a build interrupted before its weights were written
    assert Path(presets.resolve_encoder("tiny", lambda: TEXTS)) == folder
    assert (folder / presets.WEIGHTS_FILE).is_file()
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), add_pooling_layer=False)
    saved = load_file(str(folder / presets.WEIGHTS_FILE))
    loaded = model.state_dict()
    assert loaded.keys() == saved.keys()  # every weight found under its name: nothing left randomly initialised
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]  # no build folder left behind
