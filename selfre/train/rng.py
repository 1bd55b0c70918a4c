"""Random streams of one training process: seeding per rank, and the state a checkpoint keeps.

Every rank starts from `train.seed` so that whatever is built before DDP wraps the model (and whatever
the ranks must agree on) is drawn identically. Then each rank r > 0 switches to its own stream, seeded
from (seed, r): otherwise DDP ranks would draw identical dropout masks. Rank 0 keeps the `train.seed`
stream, so a 1-worker run draws exactly what it drew before streams were per rank.

The CUDA part of the state is that of the process's own device only: a process may see more GPUs than
the one it trains on (all 8 of a node under torchrun or in a Ray worker), and a checkpoint must resume
where fewer are visible.
"""

from __future__ import annotations

import logging
import random

import numpy as np
import torch

log = logging.getLogger(__name__)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every visible CUDA device


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank `rank`'s stream: `seed` itself for rank 0, a hash of (seed, rank) otherwise
    (32 bits: numpy's legacy seeding takes no more)."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def use_rank_stream(seed: int, rank: int) -> None:
    """Switch this process to rank `rank`'s own stream (nothing to do on rank 0: it continues `seed`'s)."""
    if rank:
        seed_all(rank_seed(seed, rank))


def rng_state(device: torch.device) -> dict:
    """This process's random state: Python, numpy, torch CPU and, on a CUDA device, that device's."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }


def set_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if isinstance(cuda, list):  # checkpoints written before: one state per visible device
        index = device.index or 0
        cuda = cuda[index] if index < len(cuda) else None
    if cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda, device)


def restore_rank_state(saved: dict, rank: int, seed: int, step: int, device: torch.device) -> None:
    """Restore rank `rank`'s state from a checkpoint's `rng` entry: {"ranks": [state per rank]} or, from
    checkpoints written before, rank 0's state alone. A rank the checkpoint holds no state for (the run
    resumes with more workers than it had) starts a fresh stream seeded from (seed, rank, step)."""
    states = saved["ranks"] if "ranks" in saved else [saved]
    if rank < len(states):
        set_rng_state(states[rank], device)
        return
    log.warning(
        "the checkpoint holds no random state for rank %d (it was written by %d rank(s)): seeding a new stream",
        rank,
        len(states),
    )
    seed_all(int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0]))
