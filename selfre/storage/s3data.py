"""`preflight` (is the data there and readable?) and `materialize` (a verified local copy, fetched once per node).

Credentials are boto3's own chain and nothing else: AWS_* env vars, the instance profile, ~/.aws. A non-AWS
store (MinIO, moto in tests) is reached through AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from selfre.errors import DataError
from selfre.storage import cache
from selfre.storage.uri import S3Location, parse_s3_uri

log = logging.getLogger(__name__)

CHUNK = 1 << 20
KMS = ("aws:kms", "aws:kms:dsse")  # with SSE-KMS an ETag is not the MD5 of the bytes


class S3DataError(DataError):
    """The remote data dir cannot be used; the message names the bucket/prefix and what to fix."""

    def __init__(self, where: S3Location | str, reason: str):
        super().__init__(str(where), reason)


@dataclass(frozen=True)
class RemoteObject:
    relative: str  # the key below the prefix, e.g. "train.json"
    key: str
    size: int
    etag: str  # without quotes; "<md5>" for single-part uploads, "<hash>-<parts>" for multipart ones


def client():
    """An S3 client from boto3's default credential chain; path-style addressing for custom endpoints (MinIO)."""
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"} if endpoint else None
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def preflight(uri: str, required: Iterable[str] = (), s3=None) -> list[RemoteObject]:
    """List `uri` and check it holds every file in `required`; run it on the driver before any trial starts.

    Raises `S3DataError` for a missing bucket, an empty prefix, a missing required file, refused or absent
    credentials and an unreachable endpoint, each naming the bucket/prefix.
    """
    where = parse_s3_uri(uri)
    s3 = s3 or client()
    with _explained(where, s3):
        objects = [_remote(where, item) for page in _pages(s3, where) for item in page.get("Contents", [])]
    objects = [o for o in objects if o.relative and not o.relative.endswith("/")]  # folder markers hold no data
    if not objects:
        raise S3DataError(where, f"no objects under this prefix (endpoint {s3.meta.endpoint_url}); check the path")
    present = {o.relative for o in objects}
    missing = [name for name in required if name not in present]
    if missing:
        raise S3DataError(where, "missing " + ", ".join(f"{where}{name}" for name in missing))
    return objects


def materialize(uri: str, cache_dir: str | Path | None = None, required: Iterable[str] = (), s3=None) -> Path:
    """The local folder holding a verified copy of every object under `uri`, downloading only what it lacks.

    The copy lives in `cache_dir` (default `cache.default_root()`) under <endpoint>/<bucket>/<prefix>; it is
    re-used while each object's ETag and size are unchanged. Safe to call from many trials on one node at once.
    """
    where = parse_s3_uri(uri)
    s3 = s3 or client()
    objects = preflight(uri, required, s3)
    folder = _folder(Path(cache_dir) if cache_dir else cache.default_root(), s3, where)
    with cache.locked(folder):
        held = cache.read_manifest(folder)
        fetched = 0
        for obj in objects:
            path = _local(folder, where, obj)
            if _still_valid(held.get(obj.relative), obj, path):
                continue
            held[obj.relative] = _download(s3, where, obj, path)
            cache.write_manifest(folder, str(where), held)  # progress survives a crash part-way
            fetched += 1
        for stale in set(held) - {o.relative for o in objects}:  # deleted remotely: drop the local copy too
            with contextlib.suppress(FileNotFoundError):
                cache.local_path(folder, stale).unlink()
            del held[stale]
        cache.write_manifest(folder, str(where), held)
    log.info("%s: %d file(s) in %s, %d downloaded now", where, len(objects), folder, fetched)
    return folder


def _pages(s3, where: S3Location) -> Iterator[dict]:
    return s3.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.prefix)


def _remote(where: S3Location, item: dict) -> RemoteObject:
    key = item["Key"]
    return RemoteObject(key[len(where.prefix) :], key, int(item["Size"]), item.get("ETag", "").strip('"'))


def _folder(root: Path, s3, where: S3Location) -> Path:
    # The endpoint is part of the key: bucket "data" on MinIO and bucket "data" on AWS are different data.
    endpoint = urlsplit(s3.meta.endpoint_url).netloc.replace(":", "_") or "s3"
    return root / endpoint / where.bucket / where.prefix


def _local(folder: Path, where: S3Location, obj: RemoteObject) -> Path:
    try:
        return cache.local_path(folder, obj.relative)
    except ValueError as exc:
        raise S3DataError(where, f"refusing object {obj.key!r}: {exc}") from None


def _still_valid(entry: dict | None, obj: RemoteObject, path: Path) -> bool:
    return (
        entry is not None
        and entry.get("etag") == obj.etag
        and entry.get("size") == obj.size
        and path.is_file()
        and path.stat().st_size == obj.size
    )


def _download(s3, where: S3Location, obj: RemoteObject, path: Path) -> dict:
    with _explained(where, s3):
        # IfMatch: the bytes must be the version just listed, or S3 answers 412 instead of mixing versions.
        response = (
            s3.get_object(Bucket=where.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')
            if obj.etag
            else s3.get_object(Bucket=where.bucket, Key=obj.key)
        )
        with cache.atomic_write(path) as out:
            for chunk in response["Body"].iter_chunks(CHUNK):
                out.write(chunk)
            checked = _verify(where, obj, out, response)
    log.info("fetched %s%s (%d bytes, %s)", where, obj.relative, obj.size, checked)
    return {"etag": obj.etag, "size": obj.size, "sha256": out.sha256.hexdigest(), "verified": checked}


def _verify(where: S3Location, obj: RemoteObject, out: cache.HashingWriter, response: dict) -> str:
    """Size always; MD5 against the ETag where S3 makes the ETag the MD5 (single-part, not SSE-KMS).

    Multipart ETags are a hash of part hashes with an unknown part size, so those files are checked by size
    here (botocore also validates any full-object CRC/SHA checksum the object was stored with).
    """
    if out.size != obj.size:
        raise S3DataError(where, f"{obj.relative}: got {out.size} bytes, listed as {obj.size}; download again")
    single_part = obj.etag and "-" not in obj.etag and response.get("ServerSideEncryption") not in KMS
    if not single_part:
        return "size"
    if out.md5.hexdigest() != obj.etag:
        raise S3DataError(where, f"{obj.relative}: MD5 {out.md5.hexdigest()} does not match ETag {obj.etag}")
    return "size+md5"


@contextlib.contextmanager
def _explained(where: S3Location, s3) -> Iterator[None]:
    """boto3's exceptions as one line that names the bucket/prefix and the fix."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, PartialCredentialsError

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise S3DataError(
            where,
            "no AWS credentials: attach an instance profile with read access to the bucket, "
            "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ) from None
    except EndpointConnectionError:
        raise S3DataError(
            where,
            f"cannot reach the S3 endpoint {s3.meta.endpoint_url} "
            "(check AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL and the network)",
        ) from None
    except ClientError as exc:
        raise S3DataError(where, _reason(where, exc, s3.meta.endpoint_url)) from None


def _reason(where: S3Location, exc, endpoint: str) -> str:
    error = exc.response.get("Error", {})
    code, status = str(error.get("Code", "")), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "NoSuchBucket" or (status == 404 and code in ("", "404")):
        return f"bucket {where.bucket!r} does not exist at {endpoint}"
    if code in ("AccessDenied", "AllAccessDisabled", "403") or (status == 403 and code not in _BAD_KEYS):
        return (
            f"access denied ({code or status}): this node's credentials need s3:ListBucket on "
            f"arn:aws:s3:::{where.bucket} and s3:GetObject on arn:aws:s3:::{where.bucket}/{where.prefix}*"
        )
    if code in _BAD_KEYS:
        return f"credentials rejected ({code}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN"
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "301"):
        return f"bucket {where.bucket!r} is in another region ({code}): set AWS_REGION to the bucket's region"
    if code in ("PreconditionFailed", "412"):
        return "an object changed while it was being downloaded; run again"
    if code == "NoSuchKey":
        return "an object was deleted while it was being downloaded; run again"
    return f"S3 error {code or status}: {error.get('Message', exc)}"


_BAD_KEYS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired")
