"""gpu.yaml's own setup_commands, run as a node runs them: against a clone without tags (what `ray up` syncs
from a fresh `git clone`), with the secrets folder make_secrets.py fills and file_mounts copies, and the node's
AWS account found through STS (moto's server on loopback stands for AWS).

The install itself (torch and selfre from PyPI) needs the network: the node is marked as already holding the
clone's commit, as the node image marks itself, so node_setup.sh skips it; everything else runs as written.
The `git archive` export it installs from is tested in tests/test_provenance.py.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from git_support import clean_clone, git
from support import REPO

pytest.importorskip("moto.server")
from s3_support import aws_env_vars, moto_endpoint  # noqa: E402

MOTO_ACCOUNT = "123456789012"  # the account id moto's STS answers with


@pytest.fixture(scope="module")
def sts():
    with moto_endpoint() as url:
        yield url


def gpu_setup_commands() -> list[str]:
    return yaml.safe_load((REPO / "cluster" / "gpu.yaml").read_text())["setup_commands"]


class Node:
    """A home folder laid out as gpu.yaml's file_mounts leave a node's: ~/selfre-src, ~/.selfre/secrets."""

    def __init__(self, tmp: Path, sts: str, secrets: bool = True):
        self.home = tmp / "home"
        self.src = self.home / "selfre-src"
        self.commit = clean_clone(self.src)
        self.secrets = self.home / ".selfre" / "secrets"
        if secrets:
            made = subprocess.run(
                [sys.executable, str(REPO / "cluster" / "make_secrets.py"), "--dir", str(self.secrets)],
                capture_output=True,
                text=True,
            )
            assert made.returncode == 0, made.stderr
        else:  # what the folder holds when make_secrets.py never ran: its README only
            self.secrets.mkdir(parents=True)
            (self.secrets / "README.md").write_text((REPO / "cluster" / "secrets" / "README.md").read_text())
        (self.home / ".selfre-installed").write_text(f"{self.commit} python3\n")
        self.env = {
            **aws_env_vars(sts, tmp),
            "AWS_ENDPOINT_URL_STS": sts,
            "HOME": str(self.home),
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "PYTHONPATH": str(self.src),
            "RAY_USAGE_STATS_ENABLED": "0",
        }

    def setup(self, commands: list[str]) -> subprocess.CompletedProcess:
        """Each command in its own shell, stopping at the first failure, as Ray's updater runs them."""
        out = err = ""
        for command in commands:
            done = subprocess.run(
                ["bash", "-c", command], env=self.env, cwd=self.home, capture_output=True, text=True, timeout=300
            )
            out, err = out + done.stdout, err + done.stderr
            if done.returncode:
                return subprocess.CompletedProcess(command, done.returncode, out, err)
        return subprocess.CompletedProcess(commands, 0, out, err)


def test_gpu_yaml_sets_a_node_up_from_an_untagged_clone(tmp_path, sts):
    node = Node(tmp_path, sts)
    done = node.setup(gpu_setup_commands())
    assert done.returncode == 0, done.stderr
    assert f"selfre HEAD ({node.commit}) ready: selfre 0.1.0 at {node.commit} ray " in done.stdout
    env_file = (node.home / ".selfre.env").read_text()
    assert "export RAY_AUTH_MODE=token\n" in env_file
    assert f"export SELFRE_S3_ROOT=s3://selfre-{MOTO_ACCOUNT}\n" in env_file
    token = node.home / ".ray" / "auth_token"
    assert (
        token.read_text() == (node.secrets / "auth_token").read_text() and stat.S_IMODE(token.stat().st_mode) == 0o600
    )
    assert (node.home / ".bashrc").read_text().splitlines()[0] == f". {node.home}/.selfre.env"
    # What every later login shell (ray start, hence every Ray worker) has: the MLflow login, token auth.
    shell = subprocess.run(
        ["bash", "-c", '. ~/.bashrc; echo "$RAY_AUTH_MODE $MLFLOW_TRACKING_USERNAME ${#MLFLOW_TRACKING_PASSWORD}"'],
        env=node.env,
        capture_output=True,
        text=True,
    )
    assert shell.stdout.strip() == "token admin 32"
    again = node.setup(gpu_setup_commands())  # `ray up` again: nothing changes, .bashrc is not extended twice
    assert again.returncode == 0 and (node.home / ".bashrc").read_text().count(".selfre.env") == 1


@pytest.mark.parametrize("missing", ["auth_token", "mlflow.env"])
def test_a_missing_secret_stops_the_setup_naming_the_command(tmp_path, sts, missing):
    node = Node(tmp_path, sts)
    (node.secrets / missing).unlink()
    done = node.setup(gpu_setup_commands())
    assert done.returncode != 0
    assert f"cluster/secrets/{missing} is missing" in done.stderr and "python cluster/make_secrets.py" in done.stderr
    assert not (node.home / ".selfre.env").exists()


def test_secrets_never_made_stop_the_setup(tmp_path, sts):
    done = Node(tmp_path, sts, secrets=False).setup(gpu_setup_commands())
    assert done.returncode != 0 and "cluster/secrets/auth_token is missing" in done.stderr


def test_uncommitted_changes_stop_the_setup_naming_them(tmp_path, sts):
    node = Node(tmp_path, sts)
    (node.src / "README.md").write_text("edited, not committed\n")
    done = node.setup(gpu_setup_commands())
    assert done.returncode != 0
    assert "uncommitted changes" in done.stderr and "README.md" in done.stderr and "git commit" in done.stderr
    assert node.commit[:12] in done.stderr


def test_untracked_files_do_not_stop_the_setup(tmp_path, sts):
    """What a global git exclude hides on your machine (.DS_Store, editor folders) is synced, and untracked there."""
    node = Node(tmp_path, sts)
    (node.src / ".DS_Store").write_bytes(b"\0")
    assert node.setup(gpu_setup_commands()).returncode == 0


def test_a_tag_still_pins_a_release_and_a_missing_one_is_named(tmp_path, sts):
    node = Node(tmp_path, sts)
    git("tag", "v9.9.9", cwd=node.src)
    tagged = [c.replace("node_setup.sh HEAD", "node_setup.sh v9.9.9") for c in gpu_setup_commands()]
    assert tagged != gpu_setup_commands()
    done = node.setup(tagged)
    assert done.returncode == 0 and f"selfre v9.9.9 ({node.commit}) ready" in done.stdout, done.stderr
    missing = node.setup([c.replace("node_setup.sh HEAD", "node_setup.sh v0.1.0") for c in gpu_setup_commands()])
    assert missing.returncode != 0 and "'v0.1.0' is not a commit of the synced checkout" in missing.stderr


def test_the_clone_has_no_tags_like_a_fresh_one(tmp_path):
    clean_clone(tmp_path / "c")
    assert git("tag", "-l", cwd=tmp_path / "c") == "" and os.path.isdir(tmp_path / "c" / ".git")


def test_the_checkout_as_ray_up_syncs_it_is_unchanged(tmp_path):
    """`ray up` copies "." with rsync and gpu.yaml's rsync_filter (the .gitignore files as rsync reads them):
    a tracked file rsync leaves out would make every node refuse the checkout as changed."""
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed (CI installs it)")
    config = yaml.safe_load((REPO / "cluster" / "gpu.yaml").read_text())
    filters = [arg for name in config["rsync_filter"] for arg in ("--filter", f"dir-merge,- {name}")]
    clean_clone(tmp_path / "clone")
    subprocess.run(["rsync", "-a", *filters, f"{tmp_path / 'clone'}/", str(tmp_path / "synced")], check=True)
    assert git("status", "--porcelain", cwd=tmp_path / "synced") == ""
    assert (tmp_path / "synced" / "cluster" / "secrets" / "README.md").is_file()
