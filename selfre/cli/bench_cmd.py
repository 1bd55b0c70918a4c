"""`selfre bench`: cost of baseline / +SPP / +HR / SELF on one encoder (the paper's Table 9)."""

from __future__ import annotations

import json
import sys

from selfre.bench.settings import BenchSettings
from selfre.config_flags import add_field_flags, given
from selfre.errors import ConfigError


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
    add_field_flags(p, BenchSettings)
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

    settings = BenchSettings(**given(args, BenchSettings))
    try:
        result = run_benchmark(settings, progress=lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_markdown(result) if args.markdown else format_table(result))
    return 0
