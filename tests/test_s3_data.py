"""`selfre.storage` against moto's S3 server on loopback: fetched once, verified, re-used, clear errors.

The server runs in this process on 127.0.0.1 with a free port; boto3 reaches it only through
AWS_ENDPOINT_URL_S3, and the credentials are dummy env vars (no ~/.aws, no instance metadata).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.stub import Stubber  # noqa: E402
from s3_support import aws_env_vars, moto_endpoint  # noqa: E402
from support import REPO, SEARCH, env_without  # noqa: E402

from selfre.errors import ConfigError  # noqa: E402
from selfre.storage import S3DataError, is_remote, materialize, parse_s3_uri, preflight, s3data  # noqa: E402
from selfre.storage import cache as data_cache  # noqa: E402

FILES = {
    "train.json": b'[{"id": "t1"}]',
    "dev.json": b'[{"id": "d1"}]',
    "test.json": b'[{"id": "x1"}]',
    "extra/README.txt": b"nested keys keep their folders",
}
SPLITS = ("train.json", "dev.json", "test.json")


@pytest.fixture(scope="module")
def endpoint():
    with moto_endpoint() as url:
        yield url


@pytest.fixture
def aws_env(endpoint, monkeypatch, tmp_path):
    """Dummy credentials in env vars only; nothing read from ~/.aws or instance metadata."""
    for name, value in aws_env_vars(endpoint, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return endpoint


@pytest.fixture
def bucket(aws_env):
    name = f"selfre-{uuid.uuid4().hex[:12]}"
    s3 = s3data.client()
    s3.create_bucket(Bucket=name)
    for rel, body in FILES.items():
        s3.put_object(Bucket=name, Key=f"tacred/{rel}", Body=body)
    return name


def counting_client(calls=None):
    """A client whose GetObject calls are recorded (by key): a download counter that needs no server log."""
    s3, calls = s3data.client(), [] if calls is None else calls
    s3.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: calls.append(params["Key"]))
    return s3, calls


def test_uri_parsing():
    assert is_remote("s3://b/p") and is_remote("S3://b") and not is_remote("/data/tacred") and not is_remote(None)
    assert parse_s3_uri("s3://b/a/b").prefix == "a/b/" == parse_s3_uri("s3://b/a/b/").prefix
    assert str(parse_s3_uri("s3://b")) == "s3://b/"
    with pytest.raises(ConfigError, match="no bucket"):
        parse_s3_uri("s3:///tacred")


def test_client_takes_the_endpoint_from_env(aws_env, monkeypatch):
    assert s3data.client().meta.endpoint_url == aws_env
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env)  # the generic variable is honoured too (MinIO set-ups)
    assert s3data.client().meta.endpoint_url == aws_env


def test_materialize_fetches_each_object_once_then_reuses_the_cache(bucket, tmp_path):
    s3, calls = counting_client()
    local = materialize(f"s3://{bucket}/tacred", cache_dir=tmp_path / "cache", required=SPLITS, s3=s3)
    assert sorted(calls) == sorted(f"tacred/{rel}" for rel in FILES)
    for rel, body in FILES.items():
        assert (local / rel).read_bytes() == body
    manifest = json.loads((local / data_cache.MANIFEST).read_text())
    assert manifest["source"] == f"s3://{bucket}/tacred/"
    assert manifest["objects"]["train.json"]["verified"] == "size+md5"
    assert manifest["objects"]["train.json"]["sha256"] == hashlib.sha256(FILES["train.json"]).hexdigest()
    assert not list(local.rglob("*.part")), "no temp file may be left behind"

    calls.clear()
    again = materialize(f"s3://{bucket}/tacred/", cache_dir=tmp_path / "cache", s3=s3)
    assert again == local and calls == [], "a second call (another trial) must download nothing"


def test_default_client_and_cache_come_from_env(bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("SELFRE_DATA_CACHE", str(tmp_path / "node-cache"))
    local = materialize(f"s3://{bucket}/tacred")
    assert local.is_relative_to(tmp_path / "node-cache") and (local / "train.json").read_bytes() == FILES["train.json"]


def test_changed_removed_and_damaged_files_are_fetched_again(bucket, tmp_path):
    s3, calls = counting_client()
    uri = f"s3://{bucket}/tacred"
    local = materialize(uri, cache_dir=tmp_path, s3=s3)
    s3.put_object(Bucket=bucket, Key="tacred/dev.json", Body=b'[{"id": "d2"}]')  # new version: new ETag
    s3.delete_object(Bucket=bucket, Key="tacred/extra/README.txt")
    (local / "test.json").write_bytes(b"truncated")  # damaged local copy: size no longer matches
    calls.clear()
    materialize(uri, cache_dir=tmp_path, s3=s3)
    assert sorted(calls) == ["tacred/dev.json", "tacred/test.json"]
    assert (local / "dev.json").read_bytes() == b'[{"id": "d2"}]'
    assert (local / "test.json").read_bytes() == FILES["test.json"]
    assert not (local / "extra" / "README.txt").exists(), "an object deleted remotely leaves the cache too"


def test_concurrent_trials_on_one_node_download_each_object_once(bucket, tmp_path):
    calls, results, errors = [], [], []

    def trial():
        s3, _ = counting_client(calls)  # one client per thread, like one per trial process
        try:
            results.append(materialize(f"s3://{bucket}/tacred", cache_dir=tmp_path, s3=s3))
        except Exception as exc:  # surfaced below: an exception in a thread would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=trial) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 4 and len(set(results)) == 1
    assert sorted(calls) == sorted(f"tacred/{rel}" for rel in FILES), "the lock makes the other trials wait, not fetch"


def test_multipart_objects_are_checked_by_size(bucket, tmp_path):
    s3, _ = counting_client()
    body = bytes(range(256)) * (24 * 1024)  # 6 MiB: two parts of >= 5 MiB (S3's minimum part size)
    s3.upload_fileobj(
        io.BytesIO(body),
        bucket,
        "big/train.json",
        Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20),
    )
    local = materialize(f"s3://{bucket}/big", cache_dir=tmp_path, s3=s3)
    entry = json.loads((local / data_cache.MANIFEST).read_text())["objects"]["train.json"]
    assert "-" in entry["etag"] and entry["verified"] == "size"
    assert entry["sha256"] == hashlib.sha256(body).hexdigest() and (local / "train.json").read_bytes() == body


def test_a_corrupt_download_is_rejected_and_never_lands(tmp_path):
    where = parse_s3_uri("s3://b/p")
    obj = s3data.RemoteObject("train.json", "p/train.json", 5, hashlib.md5(b"hello").hexdigest())
    with pytest.raises(S3DataError, match="does not match ETag"):
        with data_cache.atomic_write(tmp_path / "train.json") as out:
            out.write(b"jello")
            s3data._verify(where, obj, out, {})
    with pytest.raises(S3DataError, match="got 4 bytes"):
        with data_cache.atomic_write(tmp_path / "train.json") as out:
            out.write(b"hell")
            s3data._verify(where, obj, out, {})
    assert list(tmp_path.iterdir()) == [], "neither the file nor its temp file may remain"


def test_wrong_bucket_fails_before_anything_is_written(aws_env, tmp_path):
    with pytest.raises(S3DataError, match=r"s3://no-such-bucket-[0-9a-f]+/tacred/: bucket .* does not exist"):
        materialize(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/tacred", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_empty_prefix_and_missing_key_name_what_is_missing(bucket):
    with pytest.raises(S3DataError, match=rf"s3://{bucket}/tacred-typo/: no objects under this prefix"):
        preflight(f"s3://{bucket}/tacred-typo")
    with pytest.raises(S3DataError, match=rf"missing s3://{bucket}/tacred/train2\.json, s3://{bucket}/tacred/x\.json"):
        preflight(f"s3://{bucket}/tacred", required=("train.json", "train2.json", "x.json"))


def test_refused_and_absent_credentials(aws_env, monkeypatch):
    s3 = s3data.client()
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
        with pytest.raises(S3DataError, match=r"s3://secret/tacred/: access denied .* s3:ListBucket"):
            preflight("s3://secret/tacred", s3=s3)
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", "InvalidAccessKeyId", "bad key", 403)
        with pytest.raises(S3DataError, match="credentials rejected"):
            preflight("s3://secret/tacred", s3=s3)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(S3DataError, match="no AWS credentials: attach an instance profile"):
        preflight("s3://secret/tacred")


def test_unreachable_endpoint(aws_env):
    from botocore.config import Config

    # One attempt, so the test does not sit through the retry back-off; port 9 (discard) has no listener.
    s3 = boto3.session.Session().client(
        "s3", endpoint_url="http://127.0.0.1:9", config=Config(retries={"total_max_attempts": 1})
    )
    with pytest.raises(S3DataError, match="cannot reach the S3 endpoint http://127.0.0.1:9"):
        preflight("s3://b/tacred", s3=s3)


def test_keys_that_escape_the_cache_folder_are_refused(bucket, tmp_path):
    s3 = s3data.client()
    s3.put_object(Bucket=bucket, Key="evil/../../outside.txt", Body=b"x")
    with pytest.raises(S3DataError, match="refusing object"):
        materialize(f"s3://{bucket}/evil", cache_dir=tmp_path / "cache", s3=s3)
    assert not (tmp_path / "outside.txt").exists()


# -- the search's side: --data-dir s3://… is checked and fetched by the driver before Ray starts ---------------
def _search(*args: str, cwd, env) -> subprocess.CompletedProcess:
    return subprocess.run([*SEARCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_search_refuses_a_wrong_bucket_or_missing_split_before_starting_ray(bucket, tmp_path):
    env = env_without("PYTEST_")  # keeps aws_env's dummy credentials
    env["SELFRE_DATA_CACHE"] = str(tmp_path / "cache")
    s3data.client().delete_object(Bucket=bucket, Key="tacred/test.json")
    for data_dir, expected in ((f"s3://no-such-{bucket}/tacred", "no-such-"), (f"s3://{bucket}/tacred", "test.json")):
        res = _search(
            "--dataset", "tacred", "--data-dir", data_dir, "--storage", str(tmp_path / "runs"), cwd=tmp_path, env=env
        )
        assert res.returncode == 2, res.stderr[-2000:]
        assert expected in res.stderr and "s3://" in res.stderr
        assert "Ray" not in res.stdout and "Started a local Ray instance" not in res.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing half-started


def _demo_in_a_new_bucket(local: Path, n_eval: int) -> str:
    """The demo corpus (40 training sentences) written to `local` and uploaded to a bucket of its own: its s3:// folder."""
    from selfre.data.demo import generate_demo

    generate_demo(local, seed=3, n_train=40, n_dev=n_eval, n_test=n_eval)
    name = f"selfre-{uuid.uuid4().hex[:12]}"
    s3 = s3data.client()
    s3.create_bucket(Bucket=name)
    for split in SPLITS:
        s3.upload_file(str(local / split), name, f"demo/{split}")
    return f"s3://{name}/demo"


def test_plan_keeps_a_remote_data_dir_and_the_driver_reads_a_local_copy(aws_env, tmp_path, monkeypatch):
    from selfre.search.plan import build_plan
    from selfre.search.runner import check_data

    monkeypatch.setenv("SELFRE_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SELFRE_CACHE_DIR", str(tmp_path / "presets"))
    remote_dir = _demo_in_a_new_bucket(tmp_path / "demo", n_eval=10)

    def remote(cfg):
        cfg.data.data_dir = remote_dir
        return cfg

    plan = build_plan(
        "demo", REPO / "tune" / "configs", apply_run_overrides=remote, name="s3", storage_root=str(tmp_path / "runs")
    )
    assert plan.run_config().data.data_dir == remote_dir  # every node fetches it, not a driver path
    check_data(plan)
    [copy] = [p.parent for p in (tmp_path / "cache").rglob("train.json")]
    assert all((copy / s).read_bytes() == (tmp_path / "demo" / s).read_bytes() for s in SPLITS)


# -- re-training a search's best configuration: `selfre train` / `selfre evaluate` take the same s3:// folders ---
@pytest.mark.slow
def test_best_config_of_an_s3_search_re_trains_and_evaluates_from_s3(aws_env, tmp_path, monkeypatch, caplog, capsys):
    """best_config.json keeps `data_dir: s3://…` and records how the trial ran (W, threads, device type): `selfre
    train --config` fetches the data as the search did, takes the threads and device the config leaves open,
    warns that W differs, and `selfre evaluate --data-dir s3://…` scores the checkpoint on the same data."""
    import logging

    from selfre.cli import main
    from selfre.search.plan import build_plan
    from selfre.search.runner import write_summary
    from selfre.search.summary import TrialRecord, summarize
    from selfre.search_results import COMPLETE

    monkeypatch.setenv("SELFRE_DATA_CACHE", str(tmp_path / "cache"))
    remote = _demo_in_a_new_bucket(tmp_path / "demo", n_eval=16)

    def small(cfg):
        cfg.data.data_dir, cfg.data.max_train_examples, cfg.data.max_eval_examples = remote, 0, 0
        cfg.train.epochs, cfg.train.batch_size, cfg.train.num_threads = 1, 8, 0  # threads: the search's choice
        return cfg

    plan = build_plan(
        "demo",
        REPO / "tune" / "configs",
        apply_run_overrides=small,
        name="s3",
        storage_root=str(tmp_path / "runs"),
        search_overrides={"workers_per_trial": 2, "cpus_per_worker": 2.0},
    )
    trial = TrialRecord("t1", "c001", 52, {}, COMPLETE, 1, {"dev_score": 0.5, "best_epoch": 1})
    best_file = Path(write_summary(plan, summarize([trial], [52], base=plan.base))["best_config"])
    best = json.loads(best_file.read_text())
    assert best["data"]["data_dir"] == remote and best["train"]["seed"] == 52 and best["train"]["num_threads"] == 0
    assert best["reproduce"] == {
        "world_size": 2,
        "threads_per_worker": 2,
        "device": "cpu",
        "command": "torchrun --nproc-per-node 2 -m selfre train --config best_config.json --out OUT",
    }

    out = tmp_path / "again"
    with caplog.at_level(logging.WARNING, logger="selfre.cli.train_cmd"):
        assert main(["train", "--config", str(best_file), "--out", str(out)]) == 0
    assert any("1 data-parallel worker(s), the trial 2" in r.getMessage() for r in caplog.records), caplog.text
    saved = json.loads((out / "checkpoint" / "config.json").read_text())
    assert saved["train"]["num_threads"] == 2 and saved["train"]["device"] == "cpu" and saved["train"]["seed"] == 52
    assert [p.name for p in (tmp_path / "cache").rglob("train.json")] == ["train.json"]  # read from the fetched copy
    test_f1 = json.loads((out / "metrics.json").read_text())["test"]["f1"]
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint"), "--data-dir", remote, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == pytest.approx(test_f1, abs=1e-9)
