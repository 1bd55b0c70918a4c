"""MLflow artifacts in S3 (moto's S3 server on loopback): a tracking server whose artifact destination is a
bucket, the bytes checked in the bucket; preflight failing fast on a missing bucket; a checkpoint fetched
from S3 (Ray's storage) for registration; credentials only in the environment, never in MLflow."""

from __future__ import annotations

import os
import uuid

import pytest

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

from mlflow.tracking import MlflowClient  # noqa: E402
from s3_support import aws_env_vars, environ, moto_endpoint  # noqa: E402
from tracking_support import launch_server, stop, tiny_config, wait_server  # noqa: E402

from selfre.tracking import child, parent, preflight, registry  # noqa: E402

pytestmark = pytest.mark.slow
KEY_ID, SECRET = "AKIAMOTOTESTKEY12345", "moto-secret-never-logged-0123456789"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_endpoint() as endpoint:
        env = {
            **aws_env_vars(endpoint, tmp_path_factory.mktemp("aws"), KEY_ID, SECRET),
            "AWS_ENDPOINT_URL": endpoint,
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
        with environ(env):
            bucket = f"selfre-{uuid.uuid4().hex[:10]}"
            client = boto3.client("s3")
            client.create_bucket(Bucket=bucket)
            yield {"endpoint": endpoint, "bucket": bucket, "client": client, "env": env}


@pytest.fixture(scope="module")
def server(s3, tmp_path_factory):
    """The server proxies artifacts to the bucket with the credentials of its own environment."""
    folder = tmp_path_factory.mktemp("mlflow-s3")
    proc, uri = launch_server(folder, f"s3://{s3['bucket']}/mlflow", env=s3["env"])
    cfg = tiny_config(tmp_path_factory.mktemp("s3run"))
    cfg.train.max_steps = 2
    from selfre.train.loop import train

    try:
        result = train(cfg)  # while the server starts
        wait_server(proc, uri, folder)
        yield uri, cfg, result
    finally:
        stop(proc)


def _all_keys(client, bucket, prefix=""):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _artifacts_land_in_bucket_and_no_credentials_leak(s3, server):
    uri, cfg, result = server
    preflight.preflight(uri)
    run_id = parent.start_search(uri, "selfre-s3", "s3-search", "demo", {"storage": f"s3://{s3['bucket']}/ray"})
    trial = child.TrialRun(uri, run_id, "c0", 42, cfg)
    for epoch in result.history:
        trial.on_epoch_end(epoch)
    trial.on_train_end(result)  # final metrics, tables and plots (the checkpoint is local: probes included)
    trial.end()
    parent.finish_search(uri, run_id, {"configurations": [], "best": None, "seeds": [42]})

    keys = _all_keys(s3["client"], s3["bucket"], "mlflow/")
    csv_key = next(k for k in keys if k.endswith(f"{trial.run_id}/artifacts/tables/per_relation.csv"))
    body = s3["client"].get_object(Bucket=s3["bucket"], Key=csv_key)["Body"].read()
    assert body == open(MlflowClient(uri).download_artifacts(trial.run_id, "tables/per_relation.csv"), "rb").read()
    assert body.startswith(b"relation,metric_name,precision")
    assert any(k.endswith("plots/confusion_top20.png") for k in keys)

    client = MlflowClient(uri)
    texts = []
    for rid in (run_id, trial.run_id):
        run = client.get_run(rid)
        texts += [str(run.data.params), str(run.data.tags), run.info.artifact_uri]
    for key in keys:
        if key.endswith((".json", ".csv", ".md", ".txt", ".yaml")):
            texts.append(s3["client"].get_object(Bucket=s3["bucket"], Key=key)["Body"].read().decode())
    blob = "\n".join(texts)
    assert KEY_ID not in blob and SECRET not in blob


def _preflight_fails_fast_on_missing_bucket(server):
    uri = server[0]
    with pytest.raises(preflight.TrackingUnavailable, match="artifact store"):
        preflight.preflight(
            uri, experiment=f"missing-{uuid.uuid4().hex[:6]}", artifact_location="s3://no-such-bucket-xyz/a"
        )


def _checkpoint_fetched_from_s3(s3, server):
    """Ray keeps trial checkpoints in S3; registration reads them through pyarrow."""
    ckpt = server[2].checkpoint_dir
    files = sorted(os.walk(ckpt))
    for root, _, names in files:
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), ckpt)
            s3["client"].upload_file(os.path.join(root, name), s3["bucket"], f"ray/trial/checkpoint/{rel}")
    with registry.local_checkpoint(f"s3://{s3['bucket']}/ray/trial/checkpoint") as local:
        for root, _, names in files:
            for name in names:
                rel = os.path.relpath(os.path.join(root, name), ckpt)
                assert (local / rel).read_bytes() == open(os.path.join(root, name), "rb").read()


def test_s3_artifacts_preflight_and_checkpoints(s3, server):
    """One test (one server start under xdist, where module fixtures run once per worker)."""
    _artifacts_land_in_bucket_and_no_credentials_leak(s3, server)
    _preflight_fails_fast_on_missing_bucket(server)
    _checkpoint_fetched_from_s3(s3, server)
