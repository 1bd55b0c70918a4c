"""`ray up` / a search job / `ray down` of cluster/local.yaml, for real, over SSH to this machine.

The "remote machine" is an sshd this test starts in its own PID and mount namespaces (`unshare`), on a free
loopback port, with its own host key, config and authorized key. Inside, root's home is a fresh temp folder
(a bind-mounted copy of /etc/passwd says so), so ~/.bashrc, ~/.ray/auth_token and ~/ray_bootstrap_* land
there and not in the real /root; and the PID namespace keeps `ray stop` (which `ray down` sends, and which
kills every Ray process it can see) away from the Ray clusters of other tests running in parallel. Killing
that sshd (PID 1 of the namespace) ends everything that ran inside. Ray's cluster YAML has no SSH-port
option, so Ray reaches the port the way it reaches nodes behind a bastion: `auth.ssh_proxy_command`, here a
20-line TCP relay.

From cluster/local.yaml only the site-specific parts are replaced: the IPs/user/key, the checkout and secrets
folder it syncs (a clean clone without tags, and a folder cluster/make_secrets.py filled), and the ports (free
ones instead of 6379/8265/...). The setup and start commands run as written, including node_setup.sh at HEAD,
which finds selfre already installed (the test links this venv in as ~/selfre-venv and records the clone's
commit as installed) and so makes no network access.
"""

import contextlib
import getpass
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")
from git_support import clean_clone  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from support import REPO, env_without, free_port  # noqa: E402

VENV = Path(sys.prefix)
RAY_PROCESSES = ("raylet", "gcs_server", "dashboard", "monitor.py", "log_monitor", "runtime_env_agent")

RELAY = """import os, socket, sys, threading
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
def upstream():
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
threading.Thread(target=upstream, daemon=True).start()
while True:
    data = sock.recv(65536)
    if not data:
        break
    os.write(1, data)
"""

pytestmark = pytest.mark.slow


def run(cmd: list[str], env: dict, timeout: float, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def ensure_ssh_tools() -> str:
    """The sshd binary; installs openssh-server and rsync with apt when missing (CI does this in .ci/run)."""
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    if (sshd is None or shutil.which("rsync") is None) and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "openssh-server", "rsync"], capture_output=True, timeout=300)
        sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
    if sshd is None or shutil.which("rsync") is None:
        pytest.skip("sshd or rsync is not installed and could not be installed with apt-get (CI installs both)")
    return sshd


class SshMachine:
    """root@127.0.0.1:<port> through an sshd in its own PID + mount namespace, with a temp folder as root's home."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.user = "root"
        self.home = Path(tempfile.mkdtemp(prefix="srt-", dir="/tmp"))  # short: Ray's socket paths live below it
        self.port = free_port()
        self.key = workdir / "client_key"
        self.proxy = f"{sys.executable} {workdir / 'relay.py'} 127.0.0.1 {self.port}"
        self.unshare: subprocess.Popen | None = None
        self._made_run_sshd = False

    def start(self, sshd: str) -> None:
        for name in ("client_key", "host_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.workdir / name)], check=True)
        (self.workdir / "relay.py").write_text(RELAY)
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "authorized_keys").write_text((self.workdir / "client_key.pub").read_text())
        (ssh_dir / "authorized_keys").chmod(0o600)
        self.home.chmod(0o700)
        passwd = self.workdir / "passwd"  # the namespace's view: root's home is the temp folder
        passwd.write_text(
            "".join(
                ":".join([*f[:5], str(self.home), *f[6:]]) if f[0] == "root" else line
                for line in open("/etc/passwd")
                for f in [line.split(":")]
            )
        )
        if not Path("/run/sshd").exists():  # Debian's sshd insists on its privilege-separation directory
            Path("/run/sshd").mkdir(mode=0o755, parents=True)
            self._made_run_sshd = True
        config = self.workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.workdir / 'host_key'}",
                    f"PidFile {self.workdir / 'sshd.pid'}",
                    "AllowUsers root",
                    "PermitRootLogin prohibit-password",
                    "AuthorizedKeysFile .ssh/authorized_keys",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "X11Forwarding no",
                    "",
                ]
            )
        )
        inside = f"mount --bind {passwd} /etc/passwd && exec {sshd} -D -e -f {config}"
        self.unshare = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation", "private", "sh", "-c", inside],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "sshd.log", "w"),
        )
        deadline = time.time() + 20
        while time.time() < deadline and self.unshare.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.2)
        log = (self.workdir / "sshd.log").read_text()
        if "unshare failed" in log or "Operation not permitted" in log:
            pytest.skip(f"cannot create PID/mount namespaces here (needs CAP_SYS_ADMIN): {log.strip()}")
        pytest.fail(f"sshd did not start: {log}")

    def _namespace(self) -> str | None:
        children = psutil.Process(self.unshare.pid).children() if self.unshare else []
        return os.readlink(f"/proc/{children[0].pid}/ns/pid") if children else None

    def processes(self, names=RAY_PROCESSES) -> list:
        """Processes inside the machine's PID namespace whose command line names a Ray process."""
        namespace, found = self._namespace(), []
        for proc in psutil.process_iter(["name", "cmdline"]):
            with contextlib.suppress(psutil.Error, OSError):
                text = " ".join(proc.info["cmdline"] or [proc.info["name"] or ""])
                if os.readlink(f"/proc/{proc.pid}/ns/pid") == namespace and any(n in text for n in names):
                    found.append(proc)
        return found

    def stop(self) -> None:
        """End the namespace (its PID 1, sshd, takes every process inside along), then delete what it wrote."""
        if self.unshare is not None:
            for child in psutil.Process(self.unshare.pid).children() if self.unshare.poll() is None else []:
                with contextlib.suppress(psutil.Error):
                    child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.unshare.wait(15)
        shutil.rmtree(self.home, ignore_errors=True)
        for name in ("client_key", "client_key.pub", "host_key", "host_key.pub"):
            (self.workdir / name).unlink(missing_ok=True)
        if self._made_run_sshd:
            shutil.rmtree("/run/sshd", ignore_errors=True)


def cluster_config(host: SshMachine, name: str, checkout: Path, secrets_dir: Path, ports: dict) -> dict:
    """cluster/local.yaml with only its site-specific parts replaced (see the module docstring)."""
    config = yaml.safe_load((REPO / "cluster" / "local.yaml").read_text())
    config["cluster_name"] = name
    config["provider"].update(head_ip="127.0.0.1", worker_ips=[])
    config["auth"] = {"ssh_user": host.user, "ssh_private_key": str(host.key), "ssh_proxy_command": host.proxy}
    assert config["file_mounts"] == {"~/selfre-src": ".", "~/.selfre/secrets": "cluster/secrets"}
    config["file_mounts"] = {"~/selfre-src": str(checkout), "~/.selfre/secrets": str(secrets_dir)}
    assert any("node_setup.sh HEAD " in cmd for cmd in config["setup_commands"]), "local.yaml installs HEAD"
    start = [cmd.replace("--port=6379", f"--port={ports['gcs']}") for cmd in config["head_start_ray_commands"]]
    assert any(f"--port={ports['gcs']}" in cmd for cmd in start), "local.yaml's head start command changed"
    extra = " ".join(
        f"--{flag}={ports[key]}"
        for key, flag in (
            ("dashboard", "dashboard-port"),
            ("client", "ray-client-server-port"),
            ("agent", "dashboard-agent-listen-port"),
            ("metrics", "metrics-export-port"),
        )
    )
    config["head_start_ray_commands"] = [cmd.replace("ray start --head", f"ray start --head {extra}") for cmd in start]
    return config


def prepare_home(host: SshMachine, commit: str) -> None:
    """What an admin would have done on the machine: Python set up. Here: this venv, already holding selfre."""
    (host.home / "selfre-venv").symlink_to(VENV)
    (host.home / "selfre").symlink_to(REPO)  # node_setup.sh's export of the ref: here, this checkout
    (host.home / ".selfre-installed").write_text(f"{commit} {host.home}/selfre-venv/bin/python\n")
    (host.home / ".bashrc").write_text(
        f"export RAY_TMPDIR={host.home}/rt HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1\n"  # off the shared /tmp/ray
        # selfre from ~/selfre, as a node's install of it would be, also where this venv holds another editable copy
        f"export PYTHONPATH={host.home}/selfre\n"
    )
    (host.home / "rt").mkdir()


def local_env(workdir: Path, token: Path) -> dict:
    """The laptop side: Ray's CLI from this venv, its state files and caches inside the test's folder."""
    env = env_without("RAY_", "PYTEST_")
    (workdir / "ray-local").mkdir()
    (workdir / "tmp").mkdir()
    env.update(
        PATH=f"{VENV / 'bin'}:{env.get('PATH', '')}",
        RAY_TMPDIR=str(workdir / "ray-local"),
        TMPDIR=str(workdir / "tmp"),
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
    )
    return env


def http_status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def ssh_control_dir(cluster_name: str) -> Path:
    """Where Ray's SSH client keeps its ControlMaster sockets for this cluster (fixed under /tmp by Ray)."""
    user = hashlib.sha256(getpass.getuser().encode()).hexdigest()[:10]
    return Path(f"/tmp/ray_ssh_{user}/{hashlib.sha256(cluster_name.encode()).hexdigest()[:10]}")


def test_ray_up_search_job_ray_down_over_ssh(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1): the stand-in remote machine is an sshd in its own namespaces")
    sshd = ensure_ssh_tools()
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("the repository is not a git checkout; node_setup.sh installs a git commit")
    host, timings = SshMachine(tmp_path), {}
    name = f"selfre-test-{secrets.token_hex(3)}"
    checkout, secrets_dir = tmp_path / "checkout", tmp_path / "secrets"
    commit = clean_clone(checkout)
    made = run(
        [sys.executable, str(REPO / "cluster" / "make_secrets.py"), "--dir", str(secrets_dir)], dict(os.environ), 60
    )
    assert made.returncode == 0, made.stderr
    token = secrets_dir / "auth_token"
    ports = {key: free_port() for key in ("gcs", "dashboard", "client", "agent", "metrics")}
    env = local_env(tmp_path, token)
    cfg = tmp_path / "cluster.yaml"
    try:
        host.start(sshd)
        prepare_home(host, commit)
        cfg.write_text(yaml.safe_dump(cluster_config(host, name, checkout, secrets_dir, ports)))

        started = time.time()
        up = run(["ray", "up", "-y", "--no-config-cache", "--disable-usage-stats", str(cfg)], env, timeout=300)
        timings["ray up"] = time.time() - started
        assert up.returncode == 0, f"ray up failed:\n{up.stdout[-12000:]}\n{up.stderr[-4000:]}"
        assert host.processes(("raylet",)) and host.processes(("gcs_server",)), "ray up started no Ray over SSH"

        # The login shell that `ray exec` and `ray down` use: token auth on, `ray` from the venv node_setup.sh set.
        shell = run(["ray", "exec", str(cfg), "echo mode=$RAY_AUTH_MODE ray=$(command -v ray)"], env, timeout=120)
        assert shell.returncode == 0 and "mode=token" in shell.stdout and "selfre-venv/bin/ray" in shell.stdout, (
            shell.stdout
        )

        dashboard = f"http://127.0.0.1:{ports['dashboard']}"
        assert http_status(f"{dashboard}/api/jobs/") == 401, "the job API must refuse requests without the token"
        assert http_status(f"{dashboard}/api/jobs/", token.read_text()) == 200

        started = time.time()
        # The README's form: `bash -c '...'` expands ~ and $VARS on the head, in the env Ray was started with.
        search = (
            "python ~/selfre/tune/search.py --dataset demo --address auto --name on-cluster --num-samples 1 "
            "--seeds 7 --workers-per-trial 1 --gpus-per-worker 0 --epochs 1 --max-train-examples 32 "
            "--max-eval-examples 16 --data-dir ~/demo-data --storage ~/runs "
            "--tracking-uri sqlite:///$HOME/runs/mlflow.db"
        )
        job = run(["ray", "job", "submit", "--address", dashboard, "--", "bash", "-c", search], env, timeout=420)
        timings["search job"] = time.time() - started
        assert job.returncode == 0, f"search job failed:\n{job.stdout[-6000:]}\n{job.stderr[-3000:]}"
        summary = json.loads((host.home / "runs" / "on-cluster" / "summary.json").read_text())
        assert [c["status"] for c in summary["configurations"]] == ["complete"]
        assert (host.home / "runs" / "mlflow.db").is_file(), "the search logged nothing to MLflow"
        runs = MlflowClient(f"sqlite:///{host.home}/runs/mlflow.db").search_runs(
            [e.experiment_id for e in MlflowClient(f"sqlite:///{host.home}/runs/mlflow.db").search_experiments()]
        )
        kinds = sorted(r.data.tags.get("selfre.kind") for r in runs)
        assert kinds == ["search", "trial"], kinds
        assert all(re.fullmatch(r"[0-9a-f]{40}", r.data.tags["selfre.commit"]) for r in runs), (
            "every run names its code"
        )

        started = time.time()
        down = run(["ray", "down", "-y", str(cfg)], env, timeout=180)
        assert down.returncode == 0, f"ray down failed:\n{down.stdout[-3000:]}\n{down.stderr[-3000:]}"
        deadline = time.time() + 30
        while host.processes() and time.time() < deadline:
            time.sleep(0.5)
        timings["ray down"] = time.time() - started
        left = [" ".join(p.cmdline()[:2]) for p in host.processes() if p.is_running()]
        assert not left, f"ray down left Ray running: {left}"
        state = Path(env["RAY_TMPDIR"]) / "ray" / f"cluster-{name}.state"
        assert all(node["state"] == "terminated" for node in json.loads(state.read_text()).values())
    finally:
        print("timings (s):", {k: round(v, 1) for k, v in timings.items()})
        host.stop()
        shutil.rmtree(ssh_control_dir(name), ignore_errors=True)
        with contextlib.suppress(OSError):
            ssh_control_dir(name).parent.rmdir()  # only if no other cluster's sockets are in it
