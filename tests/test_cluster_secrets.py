"""cluster/make_secrets.py: the one command that makes a cluster's secrets (Ray's token, MLflow's login) before
`ray up`: files mode 600 in a folder mode 700, ignored by git, never printed, made once and then kept."""

from __future__ import annotations

import re
import stat
import subprocess
import sys

from git_support import git
from support import REPO

SCRIPT = REPO / "cluster" / "make_secrets.py"


def make(folder) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--dir", str(folder)], capture_output=True, text=True)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_makes_both_files_private_and_prints_no_secret(tmp_path):
    folder = tmp_path / "secrets"
    done = make(folder)
    assert done.returncode == 0, done.stderr
    token, env = (folder / "auth_token").read_text(), (folder / "mlflow.env").read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", token), "the format of `ray get-auth-token --generate`"
    values = dict(line.split("=", 1) for line in env.splitlines())
    assert values["MLFLOW_TRACKING_USERNAME"] == "admin"
    assert re.fullmatch(r"[0-9a-f]{32}", values["MLFLOW_TRACKING_PASSWORD"])
    assert re.fullmatch(r"[0-9a-f]{64}", values["MLFLOW_FLASK_SERVER_SECRET_KEY"])
    assert (mode(folder), mode(folder / "auth_token"), mode(folder / "mlflow.env")) == (0o700, 0o600, 0o600)
    printed = done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"made {folder / 'auth_token'}", f"made {folder / 'mlflow.env'}"]
    for secret in (token, values["MLFLOW_TRACKING_PASSWORD"], values["MLFLOW_FLASK_SERVER_SECRET_KEY"]):
        assert secret not in printed


def test_idempotent_keeps_what_exists_and_makes_what_is_missing(tmp_path):
    folder = tmp_path / "secrets"
    assert make(folder).returncode == 0
    first = {name: (folder / name).read_bytes() for name in ("auth_token", "mlflow.env")}
    again = make(folder)
    assert again.returncode == 0 and again.stdout.startswith("kept ")
    assert {name: (folder / name).read_bytes() for name in first} == first, "a second run must change nothing"
    (folder / "mlflow.env").unlink()
    (folder / "auth_token").chmod(0o644)
    third = make(folder)
    assert third.returncode == 0
    assert third.stdout.splitlines() == [
        f"kept {folder / 'auth_token'} (mode set to 600)",
        f"made {folder / 'mlflow.env'}",
    ]
    assert (folder / "auth_token").read_bytes() == first["auth_token"] and mode(folder / "auth_token") == 0o600
    assert (folder / "mlflow.env").read_bytes() != first["mlflow.env"]


def test_an_unusable_existing_file_is_named_not_overwritten(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "mlflow.env").write_text("MLFLOW_TRACKING_USERNAME=admin\nMLFLOW_TRACKING_PASSWORD=\n")
    done = make(folder)
    assert done.returncode != 0
    assert (
        f"{folder / 'mlflow.env'} has no value for MLFLOW_TRACKING_PASSWORD, MLFLOW_FLASK_SERVER_SECRET_KEY"
        in done.stderr
    )
    assert (folder / "mlflow.env").read_text().endswith("PASSWORD=\n")


def test_the_default_folder_is_ignored_by_git_but_its_readme_is_not():
    assert git("check-ignore", "cluster/secrets/auth_token", "cluster/secrets/mlflow.env").splitlines() == [
        "cluster/secrets/auth_token",
        "cluster/secrets/mlflow.env",
    ]
    readme = subprocess.run(["git", "check-ignore", "-q", "cluster/secrets/README.md"], cwd=REPO)
    assert readme.returncode == 1 and git("ls-files", "cluster/secrets") == "cluster/secrets/README.md"
