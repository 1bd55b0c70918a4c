"""The paper's Table 6 with statistics: each SELF component against the baseline, beyond seed noise.

An ablation is a search whose configurations are fixed (search.grid): the same base configuration with
SPP and HR switched on and off — `baseline` (neither), `spp`, `hr`, `self` (both), everything else equal —
each trained once per seed through the search's machinery (runner.py). When it ends, `analyse` reads every
trial's test predictions from its final checkpoint and reports, per variant:

  * the dataset's headline test figure (the objective: SemEval's official macro-F1, micro F1 elsewhere) and
    person-centric F1, mean ± std over seeds;
  * the paired difference to the baseline over seeds (same seed), with a 95% t-interval, and the verdict
    "within seed noise" when the interval contains 0;
  * a paired bootstrap test over the test sentences between the variant and the baseline, pooled over seeds
    (selfre.metrics.significance, which states the method; `bootstrap_resamples` resamples).

Extra named variants (`--variant NAME:key=value,...`) join the four: SELF (both components on) with the given
fields changed — e.g. SELF in another SPP regime — trained, compared with the baseline and reported the same
way. The plan keeps every variant's name and params (search.variants), so a resumed ablation reports them.

The table (markdown, JSON) and a bar plot with error bars go to the ablation's folder and its MLflow run.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import yaml

from selfre import storage
from selfre.config import RunConfig, flatten
from selfre.errors import ConfigError
from selfre.metrics.percent import percent
from selfre.search.plan import SearchPlan
from selfre.search.search_config import AblationConfig
from selfre.search_results import COMPLETE

VARIANTS = {
    "baseline": {"model.use_spp": False, "model.use_hr": False},
    "spp": {"model.use_spp": True, "model.use_hr": False},
    "hr": {"model.use_spp": False, "model.use_hr": True},
    "self": {"model.use_spp": True, "model.use_hr": True},
}
LABELS = {"baseline": "baseline", "spp": "+SPP", "hr": "+HR", "self": "SELF (SPP+HR)"}
SPACE = {"model.use_spp": {"choice": [False, True]}, "model.use_hr": {"choice": [False, True]}}
BASELINE = "baseline"
DEFAULT_SEEDS = [42, 52, 62, 72, 82]  # the paper's robustness seeds (docs/method.md §6)
DEFAULT_RESAMPLES = AblationConfig().bootstrap_resamples


def parse_variants(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names or len(set(names)) != len(names):
        raise ConfigError(f"--variants {text!r}: give distinct names from {', '.join(VARIANTS)}")
    if BASELINE not in names:
        raise ConfigError("--variants must include baseline: every other variant is compared with it")
    return [v for v in VARIANTS if v in names]  # table order


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_UNSETTABLE = ("train.seed", "train.select_metric", "out_dir", "data.")  # the ablation's own, or every variant's


def parse_extra_variant(text: str) -> tuple[str, dict]:
    """`NAME:key=value,key=value` -> (NAME, params): SELF's switches plus the given fields. Values are YAML
    scalars (0.2, true, softmax); a value may hold commas (`model.spp_layers=1,6`): a new pair starts only where
    `,section.field=` follows."""
    where = f"--variant {text!r}"
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not sep or not _NAME.fullmatch(name) or not rest.strip():
        raise ConfigError(f"{where}: expected NAME:key=value,... (NAME of letters, digits, '_', '-', '.', '+')")
    if name in VARIANTS or name in LABELS.values():
        raise ConfigError(f"{where}: {name!r} is a built-in variant; name yours differently")
    known = flatten(RunConfig())
    params = dict(VARIANTS["self"])
    for pair in re.split(r",(?=\s*[a-z_]+\.[a-z_]+\s*=)", rest):
        key, eq, value = (x.strip() for x in pair.partition("="))
        if not eq or key not in known:
            raise ConfigError(
                f"{where}: {pair.strip()!r} is not key=value with a config field as key (e.g. model.spp_alpha=softmax)"
            )
        if key.startswith(_UNSETTABLE):
            raise ConfigError(
                f"{where}: {key} cannot differ between variants (seeds come from --seeds; data, "
                "objective and output are the ablation's)"
            )
        params[key] = yaml.safe_load(value) if value else ""
    return name, params


def make_ablation(
    plan: SearchPlan, variants: list[str], resamples: int = DEFAULT_RESAMPLES, extra: dict[str, dict] | None = None
) -> SearchPlan:
    """Turn a plan (its base config, seeds, resources, storage, tracking) into the ablation of `variants` plus
    the `extra` named variants (parse_extra_variant)."""
    from selfre.search.space import apply_params

    named = {**{v: VARIANTS[v] for v in variants}, **(extra or {})}
    seen: dict[str, str] = {}
    for name, params in named.items():
        try:
            resolved = apply_params(plan.base, params, seed=0).to_dict()  # what is trained, not how it is written
        except ConfigError as exc:
            raise ConfigError(f"--variant {name}: {exc}") from None
        twin = seen.setdefault(json.dumps(resolved, sort_keys=True), name)
        if twin != name:
            raise ConfigError(f"--variant {name}: the same configuration as {twin}; it would be trained twice")
    plan.search = plan.search.replace(
        grid=list(named.values()),
        space=dict(SPACE),
        num_samples=len(named),
        scheduler="fifo",
        id_prefix="v",
        register=False,
        analysis="ablation",
        final_seeds=[],
        bootstrap_resamples=resamples,
        variants=named,
    )
    return plan.validate()


def variant_of(params: dict, variants: dict[str, dict] | None = None) -> str:
    """The variant a configuration was trained as: its params equal the variant's (a plan saved before named
    variants has only the four, matched by their switches)."""
    if variants:
        for name, expected in variants.items():
            if params == expected:
                return name
    else:
        for name, switches in VARIANTS.items():
            if all(params.get(k) == v for k, v in switches.items()):
                return name
    raise ValueError(f"not an ablation variant: {params}")


def analyse(plan: SearchPlan, summary: dict, out_dir: Path) -> tuple[str, list[tuple[Path, str]]]:
    """-> (markdown report, [(file, MLflow artifact folder)]); files written to out_dir."""
    from selfre.config import RunConfig
    from selfre.data.datasets import load_splits
    from selfre.metrics.significance import paired_bootstrap, t_interval, within_noise
    from selfre.storage.data_dir import local_data_dir

    cfg = RunConfig.from_dict(plan.base)
    cfg.data.data_dir = local_data_dir(cfg.data.data_dir, cfg.data.dataset)
    splits = load_splits(cfg.data)
    gold = [r.relation for r in splits.test]
    objective = summary["objective"]
    variants = plan.search.variants
    by_variant = {variant_of(c["params"], variants): c for c in summary["configurations"]}
    rows = []
    base = by_variant.get(BASELINE)
    base_trials = _complete_trials(base) if base else {}
    for name in [v for v in (variants or VARIANTS) if v in by_variant]:
        config = by_variant[name]
        trials = _complete_trials(config)
        row = {
            "variant": name,
            "label": LABELS.get(name, name),
            "config_id": config["config_id"],
            "params": config["params"],
            "status": config["status"],
            "seeds": sorted(trials),
            "test": _stat(trials, "test_score"),
            "pc": _stat(trials, "test_pc_f1"),
        }
        paired = sorted(set(trials) & set(base_trials))
        if name != BASELINE and paired:
            diffs = [trials[s]["metrics"]["test_score"] - base_trials[s]["metrics"]["test_score"] for s in paired]
            row["diff"] = t_interval(diffs)
            row["verdict"] = _verdict(row["diff"], within_noise(row["diff"]))
            row["bootstrap"] = paired_bootstrap(
                gold,
                _predictions(trials, paired, len(gold)),
                _predictions(base_trials, paired, len(gold)),
                splits.label_set,
                objective,
                resamples=plan.search.bootstrap_resamples,
                seed=plan.search.sampler_seed,
            )
        rows.append(row)
    result = {"objective": objective, "seeds": summary["seeds"], "test_examples": len(gold), "rows": rows}
    text = markdown(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ablation.md").write_text(text + "\n", encoding="utf-8")
    (out_dir / "ablation.json").write_text(json.dumps(_finite(result), indent=2) + "\n", encoding="utf-8")
    files = [(out_dir / "ablation.md", "tables"), (out_dir / "ablation.json", "tables")]
    plot = _bar_plot(result, out_dir / "ablation.png")
    if plot is not None:
        files.append((plot, "plots"))
    return text, files


def _complete_trials(config: dict) -> dict[int, dict]:
    return {t["seed"]: t for t in config["trials"] if t["status"] == COMPLETE}


def _stat(trials: dict[int, dict], key: str) -> dict:
    values = [t["metrics"][key] for t in trials.values() if t["metrics"].get(key) is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def _verdict(diff: dict, noise: bool) -> str:
    if noise:
        return "within seed noise"
    return "better than baseline" if diff["mean"] > 0 else "worse than baseline"


def _predictions(trials: dict[int, dict], seeds: list[int], n: int) -> list[list[str]]:
    from selfre.metrics.significance import read_predictions

    return [read_predictions(_predictions_file(trials[s]), n) for s in seeds]


def _predictions_file(trial: dict) -> str:
    """The trial's test predictions, saved in its final checkpoint (selfre.train.loop.PREDICTIONS_FILE);
    fetched to a local file first when the checkpoint is in s3://."""
    from selfre.train.loop import PREDICTIONS_FILE

    if not trial.get("checkpoint"):
        raise ValueError(
            f"trial {trial['trial_id']} (seed {trial['seed']}) has no final checkpoint to read predictions from"
        )
    uri = storage.join(trial["checkpoint"], PREDICTIONS_FILE)
    if storage.is_uri(uri):
        import tempfile

        local = Path(tempfile.mkdtemp(prefix="selfre-preds-")) / PREDICTIONS_FILE
        local.write_text(storage.read_text(uri), encoding="utf-8")
        return str(local)
    return uri


def p_value(bootstrap: dict) -> str:
    """The bootstrap p as text. No resample reversing the sign gives p = 0, which only says p < 1/R for R
    resamples (more resamples would resolve it); a small non-zero p keeps its leading digits."""
    p, resamples = bootstrap["p_value"], int(bootstrap["resamples"])
    if p == 0:
        return f"< 1/{resamples}"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.2g}"


def markdown(result: dict) -> str:
    name = {"official_macro_f1": "official macro-F1", "micro_f1": "micro F1", "pc_f1": "person-centric F1"}.get(
        result["objective"], result["objective"]
    )
    lines = [
        f"Test {name} and person-centric F1 per variant, in %: mean ± std over seeds; Δ = paired difference to the "
        "baseline (same seed), mean [95% t-interval] over seeds; p = paired bootstrap over the "
        f"{result['test_examples']} test sentences, pooled over seeds (two-sided).",
        "",
        f"| variant | seeds | test {name} | PC F1 | Δ vs baseline [95% CI] | bootstrap p | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        test, pc = row["test"], row["pc"]
        spread = [f"{percent(s['mean'])} ± {percent(s['std'])}" for s in (test, pc)]  # '- ± -' for no seeds
        cells = [row["label"], str(test["n"]), *spread]
        if "diff" in row:
            d = row["diff"]
            cells += [
                f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]",
                p_value(row["bootstrap"]),
                row["verdict"],
            ]
        else:
            cells += ["-", "-", "reference" if row["variant"] == BASELINE else "no paired seeds"]
        lines.append("| " + " | ".join(cells) + " |")
    extra = [r for r in result["rows"] if r["variant"] not in VARIANTS]
    if extra:
        lines += [""] + [
            f"{r['label']}: SELF with "
            + ", ".join(f"{k}={v}" for k, v in r["params"].items() if VARIANTS["self"].get(k) != v)
            for r in extra
        ]
    boot = next((r["bootstrap"] for r in result["rows"] if "bootstrap" in r), None)
    if boot:
        lines += ["", f"Bootstrap: {boot['method']}; seeds {', '.join(map(str, result['seeds']))}."]
    return "\n".join(lines)


def _bar_plot(result: dict, path: Path) -> Path | None:
    rows = [r for r in result["rows"] if r["test"]["mean"] is not None]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(1.8 + 1.4 * len(rows), 3.6))
    width = 0.38
    for offset, key, label in (
        (-width / 2, "test", f"test {result['objective']}"),
        (width / 2, "pc", "person-centric F1"),
    ):
        ax.bar(
            [i + offset for i in x],
            [100 * r[key]["mean"] for r in rows],
            width,
            yerr=[100 * (r[key]["std"] or 0) for r in rows],
            capsize=4,
            label=label,
        )
    ax.set_xticks(list(x), [r["label"] for r in rows])
    ax.set_ylabel("% (mean ± std over seeds)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _finite(obj):
    """JSON has no infinity: an interval from a single seed is unbounded -> null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    return obj
