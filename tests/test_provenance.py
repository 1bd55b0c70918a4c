"""selfre.provenance: the version, commit and uncommitted-changes flag every MLflow run and registered model
version records, from a git checkout and from a `git archive` export (cluster nodes, the node image), which has
no .git folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from git_support import clean_clone, git
from support import REPO

import selfre
from selfre import provenance

PROBE = "import json, selfre.provenance as p; v = p.code_version(); print(json.dumps([v.commit, v.dirty, v.source, p.tags()]))"


def probe(package_root: Path, cwd: Path) -> tuple[str, bool | None, str, dict]:
    """code_version() as a fresh process importing selfre from `package_root` sees it."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=cwd,
        env={"PYTHONPATH": str(package_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commit, dirty, source, tags = json.loads(out)
    return commit, dirty, source, tags


def test_this_checkout_names_its_commit_and_changes():
    v = provenance.code_version()
    assert (v.version, v.commit, v.source) == (selfre.__version__, git("rev-parse", "HEAD"), "git")
    assert v.dirty is bool(git("status", "--porcelain", "--untracked-files=no"))
    assert provenance.tags() == {
        "selfre.version": selfre.__version__,
        "selfre.commit": v.commit,
        "selfre.dirty": str(v.dirty).lower(),
        "mlflow.source.git.commit": v.commit,
    }
    assert "mlflow.source.git.commit" not in provenance.version_tags()


def test_clean_and_changed_clones(tmp_path):
    commit = clean_clone(tmp_path / "clone")
    assert probe(tmp_path / "clone", tmp_path)[:3] == (commit, False, "git")
    (tmp_path / "clone" / "README.md").write_text("changed\n")
    assert probe(tmp_path / "clone", tmp_path)[:3] == (commit, True, "git")
    git("checkout", "README.md", cwd=tmp_path / "clone")
    (tmp_path / "clone" / "scratch.py").write_text(
        "x = 1\n"
    )  # untracked: runs only if a changed tracked file imports it
    assert probe(tmp_path / "clone", tmp_path)[1] is False
    (tmp_path / "clone" / "selfre" / "search_results.py").unlink()  # a deleted tracked file is a change
    assert probe(tmp_path / "clone", tmp_path)[1] is True


def test_a_git_archive_export_knows_its_commit(tmp_path):
    """What node_setup.sh installs and cluster/Dockerfile is built from: no .git, the commit written in by git."""
    commit = clean_clone(tmp_path / "clone")
    with (tmp_path / "export.tar").open("wb") as out:
        subprocess.run(["git", "archive", "HEAD"], cwd=tmp_path / "clone", stdout=out, check=True)
    with tarfile.open(tmp_path / "export.tar") as tar:
        tar.extractall(tmp_path / "export", filter="data")
    assert not (tmp_path / "export" / ".git").exists()
    commit_seen, dirty, source, tags = probe(tmp_path / "export", tmp_path)
    assert (commit_seen, dirty, source) == (commit, False, "archive")
    assert tags["selfre.commit"] == commit and tags["selfre.dirty"] == "false"


def test_a_copy_without_git_or_export_says_unknown(tmp_path):
    shutil.copytree(REPO / "selfre", tmp_path / "copy" / "selfre", ignore=shutil.ignore_patterns("__pycache__"))
    commit, dirty, source, tags = probe(tmp_path / "copy", tmp_path)
    assert (commit, dirty, source) == ("", None, "unknown")
    assert tags == {"selfre.version": selfre.__version__, "selfre.commit": "unknown", "selfre.dirty": "unknown"}
