"""The selfre core never imports Ray or MLflow: only the platform packages (search, tracking, storage) do.

Why it matters: `pip install selfre` without the `search` extra must train, evaluate and predict, and a
model served from the registry must not drag Ray into the serving image.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import selfre

PLATFORM = ("selfre.search", "selfre.tracking", "selfre.storage")


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(selfre.__path__, "selfre.")]
    # __main__ runs the CLI on import; its one import (selfre.cli) is in the list anyway.
    return sorted(n for n in names if not n.startswith(PLATFORM) and n != "selfre.__main__")


def test_core_modules_import_neither_ray_nor_mlflow():
    modules = core_modules()
    assert {"selfre.train.loop", "selfre.model.self_model", "selfre.cli", "selfre.predict"} <= set(modules)
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in ('ray', 'mlflow', 'optuna', 'boto3'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_every_source_folder_is_a_regular_package():
    """setuptools' `packages.find` (pyproject.toml) skips folders without __init__.py: a wheel built for a
    cluster image would silently lack them (editable installs hide it)."""
    from pathlib import Path

    root = Path(selfre.__file__).parent
    folders = {p.parent for p in root.rglob("*.py") if "__pycache__" not in p.parts}
    assert sorted(str(f.relative_to(root)) for f in folders if not (f / "__init__.py").is_file()) == []


def _imports(path) -> set[str]:
    """Every module a source file imports, at the top or inside a function (lazy imports count too)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_tracking_never_imports_the_search():
    """selfre.search imports selfre.tracking to log a search; the way back would be an import cycle. What both
    need (statuses, mean ± std, the summary's serialisers) lives in selfre.search_results."""
    from pathlib import Path

    root = Path(selfre.__file__).parent / "tracking"
    offenders = {
        str(p.relative_to(root)): sorted(
            m for m in _imports(p) if m == "selfre.search" or m.startswith("selfre.search.")
        )
        for p in sorted(root.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert "selfre.search_results" in _imports(root / "parent.py")  # the check parses real imports
