"""Seed-noise intervals and the paired bootstrap: hand-computed values and an independent metric."""

from __future__ import annotations

import math
import random

import pytest

from selfre.data.labels import DEMO, SEMEVAL
from selfre.metrics import compute_metrics
from selfre.metrics.significance import _Scorer, paired_bootstrap, t_interval, within_noise


def test_t_interval_hand_computed():
    # diffs 1, 2, 3: mean 2, sample sd 1, t(0.975, 2) = 4.303 -> half-width 4.303 / sqrt(3) = 2.4843
    iv = t_interval([1.0, 2.0, 3.0])
    assert iv["mean"] == 2.0 and iv["sd"] == 1.0
    assert iv["low"] == pytest.approx(2 - 4.303 / math.sqrt(3)) and iv["high"] == pytest.approx(
        2 + 4.303 / math.sqrt(3)
    )
    assert within_noise(iv)  # -0.48 .. 4.48 contains 0
    assert not within_noise(t_interval([1.0, 1.1, 0.9, 1.0, 1.05]))
    one = t_interval([0.5])
    assert one["low"] == -math.inf and within_noise(one)


def _random_labels(label_set, n, rng):
    return [rng.choice(label_set.labels) for _ in range(n)]


@pytest.mark.parametrize(
    "label_set, objective, key",
    [
        (DEMO, "micro_f1", lambda m: m["f1"]),
        (DEMO, "pc_f1", lambda m: m["person_centric"]["f1"]),
        (SEMEVAL, "micro_f1", lambda m: m["f1"]),
        (SEMEVAL, "official_macro_f1", lambda m: m["semeval"]["official_macro_f1"]),
        (SEMEVAL, "pc_f1", lambda m: m["person_centric"]["f1"]),
    ],
)
def test_vectorised_scorer_matches_compute_metrics(label_set, objective, key):
    import numpy as np

    rng = random.Random(3)
    gold = _random_labels(label_set, 300, rng)
    pred = [g if rng.random() < 0.5 else rng.choice(label_set.labels) for g in gold]
    index = {label: i for i, label in enumerate(label_set.labels)}
    scorer = _Scorer(objective, label_set)
    got = scorer.score(np.array([index[g] for g in gold]), np.array([index[p] for p in pred]), np.ones(len(gold)))
    assert got == pytest.approx(key(compute_metrics(gold, pred, label_set)), abs=1e-12)


def _write(path, labels):
    path.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return path


def test_bootstrap_identical_files_give_p_one_and_a_clearly_better_file_p_below_001(tmp_path):
    from selfre.metrics.significance import read_predictions

    rng = random.Random(0)
    gold = _random_labels(SEMEVAL, 400, rng)
    noisy = [[g if rng.random() < 0.45 else rng.choice(SEMEVAL.labels) for g in gold] for _ in range(3)]
    better = [[g if rng.random() < 0.75 else rng.choice(SEMEVAL.labels) for g in gold] for _ in range(3)]
    base_files = [_write(tmp_path / f"base{s}.txt", p) for s, p in enumerate(noisy)]
    same_files = [_write(tmp_path / f"same{s}.txt", p) for s, p in enumerate(noisy)]
    good_files = [_write(tmp_path / f"good{s}.txt", p) for s, p in enumerate(better)]
    base = [read_predictions(f, len(gold)) for f in base_files]
    same = paired_bootstrap(
        gold,
        [read_predictions(f, len(gold)) for f in same_files],
        base,
        SEMEVAL,
        "official_macro_f1",
        resamples=500,
        seed=1,
    )
    assert same["delta"] == 0.0 and same["p_value"] == 1.0
    good = paired_bootstrap(
        gold,
        [read_predictions(f, len(gold)) for f in good_files],
        base,
        SEMEVAL,
        "official_macro_f1",
        resamples=500,
        seed=1,
    )
    assert good["delta"] > 0.2 and good["p_value"] < 0.01
    assert "500 resamples" in good["method"] and good["seeds"] == 3
    worse = paired_bootstrap(
        gold,
        base,
        [read_predictions(f, len(gold)) for f in good_files],
        SEMEVAL,
        "official_macro_f1",
        resamples=500,
        seed=1,
    )
    assert worse["delta"] < 0 and worse["p_value"] < 0.01  # two-sided


def test_prediction_files_are_checked(tmp_path):
    from selfre.metrics.significance import read_predictions

    path = _write(tmp_path / "p.txt", ["Other", "Other"])
    with pytest.raises(ValueError, match=r"p.txt: 2 predictions for 3 test examples"):
        read_predictions(path, 3)
    with pytest.raises(ValueError, match="unknown label 'nope'"):
        paired_bootstrap(["Other"], [["nope"]], [["Other"]], SEMEVAL, "micro_f1", resamples=10)
