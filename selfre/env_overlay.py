"""Temporarily changed environment variables, restored exactly (unset ones unset again) on exit."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping


@contextlib.contextmanager
def overlay_environ(
    values: Mapping[str, str], *, keep_existing: bool = False, drop: Iterable[str] = ()
) -> Iterator[None]:
    """os.environ with `values` set — or, with `keep_existing`, set only where the variable is unset, so the
    user's own setting wins — and `drop` removed, for the duration of the block."""
    drop = tuple(drop)
    saved = {k: os.environ.get(k) for k in (*values, *drop)}
    for k, v in values.items():
        if not (keep_existing and k in os.environ):
            os.environ[k] = v
    for k in drop:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
