"""RunConfig -> MLflow params: `selfre.config.flatten` (every switch of docs/method.md, the seed included) as strings.

Credentials never reach params: values that look like URIs are passed through `redact` (user:password@
and query strings dropped), and MLflow's 6000-character value limit is respected.
"""

from __future__ import annotations

from typing import Any

from selfre.config import RunConfig, flatten
from selfre.redact import redact

MAX_VALUE = 6000


def to_param(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    return redact(text)[:MAX_VALUE]


def run_params(cfg: RunConfig) -> dict[str, str]:
    # out_dir is a per-worker temp folder: noise, and it differs between restarts of the same trial.
    return {k: to_param(v) for k, v in flatten(cfg).items() if k != "out_dir"}


def dict_params(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dict (a search config) -> flat `a.b` params."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(dict_params(v, key + "."))
        else:
            out[key] = to_param(v)
    return out
