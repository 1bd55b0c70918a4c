#!/usr/bin/env python
"""Where a search's time goes: runs `tune/search.py ARGS` with its stage timer on and prints, per trial, the wall
and CPU seconds of each stage (Tune trial actor start, Ray Train start, imports, model build, epochs, evaluation,
checkpoints, reports, MLflow), plus the CPU every kind of process used.

    python benchmarks/profile_search.py -- --dataset demo --storage /tmp/prof --max-concurrent 1
    python benchmarks/profile_search.py --events /tmp/prof-x/events.jsonl    # print the report of an earlier run again

How: with SELFRE_STAGE_TIMES set (selfre/stage_timer.py; every Ray process inherits it) the functions and blocks
selfre marks with `timed`/`timing` append one JSON line per call to OUT/events.jsonl; this script samples the CPU time of the search's process tree from /proc
every 0.5 s into OUT/cpu.json. Run with --max-concurrent 1 for a per-trial breakdown: with trials overlapping,
each trial's stages are still measured, but they share the cores. CPU seconds are what a loaded 2-core machine
makes scarce; wall seconds are what the user waits for. Read both, with the load average printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from selfre.stage_timer import ENV as STAGE_TIMES_ENV

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
ROLES = (
    ("ray::ImplicitFunc", "trial actor"),
    ("ray::_QueueActor", "Tune→Train result queue"),
    ("ray::SynchronizationActor", "Train synchronisation actor"),
    ("ray::DatasetManager", "Ray Data dataset manager"),
    ("ray::TrainController", "train controller"),
    ("ray::RayTrainWorker", "train worker"),
    ("PlacementGroupCleaner", "placement-group cleaner"),
    ("AutoscalingCoordinator", "autoscaling coordinator"),
    ("raylet", "ray system"),
    ("gcs_server", "ray system"),
    ("dashboard", "ray system"),
    ("agent", "ray system"),
    ("log_monitor", "ray system"),
    ("monitor.py", "ray system"),
    ("ray::", "other ray worker"),
)


# -- CPU of the process tree ---------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    kids = defaultdict(list)
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    kids[int(f.read().rsplit(")", 1)[1].split()[1])].append(int(d))
            except OSError:
                pass
    return kids


def _sample(root: int, seen: dict, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        kids, todo = _children(), [root]
        while todo:
            pid = todo.pop()
            todo += kids.get(pid, [])
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:120]
            except OSError:
                continue
            rec = seen.setdefault(pid, {"cpu": 0.0, "titles": []})
            rec["cpu"] = max(rec["cpu"], (int(fields[11]) + int(fields[12])) / TICK)
            if cmd and cmd not in rec["titles"]:
                rec["titles"].append(cmd)


def role(pid: int, rec: dict, driver: int) -> str:
    if pid == driver:
        return "search driver"
    for title in reversed(rec["titles"]):  # the last title a Ray worker had names what it became
        for key, name in ROLES:
            if key in title and not (name == "other ray worker" and "IDLE" in title and len(rec["titles"]) > 1):
                return name
    return "other ray worker"


# -- stages per trial ----------------------------------------------------------------------------------------
def _by_pid(events):
    out = defaultdict(list)
    for e in events:
        out[e["pid"]].append(e)
    return out


def _in(events, pid, name, lo, hi):
    return [e for e in events.get(pid, []) if e["name"] == name and lo <= e["t0"] <= hi]


def trial_stages(events: list[dict]) -> list[dict[str, tuple[float, float]]]:
    """One {stage: (wall s, CPU s)} per trial, in start order."""
    pids = _by_pid(events)
    trials = []
    for actor, evs in pids.items():
        runs = sorted((e for e in evs if e["name"] == "trainable:run_trial"), key=lambda e: e["t0"])
        start = min(e["t0"] for e in evs)  # the actor process's start
        for run in runs:
            trials.append((run, actor, start))
            start = run["t1"]  # a reused actor: the next trial waits from here
    out = [_one_trial(pids, run, actor, ready) for run, actor, ready in sorted(trials, key=lambda t: t[0]["t0"])]
    return [s for s in out if s]


def _one_trial(pids, run, actor, ready) -> dict[str, tuple[float, float]] | None:
    lo, hi = run["t0"], run["t1"]
    s: dict[str, tuple[float, float]] = {}
    s["Tune trial actor start (spawn, imports incl. torch) / reuse"] = (lo - ready, 0.0)
    fit = _in(pids, actor, "ray:TorchTrainer.fit", lo, hi)
    tag = run.get("tag")  # the trial's name when the timer recorded it: processes are matched by name, else by time

    def ours(pid, name):
        if tag:
            return any(e["name"] == name and e.get("tag") == tag for e in pids[pid])
        return bool(_in(pids, pid, name, lo, hi))

    # One training loop, whichever process runs it (worker.train_trial; train_loop_per_worker in older event logs).
    loop_name = (
        "worker:train_trial"
        if any(e["name"] == "worker:train_trial" for e in pids[actor])
        or any(ours(p, "worker:train_trial") for p in pids)
        else "worker:train_loop_per_worker"
    )
    workers = [p for p in pids if ours(p, loop_name)]
    if not workers:
        return None
    rank0 = max(workers, key=lambda p: len(_in(pids, p, "loop:_Trainer.write_epoch_checkpoint", lo, hi)))
    loop = _in(pids, rank0, loop_name, lo, hi)[0]
    # A Ray Train run: its controller, worker actors and process group start before the loop does (Ray's internals:
    # timed as one stage). Trained in the Tune trial itself (in_trial.py): none of it.
    start = fit[0]["t0"] if fit else loop["t0"]

    def stage(names, pick=None):
        evs = [e for n in names for e in _in(pids, rank0, n, lo, hi)]
        evs = pick(sorted(evs, key=lambda e: e["t0"])) if pick else evs
        return sum(e["t1"] - e["t0"] for e in evs), sum(e.get("cpu", 0) for e in evs)

    s["Ray Train start: controller, worker actors, process group"] = (loop["t0"] - start, 0.0)
    s["worker imports: selfre.train.loop (transformers)"] = stage(["import selfre.train.loop"])
    s["MLflow: imports in worker (mlflow, matplotlib)"] = stage(["import selfre.tracking.child"])
    s["MLflow: open child run"] = stage(["child:TrialRun.__init__"])
    s["tokenizer + model build (tiny preset)"] = stage(["build:build_for_training"])
    s["data load + encoding"] = stage(["datasets:load_splits", "encode:RelationEncoder.encode"])
    s["DDP wrap"] = stage(["torch:DistributedDataParallel"])
    s["training epochs"] = stage(["loop:_Trainer.train_epoch"])
    s["dev evaluation"] = stage(["loop:_Trainer.evaluate"], lambda es: es[:-1])
    s["test evaluation"] = stage(["loop:_Trainer.evaluate"], lambda es: es[-1:])
    s["checkpoint writes (local)"] = stage(["checkpoint:save_model_checkpoint", "checkpoint:save_training_state"])
    s["epoch reports (checkpoint upload, barrier)"] = stage(["worker:RayReportHooks._report"], lambda es: es[:-1])
    s["  of which checkpoint upload (one-worker trials)"] = stage(["in_trial:TrialSession._upload"])
    s["MLflow: per-epoch metrics"] = stage(["child:TrialRun.on_epoch_end"])
    s["MLflow: final metrics, tables, plots, probes"] = stage(["child:TrialRun.log_final", "child:TrialRun.end"])
    s["final report (upload, barrier)"] = stage(["worker:RayReportHooks._report"], lambda es: es[-1:])
    ends = max(e["t1"] for p in workers for e in _in(pids, p, loop_name, lo, hi))
    s["worker end -> trial end (polling, shutdown)"] = (hi - ends, 0.0)
    known = sum(w for k, (w, _) in list(s.items())[1:] if not k.startswith("  of which"))
    s["other (untimed)"] = (hi - lo - known, 0.0)
    return s


# The training loop's own work: what a trial costs wherever it runs. Everything else a trial costs is the platform's.
LOOP_WORK = (
    "loop:_Trainer.train_epoch",
    "loop:_Trainer.evaluate",
    "checkpoint:save_model_checkpoint",
    "checkpoint:save_training_state",
)


def training_loop_cpu(events: list[dict]) -> float:
    """CPU seconds of LOOP_WORK over the whole search, every rank of every trial."""
    return sum(e.get("cpu", 0.0) for e in events if e["name"] in LOOP_WORK)


def driver_phases(events: list[dict]) -> dict[str, float]:
    names = {
        "runner:check_data": "data check + tiny preset warm-up",
        "runner:open_tracking": "MLflow: preflight + parent run",
        "ray:Tuner.fit": "Tuner.fit (all trials)",
        "session:SearchTracking.finish": "MLflow: register best model, close runs",
        "runner:run_search": "run_search total",
    }
    phases = {label: sum(e["t1"] - e["t0"] for e in events if e["name"] == n) for n, label in names.items()}
    total = phases.pop("run_search total")
    phases["other (ray.init, summary, report)"] = total - sum(phases.values())
    phases["run_search total"] = total
    return phases


def report(events: list[dict], cpu: dict | None, load: str = "") -> str:
    lines = []
    phases = driver_phases(events)
    lines += ["search driver phases (wall s):", *[f"  {k:<45} {v:8.1f}" for k, v in phases.items()], ""]
    trials = trial_stages(events)
    if trials:
        stages = list(trials[0])
        walls = {k: statistics.median(t[k][0] for t in trials) for k in stages}
        cpus = {k: statistics.median(t[k][1] for t in trials) for k in stages}
        total = sum(v for k, v in walls.items() if not k.startswith("  of which"))
        lines.append(f"per trial, median of {len(trials)} trial(s):")
        lines.append("| stage | wall s | share | CPU s (rank 0 unless noted) |\n|---|---:|---:|---:|")
        for k in stages:
            lines.append(f"| {k} | {walls[k]:.2f} | {100 * walls[k] / total:.0f}% | {cpus[k]:.2f} |")
        lines.append(
            f"| **trial total** | **{total:.1f}** | 100% | {sum(v for k, v in cpus.items() if not k.startswith('  of which')):.1f} |"
        )
        lines.append("")
    if cpu:
        driver = cpu["driver"]
        by_role: dict[str, list[float]] = defaultdict(list)
        for pid, rec in cpu["processes"].items():
            by_role[role(int(pid), rec, driver)].append(rec["cpu"])
        n = max(1, len(trials), sum(e["name"] == "trainable:run_trial" for e in events))
        lines.append(f"CPU seconds by process kind (whole search; per trial = / {n}):")
        lines.append("| process kind | processes | CPU s | CPU s per trial |\n|---|---:|---:|---:|")
        for r, v in sorted(by_role.items(), key=lambda kv: -sum(kv[1])):
            lines.append(f"| {r} | {len(v)} | {sum(v):.1f} | {sum(v) / n:.1f} |")
        all_cpu = sum(sum(v) for v in by_role.values())
        lines.append(f"| **all** | {sum(len(v) for v in by_role.values())} | **{all_cpu:.1f}** | {all_cpu / n:.1f} |")
        loop = training_loop_cpu(events)
        lines.append(
            f"\nper-trial platform cost: {all_cpu / n:.1f} CPU s of all processes per trial - {loop / n:.1f} CPU s "
            f"of the training loop's own work (training, evaluation, checkpoint writes; every rank) = "
            f"**{(all_cpu - loop) / n:.1f} CPU s**"
        )
        lines.append(f"\nsearch wall: {cpu['wall']:.1f} s; load average {cpu.get('load', load)}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out", help="Folder for events.jsonl, cpu.json and search.log (default: a new /tmp/selfre-profile-*)."
    )
    p.add_argument("--events", help="Only print the report of an earlier run's events.jsonl (cpu.json beside it).")
    p.add_argument("search_args", nargs=argparse.REMAINDER, help="-- then the arguments of tune/search.py")
    args = p.parse_args()
    if args.events:
        cpu_file = Path(args.events).with_name("cpu.json")
        cpu = json.loads(cpu_file.read_text()) if cpu_file.exists() else None
        print(report([json.loads(line) for line in open(args.events)], cpu))
        return 0
    out = Path(args.out or f"/tmp/selfre-profile-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    events = out / "events.jsonl"
    events.unlink(missing_ok=True)
    search_args = args.search_args[1:] if args.search_args[:1] == ["--"] else args.search_args
    env = {
        **os.environ,
        STAGE_TIMES_ENV: str(events),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    load0 = open("/proc/loadavg").read().split()[0]
    start = time.time()
    with open(out / "search.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "tune" / "search.py"), *search_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        seen: dict = {}
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(proc.pid, seen, stop), daemon=True)
        sampler.start()
        rc = proc.wait()
        stop.set()
        sampler.join()
    load1 = open("/proc/loadavg").read().split()[0]
    cpu = {
        "driver": proc.pid,
        "wall": time.time() - start,
        "load": f"{load0} -> {load1}",
        "processes": {str(k): v for k, v in seen.items()},
    }
    (out / "cpu.json").write_text(json.dumps(cpu, indent=1))
    print(report([json.loads(line) for line in open(events)], cpu))
    print(f"\nsearch exit code {rc}; log, events and CPU samples in {out}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
