"""Reader for TACRED / Re-TACRED: one JSON array per split (`train.json`, `dev.json`, `test.json`).

Each record has `id, token, subj_start, subj_end, obj_start, obj_end, subj_type, obj_type, relation`
with inclusive span ends; the `stanford_*` annotations and any other extra fields are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfre.data.labels import LabelSet
from selfre.data.ptb import unescape_tokens
from selfre.data.record import RelationRecord
from selfre.data.source import FileRecords, RecordProblem, collect, get_field, load_json_array, record_id_of

SPLIT_FILES = {"train": "train.json", "dev": "dev.json", "test": "test.json"}
SPAN_FIELDS = ("subj_start", "subj_end", "obj_start", "obj_end")


def record_from_json(obj: Any, index: int = 0) -> RelationRecord:
    """One TACRED JSON object -> RelationRecord (PTB escapes mapped back); RecordProblem if unusable."""
    if not isinstance(obj, dict):
        raise RecordProblem("expected a JSON object")
    rid = record_id_of(obj)
    get_field(obj, "id", "str", rid)
    spans = [get_field(obj, name, "int", rid) for name in SPAN_FIELDS]
    return RelationRecord(
        id=obj["id"],
        tokens=unescape_tokens(get_field(obj, "token", "tokens", rid)),
        subj_start=spans[0],
        subj_end=spans[1],
        obj_start=spans[2],
        obj_end=spans[3],
        relation=get_field(obj, "relation", "str", rid),
        subj_type=get_field(obj, "subj_type", "str", rid),
        obj_type=get_field(obj, "obj_type", "str", rid),
    )


def read_tacred(path: str | Path, labels: LabelSet | None = None, skip_bad: bool = False) -> FileRecords:
    """Read one split file. With `labels`, a relation outside the set is a bad record."""
    return collect(path, load_json_array(path), record_from_json, labels, skip_bad)
