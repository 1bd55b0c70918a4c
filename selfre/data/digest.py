"""A content digest of a split's records: the same records -> the same digest, whatever file they came from.

What it fingerprints is what a run *used*: the records after `max_*_examples` and, for SemEval, after the
dev carve-out — so two runs with the same dev digest were scored on the same sentences and labels, which
is what the registry needs before it compares their dev scores. (The file hashes in `info["sha256"]` say
which files were read; they cannot tell a 100-example dev subset from the full split.)

Canonical form: each record as JSON with sorted keys (tokens as a list), the lines sorted — the record
order of a file does not change what is scored — joined by newlines, hashed with sha256 (hex).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict

from selfre.data.record import RelationRecord


def records_digest(records: Iterable[RelationRecord]) -> str:
    lines = sorted(json.dumps(asdict(r), sort_keys=True, ensure_ascii=False, separators=(",", ":")) for r in records)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
