"""Efficiency benchmark of the four ablation variants (paper Table 9): `selfre bench`."""

from selfre.bench.runner import BenchSettings, run_benchmark

__all__ = ["BenchSettings", "run_benchmark"]
