"""MLflow-safe metric names for relation labels.

MLflow metric keys allow only alphanumerics, `_ - . / : space`; and `/` groups keys in the UI. Relation
labels are free text (`org:top_members/employees`, `Cause-Effect(e1,e2)`), so each label is sanitised:
    every run of characters outside [A-Za-z0-9_.-] -> "_", leading/trailing "_" stripped,
    `:` (the TACRED namespace) -> "."      e.g. per:city_of_birth -> per.city_of_birth
                                                 org:top_members/employees -> org.top_members_employees
                                                 Cause-Effect(e1,e2) -> Cause-Effect_e1_e2
Two labels that sanitise alike get "_2", "_3", ... suffixes in label order. The exact mapping of a run
is logged with it as the artifact `relation_metric_names.json` ({label: sanitised}).
Per-relation metric keys are `test_rel_f1/<sanitised>` (precision/recall likewise).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_BAD = re.compile(r"[^A-Za-z0-9_.\-]+")
MAPPING_ARTIFACT = "relation_metric_names.json"


def sanitize(label: str) -> str:
    return _BAD.sub("_", label.replace(":", ".")).strip("_") or "_"


def metric_names(labels: Iterable[str]) -> dict[str, str]:
    """{label: unique sanitised name}, stable for a given label order."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for label in labels:
        base = name = sanitize(label)
        k = 1
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        out[label] = name
    return out


def relation_metric_key(prefix: str, stat: str, name: str) -> str:
    """`test_rel_f1/per.city_of_birth`."""
    return f"{prefix}_rel_{stat}/{name}"
