"""`selfre search`: the hyper-parameter search, the same command as `python tune/search.py` (selfre.search.cli).

Needs the `search` extra (Ray, Optuna, MLflow). Registering it imports nothing of the search: the arguments
are handed over whole, and selfre.search.cli parses them (and prints `selfre search --help`), so `selfre --help`
stays fast and works without the extra, and the flags have one definition.
"""

from __future__ import annotations

import argparse

from selfre.errors import ConfigError


def register(sub) -> None:
    # prefix_chars without '-': this parser sees every argument, `--help` included, as a plain word and passes
    # it on, instead of answering or refusing the search's flags itself.
    p = sub.add_parser(
        "search",
        help="Hyper-parameter search on Ray Tune + Optuna (the same flags as tune/search.py; "
        "`selfre search --help` lists them). Needs the search extra.",
        add_help=False,
        prefix_chars="\0",
    )
    p.add_argument("search_args", nargs=argparse.REMAINDER, help="The search's own flags (selfre search --help).")
    p.set_defaults(func=run)


# Top-level modules of the `search` extra (pyproject.toml) and what they pull in: missing one means the extra
# is not installed; any other missing module is a real bug and is raised as such.
SEARCH_EXTRA_MODULES = {"ray", "optuna", "mlflow", "boto3", "matplotlib", "pyarrow"}


def run(args) -> int:
    try:
        from selfre.search.cli import main

        return main(args.search_args, prog="selfre search")
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in SEARCH_EXTRA_MODULES:
            raise
        raise ConfigError(f"needs the search extra: pip install 'selfre[search]' ({exc})") from exc
