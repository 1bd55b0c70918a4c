"""Platform layer: where a search's files and data live, a local folder or a URI. The selfre core never
imports this package; `selfre search`, `selfre ablate` and the Ray workers do.

  uri.py        is this a URI or a local path (the one answer every layer uses); `s3://bucket/prefix` data dirs
  files.py      a search's files: read and written through pyarrow in a local folder or any URI Ray stores to
  s3data.py     a dataset stored on S3 (or MinIO): `preflight` it from the driver, `materialize` it on each node
  cache.py      the node-local verified copy `materialize` fills, once per node
  data_dir.py   where a trial reads its data: an `s3://` data dir becomes this node's copy

    from selfre import storage
    storage.write_json(storage.join(root, name, "summary.json"), summary)
    if storage.is_remote(data_dir):
        storage.preflight(data_dir, required=["train.json", "dev.json", "test.json"])  # driver, before any trial
        data_dir = str(storage.materialize(data_dir))                                   # each node, before reading

Credentials come only from boto3's own chain (env vars, instance profile, ~/.aws); a non-AWS endpoint from
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL.
"""

from selfre.storage.files import (
    TRAIN_RUNS,
    delete,
    delete_dir_if_empty,
    exists,
    join,
    list_dirs,
    read_json,
    read_text,
    resolve,
    with_scheme_of,
    write_json,
    write_text,
)
from selfre.storage.s3data import S3DataError, materialize, preflight
from selfre.storage.uri import S3Location, is_remote, is_uri, local_path, parse_s3_uri

__all__ = [
    "TRAIN_RUNS",
    "S3DataError",
    "S3Location",
    "delete",
    "delete_dir_if_empty",
    "exists",
    "is_remote",
    "is_uri",
    "join",
    "list_dirs",
    "local_path",
    "materialize",
    "parse_s3_uri",
    "preflight",
    "read_json",
    "read_text",
    "resolve",
    "with_scheme_of",
    "write_json",
    "write_text",
]
