"""The cluster's secrets, made once on your machine: Ray's token and MLflow's basic-auth login.

usage (from the repository root):   python cluster/make_secrets.py [--dir FOLDER]

Writes, in cluster/secrets/ (or FOLDER):
  auth_token   the cluster's Ray token (token auth: every node, and your `ray job submit` with
               RAY_AUTH_TOKEN_PATH pointing here); the format of `ray get-auth-token --generate`
  mlflow.env   MLFLOW_TRACKING_USERNAME/PASSWORD (the admin login of the head's MLflow, used by every trial
               worker) and MLFLOW_FLASK_SERVER_SECRET_KEY (the server's session key)
The folder is mode 700, the files 600, and git ignores them; the cluster YAMLs copy the folder to every node
(file_mounts) and node_setup.sh stops a node's set-up when a file is missing.
Idempotent: a file that exists is kept as it is, since changing a secret under a running cluster would lock
its nodes out (MLflow keeps the admin password it first started with); only missing files are made. Prints the
paths, never a secret. Needs nothing but Python: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import stat
import sys
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent / "secrets"
TOKEN, MLFLOW_ENV = "auth_token", "mlflow.env"
MLFLOW_KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY")


def new_contents(name: str) -> str:
    if name == TOKEN:
        return secrets.token_hex(32)  # what Ray's own generator writes (no newline)
    values = {
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": secrets.token_hex(16),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
    }
    return "".join(f"{key}={values[key]}\n" for key in MLFLOW_KEYS)


def problem(path: Path) -> str | None:
    """Why an existing secret file cannot be used as it is, or None."""
    text = path.read_text(encoding="utf-8")
    if path.name == TOKEN:
        return None if text.strip() else "is empty"
    found = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and line.split("=", 1)[1].strip()}
    missing = [key for key in MLFLOW_KEYS if key not in found]
    return f"has no value for {', '.join(missing)}" if missing else None


def make_secrets(folder: Path) -> list[str]:
    """Create what is missing in `folder`; -> one line per file saying what was done (no secret in it)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    lines = []
    for name in (TOKEN, MLFLOW_ENV):
        path = folder / name
        if path.exists():
            why = problem(path)
            if why:
                raise SystemExit(
                    f"make_secrets.py: {path} {why}: fix it, or delete it to have a new one made "
                    "(a running cluster then needs `ray up` again)"
                )
            if stat.S_IMODE(path.stat().st_mode) != 0o600:
                path.chmod(0o600)
                lines.append(f"kept {path} (mode set to 600)")
            else:
                lines.append(f"kept {path}")
            continue
        # Created with mode 600 from the start: the secret is never readable by others, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new_contents(name))
        lines.append(f"made {path}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_secrets.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"where to write them (default {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    for line in make_secrets(args.dir):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
