"""The ablation without Ray: its table (selfre.search.ablation.markdown) from a real paired bootstrap, and the
base configuration `tune/ablate.py --from-search` takes from a search's best_config.json."""

from __future__ import annotations

import json
import random

from support import REPO

from selfre.data.labels import SEMEVAL
from selfre.metrics.significance import paired_bootstrap, t_interval
from selfre.search import ablation


def _row(variant: str, mean: float, **extra) -> dict:
    stat = {"mean": mean, "std": 0.01, "n": 3}
    return {
        "variant": variant,
        "label": ablation.LABELS[variant],
        "config_id": "v",
        "status": "complete",
        "seeds": [1, 2, 3],
        "test": stat,
        "pc": stat,
        **extra,
    }


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
    rows = [
        _row("baseline", 0.4),
        _row("spp", 0.7, diff=diff, verdict="better than baseline", bootstrap=clear),
        _row("self", 0.4, diff=diff, verdict="better than baseline", bootstrap=close),
    ]
    lines = ablation.markdown({"objective": "official_macro_f1", "seeds": [1, 2], "test_examples": 300, "rows": rows})
    cells = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")[5] for line in lines.splitlines() if line.startswith("| ")
    }
    assert cells["+SPP"] == "< 1/400"  # not "0.000": 400 resamples cannot tell p = 0 from p = 0.001
    assert cells["SELF (SPP+HR)"] == f"{close['p_value']:.3f}"
    assert cells["baseline"] == "-"
    assert ablation.p_value({"p_value": 0.0002, "resamples": 10000}) == "0.0002"


def test_an_ablation_from_a_search_starts_from_its_best_config_file(tmp_path):
    """best_config.json also records how its trial ran (`reproduce`: W, threads, device type); an ablation built
    from it takes the configuration and its own seeds and resources, and leaves that record behind."""
    from selfre.cli.ablate_cmd import build_parser, plan_from_args
    from selfre.search.plan import build_plan
    from selfre.search.runner import write_summary
    from selfre.search.summary import TrialRecord, summarize
    from selfre.search_results import COMPLETE

    config_dir = REPO / "tune" / "configs"
    source = build_plan("demo", config_dir, name="src", storage_root=str(tmp_path))
    source.save()
    trial = TrialRecord("t1", "c001", 52, {"model.spp_lambda": 0.7}, COMPLETE, 2, {"dev_score": 0.5, "best_epoch": 2})
    best = json.loads(open(write_summary(source, summarize([trial], [52], base=source.base))["best_config"]).read())
    assert best["reproduce"]["world_size"] == 2 and best["model"]["spp_lambda"] == 0.7
    args = build_parser().parse_args(
        [
            "--from-search",
            "src",
            "--storage",
            str(tmp_path),
            "--seeds",
            "1,2",
            "--workers-per-trial",
            "1",
            "--variants",
            "baseline,self",
        ]
    )
    plan = plan_from_args(args, config_dir)
    assert plan.base["model"]["spp_lambda"] == 0.7 and plan.search.seeds == [1, 2]
    assert plan.search.workers_per_trial == 1 and "reproduce" not in plan.base
