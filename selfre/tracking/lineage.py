"""Dataset lineage: each trial run's train/dev/test inputs as MLflow datasets (the run page's "Datasets used").

One `MetaDataset` per split — the data itself stays where it is — named `<dataset>-<split>`, its source the
split's file where the search read it (the s3:// URI for `--data-dir s3://…`, not a node's cached copy),
its digest the split's content digest (`info["digests"]`, selfre.data.digest: the records *used*,
after max_*_examples and SemEval's dev carve-out), cut to MLflow's 36-character limit. Input tags: the
context (`mlflow.data.context` = train/dev/test), the full sha256 and the record count.
"""

from __future__ import annotations

from pathlib import Path

from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from selfre.storage.uri import is_uri

SPLITS = ("train", "dev", "test")
DIGEST_CHARS = 36  # mlflow.utils.validation.MAX_DATASET_DIGEST_SIZE
SHA256_TAG = "selfre.sha256"  # the input's full content digest (the dataset's own digest is cut to DIGEST_CHARS)


def dataset_inputs(data_info: dict, data_dir: str | None = None) -> list[DatasetInput]:
    """`data_info`: a checkpoint's data_info.json (selfre.data.datasets.load_splits' info). `data_dir`: the
    data folder as configured (default: the one the loader read)."""
    digests = data_info.get("digests") or {}
    out = []
    for split in SPLITS:
        if split not in digests:
            continue
        source = resolve_dataset_source(_source(data_info["files"][split], data_info.get("data_dir"), data_dir))
        ds = MetaDataset(source, name=f"{data_info['dataset']}-{split}", digest=digests[split][:DIGEST_CHARS])
        tags = [
            InputTag(MLFLOW_DATASET_CONTEXT, split),
            InputTag(SHA256_TAG, digests[split]),
            InputTag("selfre.records", str((data_info.get("counts") or {}).get(split, ""))),
        ]
        out.append(DatasetInput(ds._to_mlflow_entity(), tags))
    return out


def _source(file: str, read_from: str | None, configured: str | None) -> str:
    """The split's file under the configured data folder (a URI stays a URI)."""
    if not configured or not read_from:
        return file
    try:
        rel = Path(file).relative_to(read_from)
    except ValueError:
        return file
    return f"{configured.rstrip('/')}/{rel.as_posix()}" if is_uri(configured) else str(Path(configured) / rel)
