"""Platform layer: bring a dataset stored on S3 (or an S3-compatible store such as MinIO) onto the node that
trains on it. The selfre core never imports this package; `tune/search.py` and the Ray workers do.

    from selfre.storage import is_remote, preflight, materialize
    if is_remote(data_dir):
        preflight(data_dir, required=["train.json", "dev.json", "test.json"])  # driver, before any trial
        data_dir = str(materialize(data_dir))                                   # each node, before reading

Credentials come only from boto3's own chain (env vars, instance profile, ~/.aws); a non-AWS endpoint from
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL.
"""

from selfre.storage.s3data import S3DataError, materialize, preflight
from selfre.storage.uri import S3Location, is_remote, parse_s3_uri

__all__ = ["S3DataError", "S3Location", "is_remote", "materialize", "parse_s3_uri", "preflight"]
