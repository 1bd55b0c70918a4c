"""The three instruments of `selfre bench`: a FLOP counter, a timer and a peak-memory meter.

- FLOPs come from `torch.utils.flop_counter.FlopCounterMode` (one multiply-add = 2 FLOPs). Its registry
  knows the CUDA attention kernels but not the CPU flash kernel that `F.scaled_dot_product_attention`
  dispatches to on CPU, which would otherwise count as 0; we add that one with torch's own formulas.
- Times: CUDA events on a GPU (the host clock would only time the kernel launches), `perf_counter` on CPU;
  or, with `clock="cpu"`, the CPU time this process consumed (`process_time`): on a machine shared with
  other jobs that counts the work done rather than the time spent waiting for a core. Use it with one
  torch thread, where no thread ever spins waiting for another.
- Peak memory: on a GPU the caching allocator's own peak. The CPU allocator keeps no statistics, so there
  a dispatch mode adds up the bytes of the tensor storages created inside the measured call and not yet
  freed (weak references tell when a storage dies), and records the maximum.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable

import torch
from torch.utils import flop_counter
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

MB = 2**20


def _cpu_flash_mapping() -> dict:
    """FLOP formulas for the CPU flash-attention ops (absent from torch's registry)."""
    aten = torch.ops.aten
    mapping = {}
    fwd = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    bwd = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)
    if fwd is not None:
        # (query, key, value, ...) -> QKᵀ and PV: the same count as the CUDA kernels.
        mapping[fwd] = lambda q, k, v, *args, out_shape=None, **kw: flop_counter.sdpa_flop_count(q, k, v)
    if bwd is not None:
        mapping[bwd] = lambda g, q, k, v, *args, out_shape=None, **kw: flop_counter.sdpa_backward_flop_count(g, q, k, v)
    return mapping


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs executed by `fn()` (forward, and backward if `fn` runs one)."""
    with flop_counter.FlopCounterMode(display=False, custom_mapping=_cpu_flash_mapping()) as counter:
        fn()
    return int(counter.get_total_flops())


class Timer:
    """Milliseconds taken by one call: CUDA events on a GPU; on CPU the wall clock or the process's CPU time."""

    def __init__(self, device: torch.device, clock: str = "wall"):
        if clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', not {clock!r}")
        self.cuda = device.type == "cuda"
        self.now = time.process_time if clock == "cpu" else time.perf_counter

    def __call__(self, fn: Callable[[], object]) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        t0 = self.now()
        fn()
        return (self.now() - t0) * 1e3


class _LiveTensorBytes(TorchDispatchMode):
    """Bytes of tensor storages created inside the context and still alive; `peak` is their maximum.

    A storage counts once, from the op that returns it first without having received it as an input
    (so views and in-place results are not new memory), until its last reference dies.
    """

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._tracked: WeakIdKeyDictionary = WeakIdKeyDictionary()

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {id(t.untyped_storage()) for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            st = t.untyped_storage()
            if id(st) in inputs or st in self._tracked:
                continue
            nbytes = st.nbytes()
            self._tracked[st] = nbytes
            weakref.finalize(st, self._free, nbytes)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        return out


def peak_memory_bytes(fn: Callable[[], object], device: torch.device, resident: int) -> int:
    """Peak bytes while `fn()` runs: `resident` (what lives across calls: weights, optimizer state) plus
    the largest amount of memory `fn` itself holds at once (activations, gradients, temporaries)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return resident + torch.cuda.max_memory_allocated(device) - before
    meter = _LiveTensorBytes()
    with meter:
        fn()
    return resident + meter.peak


def tensor_bytes(tensors) -> int:
    """Bytes of distinct storages among `tensors` (tied weights count once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        st = t.untyped_storage()
        seen[st.data_ptr() if st.data_ptr() else id(st)] = st.nbytes()
    return sum(seen.values())
