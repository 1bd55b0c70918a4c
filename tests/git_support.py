"""A clean git clone of this repository at its current commit, without tags: what a user's `ray up` syncs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support import REPO


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def clean_clone(dst: Path) -> str:
    """Clone REPO's HEAD commit (committed files only) into `dst`, with no tags; -> the commit."""
    commit = git("rev-parse", "HEAD")
    git("clone", "-q", "--no-tags", "--no-checkout", str(REPO), str(dst))
    git("checkout", "-q", "--detach", commit, cwd=dst)
    assert git("tag", "-l", cwd=dst) == "", "the clone must have no tags"
    return commit
