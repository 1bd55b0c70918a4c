"""One rule for keeping credentials out of everything selfre prints, logs, saves or sends to MLflow."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """`scheme://user:password@host/...` -> `scheme://***@host/...`, and a URI's `?query` (signed URLs, keys
    in endpoint options) dropped. Works on a bare URI or on a longer text that contains URIs."""
    text = _USERINFO.sub("***@", text)
    return text.split("?", 1)[0] if "://" in text else text
