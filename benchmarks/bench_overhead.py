#!/usr/bin/env python
"""What the search platform costs per trial: the same training run bare (`selfre train`) versus as a
search trial (Tune trial -> TorchTrainer -> DDP workers -> checkpoints to storage), at equal work.

    .venv/bin/python benchmarks/bench_overhead.py                      # short and longer trials, 1 and 2 workers
    .venv/bin/python benchmarks/bench_overhead.py --sizes short --workers 1 --trials 3

Equal work: same data slice, epochs, seeds and global batch (a 2-worker trial gets half the batch per
worker, so both take the same optimizer steps). Bare = wall time of the `selfre train` command
(interpreter start and imports included), one thread. Trial = the search's fit time divided by its
trials (one configuration x N seeds, FIFO, one trial at a time); Ray's own start-up is reported
separately since a search pays it once. Prints a table; --json FILE also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES = {  # name -> (epochs, training examples, dev/test examples)
    "short": (1, 200, 100),
    "longer": (4, 800, 200),
    "minute": (4, 2800, 200),  # ~60 s bare on a quiet 2-core machine: the 60-80 s trial of docs/benchmarks.md
}
BATCH = 16  # global batch per optimizer step
SEEDS = (42, 52, 62, 72, 82)


def bare_seconds(data_dir: Path, size: str, seed: int, out: Path) -> float:
    epochs, n_train, n_eval = SIZES[size]
    cmd = [
        sys.executable,
        "-m",
        "selfre",
        "train",
        "--out",
        str(out),
        "--dataset",
        "demo",
        "--data-dir",
        str(data_dir),
        "--model",
        "tiny",
        "--epochs",
        str(epochs),
        "--max-train-examples",
        str(n_train),
        "--max-eval-examples",
        str(n_eval),
        "--max-seq-length",
        "64",
        "--batch-size",
        str(BATCH),
        "--lr",
        "3e-3",
        "--seed",
        str(seed),
        "--num-threads",
        "1",
        "--no-progress",
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def trial_seconds(
    data_dir: Path, size: str, workers: int, trials: int, storage: Path, tracking: str
) -> tuple[float, int]:
    from selfre.search.plan import build_plan
    from selfre.search.runner import run_search

    epochs, n_train, n_eval = SIZES[size]

    def same_work(cfg):
        cfg.data.data_dir, cfg.data.max_train_examples, cfg.data.max_eval_examples = str(data_dir), n_train, n_eval
        cfg.train.epochs, cfg.train.batch_size, cfg.train.learning_rate = (
            epochs,
            BATCH,
            3e-3,
        )  # global batch: W-independent
        return cfg

    # One configuration (a one-point space) repeated over seeds: only the platform varies, not the work.
    plan = build_plan(
        "demo",
        REPO / "tune" / "configs",
        apply_run_overrides=same_work,
        storage_root=str(storage),
        name=f"bench-{size}-w{workers}-{tracking}",
        tracking_uri="none" if tracking == "none" else None,
        search_overrides={
            "num_samples": 1,
            "seeds": list(SEEDS[:trials]),
            "scheduler": "fifo",
            "workers_per_trial": workers,
            "max_concurrent": 1,
        },
    )
    plan.search.space = {"model.weighting": {"choice": ["manual"]}}
    start = time.perf_counter()
    outcome = run_search(plan)
    elapsed = time.perf_counter() - start
    return elapsed / trials, outcome.summary["num_trials"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="short,longer", help=f"Comma list of {', '.join(SIZES)} (default: both).")
    p.add_argument("--workers", default="1,2", help="Comma list of workers per trial (default: 1,2).")
    # 4: the best model's registration, paid once per search, is then not charged to two trials.
    p.add_argument("--trials", type=int, default=4, help="Trials (seeds) per measurement (default: 4).")
    p.add_argument(
        "--tracking",
        default="none,embedded",
        help="Comma list: none (--tracking-uri none) and/or embedded (the default SQLite MLflow store: child "
        "runs, per-epoch metrics, plots, and the best model registered once per search). Default: both.",
    )
    p.add_argument("--json", metavar="FILE", help="Also write the figures as JSON.")
    args = p.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    workers = [int(w) for w in args.workers.split(",") if w]
    trackings = [t for t in args.tracking.split(",") if t]
    if any(t not in ("none", "embedded") for t in trackings):
        p.error("--tracking takes none and/or embedded")
    if any(s not in SIZES for s in sizes) or not 1 <= args.trials <= len(SEEDS):
        p.error(f"--sizes must be from {', '.join(SIZES)}; --trials 1..{len(SEEDS)}")
    logging.basicConfig(level=logging.WARNING)

    work = Path(tempfile.mkdtemp(prefix="selfre-bench-"))
    os.environ.setdefault("SELFRE_CACHE_DIR", str(work / "cache"))
    from selfre.data.demo import generate_demo

    data_dir = work / "demo"
    generate_demo(data_dir, n_train=max(n for _, n, _ in SIZES.values()), n_dev=200, n_test=200)

    import ray

    from selfre.search.ray_session import apply_embedded_env
    from selfre.search.resources import embedded_cpus

    apply_embedded_env()  # the embedded default's Ray Train settings and sizing
    start = time.perf_counter()
    ray.init(num_cpus=embedded_cpus(), logging_level=logging.WARNING)
    ray_start = time.perf_counter() - start
    rows = []
    try:
        for size in sizes:
            # The first `tiny` run builds the preset into the cache; do it before timing anything.
            bare_seconds(data_dir, size, SEEDS[0], work / "warm")
            bare = statistics.fmean(
                bare_seconds(data_dir, size, s, work / f"bare-{size}-{s}") for s in SEEDS[: args.trials]
            )
            for w in workers:
                for tracking in trackings:
                    per_trial, n = trial_seconds(data_dir, size, w, args.trials, work / "runs", tracking)
                    rows.append(
                        {
                            "size": size,
                            "epochs": SIZES[size][0],
                            "train_examples": SIZES[size][1],
                            "workers": w,
                            "tracking": tracking,
                            "trials": n,
                            "bare_s": bare,
                            "trial_s": per_trial,
                            "overhead_s": per_trial - bare,
                            "ratio": per_trial / bare,
                        }
                    )
    finally:
        ray.shutdown()

    print(f"\nRay start-up (once per search): {ray_start:.1f} s; cpus: {os.cpu_count()}\n")
    print(
        f"{'trial':<8} {'epochs':>6} {'train':>6} {'workers':>7} {'MLflow':>8} {'bare s':>8} {'trial s':>8} {'overhead s':>10} {'ratio':>6}"
    )
    for r in rows:
        print(
            f"{r['size']:<8} {r['epochs']:>6} {r['train_examples']:>6} {r['workers']:>7} {r['tracking']:>8} {r['bare_s']:>8.1f} "
            f"{r['trial_s']:>8.1f} {r['overhead_s']:>10.1f} {r['ratio']:>6.2f}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"ray_start_s": ray_start, "cpus": os.cpu_count(), "rows": rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
