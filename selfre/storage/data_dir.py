"""Where a trial reads its data: a `--data-dir s3://…` becomes this node's verified local copy.

Called by the search driver before any trial starts (a wrong bucket or a missing split fails there, in
seconds), by every Ray Train worker before it reads (the first worker on a node downloads; the others,
and every later trial on that node, re-use the cached copy), and by `selfre train` / `selfre evaluate`,
so a search's best_config.json re-trains from the same `s3://` folder (under torchrun each process asks;
one downloads). Local paths pass through unchanged.
"""

from __future__ import annotations

import importlib.util

from selfre.data import tacred
from selfre.errors import ConfigError
from selfre.storage.s3data import materialize
from selfre.storage.uri import is_remote


def required_files(dataset: str) -> list[str]:
    """Files a data dir of `dataset` must hold at its top level, checked before downloading anything.
    SemEval's files may sit in the original archive's sub-folders: its reader checks them after the copy."""
    return list(tacred.SPLIT_FILES.values()) if dataset in ("tacred", "retacred", "demo") else []


def local_data_dir(data_dir: str | None, dataset: str) -> str | None:
    if not is_remote(data_dir):
        return data_dir
    if importlib.util.find_spec("boto3") is None:  # `selfre train` works without the search extra, S3 does not
        raise ConfigError(f"--data-dir {data_dir}: reading data from S3 needs boto3 (pip install 'selfre[search]')")
    return str(materialize(data_dir, required=required_files(dataset)))
