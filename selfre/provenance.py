"""Which code is running: the selfre version, the git commit, and whether the tree differs from that commit.

MLflow runs (trials, searches) and registered model versions record it (`tags()`), so a model in the registry
leads back to the exact code that trained it. The commit comes from, in order:
  * the git checkout selfre is imported from (a clone, an editable install, PYTHONPATH): `git rev-parse HEAD`,
    and `dirty` when a tracked file differs from it (the rule cluster/node_setup.sh applies: an untracked file
    runs only if a tracked one, then changed, imports it);
  * `git archive`'s export of a commit (cluster nodes, the node image, a release tarball): .gitattributes has
    git write the commit into selfre/_archive.py; an export is exactly its commit, so never dirty;
  * otherwise unknown ("" and dirty unknown), e.g. a wheel built from a working tree.
Core module: no Ray, no MLflow. Computed once per process (a trial's worker asks once per run).
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

import selfre
from selfre import _archive

PACKAGE_DIR = Path(selfre.__file__).resolve().parent
TAG_VERSION, TAG_COMMIT, TAG_DIRTY = "selfre.version", "selfre.commit", "selfre.dirty"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"  # MLflow's own tag: its UI shows it as the run's source version


@dataclass(frozen=True)
class CodeVersion:
    version: str
    commit: str  # "" when unknown
    dirty: bool | None  # None when unknown
    source: str  # "git", "archive" or "unknown"

    def tags(self) -> dict[str, str]:
        """MLflow tags (runs and model versions alike)."""
        out = {
            TAG_VERSION: self.version,
            TAG_COMMIT: self.commit or "unknown",
            TAG_DIRTY: "unknown" if self.dirty is None else str(self.dirty).lower(),
        }
        if self.commit:
            out[MLFLOW_GIT_COMMIT] = self.commit
        return out


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def from_git(package_dir: Path = PACKAGE_DIR) -> CodeVersion | None:
    """The checkout holding `package_dir`, if selfre is tracked in it (not some other repository around a
    site-packages folder)."""
    if _git(["ls-files", "--error-unmatch", "__init__.py"], package_dir) is None:
        return None
    commit = (_git(["rev-parse", "--verify", "HEAD"], package_dir) or "").strip()
    if not commit:
        return None
    top = (_git(["rev-parse", "--show-toplevel"], package_dir) or "").strip()
    status = _git(["status", "--porcelain", "--untracked-files=no"], Path(top) if top else package_dir)
    return CodeVersion(selfre.__version__, commit, None if status is None else bool(status.strip()), "git")


def from_archive(commit: str = _archive.COMMIT) -> CodeVersion | None:
    if len(commit) == 40 and all(c in "0123456789abcdef" for c in commit):
        return CodeVersion(selfre.__version__, commit, False, "archive")
    return None  # still "$Format:%H$": not exported by git archive


@functools.cache
def code_version() -> CodeVersion:
    return from_git() or from_archive() or CodeVersion(selfre.__version__, "", None, "unknown")


def tags() -> dict[str, str]:
    """For MLflow runs: selfre's tags and MLflow's own source-commit tag."""
    return code_version().tags()


def version_tags() -> dict[str, str]:
    """For registered model versions: selfre's tags only (MLflow's mlflow.* names are for runs)."""
    return {k: v for k, v in tags().items() if k != MLFLOW_GIT_COMMIT}


def describe() -> str:
    """One line for logs: `selfre 0.1.0 at 3f2a…c1 (uncommitted changes)`."""
    v = code_version()
    state = {True: " (uncommitted changes)", False: "", None: " (changes unknown)"}[v.dirty]
    return f"selfre {v.version} at {v.commit or 'unknown commit'}{state}"
