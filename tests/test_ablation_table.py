"""The ablation's table (selfre.search.ablation.markdown) from a real paired bootstrap: what its p column says."""

from __future__ import annotations

import random

from selfre.data.labels import SEMEVAL
from selfre.metrics.significance import paired_bootstrap, t_interval
from selfre.search import ablation


def _row(variant: str, mean: float, **extra) -> dict:
    stat = {"mean": mean, "std": 0.01, "n": 3}
    return {"variant": variant, "label": ablation.LABELS[variant], "config_id": "v", "status": "complete",
            "seeds": [1, 2, 3], "test": stat, "pc": stat, **extra}  # fmt: skip


def test_a_bootstrap_p_of_zero_is_printed_as_below_one_over_the_resamples():
    rng = random.Random(0)
    gold = [rng.choice(SEMEVAL.labels) for _ in range(300)]
    base = [[g if rng.random() < 0.4 else rng.choice(SEMEVAL.labels) for g in gold] for _ in range(2)]
    better = [[g if rng.random() < 0.8 else rng.choice(SEMEVAL.labels) for g in gold] for _ in range(2)]
    clear = paired_bootstrap(gold, better, base, SEMEVAL, "official_macro_f1", resamples=400, seed=1)
    assert clear["p_value"] == 0.0  # no resample reverses a difference this large
    close = paired_bootstrap(gold, base[::-1], base, SEMEVAL, "official_macro_f1", resamples=400, seed=1)
    assert 0 < close["p_value"] <= 1
    diff = t_interval([0.3, 0.32])
    rows = [_row("baseline", 0.4), _row("spp", 0.7, diff=diff, verdict="better than baseline", bootstrap=clear),
            _row("self", 0.4, diff=diff, verdict="better than baseline", bootstrap=close)]  # fmt: skip
    lines = ablation.markdown({"objective": "official_macro_f1", "seeds": [1, 2], "test_examples": 300, "rows": rows})
    cells = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[5] for line in lines.splitlines() if line.startswith("| ")}
    assert cells["+SPP"] == "< 1/400"  # not "0.000": 400 resamples cannot tell p = 0 from p = 0.001
    assert cells["SELF (SPP+HR)"] == f"{close['p_value']:.3f}"
    assert cells["baseline"] == "-"
    assert ablation.p_value({"p_value": 0.0002, "resamples": 10000}) == "0.0002"
