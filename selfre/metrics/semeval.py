"""SemEval-2010 Task 8 official score: (9+1)-way, directionality taken into account (docs/method.md §7).

Mirrors semeval2010_task8_scorer-v1.2.pl, part (iii), whose macro-averaged F1 is the task's official
result:
- instances are counted under their relation *type* (direction stripped; `Other` is its own type);
- a prediction is correct only when its full label, direction included, equals the gold label; one
  with the right type and the wrong direction is a guess of that type and a miss of it (the
  scorer's xDIRx column), so it lowers both P and R of the type;
- P, R and F1 per type; macro P/R/F1 are plain means over the non-Other types present in the answer
  key (all 9 on the real test set), Other excluded; micro pools the same types' counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from selfre.data.labels import SEMEVAL_RELATION_TYPES
from selfre.metrics.prf import Tally

OTHER = "Other"
_DIRECTION = re.compile(r"\(e[12],e[12]\)$")


def relation_type(label: str) -> str:
    """`Cause-Effect(e2,e1)` -> `Cause-Effect`; `Other` stays `Other`."""
    return _DIRECTION.sub("", label)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def semeval_scores(gold: Sequence[str], pred: Sequence[str], other: str = OTHER) -> dict:
    """{official_macro_f1, macro_precision, macro_recall, micro_f1, micro, per_type, types_averaged}.

    `per_type[T]` = {precision, recall, f1, correct, guessed, gold, wrong_direction} for the 9 types
    (and any other type seen); `micro` holds the pooled precision/recall/f1 and counts, `micro_f1`
    repeats its F1 as the headline figure.
    """
    tally = Tally.of(gold, pred, key=relation_type)
    wrong_direction = Counter(
        relation_type(g) for g, p in zip(gold, pred, strict=True) if g != p and relation_type(g) == relation_type(p)
    )
    types = sorted((set(SEMEVAL_RELATION_TYPES) | tally.keys()) - {other})
    per_type = {t: {**tally.score(t), "wrong_direction": wrong_direction[t]} for t in types}
    # The scorer averages over the types its answer key contains, not a fixed 9.
    averaged = [t for t in types if tally.gold[t]]
    micro = tally.pooled(averaged)
    return {
        "official_macro_f1": _mean([per_type[t]["f1"] for t in averaged]),
        "macro_precision": _mean([per_type[t]["precision"] for t in averaged]),
        "macro_recall": _mean([per_type[t]["recall"] for t in averaged]),
        "micro_f1": micro["f1"],
        "micro": micro,
        "per_type": per_type,
        "types_averaged": averaged,
    }
