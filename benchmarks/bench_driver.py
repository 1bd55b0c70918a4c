#!/usr/bin/env python
"""What the search driver costs per trial, and whether that grows with the search's history: the real driver
(`run_search`: SeedRepeater over OptunaSearch TPE, FIFO or SeedGroupASHA, MLflow parent run and one child run per
trial, summary) with a model-free stand-in trainable, for N configurations x S seeds on a local Ray.

    python benchmarks/bench_driver.py --configs 100,300,1000 --seeds 3           # ASHA (the default scheduler)
    python benchmarks/bench_driver.py --configs 100 --scheduler fifo --tracking none
    python benchmarks/bench_driver.py --asha-value --epochs 8 --tracking none        # a grid, FIFO against seed-group ASHA

The stand-in (`stand_in`) is a Tune function trainable like the real one (`selfre.search.trainable.run_trial`):
same resources, same config ({config_id, seed, params}), and per epoch the keys the real worker reports (built by
`selfre.search.worker.epoch_metrics` / `final_metrics` from the core's EpochResult / TrainResult), with the real
MLflow child run (`selfre.tracking.child.hooks`) when tracking is on. Its dev F1 is a deterministic function of the
configuration (`quality`: best at 30% of each range, log-scaled for loguniform) rising over the epochs, plus noise
seeded by (configuration, seed, epoch); test F1 = dev F1 - 0.02. No model, no Ray Train: what is left is the
driver (Tune's loop, searcher, scheduler, experiment-state saves, MLflow parent run, summary) and Tune's per-trial
actor handling.

Printed per size: wall seconds per trial; the driver process's CPU seconds per trial (all its threads: Tune's loop,
Ray's core worker, Optuna, MLflow parent run, summary) — the figure the ≤ 0.2 s/trial target is about; and MLflow
calls per trial (MlflowClient method calls, driver and trials). The growth ratio compares the largest size with
the smallest.

--asha-value: the same grid (every choice, 3 points per numeric range, conditions respected: `grid_points`) run
with FIFO and with the seed-group ASHA; prints the best mean dev score each finds and the trial-epochs each spends.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "tune" / "configs"
COUNTS_FILE = "trials.jsonl"  # in the storage root: one line per trial, {"calls": MLflow calls, "pid": process}
ROW_PREFIX = "BENCH-ROW "


# -- the stand-in trial ---------------------------------------------------------------------------------------
def quality(params: dict, space: list) -> float:
    """Deterministic dev F1 the configuration converges to, in (0.3, 0.9)."""
    q = 0.9
    for p in space:
        if p.key not in params:
            continue
        v = params[p.key]
        if p.kind == "choice":
            q -= 0.03 * (int(hashlib.sha256(repr(v).encode()).hexdigest(), 16) % 3) / 2
        else:
            lo, hi = (math.log(p.values[0]), math.log(p.values[1])) if p.kind == "loguniform" else map(float, p.values)
            x = math.log(v) if p.kind == "loguniform" else float(v)
            q -= 0.25 * ((x - (lo + 0.3 * (hi - lo))) / (hi - lo)) ** 2
    return max(0.3, q)


def dev_curve(params: dict, space: list, seed: int, epochs: int) -> list[float]:
    key = json.dumps(params, sort_keys=True) + f"/{seed}"
    rng = random.Random(int(hashlib.sha256(key.encode()).hexdigest(), 16))
    q = quality(params, space)
    # How fast a configuration learns is not how well it ends: rate r in [0.3, 0.75) from the params alone, so an
    # early rung's ranking is not the final one (else any early stopping would look perfect).
    r = 0.3 + 0.45 * (int(hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest(), 16) % 1000) / 1000
    return [min(1.0, max(0.0, q * (1 - r**e) + rng.gauss(0, 0.01))) for e in range(1, epochs + 1)]


def count_mlflow_calls() -> list[int]:
    """Count MlflowClient method calls in this process (idempotent); -> a one-element counter."""
    from mlflow.tracking import MlflowClient

    if not hasattr(MlflowClient, "_bench_calls"):
        MlflowClient._bench_calls = [0]
        for name in [n for n in vars(MlflowClient) if not n.startswith("_") and callable(getattr(MlflowClient, n))]:
            fn = getattr(MlflowClient, name)

            def counted(*a, __fn=fn, **k):
                MlflowClient._bench_calls[0] += 1
                return __fn(*a, **k)

            setattr(MlflowClient, name, counted)
    return MlflowClient._bench_calls


class _Reporter:
    """The core's TrainHooks protocol -> ray.tune.report, with the worker's own metric builders."""

    def __init__(self, epochs: int):
        self.epochs, self.best = epochs, 0.0

    def on_epoch_end(self, result, checkpoint_dir=None) -> None:
        import ray.tune

        from selfre.search.worker import epoch_metrics

        self.best = max(self.best, result.score)
        ray.tune.report(epoch_metrics(result, self.best, self.epochs, 0))

    def on_train_end(self, result) -> None:
        import ray.tune

        from selfre.search.worker import final_metrics

        ray.tune.report(final_metrics(result, self.epochs, 0))


def stand_in(config: dict, plan) -> None:
    """Tune function trainable: one (configuration, seed), no model."""
    from selfre.search.space import apply_params
    from selfre.train.results import EpochResult, TrainResult

    cfg = apply_params(plan.base, config["params"], seed=config["seed"])
    epochs = cfg.train.epochs
    hooks = reporter = _Reporter(epochs)
    calls = None
    if plan.tracking:
        from selfre.tracking.child import tracked_hooks

        calls = count_mlflow_calls()
        before = calls[0]
        hooks = tracked_hooks(reporter, plan.tracking, 0, config["config_id"], config["seed"], cfg)
    history, best = [], None
    for epoch, f1 in enumerate(dev_curve(config["params"], plan.params(), config["seed"], epochs), start=1):
        dev = {"precision": f1, "recall": f1, "f1": f1, "person_centric": {"precision": f1, "recall": f1, "f1": f1}}
        is_best = best is None or f1 > best.score
        result = EpochResult(epoch, 10 * epoch, 1.0 / epoch, 1.0 / epoch, None, {}, dev, is_best, 0.0, 1e-3, score=f1)
        history.append(result)
        best = result if is_best else best
        hooks.on_epoch_end(result, None)
    f1 = best.score - 0.02
    test = {"precision": f1, "recall": f1, "f1": f1, "person_centric": {"precision": f1, "recall": f1, "f1": f1}}
    hooks.on_train_end(TrainResult(best.epoch, best.dev, test, plan.objective, history))
    # Which process ran the trial: distinct pids / trials = trial-actor starts per trial (1.0: no reuse at all).
    with open(Path(plan.storage) / COUNTS_FILE, "a") as fh:
        fh.write(json.dumps({"calls": calls[0] - before if calls is not None else 0, "pid": os.getpid()}) + "\n")


def grid_points(space: list, base_flat: dict) -> list[dict]:
    """Every combination of the space's choices and 3 points (15%, 50%, 85% of the range, log-scaled for
    loguniform, on the step) of its numeric parameters; a parameter whose `when` fails is left out."""
    points = [{}]
    for p in space:
        if p.kind == "choice":
            values = list(p.values)
        else:
            lo, hi = float(p.values[0]), float(p.values[1])
            log = p.kind == "loguniform"
            a, b = (math.log(lo), math.log(hi)) if log else (lo, hi)
            values = [math.exp(a + t * (b - a)) if log else a + t * (b - a) for t in (0.15, 0.5, 0.85)]
            if p.step:
                values = [round(lo + round((v - lo) / p.step) * p.step, 10) for v in values]
            if p.kind == "int":
                values = [int(round(v)) for v in values]
        points = [
            {**pt, p.key: v} if p.active(pt, base_flat) else pt
            for pt in points
            for v in (values if p.active(pt, base_flat) else [None])
        ]
    unique = {json.dumps(pt, sort_keys=True): pt for pt in points}
    return list(unique.values())


# -- one measurement ------------------------------------------------------------------------------------------
class WorkerCounter:
    """The Ray worker processes this process's embedded cluster starts (its raylet's children), sampled from /proc
    every 0.5 s: a Python worker lives at least that long, so none is missed."""

    def __init__(self):
        import threading

        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        root = os.getpid()
        while not self._stop.wait(0.5):
            kids: dict[int, list[int]] = {}
            for d in os.listdir("/proc"):
                if d.isdigit():
                    try:
                        with open(f"/proc/{d}/stat") as f:
                            kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
                    except OSError:
                        pass
            todo = list(kids.get(root, []))
            while todo:
                pid = todo.pop()
                todo += kids.get(pid, [])
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if b"default_worker.py" in cmd or cmd.startswith(b"ray::"):
                    self.pids.add(pid)


def run_once(
    n_configs: int,
    seeds: list[int],
    scheduler: str,
    tracking: str,
    epochs: int,
    storage: Path,
    grid_of_space: bool = False,
    sampler_seed: int = 0,
) -> dict:
    import ray.tune

    from selfre.search.plan import build_plan
    from selfre.search.resources import DRIVER_CPUS
    from selfre.search.runner import run_search

    def short(cfg):
        cfg.train.epochs = epochs
        return cfg

    plan = build_plan(
        "demo",
        CONFIG_DIR,
        apply_run_overrides=short,
        storage_root=str(storage),
        name=f"{scheduler}-{n_configs}",
        tracking_uri="none" if tracking == "none" else None,
        search_overrides={
            "num_samples": n_configs,
            "seeds": seeds,
            "scheduler": scheduler,
            "grace_period": 1,
            "reduction_factor": 2,
            "sampler_seed": sampler_seed,
        },
    )
    if grid_of_space:
        from selfre.config import flatten

        plan.search.grid = grid_points(plan.params(), flatten(plan.run_config()))
        plan.search.num_samples = n_configs = len(plan.search.grid)
    driver_calls = count_mlflow_calls() if tracking != "none" else [0]
    calls0 = driver_calls[0]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    # As trainable.make_trainable: called once the plan carries the MLflow parent run (plan.tracking).
    make = lambda plan: ray.tune.with_resources(ray.tune.with_parameters(stand_in, plan=plan), {"CPU": DRIVER_CPUS})  # noqa: E731
    with WorkerCounter() as workers:
        outcome = run_search(plan, make_trainable=make)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    trials = outcome.summary["num_trials"]
    counts = storage / COUNTS_FILE
    per_trial = [json.loads(line) for line in counts.read_text().splitlines()] if counts.exists() else []
    trial_calls = [t["calls"] for t in per_trial] if tracking != "none" else []
    configs = outcome.summary["configurations"]
    return {
        "configs": n_configs,
        "seeds": len(seeds),
        "scheduler": scheduler,
        "tracking": tracking,
        "trials": trials,
        "trial_epochs": sum(t["last_epoch"] or 0 for c in configs for t in c["trials"]),
        "best_dev_score": outcome.summary["best"]["dev_score"]["mean"] if outcome.summary["best"] else None,
        "wall_s": wall,
        "driver_cpu_s": cpu,
        "wall_per_trial": wall / trials,
        "driver_cpu_per_trial": cpu / trials,
        "mlflow_driver_calls_per_trial": (driver_calls[0] - calls0) / trials,
        "mlflow_trial_calls_per_trial": sum(trial_calls) / len(trial_calls) if trial_calls else 0.0,
        "actor_starts_per_trial": len({t["pid"] for t in per_trial}) / trials,
        "worker_processes_per_trial": len(workers.pids) / trials,
    }


def _table(rows: list[dict]) -> str:
    out = [
        "| configs x seeds | scheduler | MLflow | trials | wall s | wall s/trial | driver CPU s | driver CPU s/trial "
        "| MLflow calls/trial (driver + trial) | trial-actor starts/trial | Ray worker processes/trial | load |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['configs']} x {r['seeds']} | {r['scheduler']} | {r['tracking']} | {r['trials']} | {r['wall_s']:.0f} "
            f"| {r['wall_per_trial']:.3f} | {r['driver_cpu_s']:.0f} | {r['driver_cpu_per_trial']:.3f} "
            f"| {r['mlflow_driver_calls_per_trial']:.1f} + {r['mlflow_trial_calls_per_trial']:.1f} "
            f"| {r['actor_starts_per_trial']:.3f} | {r['worker_processes_per_trial']:.3f} | {r['load']} |"
        )
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--configs", default="100,300,1000", help="Comma list of configuration counts (default: %(default)s)."
    )
    p.add_argument("--seeds", type=int, default=3, help="Seeds per configuration (default: %(default)s).")
    p.add_argument("--scheduler", default="asha", help="Comma list of asha and/or fifo (default: %(default)s).")
    p.add_argument(
        "--tracking",
        default="embedded",
        choices=("embedded", "none"),
        help="embedded: the default SQLite MLflow store, parent + child runs; none: --tracking-uri none.",
    )
    p.add_argument("--epochs", type=int, default=4, help="Epochs per trial (default: %(default)s).")
    p.add_argument(
        "--asha-value",
        action="store_true",
        help="Run the space's grid with fifo and asha (ignores --configs "
        "and --scheduler) and compare the best mean dev score with the trial-epochs spent.",
    )
    p.add_argument("--json", metavar="FILE", help="Also write the rows as JSON.")
    p.add_argument("--one", metavar="CONFIGS:SCHEDULER", help=argparse.SUPPRESS)  # one size, in this process
    args = p.parse_args()
    # The stand-in's trial actors import selfre from this checkout, wherever the script is started from.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    sys.path.insert(0, str(REPO))
    import logging

    logging.basicConfig(level=logging.WARNING)
    rows = []
    seeds = list(range(1, args.seeds + 1))
    sizes = [1] if args.asha_value else [int(x) for x in args.configs.split(",")]
    schedulers = ["fifo", "asha"] if args.asha_value else args.scheduler.split(",")
    if args.one:  # a child of the loop below: one size, its row on the last line of stdout
        n, scheduler = args.one.split(":")
        with tempfile.TemporaryDirectory(prefix="selfre-bench-driver-") as tmp:
            load0 = os.getloadavg()[0]
            row = run_once(
                int(n), seeds, scheduler, args.tracking, args.epochs, Path(tmp), grid_of_space=args.asha_value
            )
            row["load"] = f"{load0:.1f} -> {os.getloadavg()[0]:.1f}"
        print(ROW_PREFIX + json.dumps(row), flush=True)
        return 0
    for n in sizes:
        for scheduler in schedulers:
            # Each size in a fresh process: one ray.init per process, as a real search has, and no size pays for
            # the previous one's Ray cluster, imports or garbage.
            child = [
                sys.executable,
                __file__,
                "--one",
                f"{n}:{scheduler}",
                "--seeds",
                str(args.seeds),
                "--tracking",
                args.tracking,
                "--epochs",
                str(args.epochs),
            ] + (["--asha-value"] if args.asha_value else [])
            done = subprocess.run(child, stdout=subprocess.PIPE, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith(ROW_PREFIX)]
            if done.returncode or not lines:
                print(done.stdout[-4000:], file=sys.stderr)
                raise SystemExit(
                    f"bench_driver: {n} configurations ({scheduler}) failed with exit code {done.returncode}"
                )
            row = json.loads(lines[-1][len(ROW_PREFIX) :])
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(_table(rows))
    if args.asha_value:
        fifo, asha = rows
        print(
            f"ASHA: best mean dev score {asha['best_dev_score']:.4f} vs FIFO {fifo['best_dev_score']:.4f} "
            f"({100 * (asha['best_dev_score'] - fifo['best_dev_score']):+.2f} F1 points) with {asha['trial_epochs']} of "
            f"{fifo['trial_epochs']} trial-epochs ({100 * asha['trial_epochs'] / fifo['trial_epochs']:.0f}%)"
        )
    elif len(rows) > 1:
        for scheduler in schedulers:
            rs = [r for r in rows if r["scheduler"] == scheduler]
            if len(rs) > 1:
                print(
                    f"{scheduler}: driver CPU s/trial grows x{rs[-1]['driver_cpu_per_trial'] / rs[0]['driver_cpu_per_trial']:.2f} "
                    f"from {rs[0]['configs']} to {rs[-1]['configs']} configurations"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
