"""Reader for the original SemEval-2010 Task 8 files (`TRAIN_FILE.TXT`, `TEST_FILE_FULL.TXT`).

Each example is a numbered, quoted sentence with `<e1>..</e1>` and `<e2>..</e2>` tags, then its label
(`Component-Whole(e2,e1)` or `Other`), a `Comment:` line and a blank line; CRLF or LF line ends.
e1 is always the subject and e2 the object: the direction lives in the label, as the scorer expects.
The record id is the sentence number. There is no dev file: `carve_dev` makes one from train.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from selfre.data.labels import LabelSet
from selfre.data.record import RelationRecord
from selfre.data.source import FileRecords, RecordProblem, collect, printable, read_text
from selfre.errors import ConfigError, DataError

SPLIT_FILES = {"train": "TRAIN_FILE.TXT", "test": "TEST_FILE_FULL.TXT"}
# The official archive unpacks into these sub-folders, so data_dir may point at its top level too.
SUBDIRS = ("", "SemEval2010_task8_training", "SemEval2010_task8_testing_keys")

_SENTENCE = re.compile(r"^(\d+)\t(.*)$")
_TAG = re.compile(r"</?e[12]>")
_VALID_TAG_ORDERS = (["<e1>", "</e1>", "<e2>", "</e2>"], ["<e2>", "</e2>", "<e1>", "</e1>"])
# Words keep inner hyphens (`mother-in-law`), clitics split off (`factory 's`), every other
# punctuation mark is its own token.
_WORD = re.compile(r"\w+(?:-\w+)*|'(?:s|d|m|t|ll|re|ve)\b|[^\w\s]", re.IGNORECASE)


def find_split_files(data_dir: str | Path) -> dict[str, Path]:
    """{'train': TRAIN_FILE.TXT, 'test': TEST_FILE_FULL.TXT} under data_dir or the archive's sub-folders."""
    data_dir = Path(data_dir)
    found = {}
    for split, name in SPLIT_FILES.items():
        candidates = [data_dir / sub / name for sub in SUBDIRS]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise DataError(data_dir, f"no {split} file: expected {candidates[0]} (or in {', '.join(SUBDIRS[1:])}/)")
        found[split] = path
    return found


def tokenize_tagged(
    sentence: str, record_id: str | None = None
) -> tuple[tuple[str, ...], tuple[int, int], tuple[int, int]]:
    """Words of a tagged sentence and the inclusive (start, end) word spans of e1 and e2.

    Each stretch between tags is tokenised on its own, so a tag boundary is always a word boundary
    even when the tag is glued to punctuation or to another word (`continuum<e2>bath</e2>`).
    """
    tags = _TAG.findall(sentence)
    if tags not in _VALID_TAG_ORDERS:
        raise RecordProblem(f"expected one <e1>..</e1> and one <e2>..</e2>, not nested; found tags {tags}", record_id)
    tokens: list[str] = []
    starts: dict[str, int] = {}
    spans: dict[str, tuple[int, int]] = {}
    for i, piece in enumerate(_TAG.split(sentence)):
        if i:
            tag = tags[i - 1]
            name = tag.strip("</>")
            if tag.startswith("</"):
                if len(tokens) == starts[name]:
                    raise RecordProblem(f"<{name}> encloses no word", record_id)
                spans[name] = (starts[name], len(tokens) - 1)
            else:
                starts[name] = len(tokens)
        tokens.extend(_WORD.findall(piece))
    return tuple(tokens), spans["e1"], spans["e2"]


def record_from_block(block: list[str], index: int = 0) -> RelationRecord:
    """[sentence line, label line, optional Comment line] -> RelationRecord."""
    number, sentence = _SENTENCE.match(block[0]).groups()
    sentence = sentence.strip()
    if len(sentence) >= 2 and sentence[0] == sentence[-1] == '"':
        sentence = sentence[1:-1]
    if len(block) < 2 or block[1].startswith("Comment"):
        raise RecordProblem("missing the label line after the sentence", number)
    if len(block) > 3 or (len(block) == 3 and not block[2].startswith("Comment")):
        raise RecordProblem(f"unexpected line {printable(block[-1])[:60]!r} (expected 'Comment: ...')", number)
    tokens, (s1, e1), (s2, e2) = tokenize_tagged(sentence, number)
    return RelationRecord(number, tokens, s1, e1, s2, e2, block[1].strip())


def _blocks(path: Path, text: str) -> list[list[str]]:
    # A new example starts at every numbered line rather than at blank lines, so a missing blank
    # line is harmless and a missing label is blamed on the right example.
    blocks: list[list[str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if _SENTENCE.match(line):
            blocks.append([line])
        elif not blocks:
            raise DataError(path, f"line {lineno}: expected '<number><TAB>\"sentence\"', got {printable(line)[:60]!r}")
        else:
            blocks[-1].append(line.strip())
    return blocks


def read_semeval(path: str | Path, labels: LabelSet | None = None, skip_bad: bool = False) -> FileRecords:
    path = Path(path)
    return collect(path, _blocks(path, read_text(path)), record_from_block, labels, skip_bad)


def carve_dev(
    records: list[RelationRecord], fraction: float, seed: int
) -> tuple[list[RelationRecord], list[RelationRecord]]:
    """Split TRAIN_FILE records into (train, dev), both in file order.

    Dev = the round(fraction * n) records whose sha256(seed:id) ranks lowest. Ranking by id rather
    than by position means a record's split depends only on its own id and the seed: reordering
    the file or skipping a bad record elsewhere leaves everyone else where they were, and the result
    does not depend on Python's random module.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"data.semeval_dev_fraction={fraction}: must be in (0, 1)")
    if len(records) < 2:
        raise ConfigError("SemEval dev carve-out needs at least 2 training records")
    n_dev = min(max(1, round(len(records) * fraction)), len(records) - 1)
    rank = sorted(range(len(records)), key=lambda i: hashlib.sha256(f"{seed}:{records[i].id}".encode()).digest())
    dev = set(rank[:n_dev])
    return [r for i, r in enumerate(records) if i not in dev], [r for i, r in enumerate(records) if i in dev]
