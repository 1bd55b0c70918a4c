"""Every evaluation figure of docs/method.md §7 from one pair of label lists.

`selfre score`, the training loop and reports all call `compute_metrics`, so a number printed by one
is the number logged by the others. The output is plain JSON (floats are fractions, not percents).
"""

from __future__ import annotations

from collections.abc import Sequence

from selfre.data.labels import SEMEVAL, LabelSet
from selfre.metrics.confusion import confusion
from selfre.metrics.person_centric import person_centric_from_tally, person_typed
from selfre.metrics.prf import Tally, check_lengths, per_relation_from_tally
from selfre.metrics.semeval import semeval_scores


def is_semeval(label_set: LabelSet) -> bool:
    return label_set.name == SEMEVAL.name or set(label_set.labels) == set(SEMEVAL.labels)


def _check_known(labels: Sequence[str], which: str, label_set: LabelSet) -> None:
    for i, label in enumerate(labels):
        if label not in label_set:
            raise ValueError(
                f"unknown label {label!r} in {which} at position {i} (not in the {label_set.name} label set)"
            )


def compute_metrics(
    gold: Sequence[str],
    pred: Sequence[str],
    label_set: LabelSet,
    subj_types: Sequence[str] | None = None,
    obj_types: Sequence[str] | None = None,
) -> dict:
    """Keys: n, label_set, no_relation; precision, recall, f1, correct, guessed, gold (micro, no-relation
    excluded); per_relation; person_centric; person_typed (None without entity types); semeval (only
    for SemEval's label set); confusion."""
    check_lengths(gold, pred)
    _check_known(gold, "gold", label_set)
    _check_known(pred, "pred", label_set)
    if (subj_types is None) != (obj_types is None):
        raise ValueError("give both subj_types and obj_types, or neither")

    tally = Tally.of(gold, pred)
    no_rel = label_set.no_relation
    out = {
        "n": len(gold),
        "label_set": label_set.name,
        "no_relation": no_rel,
        **tally.pooled(set(label_set.labels) - {no_rel}),
        "per_relation": per_relation_from_tally(tally, label_set.labels),
        "person_centric": person_centric_from_tally(tally, label_set),
        "person_typed": None if subj_types is None else person_typed(gold, pred, subj_types, obj_types, no_rel),
    }
    if is_semeval(label_set):
        out["semeval"] = semeval_scores(gold, pred, other=no_rel)
    out["confusion"] = confusion(gold, pred)
    return out
