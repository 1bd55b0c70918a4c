"""Data parallelism for the one training loop: who am I, which examples are mine, and torchrun.

The global batch (docs/method.md §6): `train.batch_size` examples per optimizer step whatever the number of
workers W. The epoch's order is one seeded permutation of the whole training set (the same on every
rank and for every W); global batch k is order[k·B:(k+1)·B], and rank r trains on its strided share
batch[r::W]. So the examples that make up each optimizer step never depend on W.

Each rank's loss is scaled by n_r·W/n (n_r its share, n the global batch): DDP averages gradients over
W ranks, so the step sees Σ_r n_r/n · ∇(mean loss over r's share) = the gradient of the mean over the
global batch — exact for the loss forms of docs/method.md §5 (per-example means plus terms that do not depend on
the batch, e.g. Eq. 15's ½s_k), and also for a last, short batch that splits unevenly.

`selfre train` under `torchrun --nproc-per-node N` (no Ray): `init_from_env` reads torchrun's
RANK/WORLD_SIZE/LOCAL_RANK and opens the process group itself (NCCL on GPU, gloo on CPU).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from selfre.errors import ConfigError


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def global_batches(num_examples: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Example indices of each optimizer step of `epoch`: independent of the worker count."""
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    order = torch.randperm(num_examples, generator=g).tolist()
    return [order[s : s + batch_size] for s in range(0, num_examples, batch_size)]


def rank_share(batch: list[int], rank: int, world: int) -> list[int]:
    return batch[rank::world]


def loss_scale(share: int, batch: int, world: int) -> float:
    """Factor on a rank's mean loss so that DDP's gradient average is the global-batch mean (module doc)."""
    return share * world / batch


def all_reduce_sums(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks (the values unchanged without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def init_from_env() -> bool:
    """Open the process group when launched by torchrun (WORLD_SIZE > 1) and none is open yet; returns
    True if it did (the caller then closes it with `close`). Ray's TorchTrainer opens its own."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return False
    if "RANK" not in os.environ or "MASTER_ADDR" not in os.environ:
        raise ConfigError("WORLD_SIZE > 1 but RANK/MASTER_ADDR are unset: launch with torchrun --nproc-per-node N")
    if torch.cuda.is_available():
        torch.cuda.set_device(local_cuda_ordinal(int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


def local_cuda_ordinal(local_rank: int, visible: int) -> int:
    """This process's GPU among the `visible` ones: LOCAL_RANK where every process sees the node's GPUs
    (plain torchrun), 0 where each sees only its own (a per-process CUDA_VISIBLE_DEVICES, as SLURM sets)."""
    if visible == 1:
        return 0
    if 0 <= local_rank < visible:
        return local_rank
    raise ConfigError(
        f"LOCAL_RANK={local_rank} but this process sees {visible} GPUs (CUDA_VISIBLE_DEVICES="
        f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}): let each process see all of the node's GPUs, or only its own"
    )


def close() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
