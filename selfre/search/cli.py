"""Command line of `selfre search` and `tune/search.py` (the same parser and flags): flags -> SearchPlan ->
run_search -> printed summary.

Besides the search flags below, every config field has a flag (`--epochs`, `--batch-size`, `--lr`,
`--max-train-examples`, ... generated from the config dataclasses by `selfre.cli.args`); they
override the dataset's config file and `--config` for every trial.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from selfre.cli.args import add_config_args, config_from_args
from selfre.errors import SelfreError
from selfre.redact import redact
from selfre.search.plan import BUNDLED_CONFIGS, DATASETS, SEARCH_DEFAULTS, SearchPlan, build_plan
from selfre.search.resources import PLACEMENTS
from selfre.tracking import targets

# flag dest -> search key; None on the command line means "take the config file's value".
RUN_FLAGS = ("max_concurrent", "workers_per_trial", "gpus_per_worker", "cpus_per_worker", "placement", "max_failures",
             "keep_checkpoints", "experiment", "registered_model", "system_metrics")  # fmt: skip
SEARCH_FLAGS = ("num_samples", "seeds", "scheduler", "sampler_seed", "final_seeds", *RUN_FLAGS)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 42,52,62, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated integers, got {text!r}")
    return seeds


def _default(key: str) -> str:
    return f"(default: the config file's search.{key}, else {SEARCH_DEFAULTS[key]!r})"


def build_parser(prog: str = "tune/search.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Hyper-parameter search for SELF: Optuna (TPE) proposes configurations, each is trained once per "
        "seed as a Ray Tune trial running Ray Train DDP workers, and the configuration with the best mean dev score "
        "across seeds is reported with its test figures and person-centric F1 (per seed and mean ± std). The score is "
        "the objective --metric (train.select_metric; default: the dataset's paper headline, SemEval's official "
        "(9+1)-way macro-F1, TACRED/Re-TACRED micro-F1); it also picks each trial's best epoch, drives ASHA and "
        "Optuna, and chooses the registered model. --batch-size is the global batch per optimizer step, split over "
        "--workers-per-trial. Results go to STORAGE/NAME (summary.json, summary.csv, best_config.json, per-trial "
        "checkpoints). The data/model/train options below apply to every trial and override the config files; the "
        "defaults they show are the built-in ones.",
        epilog="Early stopping and seeds (--scheduler asha): ASHA judges configurations, not single seeds, and compares "
        "like with like. Rungs are fractions of each trial's own schedule (grace_period x reduction_factor^k / the "
        "longest epochs in the space), so configurations with different --epochs are compared at the same point of "
        "their learning-rate decay. At a rung a configuration is judged once search.asha_min_seeds of its seeds (default "
        "2) reached it, against each other configuration on the seeds both reached there (at least that many); it is "
        "pruned when it beats fewer than 1/reduction_factor of them: its seeds stop, its unstarted seeds never start, "
        "Optuna records it as PRUNED, and it can never be chosen best (summary status 'pruned'). A trial is never "
        "stopped at or after its last epoch. A seed that fails beyond --max-failures stops nothing: its configuration is "
        "'failed' until --resume retries that seed to its end. Optuna (TPE, multivariate, grouped, constant liar; the study in STORAGE/optuna.db) learns only "
        "from configurations whose every seed completed, from the mean of their best-epoch dev score, and tries the "
        "config file's defaults (the paper's Table 3) first; the standard deviation is recorded beside the mean.",
    )
    g = p.add_argument_group("search")
    g.add_argument("--dataset", required=True, choices=DATASETS,
                   help="Dataset; also picks the bundled config DATASET.yaml (tune/configs/ in a clone: the paper's Table 3 "
                   "settings and search space; jsonl: your own JSON-lines data, defaults without paper numbers). "
                   "'demo' is generated if missing and needs no download.")  # fmt: skip
    g.add_argument("--num-samples", type=int, metavar="N", help=f"Configurations to try (each trained once per seed) {_default('num_samples')}.")
    g.add_argument("--seeds", type=_seeds, metavar="S1,S2,...", help=f"Seeds every configuration is trained with {_default('seeds')}.")
    g.add_argument("--scheduler", choices=("asha", "fifo"),
                   help="asha: stop weak seed trials at epoch rungs; a configuration with any stopped seed is pruned "
                   f"(never best). fifo: run every trial to the end {_default('scheduler')}.")  # fmt: skip
    g.add_argument("--sampler-seed", type=int, metavar="N", help=f"Seed of Optuna's TPE sampler {_default('sampler_seed')}.")
    g.add_argument("--final-seeds", type=_seeds, metavar="S1,S2,...",
                   help="After the search, re-train the best configuration once per seed here and register the best-dev "
                   "one of those, with mean ± std over these seeds (the search's own winner is a maximum over noisy "
                   "estimates; this re-measures it). Stored as the search NAME-final beside it "
                   f"{_default('final_seeds')}.")  # fmt: skip
    add_run_flags(p, "search")
    add_config_args(p, exclude=("dataset", "seed"))  # their "(default: ...)" is the built-in one; config files override it
    for action in p._actions:  # the shared --config help does not know about the search: section
        if action.dest == "config":
            action.help = ("YAML overriding the bundled DATASET.yaml: data:/model:/train: sections plus a search: "
                           "section (num_samples, seeds, scheduler, grace_period, reduction_factor, space, ...). "
                           "Config-field flags below override it.")  # fmt: skip
    return p


def add_run_flags(p: argparse.ArgumentParser, what: str) -> None:
    """Flags every run of the search machinery takes (a search, an ablation): resources, storage, tracking,
    naming, joining a cluster, resuming. `what` names the run in the help ("search", "ablation")."""
    g = p.add_argument_group("resources, storage and tracking")
    g.add_argument("--max-concurrent", type=int, metavar="N", help="Trials running at once (0 = as many as fit the cluster "
                   "when the search starts, at least 1 with --address; on an autoscaling cluster set N to let it grow) "
                   f"{_default('max_concurrent')}.")  # fmt: skip
    g.add_argument("--workers-per-trial", type=int, metavar="N", help=f"Ray Train DDP workers per trial {_default('workers_per_trial')}.")
    g.add_argument("--gpus-per-worker", type=float, metavar="X",
                   help="GPUs per worker; fractions share a GPU between workers (0 = train on CPU with gloo; AMP is used "
                   f"on GPU per --amp) {_default('gpus_per_worker')}.")  # fmt: skip
    g.add_argument("--placement", choices=PLACEMENTS, help="Ray placement strategy of a trial's workers (auto = STRICT_PACK "
                   "for a multi-worker GPU trial: all its GPUs on one node; PACK otherwise) "
                   f"{_default('placement')}.")  # fmt: skip
    g.add_argument("--cpus-per-worker", type=float, metavar="X", help=f"CPUs per worker; also its torch threads unless --num-threads is set {_default('cpus_per_worker')}.")
    g.add_argument("--max-failures", type=int, metavar="N", help="Worker-group restarts per trial, each resuming from the "
                   f"trial's last epoch checkpoint {_default('max_failures')}.")  # fmt: skip
    g.add_argument("--keep-checkpoints", type=int, metavar="N", help=f"Checkpoints kept per trial in storage {_default('keep_checkpoints')}.")
    g.add_argument("--storage", default="runs/search", metavar="PATH|URI",
                   help="Where runs are stored: a local folder (shared by all nodes on a cluster, e.g. NFS) or a URI "
                   "such as s3://bucket/prefix (default: runs/search).")  # fmt: skip
    g.add_argument("--tracking-uri", metavar="URI",
                   help="MLflow tracking server (http://HOST:PORT; credentials in MLFLOW_TRACKING_USERNAME/PASSWORD, "
                   "never in the URI) or database URI. Default: $MLFLOW_TRACKING_URI if set, else an embedded SQLite "
                   "store and artifacts in the storage root (the `mlflow ui` command that opens it is printed at the "
                   "end). 'none' turns tracking off. Checked before any trial starts. With --resume, default: the URI "
                   "the search started with.")  # fmt: skip
    # MLflow names (selfre.tracking.targets): the flag wins over the environment, which wins over the config file.
    g.add_argument("--experiment", metavar="NAME", help="MLflow experiment of the search's runs (default: "
                   "$MLFLOW_EXPERIMENT_NAME if set, else the config file's search.experiment, else selfre-DATASET; on "
                   "Databricks a workspace path such as /Users/you/selfre).")  # fmt: skip
    g.add_argument("--registered-model", metavar="NAME", help="Registered model the best checkpoint becomes a version "
                   "of (default: search.registered_model, else selfre-DATASET); catalog.schema.model with a Unity "
                   "Catalog registry (MLFLOW_REGISTRY_URI=databricks-uc, or a Databricks tracking URI).")  # fmt: skip
    g.add_argument("--no-system-metrics", dest="system_metrics", action="store_const", const=False,
                   help="Do not log CPU/memory/GPU system metrics (system/...) in each trial's MLflow run "
                   "(search.system_metrics: false); on by default.")  # fmt: skip
    g.add_argument("--name", metavar="NAME", help=f"{what.capitalize()} name = its folder under --storage (default: DATASET-TIMESTAMP). "
                   "Required with --resume.")  # fmt: skip
    g.add_argument("--address", metavar="ADDR", help="Join an existing Ray cluster ('auto' or HOST:PORT) instead of starting "
                   "one in-process. For a cluster with token auth, its token must be in ~/.ray/auth_token or RAY_AUTH_TOKEN_PATH; "
                   "set RAY_AUTH_MODE=token too, or the first, token-less attempt is refused and retried (~20 s).")  # fmt: skip
    g.add_argument("--resume", action="store_true", help=f"Continue the interrupted {what} --name (e.g. its driver was "
                   "killed): finished trials are kept, unfinished ones resume from their last checkpoint. The saved "
                   "plan is used; other search and config flags are ignored.")  # fmt: skip


def run_overrides(args: argparse.Namespace) -> dict:
    """The search keys add_run_flags sets (None: the config file's), with the MLflow experiment taken from
    MLFLOW_EXPERIMENT_NAME when no --experiment is given (selfre.tracking.targets)."""
    return {**{k: getattr(args, k) for k in RUN_FLAGS}, "experiment": targets.experiment(args.experiment)}


def plan_from_args(args: argparse.Namespace, config_dir: str | Path) -> SearchPlan:
    if args.resume:
        if not args.name:
            raise SelfreError("--resume needs --name: the name of the search to continue (its folder under --storage)")
        ignored = [f"--{k.replace('_', '-')}" for k in SEARCH_FLAGS if getattr(args, k) is not None]
        ignored += [f"--{d.split('.', 1)[1].replace('_', '-')}" for d, v in vars(args).items() if "." in d and v is not None]
        if args.config:
            ignored.append("--config")
        if ignored:
            logging.getLogger(__name__).warning("--resume uses the saved plan; ignoring %s", ", ".join(ignored))
        plan = SearchPlan.load(args.storage, args.name)
        if args.tracking_uri:  # the server moved, say; the runs are found again by their tags
            plan.tracking_uri = args.tracking_uri
            plan.validate()
    else:
        overrides = argparse.Namespace(**{**vars(args), "config": None})  # the YAML layers are merged by build_plan
        search_overrides = {**{k: getattr(args, k) for k in SEARCH_FLAGS}, **run_overrides(args)}
        plan = build_plan(
            args.dataset, config_dir, user_config=args.config, search_overrides=search_overrides,
            apply_run_overrides=lambda cfg: config_from_args(overrides, base=cfg),
            name=args.name, storage_root=args.storage, tracking_uri=targets.tracking_uri(args.tracking_uri),
        )  # fmt: skip
    plan.address = args.address
    return plan


def main(argv: list[str] | None = None, config_dir: str | Path = BUNDLED_CONFIGS, prog: str = "tune/search.py") -> int:
    args = build_parser(prog).parse_args(argv)
    return run_from_args(args, lambda: plan_from_args(args, config_dir), prog)


def run_from_args(args: argparse.Namespace, make_plan, command: str) -> int:
    """Build the plan, run it (selfre.search.runner) and print the outcome; the exit code says whether the result
    is whole (0), partial or without a best configuration (1), or the input was unusable (2)."""
    from selfre.search.runner import run_search  # after parsing: --help and flag errors need no Ray

    # MLflow's per-file progress bars (model logging at the end of a search) interleave with the report.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        plan = make_plan()
        outcome = run_search(plan, resume=args.resume)
    except SelfreError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    print(outcome.report)
    print(f"\nresults: {redact(outcome.paths['json'])}\n         {redact(outcome.paths['csv'])}")
    for note in outcome.notes:
        print(note)
    if not outcome.finished:
        print(f"the run did not finish; continue it with: {command} --dataset {plan.dataset} --resume "
              f"--name {plan.name} --storage {redact(args.storage)}")  # fmt: skip
        return 1  # partial results are not a result
    return 0 if outcome.summary["best"] is not None else 1
