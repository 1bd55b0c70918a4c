"""A search's files in its storage: a local folder or a URI (`s3://…`, `gs://…`), read and written through
pyarrow's filesystems — the same layer Ray Tune/Train use, so anything Ray can store to, so can we.

Layout of one search, `<storage>/<name>/`:
    search_plan.json           the resolved plan (config, space, seeds, resources): what --resume reads
    <trial folders>/           Tune's per-trial results (result.json, progress.csv, params.json)
    train_runs/<run>/          Ray Train runs, one per trial: checkpoint_epoch_NNNN/ (resumable epoch
                               state) and final/ (the trial's best-dev model, scored on test)
    summary.json, summary.csv  written at the end
"""

from __future__ import annotations

import json
from pathlib import Path

from selfre.storage.uri import is_uri

TRAIN_RUNS = "train_runs"


def resolve(storage: str) -> str:
    """Local paths become absolute (Ray workers do not share the driver's working directory)."""
    return storage if is_uri(storage) else str(Path(storage).expanduser().resolve())


def with_scheme_of(path: str, reference: str) -> str:
    """Ray reports checkpoint paths as pyarrow sees them, inside their filesystem and without its scheme
    (`s3://bucket/runs/x` -> `bucket/runs/x`): put `reference`'s scheme back, so the path can be opened
    again by anything that is not holding that filesystem object (the registry, a later process)."""
    if is_uri(path) or not is_uri(reference):
        return path
    return f"{reference.split('://', 1)[0]}://{path.lstrip('/')}"


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def _pafs():
    # Imported on first use: pyarrow (and numpy under it) costs ~1 s, which `tune/search.py --help` must not pay.
    import pyarrow.fs

    return pyarrow.fs


def _fs(uri: str):
    return _pafs().FileSystem.from_uri(uri)


def exists(uri: str) -> bool:
    fs, path = _fs(uri)
    return fs.get_file_info(path).type != _pafs().FileType.NotFound


def write_text(uri: str, text: str) -> None:
    fs, path = _fs(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(text.encode("utf-8"))


def delete(uri: str) -> None:
    fs, path = _fs(uri)
    fs.delete_file(path)


def delete_dir_if_empty(uri: str) -> None:
    fs, path = _fs(uri)
    if not fs.get_file_info(_pafs().FileSelector(path, allow_not_found=True)):
        fs.delete_dir(path)


def read_text(uri: str) -> str:
    fs, path = _fs(uri)
    with fs.open_input_stream(path) as src:
        return src.readall().decode("utf-8")


def write_json(uri: str, obj) -> None:
    write_text(uri, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(uri: str):
    return json.loads(read_text(uri))


def list_dirs(uri: str) -> list[str]:
    """Names of the sub-folders of `uri` (empty if it does not exist)."""
    fs, path = _fs(uri)
    pafs = _pafs()
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)
