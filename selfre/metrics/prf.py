"""Precision / recall / F1 from label lists: the one counting core every other metric builds on.

Definitions follow the TACRED official scorer (docs/method.md §7): a prediction is a *guess* of its label, an
instance is *gold* for its gold label, and it is *correct* for that label when prediction == gold.
Micro scores pool those counts over a chosen set of labels (all but no-relation for TACRED, the
person-centric labels, SemEval's relation types), so each figure is one pooling of one tally.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


def check_lengths(gold: Sequence, pred: Sequence) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} labels but pred has {len(pred)}; they must pair up one to one")


def ratio(num: int, den: int) -> float:
    # An empty denominator scores 0, not 1: the TACRED scorer defaults precision to 1.0 when nothing
    # is guessed, but a model that never commits should not show perfect precision (docs/method.md §7, sklearn's
    # zero_division=0). F1 is 0 there either way.
    return num / den if den else 0.0


def prf(correct: int, guessed: int, gold: int) -> dict:
    """P/R/F1 with the counts they came from, so reports can print `correct/guessed` like the scorers."""
    return {
        "precision": ratio(correct, guessed),
        "recall": ratio(correct, gold),
        # 2PR/(P+R) rewritten as one integer division, so hand-counted fractions compare exactly.
        "f1": ratio(2 * correct, guessed + gold),
        "correct": correct,
        "guessed": guessed,
        "gold": gold,
    }


@dataclass(frozen=True)
class Tally:
    """Per-key counts of correct, guessed and gold instances.

    `key` maps a label to the bucket it is counted under (identity for per-label scores, the relation
    type for SemEval's (9+1)-way score). Correctness is always exact label equality, so a SemEval
    prediction with the right type but the wrong direction is a guess and a gold of that type but not
    correct, exactly as the official scorer counts it.
    """

    correct: Counter
    guessed: Counter
    gold: Counter

    @classmethod
    def of(cls, gold: Sequence[str], pred: Sequence[str], key: Callable[[str], str] = lambda label: label) -> Tally:
        check_lengths(gold, pred)
        correct, guessed, gold_count = Counter(), Counter(), Counter()
        for g, p in zip(gold, pred, strict=True):
            gold_count[key(g)] += 1
            guessed[key(p)] += 1
            if g == p:
                correct[key(g)] += 1
        return cls(correct, guessed, gold_count)

    def keys(self) -> set[str]:
        return set(self.gold) | set(self.guessed)

    def score(self, key: str) -> dict:
        return prf(self.correct[key], self.guessed[key], self.gold[key])

    def pooled(self, keys: Iterable[str]) -> dict:
        """Micro P/R/F1 over `keys`: guesses, golds and hits of those keys summed, everything else ignored."""
        keys = set(keys)
        return prf(*(sum(counts[k] for k in keys) for counts in (self.correct, self.guessed, self.gold)))


def micro_prf(gold: Sequence[str], pred: Sequence[str], no_relation: str) -> dict:
    """The TACRED official scorer's micro P/R/F1: every label pooled except `no_relation`."""
    tally = Tally.of(gold, pred)
    return tally.pooled(tally.keys() - {no_relation})


def per_relation_from_tally(tally: Tally, labels: Iterable[str]) -> dict:
    out = {}
    for label in labels:
        s = tally.score(label)
        out[label] = {"precision": s["precision"], "recall": s["recall"], "f1": s["f1"], "support": s["gold"]}
    return out


def per_relation(gold: Sequence[str], pred: Sequence[str], labels: Iterable[str]) -> dict:
    """{label: {precision, recall, f1, support}} for every label in `labels`, in that order; support = gold count."""
    return per_relation_from_tally(Tally.of(gold, pred), labels)
