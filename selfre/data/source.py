"""Strict reading shared by every format reader: errors name the file and the record at fault.

A format module only says how one raw item (a JSON object, a line, a text block) becomes a
`RelationRecord`; `collect` does the rest the same way for all of them: record validation, label
checks, and skipping bad records under `skip_bad` while keeping the errors for the report.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfre.data.labels import LabelSet
from selfre.data.record import RelationRecord
from selfre.errors import DataError


class RecordProblem(Exception):
    """One raw item cannot become a record; `collect` adds the file and the record's position."""

    def __init__(self, reason: str, record_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.record_id = record_id


@dataclass
class FileRecords:
    """The usable records of one file, plus one `DataError` per record skipped under `skip_bad`."""

    path: Path
    records: list[RelationRecord]
    skipped: list[DataError] = field(default_factory=list)


def read_text(path: str | Path) -> str:
    """The file as text; undecodable bytes survive as lone surrogates instead of failing here.

    Why not decode strictly at once: a bad byte almost always sits inside one record, and the user
    needs to know which (or to skip just that one with skip_bad). `collect` finds such records.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read file: {exc.strerror or exc}") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if not data.strip():
        raise DataError(path, "file is empty")
    return data.decode("utf-8", errors="surrogateescape")


_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_utf8(value: Any, where: str = "") -> str | None:
    """Describe the first string inside `value` that held invalid UTF-8, or None if all are clean."""
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        if match is None:
            return None
        code = ord(match.group())
        byte = f" (byte 0x{code - 0xDC00:02x})" if 0xDC80 <= code <= 0xDCFF else ""
        return f"invalid UTF-8{byte} in {where or 'text'}"
    if isinstance(value, dict):
        items: Iterable = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = bad_utf8(item, f"{where}[{key!r}]" if where else repr(key))
        if found:
            return found
    return None


def printable(text: str) -> str:
    """Render text that may hold undecodable bytes, so an error message can always be printed."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def load_json(path: str | Path, text: str) -> Any:
    """Parse a whole JSON document; on failure name the array element (index and id) that broke it."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _locate_json_error(path, text, exc) from None


def load_json_array(path: str | Path) -> list:
    data = load_json(path, read_text(path))
    if not isinstance(data, list):
        raise DataError(path, f"expected a JSON array of records, got a JSON {_json_type(data)}")
    if not data:
        raise DataError(path, "file holds no records (empty JSON array)")
    return data


_ID = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _locate_json_error(path, text: str, exc: json.JSONDecodeError) -> DataError:
    # Fast path failed, so walk the array element by element: slow, but only on broken files.
    file_level = DataError(path, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
    start = _skip_ws(text, 0)
    if text[start : start + 1] != "[":
        return file_level
    decoder = json.JSONDecoder()
    pos, index = _skip_ws(text, start + 1), 0
    while pos < len(text):
        try:
            _, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            return DataError(
                path,
                f"malformed JSON at line {err.lineno} column {err.colno}: {err.msg}",
                index,
                _id_near(text, pos, err.pos),
            )
        after = _skip_ws(text, end)
        if text[after : after + 1] == ",":
            pos, index = _skip_ws(text, after + 1), index + 1
            continue
        if text[after : after + 1] == "]":
            return file_level
        line = text.count("\n", 0, after) + 1
        return DataError(
            path,
            f"malformed JSON after this record (line {line}): expected ',' or ']'",
            index,
            _id_near(text, pos, end),
        )
    return file_level


def _id_near(text: str, start: int, stop: int) -> str | None:
    match = _ID.search(text, start, max(stop, start))
    return printable(match.group(1)) if match else None


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


_KINDS = {
    "str": ("a string", lambda v: isinstance(v, str)),
    # bool is an int subclass in Python, but `true` as a span index is a data bug.
    "int": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "tokens": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v)),
    "object": ("an object", lambda v: isinstance(v, dict)),
}


def get_field(obj: dict, name: str, kind: str, record_id: str | None, where: str = "") -> Any:
    """`obj[name]` checked against `kind` (a key of _KINDS); else a RecordProblem."""
    label = f"{where}.{name}" if where else name
    if name not in obj:
        raise RecordProblem(f"missing field {label!r}", record_id)
    value = obj[name]
    expected, ok = _KINDS[kind]
    if not ok(value):
        raise RecordProblem(f"field {label!r} must be {expected}, got {_json_type(value)}", record_id)
    return value


def record_id_of(obj: Any) -> str | None:
    """The id to name in an error, even before the record is known to be valid."""
    if isinstance(obj, dict) and isinstance(obj.get("id"), str | int) and not isinstance(obj.get("id"), bool):
        return printable(str(obj["id"]))
    return None


def collect(
    path: str | Path,
    items: Iterable,
    convert: Callable[[Any, int], RelationRecord],
    labels: LabelSet | None,
    skip_bad: bool,
) -> FileRecords:
    """Convert and validate every raw item; raise the first error, or skip and keep them all."""
    path = Path(path)
    result = FileRecords(path, [])
    for index, raw in enumerate(items):
        try:
            record = convert(raw, index)
            reason = _bad_utf8_in(record) or record.problem()
            if reason:
                raise RecordProblem(reason, printable(record.id))
            if labels is not None:
                labels.check(record.relation, path, index, record.id)
        except RecordProblem as problem:
            error = DataError(path, problem.reason, index, problem.record_id)
        except DataError as exc:
            error = exc
        else:
            result.records.append(record)
            continue
        if not skip_bad:
            raise error
        result.skipped.append(error)
    if not result.records:
        total = len(result.skipped)
        raise DataError(path, f"no usable records (all {total} skipped as bad)" if total else "file holds no records")
    return result


def _bad_utf8_in(record: RelationRecord) -> str | None:
    # One regex over the joined text keeps the clean (usual) case cheap on 100k-record files.
    fields = {
        "id": record.id,
        "relation": record.relation,
        "token": record.tokens,
        "subj_type": record.subj_type or "",
        "obj_type": record.obj_type or "",
    }
    joined = "\n".join((record.id, record.relation, fields["subj_type"], fields["obj_type"], *record.tokens))
    return bad_utf8(fields) if _SURROGATE.search(joined) else None
