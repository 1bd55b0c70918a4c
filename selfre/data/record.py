"""The one in-memory shape every reader produces: a sentence, two spans, a label."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RelationRecord:
    """One relation instance.

    Spans are word-token indices with **inclusive** ends, as in TACRED (`subj_start..subj_end`).
    `subj_type` / `obj_type` are entity types (TACRED's `PERSON`, `ORGANIZATION`, ...) or None where a
    dataset has none (SemEval, JSON lines).
    """

    id: str
    tokens: tuple[str, ...]
    subj_start: int
    subj_end: int
    obj_start: int
    obj_end: int
    relation: str
    subj_type: str | None = None
    obj_type: str | None = None

    @property
    def subj_tokens(self) -> tuple[str, ...]:
        return self.tokens[self.subj_start : self.subj_end + 1]

    @property
    def obj_tokens(self) -> tuple[str, ...]:
        return self.tokens[self.obj_start : self.obj_end + 1]

    def problem(self) -> str | None:
        """Why this record is unusable, or None. Readers turn a reason into a `DataError`."""
        n = len(self.tokens)
        if n == 0:
            return "empty token list"
        if any(not isinstance(t, str) for t in self.tokens):
            return "tokens must be strings"
        for name, start, end in (
            ("subject", self.subj_start, self.subj_end),
            ("object", self.obj_start, self.obj_end),
        ):
            if not (0 <= start <= end < n):
                return f"{name} span [{start}, {end}] is out of range for {n} tokens"
        if self.subj_start <= self.obj_end and self.obj_start <= self.subj_end:
            return (
                f"subject span [{self.subj_start}, {self.subj_end}] overlaps "
                f"object span [{self.obj_start}, {self.obj_end}]"
            )
        if not self.relation:
            return "empty relation label"
        return None
