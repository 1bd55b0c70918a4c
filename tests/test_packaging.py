"""The wheel `pip install 'selfre[search]'` installs carries what an installed search needs: the bundled
dataset configs, the `selfre` console script and the licence. (An editable install reads them from the
clone and would hide their absence; `.ci/wheel_smoke` runs a search from a real install, outside the repo.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support import REPO

from selfre.config import DATASETS
from selfre.search.plan import BUNDLED_CONFIGS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    # Built from a copy: setuptools builds in the source tree, and a stale build/ there could add files
    # the sources no longer have.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "selfre", src / "selfre", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    # setuptools prints a deprecation warning for licence metadata it wants in another form: none is expected.
    assert "deprecat" not in (res.stdout + res.stderr).lower(), res.stderr
    [path] = out.glob("selfre-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_wheel_carries_the_search_configs(wheel):
    names = set(wheel.namelist())
    bundled = {p.name for p in BUNDLED_CONFIGS.glob("*.yaml")}
    assert {f"{d}.yaml" for d in DATASETS} <= bundled  # one per --dataset, besides extra --config files
    assert {f"selfre/search/configs/{name}" for name in bundled} <= names
    assert wheel.read("selfre/search/configs/demo.yaml") == (BUNDLED_CONFIGS / "demo.yaml").read_bytes()


def test_wheel_has_the_console_script_and_the_licence(wheel):
    meta = {Path(n).name: n for n in wheel.namelist() if ".dist-info/" in n}
    entry_points = wheel.read(meta["entry_points.txt"]).decode()
    assert "[console_scripts]" in entry_points and "selfre = selfre.cli:main" in entry_points
    metadata = wheel.read(meta["METADATA"]).decode().splitlines()
    assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata
    assert "Apache License" in wheel.read(meta["LICENSE"]).decode()


def test_tune_configs_is_the_packaged_folder():
    """Every documented `tune/configs/<dataset>.yaml` path still works in a clone: it is the package's folder."""
    link = REPO / "tune" / "configs"
    assert link.is_symlink() and link.resolve() == BUNDLED_CONFIGS
    assert not Path(str(link.readlink())).is_absolute()  # relative: survives a move of the clone
