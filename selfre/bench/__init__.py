"""Efficiency benchmark of the four ablation variants (paper Table 9): `selfre bench`.

settings.py (BenchSettings, light: the CLI's defaults) and runner.py (run_benchmark, imports torch) are
imported directly; this package imports neither, so `selfre bench --help` stays fast."""
