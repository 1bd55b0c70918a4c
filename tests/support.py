"""Small pieces several test modules need: a free loopback port, the search's command line, a child
process environment without pytest's (or Ray's) own variables, a repository script imported as a module."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `python tune/search.py`, as a user runs it.
SEARCH = (sys.executable, str(REPO / "tune" / "search.py"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_without(*prefixes: str) -> dict[str, str]:
    """os.environ minus the variables starting with `prefixes` (e.g. PYTEST_: a child search run by Ray must
    not look like a test to Ray or Tune)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def load_script(relative_path: str):
    """A script of the repository (tune/, benchmarks/: not a package) imported as a module, to call its functions."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
