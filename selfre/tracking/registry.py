"""Log the best configuration's best checkpoint as an MLflow model, register it, and apply the promotion rule.

Registered model: `selfre-<dataset>`. Version tags: dataset, mean_dev_f1, std_dev_f1, person_centric_f1
(test, mean over seeds), search_run_id, config_id. Aliases (stages are deprecated in MLflow 3):
  * `champion` moves to the new version only if its mean dev F1 is strictly higher than the current
    champion's (or there is no champion yet);
  * otherwise the new version gets `challenger` (the alias moves off any older challenger).
Serve the champion with:  mlflow models serve -m models:/selfre-<dataset>@champion --env-manager local
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import mlflow

CHAMPION, CHALLENGER = "champion", "challenger"
F1_TAG = "mean_dev_f1"


@dataclass
class Registered:
    name: str
    version: str
    alias: str  # champion or challenger
    previous_champion: str | None
    model_uri: str


def model_name(dataset: str) -> str:
    return f"selfre-{dataset}"


@contextmanager
def local_checkpoint(uri: str):
    """A local folder for a checkpoint that may live in S3/GCS (Ray's storage), via pyarrow."""
    if "://" not in uri or uri.startswith("file://"):
        yield Path(uri.removeprefix("file://"))
        return
    import pyarrow.fs as pafs

    tmp = Path(tempfile.mkdtemp(prefix="selfre-ckpt-"))
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
        pafs.copy_files(path, str(tmp / "checkpoint"), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
        yield tmp / "checkpoint"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def register_best(tracking_uri: str, search_run_id: str, checkpoint: str, dataset: str, config_id: str,
                  mean_dev_f1: float, std_dev_f1: float, person_centric_f1: float | None) -> Registered:  # fmt: skip
    """Log `checkpoint` (local path or s3:// URI) as model `model` in the search run, register, promote.
    Once per search: finishing it again (`--resume` of a search that had finished) returns the version it
    registered then instead of adding a copy of the same checkpoint."""
    from selfre.tracking.pyfunc_model import log_model

    client = MlflowClient(tracking_uri)
    name = model_name(dataset)
    earlier = _registered_by(client, name, search_run_id, config_id)
    if earlier is not None:
        return earlier
    mlflow.set_tracking_uri(tracking_uri)
    with local_checkpoint(checkpoint) as folder, mlflow.start_run(run_id=search_run_id):
        info = log_model(str(folder))
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=f"SELF relation extraction trained on {dataset} (selfre searches)")
    tags = {"dataset": dataset, F1_TAG: repr(float(mean_dev_f1)), "std_dev_f1": repr(float(std_dev_f1)),
            "person_centric_f1": "" if person_centric_f1 is None else repr(float(person_centric_f1)),
            "search_run_id": search_run_id, "config_id": config_id}  # fmt: skip
    mv = client.create_model_version(name, info.model_uri, run_id=search_run_id, tags=tags, model_id=info.model_id)
    alias, previous = promote(client, name, mv.version, float(mean_dev_f1))
    return Registered(name, str(mv.version), alias, previous, f"models:/{name}@{alias}")


def _registered_by(client: MlflowClient, name: str, search_run_id: str, config_id: str) -> Registered | None:
    try:
        found = client.search_model_versions(f"name = '{name}' and tags.search_run_id = '{search_run_id}'")
    except MlflowException:
        return None  # no such registered model yet
    for mv in found:
        if mv.tags.get("config_id") == config_id:
            # search results do not carry aliases: ask for the champion itself
            try:
                champion = str(client.get_model_version_by_alias(name, CHAMPION).version)
            except MlflowException:
                champion = None
            alias = CHAMPION if champion == str(mv.version) else CHALLENGER
            return Registered(name, str(mv.version), alias, None, f"models:/{name}@{alias}")
    return None


def promote(client: MlflowClient, name: str, version: str, mean_dev_f1: float) -> tuple[str, str | None]:
    """The promotion rule -> (alias given to `version`, the champion version before, if any)."""
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        current = None
    if current is None or mean_dev_f1 > float(current.tags.get(F1_TAG, "-inf")):
        client.set_registered_model_alias(name, CHAMPION, version)
        return CHAMPION, None if current is None else str(current.version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    return CHALLENGER, str(current.version)
