"""Run outputs never enter git: a tracking store or run folder committed by accident ships one developer's runs
(and paths into their checkout) to every clone, and MLflow would open it as the default store."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a search, a test or MLflow's default store writes: SQLite stores, file stores, run and data folders.
RUN_OUTPUT_SUFFIXES = (".db", ".sqlite", ".sqlite3")
RUN_OUTPUT_DIRS = ("mlruns/", "mlartifacts/", "runs/", "demo_data/", "ray_results/")


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an unpacked sdist or wheel): nothing is tracked")
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_no_tracking_store_or_run_folder_is_tracked_by_git():
    tracked = _tracked_files()
    stores = [f for f in tracked if f.endswith(RUN_OUTPUT_SUFFIXES)]
    run_dirs = [f for f in tracked if any(f.startswith(d) or f"/{d}" in f for d in RUN_OUTPUT_DIRS)]
    assert stores == [] and run_dirs == [], f"run outputs tracked by git: {stores + run_dirs}"


def test_gitignore_keeps_the_default_mlflow_store_out():
    # MLflow 3's default tracking URI is ./mlflow.db: any command run without one writes it at the repo root.
    _tracked_files()  # skips outside a git checkout
    for path in ("mlflow.db", "mlruns/0/meta.yaml", "runs/search/optuna.db"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert ignored.returncode == 0, f"{path} is not ignored by .gitignore"
