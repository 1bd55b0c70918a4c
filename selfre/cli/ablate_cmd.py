"""`selfre ablate` and `python tune/ablate.py` (the same parser and flags): the paper's Table 6 with statistics
(selfre.search.ablation).

The base configuration comes from one of: a finished search's best configuration (`--from-search NAME`, found
under `--storage`), a config file (`--config`, over tune/configs/DATASET.yaml), or the dataset's defaults alone
(`--dataset`). Config-field flags override it; every variant then differs only in model.use_spp / model.use_hr.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from selfre import storage
from selfre.cli.search_cmd import add_run_flags, register_whole, run_from_args, run_overrides
from selfre.config import DATASETS
from selfre.config_flags import add_config_args, config_from_args, parse_int_list
from selfre.errors import ConfigError, SelfreError
from selfre.search.ablation import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEEDS,
    VARIANTS,
    make_ablation,
    parse_extra_variant,
    parse_variants,
)
from selfre.search.plan import BUNDLED_CONFIGS, SearchPlan, build_plan
from selfre.search.search_config import SEEDS_METAVAR
from selfre.tracking import targets


def register(sub) -> None:
    register_whole(
        sub,
        "ablate",
        "Ablation of SPP and HR with statistics (paper Table 6; the same flags as tune/ablate.py; `selfre ablate "
        "--help` lists them). Needs the search extra.",
        main,
    )


def build_parser(prog: str = "tune/ablate.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Ablation of SELF's components (paper Table 6) with statistics: the base configuration trained "
        "once per seed as baseline (no SPP, no HR), +SPP, +HR and SELF, everything else equal, each (variant, seed) a "
        "Ray Tune trial running Ray Train (checkpoints, fault tolerance, MLflow child runs under one ablation run). "
        "Reports per variant the dataset's headline test figure and person-centric F1 (mean ± std over seeds), the "
        "paired difference to the baseline over seeds with a 95% t-interval and a verdict ('within seed noise' when "
        "the interval contains 0), and a paired bootstrap test over the test sentences pooled over seeds. Results: "
        "STORAGE/NAME/ablation.{md,json,png} and the MLflow run.",
    )
    g = p.add_argument_group("ablation")
    g.add_argument(
        "--dataset",
        choices=DATASETS,
        help="Dataset (its tune/configs/DATASET.yaml gives the defaults); taken from the search with --from-search.",
    )
    src = g.add_mutually_exclusive_group()
    src.add_argument(
        "--from-search",
        metavar="NAME",
        help="Ablate the best configuration of the finished search NAME "
        "under --storage (its best_config.json; the search's --final-seeds winner if it had one).",
    )
    src.add_argument(
        "--config",
        metavar="FILE.yaml",
        help="The base configuration: data:/model:/train: sections (a "
        "`selfre train --config` file or a search config) over tune/configs/DATASET.yaml.",
    )
    g.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        type=parse_variants_arg,
        metavar="V1,V2,...",
        help=f"Variants to train, from {', '.join(VARIANTS)}; baseline is required (default: all four).",
    )
    g.add_argument(
        "--variant",
        dest="extra_variants",
        action="append",
        default=[],
        type=parse_extra_variant_arg,
        metavar="NAME:KEY=VALUE,...",
        help="An extra named variant (repeatable): SELF (SPP and HR on) with "
        "these config fields changed, e.g. self-default:model.spp_alpha=softmax,model.spp_target=softmax,"
        "model.spp_lambda=0.2 — trained, compared with the baseline and reported like the others.",
    )
    g.add_argument(
        "--seeds",
        type=parse_int_list,
        default=DEFAULT_SEEDS,
        metavar=SEEDS_METAVAR,
        help=f"Seeds every variant is trained with (default: {','.join(map(str, DEFAULT_SEEDS))}, the paper's).",
    )
    g.add_argument(
        "--bootstrap-resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        metavar="N",
        help=f"Resamples of the paired bootstrap test (default: {DEFAULT_RESAMPLES}).",
    )
    add_run_flags(p, "ablation")
    add_config_args(p, exclude=("dataset", "seed"), config_file=False)  # --config is the ablation group's
    return p


def parse_variants_arg(text: str) -> list[str]:
    try:
        return parse_variants(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_extra_variant_arg(text: str) -> tuple[str, dict]:
    try:
        return parse_extra_variant(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def plan_from_args(args: argparse.Namespace, config_dir: str | Path) -> SearchPlan:
    if args.resume:
        if not args.name:
            raise SelfreError(
                "--resume needs --name: the name of the ablation to continue (its folder under --storage)"
            )
        return SearchPlan.load(args.storage, args.name)
    user_config, dataset = args.config, args.dataset
    if args.from_search:
        dataset, user_config = _from_search(args.storage, args.from_search, dataset)
    if not dataset:
        raise SelfreError("give --dataset (or --from-search NAME)")
    overrides = argparse.Namespace(**{**vars(args), "config": None})
    resources = run_overrides(args)
    plan = build_plan(
        dataset,
        config_dir,
        user_config=user_config,
        search_overrides={**resources, "seeds": args.seeds},
        apply_run_overrides=lambda cfg: config_from_args(overrides, base=cfg),
        name=args.name or None,
        storage_root=args.storage,
        tracking_uri=targets.tracking_uri(args.tracking_uri),
    )
    if not args.name:
        plan.name = plan.name.replace(dataset, f"{dataset}-ablation", 1)
    plan.address = args.address
    extra = dict(args.extra_variants)
    if len(extra) != len(args.extra_variants):
        raise ConfigError("--variant: each extra variant needs its own NAME")
    return make_ablation(plan, args.variants, args.bootstrap_resamples, extra)


def _from_search(storage_root: str, name: str, dataset: str | None) -> tuple[str, str]:
    """(dataset, a temporary config file holding the search's best configuration)."""
    found = SearchPlan.load(storage_root, name)  # a clear error if there is no such search
    best_file = storage.join(found.experiment_uri, "best_config.json")
    if not storage.exists(best_file):
        raise ConfigError(
            f"--from-search {name}: the search has no best configuration yet ({best_file} is missing); "
            "let it finish (or --resume it) first"
        )
    if dataset and dataset != found.dataset:
        raise ConfigError(f"--dataset {dataset} but search {name} ran on {found.dataset}")
    best = storage.read_json(best_file)
    best.get("train", {}).pop("seed", None)  # seeds are the ablation's own (--seeds)
    tmp = Path(tempfile.mkdtemp(prefix="selfre-ablate-")) / "best_config.yaml"
    tmp.write_text(json.dumps(best), encoding="utf-8")  # JSON is YAML
    return found.dataset, str(tmp)


def main(argv: list[str] | None = None, config_dir: str | Path = BUNDLED_CONFIGS, prog: str = "tune/ablate.py") -> int:
    args = build_parser(prog).parse_args(argv)
    return run_from_args(args, lambda: plan_from_args(args, config_dir), prog)
