"""`selfre` console command. Each subcommand lives in its own module exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys

from selfre.cli.startup import prepare, run_reporting_errors

# module selfre.cli.<name>_cmd -> subcommand <name>; each module imports only what building its parser needs.
SUBCOMMANDS = ("train", "evaluate", "predict", "score", "data", "bench", "search", "ablate", "report", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfre",
        description="SELF relation extraction: train, evaluate, predict, score, prepare data, benchmark, search, "
        "ablate, report, export.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="Debug logging.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"selfre.cli.{name}_cmd").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prepare(verbose=args.verbose)
    return run_reporting_errors(f"selfre {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
