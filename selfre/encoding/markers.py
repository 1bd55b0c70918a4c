"""Entity markers (docs/method.md §2): wrap the subject and object spans of a word sequence.

Output is still a *word* sequence with a role per word; sub-word alignment happens in `encode.py`, so
marker logic is tokenizer-independent.

  typed_entity_marker_punct:  @ * person * Bill Gates @ ... # ^ organization ^ Microsoft #
  entity_marker_punct:        @ Bill Gates @ ... # Microsoft #
  entity_marker:              [E1] Bill Gates [/E1] ... [E2] Microsoft [/E2]   (new special tokens)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from selfre.data.record import RelationRecord

MARKERS = ("typed_entity_marker_punct", "entity_marker_punct", "entity_marker")
# Added to the tokenizer's vocabulary (and the embedding matrix resized) for `entity_marker`.
ENTITY_MARKER_TOKENS = ("[E1]", "[/E1]", "[E2]", "[/E2]")


class Role(IntEnum):
    CONTEXT = 0
    SUBJ = 1
    OBJ = 2
    SUBJ_MARKER = 3
    OBJ_MARKER = 4


@dataclass(frozen=True)
class MarkedSentence:
    words: list[str]
    roles: list[Role]
    subj_marker_word: int  # index (in `words`) of the subject's opening marker -> e1
    obj_marker_word: int  # index of the object's opening marker -> e2


def resolve_marker(marker: str, has_types: bool) -> str:
    """'auto' picks the typed marker where entity types exist (docs/method.md §2 defaults)."""
    if marker == "auto":
        return "typed_entity_marker_punct" if has_types else "entity_marker_punct"
    if marker not in MARKERS:
        raise ValueError(f"unknown marker format {marker!r}; expected auto or one of {', '.join(MARKERS)}")
    return marker


def type_words(entity_type: str | None) -> list[str]:
    # TACRED types are upper-case with underscores (STATE_OR_PROVINCE); Zhou & Chen write them as words.
    return (entity_type or "entity").lower().replace("_", " ").split()


def _wrap(marker: str, is_subj: bool, words, entity_type: str | None) -> tuple[list[str], list[Role]]:
    m_role, w_role = (Role.SUBJ_MARKER, Role.SUBJ) if is_subj else (Role.OBJ_MARKER, Role.OBJ)
    if marker == "entity_marker":
        open_, close = ENTITY_MARKER_TOKENS[0:2] if is_subj else ENTITY_MARKER_TOKENS[2:4]
        prefix, suffix = [open_], [close]
    elif marker == "entity_marker_punct":
        prefix, suffix = (["@"], ["@"]) if is_subj else (["#"], ["#"])
    else:  # typed_entity_marker_punct
        inner = "*" if is_subj else "^"
        prefix = ["@" if is_subj else "#", inner, *type_words(entity_type), inner]
        suffix = ["@" if is_subj else "#"]
    out = [*prefix, *words, *suffix]
    roles = [m_role] * len(prefix) + [w_role] * len(words) + [m_role] * len(suffix)
    return out, roles


def mark(record: RelationRecord, marker: str) -> MarkedSentence:
    """Insert markers around both spans of `record` (spans are inclusive word indices)."""
    spans = sorted(
        [
            (record.subj_start, record.subj_end, True, record.subj_type),
            (record.obj_start, record.obj_end, False, record.obj_type),
        ]
    )
    words: list[str] = []
    roles: list[Role] = []
    opening: dict[bool, int] = {}
    cursor = 0
    for start, end, is_subj, etype in spans:
        words.extend(record.tokens[cursor:start])
        roles.extend([Role.CONTEXT] * (start - cursor))
        opening[is_subj] = len(words)
        w, r = _wrap(marker, is_subj, record.tokens[start : end + 1], etype)
        words.extend(w)
        roles.extend(r)
        cursor = end + 1
    words.extend(record.tokens[cursor:])
    roles.extend([Role.CONTEXT] * (len(record.tokens) - cursor))
    return MarkedSentence(words, roles, opening[True], opening[False])
