"""Is a difference between two systems more than noise? Two complementary tests (tune/ablate.py).

Over seeds — `t_interval`: the paired per-seed differences of a test figure (variant − baseline, same
seed), their mean and a two-sided Student-t confidence interval. It measures training noise: if the
interval contains 0, the variant's gain is within seed noise.

Over test examples — `paired_bootstrap`: the paired bootstrap test of Koehn (2004) / Berg-Kirkpatrick et
al. (2012). The test sentences are resampled with replacement (`resamples` times, seeded); each resampled
sentence brings the predictions of both systems *for every seed* (pooled over seeds: system A = the variant's
runs, system B = the baseline's runs, paired by seed), and the figure is recomputed on the resample.
The two-sided p-value is min(1, 2 · min(P(δ* ≤ 0), P(δ* ≥ 0))), δ* = figure(A) − figure(B) on a resample:
identical predictions give p = 1, a system better on nearly every resample gives p ≈ 0. It measures
test-set sampling noise for the given models.

Figures are the objective names of selfre.metrics.objective, computed from weighted per-key counts so a
resample costs a few numpy reductions (checked against compute_metrics in tests).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from selfre.data.labels import LabelSet
from selfre.metrics.semeval import OTHER, relation_type

# Two-sided 95% Student-t critical values t_{0.975, df}, df = 1..30 (standard tables); beyond, the normal 1.96
# is within 0.02 of the exact value for df > 30 and these intervals are never that wide in practice.
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_interval(diffs: Sequence[float]) -> dict:
    """Mean of paired differences and its 95% t-interval; with one difference the interval is unbounded."""
    values = [float(d) for d in diffs]
    if not values:
        raise ValueError("no paired differences")
    mean = statistics.fmean(values)
    n = len(values)
    if n < 2:
        return {"mean": mean, "low": -math.inf, "high": math.inf, "n": n, "sd": math.nan}
    sd = statistics.stdev(values)
    half = (_T975[n - 2] if n - 1 <= len(_T975) else 1.96) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n, "sd": sd}


def within_noise(interval: dict) -> bool:
    return interval["low"] <= 0 <= interval["high"]


class _Scorer:
    """One objective over a label set, from weighted counts of (gold, pred) label ids."""

    def __init__(self, objective: str, label_set: LabelSet):
        labels = list(label_set.labels)
        self.n_labels = len(labels)
        no_rel = label_set.no_relation
        if objective == "official_macro_f1":
            types = sorted({relation_type(label) for label in labels} - {OTHER, relation_type(no_rel)})
            self.key = np.array(
                [types.index(relation_type(label)) if relation_type(label) in types else -1 for label in labels]
            )
            self.macro = True
        else:
            if objective == "micro_f1" or label_set.person_centric_is_all:
                counted = set(labels) - {no_rel}
            elif objective == "pc_f1":
                counted = set(label_set.person_centric)
            else:
                raise ValueError(f"unknown objective {objective!r}")
            self.key = np.array([0 if label in counted else -1 for label in labels])
            self.macro = False
        self.n_keys = int(self.key.max()) + 1

    def counts(self, gold: np.ndarray, pred: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per-key correct, guessed, gold totals (weights: how often each example is drawn)."""
        kg, kp = self.key[gold], self.key[pred]
        n = self.n_keys
        guessed = np.bincount(kp[kp >= 0], weights=weights[kp >= 0], minlength=n)
        gold_count = np.bincount(kg[kg >= 0], weights=weights[kg >= 0], minlength=n)
        hit = (gold == pred) & (kg >= 0)
        correct = np.bincount(kg[hit], weights=weights[hit], minlength=n)
        return correct, guessed, gold_count

    def score(self, gold: np.ndarray, pred: np.ndarray, weights: np.ndarray) -> float:
        correct, guessed, gold_count = self.counts(gold, pred, weights)
        if not self.macro:
            c, g, t = correct.sum(), guessed.sum(), gold_count.sum()
            return float(2 * c / (g + t)) if g + t else 0.0
        present = gold_count > 0  # the official scorer averages over the types its key contains
        if not present.any():
            return 0.0
        denom = guessed + gold_count
        f1 = np.divide(2 * correct, denom, out=np.zeros_like(correct), where=denom > 0)
        return float(f1[present].mean())


def paired_bootstrap(
    gold: Sequence[str],
    preds_a: Sequence[Sequence[str]],
    preds_b: Sequence[Sequence[str]],
    label_set: LabelSet,
    objective: str,
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Paired bootstrap over test examples, pooled over seeds (module doc). `preds_a[s]`, `preds_b[s]`: the two
    systems' predictions of seed s, aligned with `gold`. -> {delta, a, b, p_value, resamples, seeds, method}."""
    if len(preds_a) != len(preds_b) or not preds_a:
        raise ValueError(f"need the same, non-zero number of seeds for both systems ({len(preds_a)} vs {len(preds_b)})")
    index = {label: i for i, label in enumerate(label_set.labels)}

    def ids(labels: Sequence[str], what: str) -> np.ndarray:
        if len(labels) != len(gold):
            raise ValueError(f"{what}: {len(labels)} predictions for {len(gold)} test examples")
        try:
            return np.array([index[label] for label in labels])
        except KeyError as exc:
            raise ValueError(f"{what}: unknown label {exc.args[0]!r} (not in the {label_set.name} label set)") from None

    n, seeds = len(gold), len(preds_a)
    g = np.tile(ids(gold, "gold"), seeds)
    a = np.concatenate([ids(p, f"system A, seed {i}") for i, p in enumerate(preds_a)])
    b = np.concatenate([ids(p, f"system B, seed {i}") for i, p in enumerate(preds_b)])
    scorer = _Scorer(objective, label_set)
    ones = np.ones(n * seeds)
    score_a, score_b = scorer.score(g, a, ones), scorer.score(g, b, ones)
    rng = np.random.default_rng(seed)
    le = ge = 0
    for _ in range(resamples):
        draws = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)  # one resample of the sentences
        w = np.tile(draws, seeds)  # ... each bringing all its seeds' predictions
        delta = scorer.score(g, a, w) - scorer.score(g, b, w)
        le += delta <= 0
        ge += delta >= 0
    p = min(1.0, 2 * min(le, ge) / resamples)
    return {
        "a": score_a,
        "b": score_b,
        "delta": score_a - score_b,
        "p_value": p,
        "resamples": resamples,
        "seeds": seeds,
        "objective": objective,
        "method": f"paired bootstrap over test sentences, pooled over {seeds} seed(s), {resamples} resamples, "
        "two-sided",
    }


def read_predictions(path, expected: int) -> list[str]:
    """A prediction file (one label per line, selfre train's test_predictions.txt) of `expected` examples."""
    labels = Path(path).read_text(encoding="utf-8").splitlines()
    if len(labels) != expected:
        raise ValueError(f"{path}: {len(labels)} predictions for {expected} test examples")
    return labels
