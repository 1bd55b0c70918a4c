"""What `selfre bench` measures (model, shapes, repetitions, clock). Apart from the runner so the CLI can show
these defaults in `--help` without importing torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from selfre.config import ModelConfig


@dataclass
class BenchSettings:
    model: str = "tiny"
    batch_size: int = 32
    seq_len: int = 128
    repeats: int = 10
    warmup: int = 2
    device: str = "auto"
    spp_kernel: str = field(default_factory=lambda: ModelConfig().spp_kernel)
    threads: int = 0
    clock: str = "wall"  # CPU only: "wall" or "cpu" (process CPU time; see measure.Timer)
    amp: bool = True
    seed: int = 0
