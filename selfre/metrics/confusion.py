"""Confusion among the most-confused labels (paper Fig. 9, docs/method.md §7).

A full TACRED confusion matrix is 42x42 and mostly zeros; the figure shows the labels involved in the
most errors. A label's error count is the number of wrong predictions it takes part in, as gold or as
prediction, no-relation included (most TACRED errors are no-relation ones). Ties break by label name
so the same predictions always draw the same figure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from selfre.metrics.prf import check_lengths

TOP_K = 20


def confusion(gold: Sequence[str], pred: Sequence[str], top_k: int = TOP_K) -> dict:
    """{labels, errors, matrix, pairs}.

    `labels`: up to `top_k` labels with at least one error, most errors first; `errors[i]` is the
    error count of `labels[i]`; `matrix[i][j]` counts gold `labels[i]` predicted as `labels[j]`
    (diagonal = correct, kept so rows can be normalised); `pairs`: every off-diagonal
    {gold, pred, count} with a non-zero count, most frequent first, ties by (gold, pred).
    """
    check_lengths(gold, pred)
    cells = Counter(zip(gold, pred, strict=True))
    errors = Counter()
    for (g, p), count in cells.items():
        if g != p:
            errors[g] += count
            errors[p] += count
    ranked = sorted(errors.items(), key=lambda item: (-item[1], item[0]))[:top_k]
    labels = [label for label, _ in ranked]
    off_diagonal = sorted(
        ((g, p, count) for (g, p), count in cells.items() if g != p), key=lambda t: (-t[2], t[0], t[1])
    )
    return {
        "labels": labels,
        "errors": [count for _, count in ranked],
        "matrix": [[cells[(g, p)] for p in labels] for g in labels],
        "pairs": [{"gold": g, "pred": p, "count": count} for g, p, count in off_diagonal],
    }
