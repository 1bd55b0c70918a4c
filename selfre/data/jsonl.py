"""Reader for the JSON-lines layout of OpenNRE and similar toolkits: one JSON object per line,

    {"token": [...], "h": {"name": ..., "pos": [start, end]}, "t": {"pos": [...]}, "relation": "..."}

`h` is the subject and `t` the object. `pos` ends are EXCLUSIVE there and become inclusive here. An
optional string `type` in `h`/`t` becomes the entity type; an optional top-level `id` is kept,
otherwise the id is `<file stem>-<index>` (e.g. `val-17`). Blank lines are ignored and do not count
towards record indices.

File names: two schemes are accepted per split, OpenNRE's `train.txt` / `val.txt` / `test.txt` and
`train.jsonl` / `dev.jsonl` / `test.jsonl`. A folder holding both names for one split is an error,
since silently preferring one could evaluate on the wrong file.
"""

from __future__ import annotations

import json
from pathlib import Path

from selfre.data.labels import LabelSet
from selfre.data.ptb import unescape_tokens
from selfre.data.record import RelationRecord
from selfre.data.source import FileRecords, RecordProblem, collect, get_field, printable, read_text, record_id_of
from selfre.errors import DataError

SPLIT_FILES = {
    "train": ("train.jsonl", "train.txt"),
    "dev": ("dev.jsonl", "val.txt"),
    "test": ("test.jsonl", "test.txt"),
}


def find_split_files(data_dir: str | Path) -> dict[str, Path]:
    """The file of each split under `data_dir`; DataError naming the expected names if one is missing."""
    data_dir = Path(data_dir)
    found = {}
    for split, names in SPLIT_FILES.items():
        present = [data_dir / name for name in names if (data_dir / name).is_file()]
        if not present:
            raise DataError(data_dir, f"no {split} file: expected {' or '.join(str(data_dir / n) for n in names)}")
        if len(present) > 1:
            raise DataError(
                data_dir, f"both {present[0].name} and {present[1].name} exist for the {split} split; keep only one"
            )
        found[split] = present[0]
    return found


def _span(entity: dict, name: str, rid: str | None) -> tuple[int, int]:
    """`pos` [start, end_exclusive] -> inclusive (start, end)."""
    if "pos" not in entity:
        raise RecordProblem(f"missing field '{name}.pos'", rid)
    pos = entity["pos"]
    # `type(p) is int` rather than isinstance: JSON `true` would pass as 1.
    if not (isinstance(pos, list) and len(pos) == 2 and all(type(p) is int for p in pos)):
        raise RecordProblem(f"field '{name}.pos' must be [start, end_exclusive] integers, got {pos!r}", rid)
    if pos[1] <= pos[0]:
        raise RecordProblem(f"field '{name}.pos' {pos} is an empty span (its end is exclusive)", rid)
    return pos[0], pos[1] - 1


def record_from_line(line: str, index: int, stem: str = "jsonl") -> RelationRecord:
    """One JSON line -> RelationRecord; RecordProblem if the line is not a usable record."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise RecordProblem(f"malformed JSON at column {exc.colno}: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise RecordProblem("expected a JSON object")
    rid = record_id_of(obj) or f"{stem}-{index}"
    head = get_field(obj, "h", "object", rid)
    tail = get_field(obj, "t", "object", rid)
    (subj_start, subj_end), (obj_start, obj_end) = _span(head, "h", rid), _span(tail, "t", rid)
    return RelationRecord(
        id=rid,
        tokens=unescape_tokens(get_field(obj, "token", "tokens", rid)),
        subj_start=subj_start,
        subj_end=subj_end,
        obj_start=obj_start,
        obj_end=obj_end,
        relation=get_field(obj, "relation", "str", rid),
        subj_type=_entity_type(head, "h", rid),
        obj_type=_entity_type(tail, "t", rid),
    )


def _entity_type(entity: dict, name: str, rid: str) -> str | None:
    return get_field(entity, "type", "str", rid, name) if "type" in entity else None


def read_jsonl(path: str | Path, labels: LabelSet | None = None, skip_bad: bool = False) -> FileRecords:
    """Read one split file. Each line is its own record, so a malformed line is skippable."""
    path = Path(path)
    lines = [line for line in read_text(path).splitlines() if line.strip()]
    stem = printable(path.stem)
    return collect(path, lines, lambda line, index: record_from_line(line, index, stem), labels, skip_bad)
