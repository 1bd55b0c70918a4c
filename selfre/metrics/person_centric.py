"""Person-centric P/R/F1 (paper Table 6, docs/method.md §7), in its two readings.

- by label: the micro computation restricted to the person-centric labels (every `per:*` label plus
  the three org:* labels whose argument is a person, paper Table 10);
- by entity type: plain micro P/R/F1 over the instances whose subject or object is typed PERSON.

Datasets without person types (SemEval) are scored over all categories, as the paper's Table 6 does,
and the result says so in `scope` and `note`.
"""

from __future__ import annotations

from collections.abc import Sequence

from selfre.data.labels import PERSON_TYPE, LabelSet
from selfre.metrics.prf import Tally, check_lengths, micro_prf


def all_categories_note(label_set: LabelSet) -> str:
    return (
        f"{label_set.name} has no person types: as in the paper's Table 6, the person-centric figures "
        "cover all relation categories (no-relation excluded)"
    )


def person_centric_from_tally(tally: Tally, label_set: LabelSet) -> dict:
    if label_set.person_centric_is_all:
        result = tally.pooled(set(label_set.labels) - {label_set.no_relation})
        return {**result, "scope": "all", "note": all_categories_note(label_set)}
    return {**tally.pooled(label_set.person_centric), "scope": "labels"}


def person_centric(gold: Sequence[str], pred: Sequence[str], label_set: LabelSet) -> dict:
    """Label-based: guesses with a person-centric predicted label, golds with a person-centric gold label,
    correct when both agree. Keys: precision, recall, f1, correct, guessed, gold, scope[, note]."""
    return person_centric_from_tally(Tally.of(gold, pred), label_set)


def person_typed(
    gold: Sequence[str], pred: Sequence[str], subj_types: Sequence[str], obj_types: Sequence[str], no_relation: str
) -> dict:
    """Entity-typed: micro P/R/F1 (no-relation excluded) over instances with a PERSON subject or object."""
    check_lengths(gold, pred)
    if not len(subj_types) == len(obj_types) == len(gold):
        raise ValueError(f"{len(gold)} labels but {len(subj_types)} subject types and {len(obj_types)} object types")
    keep = [i for i, (s, o) in enumerate(zip(subj_types, obj_types, strict=True)) if PERSON_TYPE in (s, o)]
    result = micro_prf([gold[i] for i in keep], [pred[i] for i in keep], no_relation)
    return {**result, "scope": "entity_types", "instances": len(keep)}
