"""What every selfre MLflow model folder must satisfy, whether logged to a server or written by `selfre export`:
logged as code, and an environment that a fresh machine can install from the public index."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from support import REPO

# name==version, nothing else: no ranges, no URLs, no local version label (`+cpu`), which no public index serves.
PINNED = re.compile(r"^[A-Za-z0-9_.\-\[\],]+==[0-9][0-9A-Za-z.\-]*$")
SERVING = {"mlflow", "pandas", "pydantic"}  # what the pyfunc itself imports beyond selfre's dependencies


def runtime_dependencies() -> set[str]:
    """selfre's own runtime dependencies, read from pyproject.toml (not from the code under test)."""
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {canonicalize_name(Requirement(d).name) for d in deps}


def assert_logged_as_code(model_dir: Path) -> None:
    pyfunc = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["python_function"]
    assert pyfunc["model_code_path"].endswith("pyfunc_code.py") and "python_model" not in pyfunc, pyfunc
    assert not list(model_dir.rglob("*.pkl"))
    assert (model_dir / "code" / "selfre" / "predict" / "predictor.py").is_file()  # code_paths: the selfre package
    assert (model_dir / "artifacts" / "checkpoint" / "model.safetensors").is_file()


def assert_public_pins(model_dir: Path) -> None:
    reqs = [line.strip() for line in (model_dir / "requirements.txt").read_text().splitlines() if line.strip()]
    assert [r for r in reqs if not PINNED.match(r)] == [], reqs
    names = {canonicalize_name(r.split("==")[0]) for r in reqs}
    assert runtime_dependencies() | SERVING <= names, names
    assert f"torch=={Version(metadata.version('torch')).public}" in reqs  # e.g. 2.13.0, where 2.13.0+cpu is installed

    env = yaml.safe_load((model_dir / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]
    assert env["build_dependencies"] and [d for d in env["build_dependencies"] if not PINNED.match(d)] == [], env
    assert "pip" in {Requirement(d).name for d in env["build_dependencies"]}

    conda_file = model_dir / "conda.yaml"
    if conda_file.exists():  # conda's own entries (python=3.11.7, pip<=26.3) are conda specs; its pip list is ours
        pip = next(d["pip"] for d in yaml.safe_load(conda_file.read_text())["dependencies"] if isinstance(d, dict))
        assert [r for r in pip if not PINNED.match(r)] == [] and set(pip) == set(reqs), pip
