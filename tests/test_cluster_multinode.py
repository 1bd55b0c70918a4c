"""A real search on a two-node Ray cluster on one machine: its trials run on both nodes, reading a data dir
that lives on S3 (moto's server on loopback), fetched by the driver's check and by the workers, and storing
its checkpoints and summary in S3 too, from where the best checkpoint is registered in MLflow.

`ray.cluster_utils.Cluster` starts a head (3 CPUs) and a second node (2 CPUs) as separate raylets. Each trial's
worker asks for 2 CPUs, so after the first trial takes the head, the second can only start on the other node:
the Train workers' node ids (Ray's state API) must name both. The cluster writes its address file and sockets
under its own RAY_TMPDIR and uses free ports, so `ray.init()` in tests running in parallel neither finds nor
collides with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile

import pytest

pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402
from ray.util.state import list_actors  # noqa: E402
from s3_support import aws_env_vars, environ, moto_endpoint  # noqa: E402
from support import REPO, SEARCH, env_without, free_port  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def s3_demo(tmp_path_factory):
    """The demo corpus in a bucket; AWS_* and the node data cache set *before* Ray starts, as on a real
    cluster, where every node has the instance profile: Ray's workers inherit their raylet's environment."""
    pytest.importorskip("moto.server")
    import boto3

    from selfre.data.demo import generate_demo

    tmp = tmp_path_factory.mktemp("s3demo")
    generate_demo(tmp / "demo", seed=5, n_train=48, n_dev=16, n_test=16)
    with moto_endpoint() as endpoint:
        with environ({**aws_env_vars(endpoint, tmp), "SELFRE_DATA_CACHE": str(tmp / "node-cache")}):
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket="corpus")
            for split in ("train.json", "dev.json", "test.json"):
                s3.upload_file(str(tmp / "demo" / split), "corpus", f"demo/{split}")
            yield "s3://corpus/demo", tmp / "node-cache"


@pytest.fixture
def two_node_cluster(s3_demo, monkeypatch):
    temp = tempfile.mkdtemp(prefix="srm-", dir="/tmp")  # short: Ray's socket paths live below it
    monkeypatch.setenv("RAY_TMPDIR", temp)
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 3,
            "include_dashboard": True,
            "dashboard_port": free_port(),
            "dashboard_agent_listen_port": free_port(),
        },
    )
    try:
        cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def test_search_trials_run_on_both_nodes(two_node_cluster, s3_demo, tmp_path):
    cluster = two_node_cluster
    data_uri, node_cache = s3_demo
    nodes = {cluster.head_node.node_id, *(n.node_id for n in cluster.worker_nodes)}
    assert len(nodes) == 2
    search = [
        *SEARCH,
        "--dataset",
        "demo",
        "--address",
        cluster.address,
        "--name",
        "two-nodes",
        "--num-samples",
        "2",
        "--seeds",
        "1",
        "--scheduler",
        "fifo",
        "--max-concurrent",
        "2",
        "--workers-per-trial",
        "1",
        "--cpus-per-worker",
        "2",
        "--num-threads",
        "1",
        "--epochs",
        "1",
        "--max-train-examples",
        "32",
        "--max-eval-examples",
        "16",
        "--data-dir",
        data_uri,
        "--storage",
        "s3://corpus/runs",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
    ]
    env = env_without("PYTEST_")
    done = subprocess.run(search, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, f"search failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    import boto3

    s3 = boto3.client("s3")
    summary = json.loads(s3.get_object(Bucket="corpus", Key="runs/two-nodes/summary.json")["Body"].read())
    assert [c["status"] for c in summary["configurations"]] == ["complete", "complete"]
    keys = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="corpus", Prefix="runs/")
        for o in page.get("Contents", [])
    }
    finals = {k for k in keys if k.endswith("/final/model.safetensors")}
    # Ray Train wrote the checkpoints to the bucket (keep_checkpoints 1: only the final one stays), Tune its state.
    assert len(finals) == 2 and "runs/two-nodes/search_plan.json" in keys
    best = max(summary["best"]["trials"], key=lambda t: t["metrics"]["dev_f1"])
    assert best["checkpoint"].startswith("s3://corpus/runs/two-nodes/train_runs/")
    # Both "nodes" share this machine's disk, so one verified copy serves them (once per node on a real cluster).
    [manifest] = node_cache.rglob(".selfre-manifest.json")
    assert sorted(json.loads(manifest.read_text())["objects"]) == ["dev.json", "test.json", "train.json"]
    # Each trial's rank-0 worker (one per node here) logged its own MLflow run under the search's run.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("selfre-demo").experiment_id])
    trials = [r for r in runs if r.data.tags.get("selfre.kind") == "trial"]
    assert len(trials) == 2 and {r.info.status for r in trials} == {"FINISHED"}
    assert all("test_f1" in r.data.metrics for r in trials)
    champion = client.get_model_version_by_alias("selfre-demo", "champion")  # registered from the S3 checkpoint
    assert champion.tags["config_id"] == summary["best"]["config_id"]

    # A one-worker trial trains in its Tune trial actor (selfre/search/in_trial.py): that actor is the worker.
    workers = list_actors(
        address=f"http://{cluster.webui_url}",
        filters=[("class_name", "=", "ImplicitFunc")],
        detail=True,
        limit=1000,
        raise_on_missing_output=False,
    )
    used = {w.node_id for w in workers}
    assert len(workers) == 2 and used == nodes, f"trial workers ran on {used}, cluster nodes are {nodes}"

    # The README's release step after a search: withdraws any standing autoscaler request, returns at once.
    release = subprocess.run(
        [sys.executable, str(REPO / "cluster" / "request_gpus.py"), "0", "--address", cluster.address, "--wait", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert release.returncode == 0 and "requested 0" in release.stdout, release.stderr[-2000:]
