"""Log the best configuration's best checkpoint as an MLflow model, register it, and apply the promotion rule.

Registered model: `--registered-model`, default `selfre-<dataset>` (Unity Catalog: `catalog.schema.model`,
checked by targets.py). Version tags: dataset, metric (the search's objective), dev_digest (sha256 of the
dev records the checkpoint was scored on, from its data_info.json), mean_dev_score/std_dev_score (mean ±
std over seeds of the dev objective), person_centric_f1 (test, mean over seeds), search_run_id, config_id, and
the code that ran the search (selfre.version, selfre.commit, selfre.dirty: selfre.provenance).
Aliases (stages are deprecated in MLflow 3):
  * `champion` moves to the new version only if the current champion is comparable — same dataset, same
    dev data (digest), same metric — and the new mean dev score is strictly higher (or there is no champion);
  * otherwise the new version gets `challenger` (the alias moves off any older challenger), and the tag
    `promotion` says why: a lower score, or what makes the two incomparable (a demo scored on 100 dev
    sentences never unseats a model scored on the full dev set, whatever its number).
Serve the champion with:  mlflow models serve -m models:/<name>@champion --env-manager local
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import mlflow
from selfre import provenance
from selfre.env_overlay import overlay_environ
from selfre.storage.uri import local_path
from selfre.tracking.targets import default_name

CHAMPION, CHALLENGER = "champion", "challenger"
SCORE_TAG, REASON_TAG = "mean_dev_score", "promotion"
# What must be equal before two dev scores mean the same thing.
COMPARABLE = (("dataset", "dataset"), ("metric", "metric"), ("dev_digest", "dev data"))


@dataclass
class Registered:
    name: str
    version: str
    alias: str  # champion or challenger
    previous_champion: str | None
    model_uri: str


def model_name(dataset: str) -> str:
    return default_name(dataset)


@contextmanager
def local_checkpoint(uri: str):
    """A local folder for a checkpoint that may live in S3/GCS (Ray's storage), via pyarrow."""
    local = local_path(uri)
    if local is not None:
        yield local
        return
    import pyarrow.fs as pafs

    tmp = Path(tempfile.mkdtemp(prefix="selfre-ckpt-"))
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
        pafs.copy_files(
            path, str(tmp / "checkpoint"), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem()
        )
        yield tmp / "checkpoint"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def register_best(
    tracking_uri: str,
    search_run_id: str,
    checkpoint: str,
    dataset: str,
    config_id: str,
    metric: str,
    mean_dev_score: float,
    std_dev_score: float,
    person_centric_f1: float | None,
    name: str | None = None,
) -> Registered:
    """Log `checkpoint` (local path or s3:// URI) as model `model` in the search run, register it as `name`
    (default model_name(dataset)), promote. Once per search: finishing it again (`--resume` of a search that
    had finished) returns the version it registered then instead of adding a copy of the same checkpoint."""
    from selfre.tracking.pyfunc_model import log_model

    client = MlflowClient(tracking_uri)
    name = name or model_name(dataset)
    earlier = _registered_by(client, name, search_run_id, config_id)
    if earlier is not None:
        return earlier
    # The whole registration under the scoped fluent URI: MLflow 3 resolves a `models:/m-...` source of
    # create_model_version through the fluent tracking URI, not the client's.
    with fluent_tracking_uri(tracking_uri):
        with local_checkpoint(checkpoint) as folder, mlflow.start_run(run_id=search_run_id):
            info = log_model(str(folder))
            dev_digest = dev_data_digest(folder)
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(
                name, description=f"SELF relation extraction trained on {dataset} (selfre searches)"
            )
        tags = {
            "dataset": dataset,
            "metric": metric,
            "dev_digest": dev_digest,
            SCORE_TAG: repr(float(mean_dev_score)),
            "std_dev_score": repr(float(std_dev_score)),
            "person_centric_f1": "" if person_centric_f1 is None else repr(float(person_centric_f1)),
            "search_run_id": search_run_id,
            "config_id": config_id,
            **provenance.version_tags(),
        }
        mv = client.create_model_version(name, info.model_uri, run_id=search_run_id, tags=tags, model_id=info.model_id)
    alias, previous = promote(client, name, mv.version, tags)
    return Registered(name, str(mv.version), alias, previous, f"models:/{name}@{alias}")


@contextmanager
def fluent_tracking_uri(uri: str):
    """MLflow's fluent API (log_model needs it) pointed at `uri` for the block only. mlflow.set_tracking_uri also
    exports MLFLOW_TRACKING_URI, which selfre reads as the default store (selfre.tracking.targets): left set, every
    later search or report in this process (a notebook, a test session) would log to this store."""
    from mlflow.tracking._tracking_service import utils

    with overlay_environ({"MLFLOW_TRACKING_URI": uri}):  # restored exactly, unset if it was unset
        previous = utils._tracking_uri
        mlflow.set_tracking_uri(uri)
        try:
            yield
        finally:
            utils._tracking_uri = previous


def dev_data_digest(checkpoint_folder: str | Path) -> str:
    """The dev digest the checkpoint's data loader recorded; '' where it recorded none (never comparable)."""
    try:
        info = json.loads((Path(checkpoint_folder) / "data_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return (info.get("digests") or {}).get("dev", "")


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
            if champion != str(mv.version) and REASON_TAG not in mv.tags:  # the driver died before promoting it
                alias, previous = promote(client, name, str(mv.version), dict(mv.tags))
                return Registered(name, str(mv.version), alias, previous, f"models:/{name}@{alias}")
            alias = CHAMPION if champion == str(mv.version) else CHALLENGER
            return Registered(name, str(mv.version), alias, None, f"models:/{name}@{alias}")
    return None


def promote(client: MlflowClient, name: str, version: str, tags: dict[str, str]) -> tuple[str, str | None]:
    """The promotion rule for `version` with its tags -> (alias given, the champion version before, if any).
    A version that does not become champion is tagged with the reason."""
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        current = None
    if current is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        return CHAMPION, None
    reason = why_not_comparable(tags, current.tags, current.version)
    score, best = float(tags[SCORE_TAG]), float(current.tags.get(SCORE_TAG, "-inf"))
    if reason is None and score > best:
        client.set_registered_model_alias(name, CHAMPION, version)
        return CHAMPION, str(current.version)
    if reason is None:
        reason = f"mean dev {tags['metric']} {score:.4f} does not beat champion version {current.version}'s {best:.4f}"
    client.set_model_version_tag(name, version, REASON_TAG, reason)
    client.set_registered_model_alias(name, CHALLENGER, version)
    return CHALLENGER, str(current.version)


def why_not_comparable(new: dict[str, str], champion: dict[str, str], champion_version: str) -> str | None:
    """None if the two versions' dev scores can be compared, else what differs (the tag a challenger gets)."""
    differs = difference(new, champion)
    if differs is None:
        return None
    return f"not compared with champion version {champion_version}: {differs}; promote it by hand if it should serve"


def difference(ours: dict[str, str], theirs: dict[str, str]) -> str | None:
    """None if two sets of COMPARABLE fields allow comparing dev scores, else the first that differs, as
    'different dev data (3fa2… vs 91bc…)'. An unknown value (empty) is never comparable, not even with itself.
    The one rule for the registry's promotion and `selfre report`'s tables."""
    for key, what in COMPARABLE:
        a, b = ours.get(key) or "", theirs.get(key) or ""
        if not a or a != b:
            return f"different {what} ({_show(key, a)} vs {_show(key, b)})"
    return None


def _show(key: str, value: str) -> str:
    return (value[:12] if key == "dev_digest" else value) or "unknown"
