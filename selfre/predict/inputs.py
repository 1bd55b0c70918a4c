"""Prediction inputs -> `RelationRecord`s.

Two record shapes are accepted (spans are `[start, end)`, end-exclusive, like Python slices):
  {"tokens": ["Bill", "Gates", "founded", "Microsoft"], "subj": [0, 2], "obj": [3, 4]}
  {"text": "Bill Gates founded Microsoft.", "subj": [0, 10], "obj": [19, 28]}      (character offsets)
Optional: "subj_type", "obj_type" (TACRED types such as PERSON), "id", "relation" (gold, ignored).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from selfre.data.record import RelationRecord
from selfre.errors import DataError

WORD = re.compile(r"\w+|[^\w\s]")


def _span(value, name: str, source: str, index: int, rid) -> tuple[int, int]:
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise DataError(source, f"'{name}' must be [start, end) as two integers, got {value!r}", index, rid)
    return int(value[0]), int(value[1])


def _words(text: str) -> list[str]:
    return WORD.findall(text)


def record_from_input(d: Mapping, index: int, source: str = "<input>") -> RelationRecord:
    if not isinstance(d, Mapping):
        raise DataError(source, f"expected a JSON object, got {type(d).__name__}", index)
    rid = str(d.get("id", index))
    for key in ("subj", "obj"):
        if key not in d:
            raise DataError(source, f"missing field '{key}'", index, rid)
    (s0, s1), (o0, o1) = (_span(d[k], k, source, index, rid) for k in ("subj", "obj"))
    if "tokens" in d:
        tokens = d["tokens"]
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DataError(source, "'tokens' must be a list of strings", index, rid)
    elif "text" in d:
        text = d["text"]
        if not isinstance(text, str):
            raise DataError(source, "'text' must be a string", index, rid)
        if not (0 <= s0 < s1 <= len(text) and 0 <= o0 < o1 <= len(text)):
            raise DataError(
                source, f"character spans {[s0, s1]} / {[o0, o1]} out of range for {len(text)} characters", index, rid
            )
        # Split the text at the span edges first, so every span boundary is a word boundary.
        edges = sorted({0, s0, s1, o0, o1, len(text)})
        tokens, starts = [], {}
        for a, b in zip(edges, edges[1:], strict=False):
            starts[a] = len(tokens)
            tokens.extend(_words(text[a:b]))
        starts[len(text)] = len(tokens)
        (s0, s1), (o0, o1) = (starts[s0], starts[s1]), (starts[o0], starts[o1])
    else:
        raise DataError(source, "record needs 'tokens' (token spans) or 'text' (character spans)", index, rid)
    record = RelationRecord(
        id=rid,
        tokens=tuple(tokens),
        subj_start=s0,
        subj_end=s1 - 1,
        obj_start=o0,
        obj_end=o1 - 1,
        relation=str(d.get("relation") or "?"),
        subj_type=d.get("subj_type"),
        obj_type=d.get("obj_type"),
    )
    problem = record.problem()
    if problem:
        raise DataError(source, problem, index, rid)
    return record
