"""Records -> sub-word features: input ids, IEL vector Q, and the CLS / e1 / e2 positions (docs/method.md §2-3).

Alignment goes through the fast tokenizer's `word_ids()`, which works the same for byte-level BPE
(RoBERTa: words need a prefix space, hence `add_prefix_space=True` at load) and WordPiece (BERT).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from selfre.data.labels import LabelSet
from selfre.data.record import RelationRecord
from selfre.encoding.markers import Role, mark, resolve_marker
from selfre.stage_timer import timed

log = logging.getLogger(__name__)

ENTITY_ROLES = frozenset({Role.SUBJ, Role.OBJ})
MARKER_ROLES = frozenset({Role.SUBJ_MARKER, Role.OBJ_MARKER})
_TOKENIZE_CHUNK = 1024


@dataclass
class EncodedExample:
    input_ids: list[int]
    iel: list[int]  # Q (Eq. 1 numerator): 1 on entity sub-words (and markers if configured)
    e1: int  # position of the subject's opening marker
    e2: int  # position of the object's opening marker
    label: int  # -1 when unknown (prediction)
    index: int  # position of the record in the input list


@dataclass
class EncodeStats:
    total: int = 0
    truncated: int = 0  # context cut, both entities kept
    dropped: list[int] = field(default_factory=list)  # record indices whose entities cannot fit

    def as_dict(self) -> dict:
        return {"total": self.total, "truncated": self.truncated, "dropped": len(self.dropped)}


class RelationEncoder:
    """Turns `RelationRecord`s into `EncodedExample`s for one tokenizer and marker format."""

    def __init__(self, tokenizer, marker: str, max_seq_length: int, iel_include_markers: bool = False):
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("selfre needs a fast (Rust) tokenizer for word alignment")
        self.tokenizer = tokenizer
        self.marker = marker
        self.max_seq_length = max_seq_length
        self.iel_roles = ENTITY_ROLES | MARKER_ROLES if iel_include_markers else ENTITY_ROLES

    @timed("encode:RelationEncoder.encode")
    def encode(
        self, records: Sequence[RelationRecord], label_set: LabelSet | None = None
    ) -> tuple[list[EncodedExample], EncodeStats]:
        stats = EncodeStats(total=len(records))
        out: list[EncodedExample] = []
        for start in range(0, len(records), _TOKENIZE_CHUNK):
            chunk = records[start : start + _TOKENIZE_CHUNK]
            marked = [mark(r, resolve_marker(self.marker, r.subj_type is not None)) for r in chunk]
            enc = self.tokenizer([m.words for m in marked], is_split_into_words=True, add_special_tokens=True)
            for j, (record, m) in enumerate(zip(chunk, marked, strict=True)):
                label = label_set.index(record.relation) if label_set is not None else -1
                ex = self._align(enc["input_ids"][j], enc.word_ids(j), m, label, start + j, stats)
                if ex is not None:
                    out.append(ex)
        if stats.dropped:
            log.warning(
                "%d of %d examples dropped: their two entities do not fit in max_seq_length=%d",
                len(stats.dropped),
                stats.total,
                self.max_seq_length,
            )
        if stats.truncated:
            log.info("%d of %d examples truncated around their entities", stats.truncated, stats.total)
        return out, stats

    def _align(self, ids, word_ids, m, label, index, stats) -> EncodedExample | None:
        roles = [None if w is None else m.roles[w] for w in word_ids]
        e1 = word_ids.index(m.subj_marker_word)
        e2 = word_ids.index(m.obj_marker_word)
        iel = [int(r in self.iel_roles) for r in roles]
        if sum(iel) == 0:
            # An entity whose words produce no sub-words (e.g. only zero-width characters): fall back to
            # the markers so q (Eq. 1) stays a distribution instead of dividing by zero.
            iel = [int(r in MARKER_ROLES) for r in roles]
        if len(ids) > self.max_seq_length:
            window = self._window(word_ids, roles)
            if window is None:
                stats.dropped.append(index)
                return None
            stats.truncated += 1
            keep = window
            ids = [ids[i] for i in keep]
            iel = [iel[i] for i in keep]
            e1, e2 = keep.index(e1), keep.index(e2)
        return EncodedExample(list(ids), iel, e1, e2, label, index)

    def _window(self, word_ids, roles) -> list[int] | None:
        """Positions to keep: leading/trailing specials + a body window centred on both entities."""
        body = [i for i, w in enumerate(word_ids) if w is not None]
        specials_head = [i for i in range(body[0])]
        specials_tail = list(range(body[-1] + 1, len(word_ids)))
        budget = self.max_seq_length - len(specials_head) - len(specials_tail)
        marked = [i for i in body if roles[i] in ENTITY_ROLES | MARKER_ROLES]
        lo, hi = marked[0], marked[-1]
        if hi - lo + 1 > budget:
            return None
        spare = budget - (hi - lo + 1)
        left = min(spare // 2, lo - body[0])
        right = min(spare - left, body[-1] - hi)
        left = min(spare - right, lo - body[0])  # give unused right-side room back to the left
        return specials_head + list(range(lo - left, hi + right + 1)) + specials_tail
