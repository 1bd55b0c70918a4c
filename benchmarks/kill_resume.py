#!/usr/bin/env python
"""Interrupted anywhere, the same answer: SIGKILL a search driver (its whole process group, as if its machine
went away) at chosen moments, run `--resume`, and compare with an uninterrupted run of the same search.

    python benchmarks/kill_resume.py --work /tmp/kill-resume                     # the demo, 11 kill points
    python benchmarks/kill_resume.py --work /tmp/kr --kills 2+0,4+3 -- --dataset demo --num-samples 2 --final-seeds 62,72

Everything after `--` is passed to `tune/search.py` (default: DEFAULT_SEARCH); `--storage` and `--name` are set
here, one storage folder per run (so each has its own MLflow store, registry and Optuna study), and `{storage}`
in an argument stands for that folder. The MLflow store compared is STORAGE/mlflow.db: the embedded one, or pass
`--tracking-uri sqlite:///{storage}/mlflow.db`.

A kill point is `N+D`: D seconds after the N-th trial (search and final phase together) committed its final
checkpoint; N=0 counts from the driver's start. So `0+20` lands in the first trials, `1+0` between trials,
`N+D` with N = the search's trial count in the final phase, and `ALL+D` (N = every trial) in the summary and
registration at the end. The phase each kill actually hit is read back from the run folder and printed.

Checked per kill point against the uninterrupted run:
  summary     every configuration's status, seeds and dev/test mean ± std, the best configuration, the final
              phase's configuration and its run config: equal (to --tolerance, default exact)
  registered  exactly one model version, of the same configuration, with the same best_config.json (seed included)
              on disk and in the parent run
  runs        no MLflow run left RUNNING; the parent run FINISHED
  once        one MLflow trial run per (configuration, seed), each epoch's train_loss logged once: no trial
              (nor epoch) trained twice
Exit status 0 when every kill point passes every check. A JSON record goes to WORK/kill_resume.json.

The default search trains one worker per trial: a resumed trial then continues from its epoch checkpoint with its
restored random state, so its figures can equal the uninterrupted ones exactly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from selfre.search.in_trial import FINAL_DIR_NAME, STATE_FILE

REPO = Path(__file__).resolve().parents[1]
SEARCH = (sys.executable, str(REPO / "tune" / "search.py"))
NAME = "kr"
DEFAULT_SEARCH = [
    "--dataset",
    "demo",
    "--num-samples",
    "2",
    "--seeds",
    "42",
    "--final-seeds",
    "62,72",
    "--workers-per-trial",
    "1",
    "--max-concurrent",
    "1",
]
# 4 trials (2 configurations x 1 seed, then 2 final seeds): spread over start-up, trials, between trials, the
# final phase, and the summary/registration after the last trial.
DEFAULT_KILLS = "0+15,0+35,1+0,1+12,2+0,2+12,3+0,3+12,ALL+0,ALL+3,ALL+6"
STAT_KEYS = ("dev_score", "test_score", "test_f1", "test_pc_f1")


# -- running the driver ---------------------------------------------------------------------------------------
def _dataset(search_args: list[str]) -> str:
    return search_args[search_args.index("--dataset") + 1]


def _placement(search_args: list[str]) -> list[str]:
    """The flags a --resume needs again: the cluster to join (the saved plan keeps the tracking URI; a
    `{storage}` one is given again all the same)."""
    return [
        a
        for i, a in enumerate(search_args)
        if search_args[i - 1 : i] in (["--address"], ["--tracking-uri"])
        or a in ("--address", "--tracking-uri")
        and i + 1 < len(search_args)
    ]


def start(search_args: list[str], storage: Path, resume: bool = False) -> subprocess.Popen:
    storage.mkdir(parents=True, exist_ok=True)
    args = ["--dataset", _dataset(search_args), "--resume", *_placement(search_args)] if resume else list(search_args)
    args = [a.replace("{storage}", str(storage)) for a in args]
    log = open(storage / ("resume.log" if resume else "driver.log"), "w")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        [*SEARCH, *args, "--storage", str(storage), "--name", NAME],
        cwd=storage,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def committed_trials(storage: Path) -> int:
    """Trials (search and final phase) whose final checkpoint is committed: by Ray Train's checkpoint manager for
    a multi-worker trial; for a one-worker trial trained in its Tune trial, by its state file, copied last."""
    done = 0
    for run in storage.glob(f"{NAME}*/train_runs/*"):
        snapshot = run / "checkpoint_manager_snapshot.json"
        if not snapshot.exists():
            done += (run / FINAL_DIR_NAME / STATE_FILE).exists()
            continue
        try:
            latest = json.loads(snapshot.read_text()).get("latest_checkpoint_result") or {}
        except (OSError, json.JSONDecodeError):
            continue  # being written
        done += latest.get("checkpoint_dir_name") == FINAL_DIR_NAME
    return done


def parse_kill(spec: str, total: int) -> tuple[int, float]:
    n, _, delay = spec.partition("+")
    return (total if n == "ALL" else int(n)), float(delay or 0)


def run_killed(search_args: list[str], storage: Path, after_trials: int, delay: float, limit: float) -> dict:
    """Start the search, SIGKILL its process group D s after the N-th committed trial; -> what the kill hit."""
    driver = start(search_args, storage)
    t0, hit_at = time.time(), None
    try:
        while driver.poll() is None and time.time() - t0 < limit:
            if hit_at is None and committed_trials(storage) >= after_trials:
                hit_at = time.time()
            if hit_at is not None and time.time() - hit_at >= delay:
                break
            time.sleep(0.2)
    finally:
        exited = driver.poll()
        if exited is None:
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        _reap(driver.pid)
    return {
        "killed_after_s": round(time.time() - t0, 1),
        "exited_before_kill": exited,
        "trials_committed_at_kill": committed_trials(storage),
        "phase": phase(storage),
    }


def _reap(pgid: int) -> None:
    """Ray's processes of the killed driver's embedded cluster are in its process group; make sure none is left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def phase(storage: Path) -> str:
    """Where the kill landed, read back from the run folder."""
    final_started = (storage / f"{NAME}-final").exists()
    running = sum(1 for d in storage.glob(f"{NAME}*/train_runs/*") if d.is_dir()) - committed_trials(storage)
    where = "final phase" if final_started else "search"
    if (storage / NAME / "best_config.json").exists():
        where = "after the final phase (summary, registration)"
    return f"{where}; {committed_trials(storage)} trial(s) finished, {max(running, 0)} started and unfinished"


def run_to_end(search_args: list[str], storage: Path, resume: bool, limit: float) -> tuple[int, float]:
    t0 = time.time()
    driver = start(search_args, storage, resume=resume)
    try:
        rc = driver.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(driver.pid, signal.SIGKILL)
        rc = driver.wait()
    _reap(driver.pid)
    return rc, round(time.time() - t0, 1)


# -- what a finished search left ------------------------------------------------------------------------------
def outcome(storage: Path, dataset: str) -> dict:
    """The figures and records the checks compare: summary, best_config.json, MLflow runs and registry."""
    from mlflow.tracking import MlflowClient

    summary = json.loads((storage / NAME / "summary.json").read_text())
    best_config = storage / NAME / "best_config.json"
    client = MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"selfre-{dataset}")
    runs = client.search_runs([exp.experiment_id], max_results=10000)
    search_runs = [r for r in runs if r.data.tags.get("selfre.kind") == "search"]
    trials = [r for r in runs if r.data.tags.get("selfre.kind") == "trial"]
    per_pair: dict[str, int] = {}
    epochs_twice = []
    for r in trials:
        key = f"{r.data.tags.get('selfre.config_id')}/{r.data.tags.get('selfre.seed')}"
        per_pair[key] = per_pair.get(key, 0) + 1
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "train_loss")]
        if len(steps) != len(set(steps)):
            epochs_twice.append(key)
    versions = client.search_model_versions(f"name = 'selfre-{dataset}'")
    parent_config = None
    if search_runs:
        from selfre.tracking.parent import artifact_json

        parent_config = artifact_json(client, search_runs[0].info.run_id, "best_config.json")
    return {
        "configurations": {c["config_id"]: _figures(c) for c in summary["configurations"]},
        # each run has its own folder: a demo corpus generated there is the same corpus under another path
        "best": (summary.get("best") or {}).get("config_id"),
        "final": _figures(summary["final"]) if summary.get("final") else None,
        "best_config": _own_folder(json.loads(best_config.read_text()), storage) if best_config.exists() else None,
        "parent_best_config": _own_folder(parent_config, storage),
        "versions": [{"version": v.version, "config_id": v.tags.get("config_id")} for v in versions],
        "running_runs": [r.info.run_id for r in runs if r.info.status == "RUNNING"],
        "parent_status": [r.info.status for r in search_runs],
        "trial_runs_per_pair": per_pair,
        "epochs_logged_twice": epochs_twice,
    }


def _own_folder(run_config: dict | None, storage: Path) -> dict | None:
    """`run_config` with this run's folder in data.data_dir written as {storage}."""
    if run_config and (run_config.get("data") or {}).get("data_dir"):
        data = {**run_config["data"], "data_dir": run_config["data"]["data_dir"].replace(str(storage), "{storage}")}
        return {**run_config, "data": data}
    return run_config


def _figures(c: dict) -> dict:
    return {
        "status": c["status"],
        "seeds_complete": c["seeds_complete"],
        "params": c["params"],
        **{f"{k}_{s}": (c.get(k) or {}).get(s) for k in STAT_KEYS for s in ("mean", "std")},
    }


def compare(ref: dict, got: dict, tolerance: float) -> dict[str, str]:
    """check -> '' when it passes, else what differs."""
    out = {}
    diffs = _diff(ref["configurations"], got["configurations"], tolerance, "configurations")
    diffs += [] if ref["best"] == got["best"] else [f"best {got['best']} != {ref['best']}"]
    diffs += _diff(ref["final"], got["final"], tolerance, "final")
    out["summary"] = "; ".join(diffs)
    problems = []
    if len(got["versions"]) != 1:
        problems.append(f"{len(got['versions'])} model versions")
    elif got["versions"][0]["config_id"] != ref["versions"][0]["config_id"]:
        problems.append(f"registered {got['versions'][0]['config_id']} != {ref['versions'][0]['config_id']}")
    problems += _diff(ref["best_config"], got["best_config"], tolerance, "best_config.json")
    if got["parent_best_config"] != got["best_config"]:
        problems.append("the parent run's best_config.json differs from the disk's")
    out["registered"] = "; ".join(problems)
    runs = [f"{len(got['running_runs'])} run(s) RUNNING"] if got["running_runs"] else []
    runs += [] if got["parent_status"] == ["FINISHED"] else [f"parent run(s) {got['parent_status']}"]
    out["runs"] = "; ".join(runs)
    twice = [f"{k}: {n} trial runs" for k, n in got["trial_runs_per_pair"].items() if n != 1]
    twice += [f"{k}: an epoch logged twice" for k in got["epochs_logged_twice"]]
    twice += (
        [] if set(got["trial_runs_per_pair"]) == set(ref["trial_runs_per_pair"]) else ["other (config, seed) pairs"]
    )
    out["once"] = "; ".join(twice)
    return out


def _diff(a, b, tolerance: float, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _diff(a.get(k), b.get(k), tolerance, f"{where}.{k}")]
    if isinstance(a, float) and isinstance(b, float):
        same = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tolerance
        return [] if same else [f"{where}: {b!r} != {a!r}"]
    return [] if a == b else [f"{where}: {b!r} != {a!r}"]


# -- the whole check --------------------------------------------------------------------------------------------
def reference(search_args: list[str], storage: Path, limit: float, reuse: bool = False) -> tuple[dict, int, float]:
    """The uninterrupted run -> (its outcome, its trial count, its seconds; 0 when an earlier one is reused)."""
    if reuse and (storage / NAME / "summary.json").exists():
        return outcome(storage, _dataset(search_args)), committed_trials(storage), 0.0
    rc, seconds = run_to_end(search_args, storage, resume=False, limit=limit)
    if rc != 0:
        raise RuntimeError(f"the uninterrupted run failed (exit {rc}): see {storage / 'driver.log'}")
    return outcome(storage, _dataset(search_args)), committed_trials(storage), seconds


def kill_point(
    search_args: list[str], storage: Path, spec: str, ref: dict, total: int, tolerance: float, limit: float
) -> dict:
    """Kill a fresh run of the search at `spec`, resume it, compare with `ref` -> the record (`ok`, `checks`)."""
    after, delay = parse_kill(spec, total)
    t0 = time.time()
    hit = run_killed(search_args, storage, after, delay, limit)
    resume_rc, resume_s = run_to_end(search_args, storage, resume=True, limit=limit)
    checks = (
        compare(ref, outcome(storage, _dataset(search_args)), tolerance)
        if resume_rc == 0
        else {"resume": f"exit {resume_rc}"}
    )
    return {
        "kill": spec,
        **hit,
        "resume_exit": resume_rc,
        "resume_s": resume_s,
        "checks": checks,
        "ok": not any(checks.values()),
        "wall_s": round(time.time() - t0, 1),
    }


def recheck(work: Path, search_args: list[str], tolerance: float) -> int:
    ref = outcome(work / "reference", _dataset(search_args))
    failed = 0
    for record_file in sorted(work.glob("kill_resume*.json")):  # kill_resume{first}.json: kill{first+j} ...
        first = int(record_file.stem.removeprefix("kill_resume") or 0)
        for j, landed in enumerate(json.loads(record_file.read_text())["kill_points"]):
            storage = work / f"kill{first + j:02d}"
            checks = (
                compare(ref, outcome(storage, _dataset(search_args)), tolerance)
                if landed["resume_exit"] == 0
                else landed["checks"]
            )
            failed += any(checks.values())
            print(
                f"{storage.name}  {landed['kill']:>6}  {landed['phase']:<70} "
                + ("OK" if not any(checks.values()) else "FAIL " + json.dumps({k: v for k, v in checks.items() if v}))
            )
    return 0 if failed == 0 else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    search_args = DEFAULT_SEARCH
    if "--" in argv:
        search_args, argv = argv[argv.index("--") + 1 :], argv[: argv.index("--")]
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--work", required=True, type=Path, help="Folder for the runs (one storage folder per run).")
    p.add_argument(
        "--kills", default=DEFAULT_KILLS, help=f"Kill points N+D, comma-separated (default: {DEFAULT_KILLS})."
    )
    p.add_argument("--tolerance", type=float, default=0.0, help="Largest difference allowed in a figure (default: 0).")
    p.add_argument("--limit", type=float, default=3600, help="Seconds one driver may run (default: 3600).")
    p.add_argument(
        "--reuse-reference",
        action="store_true",
        help="Compare with WORK/reference if it finished before "
        "(the same search arguments!) instead of running it again.",
    )
    p.add_argument(
        "--first",
        type=int,
        default=0,
        help="Number the kill points from here (WORK/killNN), so a "
        "second invocation beside an earlier one keeps its folders.",
    )
    p.add_argument(
        "--recheck",
        action="store_true",
        help="Only compare the finished WORK/kill* folders with "
        "WORK/reference again (kill_resume*.json keeps where each kill landed).",
    )
    args = p.parse_args(argv)
    work = args.work.resolve()
    if args.recheck:
        return recheck(work, search_args, args.tolerance)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    try:
        ref, total, seconds = reference(search_args, work / "reference", args.limit, reuse=args.reuse_reference)
    except RuntimeError as exc:
        print(exc)
        return 2
    print(f"uninterrupted: {seconds} s, {total} trials, registered {ref['versions']}; search: {' '.join(search_args)}")
    records, failed = [], 0
    for i, spec in enumerate(args.kills.split(","), start=args.first):
        record = kill_point(search_args, work / f"kill{i:02d}", spec, ref, total, args.tolerance, args.limit)
        failed += not record["ok"]
        records.append(record)
        failures = {k: v for k, v in record["checks"].items() if v}
        print(
            f"{spec:>8}  killed at {record['killed_after_s']:>6} s  {record['phase']:<70} resume exit "
            f"{record['resume_exit']}  " + ("OK" if record["ok"] else "FAIL " + json.dumps(failures)),
            flush=True,
        )
        (work / f"kill_resume{args.first or ''}.json").write_text(
            json.dumps({"search": search_args, "reference_s": seconds, "kill_points": records}, indent=2)
        )
    print(f"{len(records) - failed}/{len(records)} kill points give the uninterrupted run's answer")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
