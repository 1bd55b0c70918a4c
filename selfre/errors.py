"""Errors users see. Each one names the file, record or flag at fault so the fix is obvious."""

from __future__ import annotations


class SelfreError(Exception):
    """Base class: the CLI prints these as one clean line and exits non-zero."""


class DataError(SelfreError):
    """A data file or one of its records is unusable.

    `path` is the file; `index` (0-based position in the file) and `record_id` name the record when
    the fault is in one record rather than the whole file.
    """

    def __init__(self, path, reason: str, index: int | None = None, record_id: str | None = None):
        self.path = str(path)
        self.reason = reason
        self.index = index
        self.record_id = record_id
        where = self.path
        if index is not None:
            where += f": record {index}"
            if record_id is not None:
                where += f" (id={record_id})"
        super().__init__(f"{where}: {reason}")


class ConfigError(SelfreError):
    """A configuration value or command-line flag is invalid; the message names the field/flag."""
