"""Locations as strings: a URI or a local path (the one answer every layer asks), and `s3://bucket/prefix`
data dirs: which are remote, and their bucket and folder prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from selfre.errors import ConfigError

SCHEME = "s3://"
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")  # RFC 3986 scheme, then an authority


def is_uri(location: str | Path) -> bool:
    """`scheme://…` (s3://, gs://, file://, http://, sqlite:///…), as opposed to a plain path."""
    return bool(_URI.match(str(location)))


def local_path(location: str | Path) -> Path | None:
    """The local path a location names: a plain path or a `file://` URI; None for any other URI (remote)."""
    text = str(location)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    return None if is_uri(text) else Path(text)


def is_remote(uri: str | None) -> bool:
    """True for `s3://…` data dirs; local paths (and None, the demo default) are read where they are."""
    return bool(uri) and str(uri).lower().startswith(SCHEME)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" (the whole bucket) or a folder ending in "/"

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}"

    def key(self, relative: str) -> str:
        return self.prefix + relative


def parse_s3_uri(uri: str) -> S3Location:
    """`s3://bucket/a/b` and `s3://bucket/a/b/` both name the folder `a/b/`: a data dir is a folder of files."""
    if not is_remote(uri):
        raise ConfigError(f"--data-dir {uri!r}: expected s3://bucket/prefix")
    bucket, _, prefix = uri[len(SCHEME) :].partition("/")
    if not bucket:
        raise ConfigError(f"--data-dir {uri!r}: no bucket name after s3://")
    prefix = prefix.strip("/")
    return S3Location(bucket, prefix + "/" if prefix else "")
