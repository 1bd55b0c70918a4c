"""The node-local side of a remote data dir: one folder per source, a manifest of what it holds, a lock.

Several trials start on one node at once and each asks for the same data: the first takes the folder's lock
and downloads, the others wait on the lock and then find every file already listed in the manifest. Files
appear only under their final name and only once complete (written to a temp file, then renamed), so a
crash mid-download leaves no half file that a later call could mistake for data.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

MANIFEST = ".selfre-manifest.json"
LOCK = ".selfre-lock"


def default_root() -> Path:
    """$SELFRE_DATA_CACHE, else the `data/` folder of selfre's cache ($SELFRE_CACHE_DIR, ~/.cache/selfre)."""
    if os.environ.get("SELFRE_DATA_CACHE"):
        return Path(os.environ["SELFRE_DATA_CACHE"]).expanduser()
    from selfre.model.presets import cache_dir  # deferred: that module imports torch

    return cache_dir() / "data"


def local_path(folder: Path, relative: str) -> Path:
    """`folder/relative`, refusing keys that would land outside `folder` (`../x`, `/etc/x`)."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or any(p in ("..", ".") for p in parts):
        raise ValueError(f"unsafe object name {relative!r}")
    return folder.joinpath(*parts)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Exclusive per-folder lock shared by every process (and thread) on this node; released on exit or crash."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(folder: Path) -> dict[str, dict]:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["objects"]
    except (FileNotFoundError, KeyError, ValueError):
        return {}  # no (readable) manifest: every file is fetched again, which is always safe


def write_manifest(folder: Path, source: str, objects: dict[str, dict]) -> None:
    text = json.dumps({"source": source, "objects": objects}, indent=1, sort_keys=True)
    with atomic_write(folder / MANIFEST) as out:
        out.write(text.encode("utf-8"))


class HashingWriter:
    """A binary file that keeps the size, MD5 (S3's single-part ETag) and SHA-256 of what went into it."""

    def __init__(self, handle):
        self._handle = handle
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self._handle.write(chunk)
        self.size += len(chunk)
        self.md5.update(chunk)
        self.sha256.update(chunk)


@contextlib.contextmanager
def atomic_write(dest: Path) -> Iterator[HashingWriter]:
    """Write to a temp file beside `dest` and rename it into place only if the block finishes without error."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            writer = HashingWriter(handle)
            yield writer
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
