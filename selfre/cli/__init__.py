"""`selfre` console command. Each subcommand lives in its own module exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from selfre.errors import SelfreError

# module name -> subcommand; modules are imported lazily-ish (all at parser build, each is light).
SUBCOMMANDS = ("train", "evaluate", "predict", "score", "data", "bench", "search", "report", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfre",
        description="SELF relation extraction: train, evaluate, predict, score, prepare data, benchmark, search, report, "
        "export.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="Debug logging.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"selfre.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"selfre.cli.{name}_cmd":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # transformers prints a load report per model (e.g. the unused pooler of BERT-like encoders): noise
    # for CLI users. Respect an explicit TRANSFORMERS_VERBOSITY.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # MLflow's per-file download/upload progress bars (report, export, search) interleave with our output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except SelfreError as exc:
        print(f"selfre {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
